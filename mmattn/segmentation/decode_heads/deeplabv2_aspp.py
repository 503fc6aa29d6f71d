# Copyright (c) mmattn contributors. All rights reserved.
"""DeepLab-v2 classifiers: ASPP-L and LargeFOV (Chen et al., TPAMI 2018)."""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig

from mmattn.utils.validation import check_dilations


@MODELS.register_module()
class DeepLabV2ASPP(BaseModule):
    """Parallel dilated classifiers whose class logits are summed.

    Unlike DeepLabV3's ASPP (mmseg ``ASPPHead``), every branch ends in its
    own classifier and the branches' *logits* are summed; there is no image
    pooling and no bottleneck.

    - ASPP-L: ``dilations=(6, 12, 18, 24)``.
    - LargeFOV: ``dilations=(12, )``.
    - ``num_hidden_convs=0`` (DeepLab-v2 ResNet-101): each branch is one 3x3
      dilated conv ``in_channels -> num_classes``.
    - ``num_hidden_convs=2`` (DeepLab-v2 VGG16, fc6/fc7/fc8): 3x3 dilated
      conv to ``channels``, ReLU, dropout, 1x1 conv, ReLU, dropout, 1x1
      classifier.

    Args:
        in_channels (int): Input channels.
        channels (int): Width of the hidden convs (1024 in DeepLab-v2 VGG16).
        num_classes (int): Output classes (background included).
        dilations (Sequence[int]): One branch per rate.
            Default: (6, 12, 18, 24).
        num_hidden_convs (int): Hidden convs per branch before the
            classifier: 0 or more. Default: 0.
        dropout_ratio (float): Dropout after each hidden conv. Default: 0.5.
        conv_cfg, norm_cfg, act_cfg: Config of the hidden convs.
        init_cfg (dict or list[dict], optional): Initialisation of the
            classifiers; default N(0, 0.01) as DeepLab.

    Shapes:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, num_classes, H, W)`` summed logits.
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 num_classes: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 num_hidden_convs: int = 0,
                 dropout_ratio: float = 0.5,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.01, layer='Conv2d')):
        super().__init__(init_cfg)
        check_dilations(dilations)
        if (isinstance(num_hidden_convs, bool)
                or not isinstance(num_hidden_convs, int)
                or num_hidden_convs < 0):
            raise ValueError('num_hidden_convs must be a non-negative int, '
                             f'got {num_hidden_convs!r}')
        self.dilations = tuple(dilations)
        self.num_hidden_convs = num_hidden_convs
        self.branches = nn.ModuleList()
        for dilation in self.dilations:
            layers = []
            width = in_channels
            for idx in range(num_hidden_convs):
                kernel = 3 if idx == 0 else 1
                layers.append(
                    ConvModule(
                        width,
                        channels,
                        kernel,
                        padding=dilation if kernel == 3 else 0,
                        dilation=dilation if kernel == 3 else 1,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg))
                if dropout_ratio > 0:
                    layers.append(nn.Dropout2d(dropout_ratio))
                width = channels
            if num_hidden_convs == 0:
                layers.append(
                    nn.Conv2d(
                        width,
                        num_classes,
                        3,
                        padding=dilation,
                        dilation=dilation))
            else:
                layers.append(nn.Conv2d(width, num_classes, 1))
            self.branches.append(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        """Args:
            x (Tensor): ``(N, in_channels, H, W)``.

        Returns:
            Tensor: ``(N, num_classes, H, W)`` summed logits.
        """
        return torch.stack([branch(x) for branch in self.branches]).sum(0)
