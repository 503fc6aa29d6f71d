# Copyright (c) mmattn contributors. All rights reserved.
"""Does HAR-Net's spatial mask attend to the objects? Mean mask inside the
ground-truth boxes minus outside, per pyramid level."""
from typing import Dict, Iterable, List, Optional

import torch
from torch import nn

from mmattn.detection.box_objectness import box_objectness_targets

__all__ = ['spatial_mask_contrast']


@torch.no_grad()
def spatial_mask_contrast(model: nn.Module,
                          data_loader: Iterable[dict],
                          max_images: Optional[int] = None
                          ) -> List[Dict[str, float]]:
    """Per-level spatial-mask statistics on images with boxes.

    For every image and pyramid level, the cells of the mask
    ``bbox_head.spatial_attention`` computes are split by whether their
    centre lies in a ground-truth box (the rule of
    :func:`~mmattn.detection.box_objectness.box_objectness_targets`, the
    spatial-attention loss's targets); cells outside
    the image (padding) are left out. The means are pooled over all cells of
    all images.

    Args:
        model (nn.Module): A detector whose ``bbox_head`` has a
            ``spatial_attention`` module (HARRetinaHead), in eval mode.
        data_loader (Iterable[dict]): Batches as a detection dataloader
            yields them (``inputs``, ``data_samples`` with ``gt_instances``
            in original-image coordinates and ``scale_factor``).
        max_images (int, optional): Stop after this many images.

    Returns:
        list[dict]: One dict per level: ``inside``, ``outside`` (mean mask),
        ``contrast`` (inside - outside), ``min``, ``max``, ``cells_inside``,
        ``cells_outside``.
    """
    from mmattn.visualization.attention import capture_spatial_attention
    was_training = model.training
    model.eval()
    sums: List[Dict[str, float]] = []
    seen = 0
    try:
        for batch in data_loader:
            data = model.data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data['data_samples']
            masks = capture_spatial_attention(model, inputs)
            if not sums:
                sums = [dict(sum_in=0.0, n_in=0, sum_out=0.0, n_out=0,
                             min=1.0, max=0.0) for _ in masks]
            boxes = []
            for sample in samples:
                b = sample.gt_instances.bboxes
                b = getattr(b, 'tensor', b).float().clone().cpu()
                scale = sample.metainfo.get('scale_factor', (1.0, 1.0))
                b[:, 0::2] *= scale[0]
                b[:, 1::2] *= scale[1]
                boxes.append(b)
            # The head's own rule (spatial_attention_loss's targets).
            targets, valids = box_objectness_targets(
                boxes, [s.metainfo['img_shape'][:2] for s in samples],
                [tuple(m.shape[-2:]) for m in masks],
                tuple(inputs.shape[-2:]))
            for i in range(len(samples)):
                for level, mask in enumerate(masks):
                    m = mask[i, 0].float().cpu()
                    inside = targets[level][i, 0] > 0
                    valid = valids[level][i, 0]
                    acc = sums[level]
                    acc['sum_in'] += m[inside & valid].sum().item()
                    acc['n_in'] += int((inside & valid).sum())
                    acc['sum_out'] += m[~inside & valid].sum().item()
                    acc['n_out'] += int((~inside & valid).sum())
                    acc['min'] = min(acc['min'], m[valid].min().item())
                    acc['max'] = max(acc['max'], m[valid].max().item())
                seen += 1
                if max_images is not None and seen >= max_images:
                    break
            if max_images is not None and seen >= max_images:
                break
    finally:
        model.train(was_training)
    results = []
    for acc in sums:
        inside = acc['sum_in'] / max(acc['n_in'], 1)
        outside = acc['sum_out'] / max(acc['n_out'], 1)
        results.append(
            dict(inside=inside, outside=outside, contrast=inside - outside,
                 min=acc['min'], max=acc['max'], cells_inside=acc['n_in'],
                 cells_outside=acc['n_out']))
    return results
