# Copyright (c) mmattn contributors. All rights reserved.
"""Stacked dilated convolution spatial attention (HAR-Net Sec. III-A)."""
import math
from typing import Optional, Sequence

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule, constant_init, kaiming_init, normal_init
from mmengine.registry import MODELS
from torch import Tensor

from mmattn.utils.validation import (check_dilations, check_positive_int,
                                     is_real)

from .bypass import BypassMixin


@MODELS.register_module()
class SpatialAttention(BypassMixin, BaseModule):
    """Soft spatial mask from a stack of dilated 3x3 convolutions.

    HAR-Net (Sec. III-A, Fig. 2, Eq. 1) stacks dilated convolutions whose
    rates first grow (to gather context) and then shrink (to undo the
    gridding artifacts) instead of pooling and upsampling, so the mask is
    aligned with feature maps of any size. Every conv but the last has
    ``channels`` outputs and a ReLU; the last one outputs a single channel
    that a sigmoid turns into the mask ``A^s(i, j)`` that multiplies the
    features.

    With ``bypass = True`` (:mod:`mmattn.blocks.bypass`) the mask is all
    ones and no conv runs.

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
        mask_init (float): Value of the mask where the mask logit is zero
            at initialisation: the mask conv's bias starts at
            ``log(mask_init / (1 - mask_init))``. Defaults to 0.9: the mask
            multiplies the features *and* the gradient that reaches the
            layers below it, so a start at 0.5 halves their learning signal
            (the paper's Sec. III-D remark that attention slows convergence;
            measured in docs/benchmarks_harnet.md); near 1 the head starts
            close to its attention-free twin.
        mask_conv_gain (float): The mask conv's weights start as
            ``Normal(0, gain^2 / fan_in)`` (then centred), which sets the
            spread of the mask logit at init. Defaults to 1.0.
        init_cfg (dict or list[dict], optional): Initialisation config. The
            default, None, uses the scheme below; any config given replaces
            it (``dict(type='Normal', layer='Conv2d', std=0.01)`` gives the
            mmdet-style init that mmattn used before 2026-12, under which
            the branch cannot train, see below).

    Initialisation. The paper and the authors' (inference-only) code state
    none. With mmdet's head init, Normal(std=0.01) on every conv, each 3x3
    conv of fan-in 144 scales its input by about 0.08, so after five layers
    the mask logit's std is about 3e-6, the mask is 0.5 everywhere and the
    branch's weight gradients are 1e-6 of the tower's: it never trains, and
    a ReLU layer whose biases drift negative dies for good. Here the hidden
    convs get Kaiming normal init (fan-in, ReLU gain, zero bias), which
    keeps the second moment of their activations at that of the input, and
    the mask conv gets ``Normal(0, mask_conv_gain^2 / fan_in)`` weights,
    centred to sum to zero, and the bias ``logit(mask_init)``: the mask
    starts around ``mask_init`` (the centring removes the random offset
    that the positive ReLU activations would give the whole map), and for
    unit-variance input the mask logit varies over the map with a std of
    about ``0.4 * mask_conv_gain``
    (measured: 0.3-0.55 in the shipped configs' heads), in the sigmoid's
    responsive range. No hidden ReLU layer starts near death: about half of
    its units are active at any position.

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
                 mask_init: float = 0.9,
                 mask_conv_gain: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_int('in_channels', in_channels)
        check_positive_int('channels', channels)
        check_positive_int('kernel_size', kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be odd to keep the mask aligned with the '
                f'features, got {kernel_size}')
        check_dilations(dilations)
        if not is_real(mask_init) or not 0 < mask_init < 1:
            raise ValueError(
                f'mask_init must be a number in (0, 1), got {mask_init!r}')
        if not is_real(mask_conv_gain) or not mask_conv_gain > 0:
            raise ValueError('mask_conv_gain must be a positive number, got '
                             f'{mask_conv_gain!r}')
        self.mask_init = float(mask_init)
        self.mask_conv_gain = float(mask_conv_gain)
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

    def init_weights(self) -> None:
        """Initialise the convs: ``init_cfg`` if given, else the scheme of
        the class docstring (Kaiming hidden convs, a mask conv whose logit
        starts at ``logit(mask_init)`` with a std of about
        ``mask_conv_gain``)."""
        if self.init_cfg is None and not self.is_init:
            *hidden, mask = self.convs
            for layer in hidden:
                kaiming_init(layer.conv, mode='fan_in', nonlinearity='relu',
                             bias=0, distribution='normal')
                if layer.with_norm:
                    constant_init(layer.norm, 1, bias=0)
            conv = mask.conv
            fan_in = conv.weight[0].numel()
            normal_init(
                conv,
                mean=0,
                std=self.mask_conv_gain / math.sqrt(fan_in),
                bias=math.log(self.mask_init / (1 - self.mask_init)))
            # Zero-sum weights: the ReLU activations below are positive
            # with similar means, so a random weight sum would shift the
            # whole map by a random offset (about +-1 logit); centred, the
            # mask starts around mask_init and varies with the input.
            with torch.no_grad():
                conv.weight -= conv.weight.mean(dim=(1, 2, 3), keepdim=True)
        super().init_weights()

    def forward(self, x: Tensor) -> Tensor:
        """Compute the spatial mask of one pyramid level.

        Args:
            x (Tensor): Features of shape ``(N, in_channels, H, W)``.

        Returns:
            Tensor: Mask of shape ``(N, 1, H, W)`` in ``(0, 1)`` (all ones
            while ``bypass`` is set).
        """
        if self.bypass:
            return x.new_ones(x.shape[0], 1, *x.shape[2:])
        for conv in self.convs:
            x = conv(x)
        return x.sigmoid()
