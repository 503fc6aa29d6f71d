# Copyright (c) mmattn contributors. All rights reserved.
"""Box-wise objectness maps: which cells of a feature map lie in a box.

Shared by the spatial-attention supervision of :class:`HARRetinaHead` and
the mask-contrast measurement, so the two use one rule: a cell is inside
when its centre, in input pixels, lies in a box; cells whose centre lies
outside the image (padding) are invalid.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['cells_in_boxes', 'box_objectness_targets']


def cells_in_boxes(boxes: Tensor, height: int, width: int, stride_y: float,
                   stride_x: float) -> Tensor:
    """Whether each cell's centre lies in any box.

    Args:
        boxes (Tensor): ``(K, 4)`` boxes ``(x1, y1, x2, y2)`` in input
            pixels (K may be 0).
        height (int): Rows of the feature map.
        width (int): Columns of the feature map.
        stride_y (float): Input pixels per row.
        stride_x (float): Input pixels per column.

    Returns:
        Tensor: ``(height, width)`` bool.
    """
    device = boxes.device
    ys = (torch.arange(height, device=device, dtype=torch.float32) +
          0.5) * stride_y
    xs = (torch.arange(width, device=device, dtype=torch.float32) +
          0.5) * stride_x
    if boxes.numel() == 0:
        return torch.zeros(height, width, dtype=torch.bool, device=device)
    boxes = boxes.float()
    in_y = (ys[None, :] >= boxes[:, 1:2]) & (ys[None, :] < boxes[:, 3:4])
    in_x = (xs[None, :] >= boxes[:, 0:1]) & (xs[None, :] < boxes[:, 2:3])
    return (in_y[:, :, None] & in_x[:, None, :]).any(dim=0)


def box_objectness_targets(
        batch_boxes: Sequence[Tensor], batch_img_shapes: Sequence[tuple],
        level_shapes: Sequence[Tuple[int, int]],
        input_shape: Tuple[int, int]) -> Tuple[list, list]:
    """Per-level objectness targets and validity of a batch.

    Args:
        batch_boxes (Sequence[Tensor]): N tensors ``(K_i, 4)``, boxes in
            input pixels.
        batch_img_shapes (Sequence[tuple]): N ``(h, w)`` of the image inside
            the padded input.
        level_shapes (Sequence[tuple[int, int]]): L feature map sizes.
        input_shape (tuple[int, int]): ``(H_in, W_in)`` of the padded input.

    Returns:
        tuple[list[Tensor], list[Tensor]]: L float targets ``(N, 1, H_l,
        W_l)`` (1 inside a box) and L bool validity masks of the same shape.
    """
    in_h, in_w = input_shape
    targets, valids = [], []
    for h, w in level_shapes:
        sy, sx = in_h / h, in_w / w
        level_t, level_v = [], []
        for boxes, (img_h, img_w) in zip(batch_boxes, batch_img_shapes):
            level_t.append(cells_in_boxes(boxes, h, w, sy, sx))
            image = boxes.new_tensor([[0.0, 0.0, img_w, img_h]])
            level_v.append(cells_in_boxes(image, h, w, sy, sx))
        targets.append(torch.stack(level_t)[:, None].float())
        valids.append(torch.stack(level_v)[:, None])
    return targets, valids
