# Copyright (c) mmattn contributors. All rights reserved.
"""Turns packed ``(4, H, W)`` image + mask tensors into the normalised batch
the mask-scoring network reads: image, then a binary or one-hot class mask."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS

__all__ = ['MaskScoringDataPreprocessor']


@MODELS.register_module()
class MaskScoringDataPreprocessor(BaseDataPreprocessor):
    """Normalises the 3 image channels and the mask channel(s) separately.

    mmengine's ``ImgDataPreprocessor`` accepts only 1 or 3 channel means, so
    the image + mask input needs its own: channels 0-2 are the image (BGR as
    loaded by mmcv, optionally flipped to RGB, then ``(x - mean) / std``),
    channel 3 is the packed mask.

    - ``num_classes=None`` (the paper's binary scorer): the mask channel
      becomes the binary foreground (any label ``> 0``), one channel.
    - ``num_classes=K`` (class-aware scorer, an mmattn extension): the mask
      channel holds class indices ``0..K-1`` (0 background, as
      :class:`LoadLabelMask` writes them) and becomes the binary channel
      above followed by ``K - 1`` one-hot channels, one per class
      ``1..K-1`` in ``{0, 1}``, so the network can judge whether each
      region's class fits its appearance. The class channels are 0 where a
      class is absent: no constant input from the many absent classes.

    The binary channel in ``{0, 1}`` becomes ``(m - mask_mean) /
    mask_std``, ``{-1, 1}`` by default so it has the image's scale.

    Args:
        mean: Image channel means (after the optional BGR -> RGB flip).
        std: Image channel stds.
        bgr_to_rgb: Flip the image channels first.
        mask_mean: Subtracted from the binary mask channel.
        mask_std: Divides the binary mask channel.
        num_classes: ``None`` for a binary mask channel, else the number of
            classes ``K`` (background included) of a label-map mask.
        non_blocking: See ``BaseDataPreprocessor``.

    Shapes (``forward``):
        packed inputs ``(N, 4, H, W)`` (or a list of ``(4, H, W)``) uint8
        -> ``inputs`` ``(N, 3 + M, H, W)`` float32 with ``M`` =
        :attr:`num_mask_channels` (1, or ``K``), and ``data_samples``.
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 bgr_to_rgb: bool = True,
                 mask_mean: float = 0.5,
                 mask_std: float = 0.5,
                 num_classes: Optional[int] = None,
                 non_blocking: Optional[bool] = False) -> None:
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f'mean and std need 3 values (image channels), '
                             f'got mean={mean}, std={std}')
        if any(s <= 0 for s in std) or mask_std <= 0:
            raise ValueError(f'std and mask_std must be > 0, got std={std}, '
                             f'mask_std={mask_std}')
        if num_classes is not None and (isinstance(num_classes, bool)
                                        or not isinstance(num_classes, int)
                                        or num_classes < 2):
            raise ValueError('num_classes must be None (binary mask) or an '
                             f'int >= 2 (background included), got '
                             f'{num_classes!r}')
        self.bgr_to_rgb = bool(bgr_to_rgb)
        self.num_classes = num_classes
        self.register_buffer(
            'mean', torch.tensor(list(mean), dtype=torch.float32).view(
                3, 1, 1), False)
        self.register_buffer(
            'std', torch.tensor(list(std), dtype=torch.float32).view(3, 1, 1),
            False)
        self.mask_mean = float(mask_mean)
        self.mask_std = float(mask_std)

    @property
    def num_mask_channels(self) -> int:
        """Mask channels of the output: 1 (binary) or ``K`` (binary plus
        ``K - 1`` classes)."""
        return 1 if self.num_classes is None else self.num_classes

    def encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """``(N, H, W)`` mask values -> ``(N, M, H, W)`` float: the
        normalised binary foreground, then (class-aware) the ``{0, 1}``
        class channels.

        Raises:
            ValueError: A label-map value is ``>= num_classes``.
        """
        binary = ((mask > 0).float().unsqueeze(1) - self.mask_mean) / \
            self.mask_std
        if self.num_classes is None:
            return binary
        labels = mask.long()
        top = int(labels.max()) if labels.numel() else 0
        if top >= self.num_classes:
            raise ValueError(
                f'mask label {top} is not a class of this scorer '
                f'(num_classes={self.num_classes}, background included); '
                'score with a scorer config whose num_classes matches the '
                'proxy masks')
        classes = torch.arange(
            1, self.num_classes, device=mask.device).view(1, -1, 1, 1)
        return torch.cat([binary, (labels.unsqueeze(1) == classes).float()],
                         dim=1)

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
        image = batch[:, :3].float()
        if self.bgr_to_rgb:
            image = image[:, [2, 1, 0]]
        image = (image - self.mean) / self.std
        return dict(
            inputs=torch.cat([image, self.encode_mask(batch[:, 3])], dim=1),
            data_samples=data.get('data_samples'))
