# Copyright (c) mmattn contributors. All rights reserved.
"""Turns packed ``(4, H, W)`` image + mask tensors into the normalised batch
the mask-scoring network reads."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS

__all__ = ['MaskScoringDataPreprocessor']


@MODELS.register_module()
class MaskScoringDataPreprocessor(BaseDataPreprocessor):
    """Normalises the 3 image channels and the mask channel separately.

    mmengine's ``ImgDataPreprocessor`` accepts only 1 or 3 channel means, so
    the 4-channel input needs its own: channels 0-2 are the image (BGR as
    loaded by mmcv, optionally flipped to RGB, then ``(x - mean) / std``),
    channel 3 is the binary mask ({0, 1} -> ``(m - mask_mean) / mask_std``,
    {-1, 1} by default so it has the image's scale).

    Args:
        mean: Image channel means (after the optional BGR -> RGB flip).
        std: Image channel stds.
        bgr_to_rgb: Flip the image channels first.
        mask_mean: Subtracted from the mask channel.
        mask_std: Divides the mask channel.
        non_blocking: See ``BaseDataPreprocessor``.

    Returns (``forward``):
        dict with ``inputs`` ``(N, 4, H, W)`` float32 and ``data_samples``.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 bgr_to_rgb: bool = True,
                 mask_mean: float = 0.5,
                 mask_std: float = 0.5,
                 non_blocking: Optional[bool] = False) -> None:
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values (image channels), '
                             f'got mean={mean}, std={std}')
        if any(s <= 0 for s in std) or mask_std <= 0:
            raise ValueError(f'std and mask_std must be > 0, got std={std}, '
                             f'mask_std={mask_std}')
        self.bgr_to_rgb = bool(bgr_to_rgb)
        self.register_buffer(
            'mean',
            torch.tensor(list(mean) + [mask_mean],
                         dtype=torch.float32).view(4, 1, 1), False)
        self.register_buffer(
            'std',
            torch.tensor(list(std) + [mask_std],
                         dtype=torch.float32).view(4, 1, 1), False)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, torch.Tensor):
            batch = inputs
        else:
            sizes = {tuple(x.shape) for x in inputs}
            if len(sizes) != 1:
                raise ValueError(
                    f'a batch of mask-scoring inputs must share one size '
                    f'(resize in the pipeline), got {sorted(sizes)}')
            batch = torch.stack(list(inputs))
        if batch.dim() != 4 or batch.shape[1] != 4:
            raise ValueError('mask-scoring inputs must be (N, 4, H, W): '
                             f'image + mask, got {tuple(batch.shape)}')
        batch = batch.float()
        if self.bgr_to_rgb:
            batch = batch[:, [2, 1, 0, 3]]
        batch = (batch - self.mean) / self.std
        return dict(inputs=batch, data_samples=data.get('data_samples'))
