# Copyright (c) mmattn contributors. All rights reserved.
"""VGG backbone in the DeepLab-v2 layout (output stride 8), the baseline
network of SAL-Net-VGG16."""
from typing import Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, OptMultiConfig

from mmattn.utils.validation import check_choice

_ARCH = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
_WIDTHS = (64, 128, 256, 512, 512)


def _check_five(name: str, values) -> Tuple[int, ...]:
    if (not isinstance(values, (list, tuple)) or len(values) != 5 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in values)):
        raise ValueError(
            f'{name} must be 5 positive ints (one per stage), got {values!r}')
    return tuple(values)


@MODELS.register_module()
class DeepLabVGG(BaseModule):
    """VGG as used by DeepLab-v2 (and SEC, DSRG, SAL-Net).

    Five stages of 3x3 convs + ReLU, each followed by a 3x3 max pool
    (padding 1). DeepLab-v2 keeps resolution after stage 4 (pool strides
    ``(2, 2, 2, 1, 1)``) and dilates stage 5 by 2, for an output stride of
    8. Without normalisation the layers sit in ``self.features`` at the same
    indices as torchvision's ``vgg16().features``, so ImageNet weights of
    that layout load with ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

    Args:
        depth (int): 11, 13, 16 or 19. Default: 16.
        strides (Sequence[int]): Stride of each stage's max pool.
            Default: (2, 2, 2, 1, 1).
        dilations (Sequence[int]): Dilation of each stage's convs.
            Default: (1, 1, 1, 1, 2).
        out_indices (Sequence[int]): Stages whose (pooled) outputs are
            returned. Default: (4, ).
        norm_cfg (dict, optional): Norm after each conv (None: plain VGG).
        init_cfg (dict or list[dict], optional): Initialisation.

    Shapes:
        ``(N, 3, H, W)`` -> tuple of ``(N, C_s, H / S_s, W / S_s)`` with
        ``C = (64, 128, 256, 512, 512)``; with the defaults the single output
        is ``(N, 512, H/8, W/8)``.
    """

    def __init__(
        self,
        depth: int = 16,
        strides: Sequence[int] = (2, 2, 2, 1, 1),
        dilations: Sequence[int] = (1, 1, 1, 1, 2),
        out_indices: Sequence[int] = (4, ),
        norm_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = [
            dict(type='Kaiming', layer='Conv2d'),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])
        ]
    ) -> None:
        super().__init__(init_cfg)
        check_choice('depth', depth, sorted(_ARCH))
        strides = _check_five('strides', strides)
        dilations = _check_five('dilations', dilations)
        if (not isinstance(out_indices, (list, tuple)) or not out_indices
                or not all(
                    isinstance(i, int) and 0 <= i < 5 for i in out_indices)):
            raise ValueError('out_indices must be a non-empty list of stage '
                             f'indices in [0, 4], got {out_indices!r}')
        self.depth = depth
        self.out_indices = tuple(out_indices)
        layers = []
        self.stage_ends = []
        in_channels = 3
        for stage, (num_convs, width) in enumerate(zip(_ARCH[depth], _WIDTHS)):
            dilation = dilations[stage]
            for _ in range(num_convs):
                layers.append(
                    nn.Conv2d(
                        in_channels,
                        width,
                        3,
                        padding=dilation,
                        dilation=dilation))
                if norm_cfg is not None:
                    layers.append(build_norm_layer(norm_cfg, width)[1])
                layers.append(nn.ReLU(inplace=True))
                in_channels = width
            layers.append(
                nn.MaxPool2d(
                    3, stride=strides[stage], padding=1, ceil_mode=True))
            self.stage_ends.append(len(layers) - 1)
        self.features = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the outputs of the stages in ``out_indices``."""
        outs = []
        stage = 0
        for idx, layer in enumerate(self.features):
            x = layer(x)
            if idx == self.stage_ends[stage]:
                if stage in self.out_indices:
                    outs.append(x)
                stage += 1
                if stage > max(self.out_indices):
                    break
        return tuple(outs)
