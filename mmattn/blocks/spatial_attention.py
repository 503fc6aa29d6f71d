# Copyright (c) mmattn contributors. All rights reserved.
"""Stacked dilated convolution spatial attention (HAR-Net Sec. III-A)."""
from typing import Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor

from mmattn.utils.validation import check_dilations, check_positive_int


@MODELS.register_module()
class SpatialAttention(BaseModule):
    """Soft spatial mask from a stack of dilated 3x3 convolutions.

    HAR-Net (Sec. III-A, Fig. 2, Eq. 1) stacks dilated convolutions whose
    rates first grow (to gather context) and then shrink (to undo the
    gridding artifacts) instead of pooling and upsampling, so the mask is
    aligned with feature maps of any size. Every conv but the last has
    ``channels`` outputs and a ReLU; the last one outputs a single channel
    that a sigmoid turns into the mask ``A^s(i, j)`` that multiplies the
    features.

    The module handles one pyramid level per call; a detection head calls
    the same instance on every level, which shares its weights across
    levels (and, in HAR-Net, across the cls and reg branches).

    Args:
        in_channels (int): Channels of the input feature map.
        channels (int): Width of the hidden dilated convs. The paper uses 16
            for 1-2-5-2-1 and 32 for the three-layer variants (Table I).
            Defaults to 16.
        dilations (Sequence[int]): Dilation of each 3x3 conv, the last entry
            being the conv that outputs the 1-channel mask. Defaults to
            ``(1, 2, 5, 2, 1)``.
        kernel_size (int): Kernel size of every conv; must be odd so the
            mask keeps the input size. Defaults to 3.
        conv_cfg (dict, optional): Conv layer config. Defaults to None.
        norm_cfg (dict, optional): Norm config of the hidden convs (the paper
            uses none). Defaults to None.
        act_cfg (dict): Activation of the hidden convs. Defaults to ReLU.
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to Normal(std=0.01) on every conv, so the mask starts
            near 0.5 everywhere.

    Shapes:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, 1, H, W)``, values in ``(0, 1)``.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int = 16,
                 dilations: Sequence[int] = (1, 2, 5, 2, 1),
                 kernel_size: int = 3,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Conv2d', std=0.01)) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_int('in_channels', in_channels)
        check_positive_int('channels', channels)
        check_positive_int('kernel_size', kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be odd to keep the mask aligned with the '
                f'features, got {kernel_size}')
        check_dilations(dilations)
        self.in_channels = in_channels
        self.channels = channels
        self.dilations = tuple(int(d) for d in dilations)

        self.convs = torch.nn.ModuleList()
        last = len(self.dilations) - 1
        conv_in = in_channels
        for i, dilation in enumerate(self.dilations):
            is_mask_conv = i == last
            self.convs.append(
                ConvModule(
                    conv_in,
                    1 if is_mask_conv else channels,
                    kernel_size,
                    padding=dilation * (kernel_size - 1) // 2,
                    dilation=dilation,
                    conv_cfg=conv_cfg,
                    # The mask logit must stay unnormalised and unclipped:
                    # the sigmoid is the only non-linearity on it.
                    norm_cfg=None if is_mask_conv else norm_cfg,
                    act_cfg=None if is_mask_conv else act_cfg))
            conv_in = channels

    def forward(self, x: Tensor) -> Tensor:
        """Compute the spatial mask of one pyramid level.

        Args:
            x (Tensor): Features of shape ``(N, in_channels, H, W)``.

        Returns:
            Tensor: Mask of shape ``(N, 1, H, W)`` in ``(0, 1)``.
        """
        for conv in self.convs:
            x = conv(x)
        return x.sigmoid()
