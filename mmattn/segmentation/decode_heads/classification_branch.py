# Copyright (c) mmattn contributors. All rights reserved.
"""The classification subnetwork of SAL-Net (paper Sec. III-C1, Eq. 10)."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig

from mmattn.utils.validation import (check_choice, check_dilations,
                                     check_positive_int)

from .classification_branch_fast import is_plain_branch, pooled_branch_logits

_FUSIONS = ('sum', 'first_plus_mean')


@MODELS.register_module()
class SALClassificationBranch(BaseModule):
    """Hybrid-dilation multi-label classifier producing ``d_s``.

    Each branch ``b`` is a 3x3 conv with dilation ``r_b`` (``in_channels ->
    channels``, activation), dropout and a 3x3 conv ``channels ->
    num_classes`` that gives a class map ``d_b`` of shape ``(N, K, H, W)``.
    The maps are fused, globally average pooled and, optionally, passed
    through a ``K x K`` fully connected layer:

    - ``fusion='sum'`` (paper Eq. 10): ``d_s = d_1 + d_2 + d_3 + d_4``;
    - ``fusion='first_plus_mean'`` (authors' code):
      ``d_s = d_1 + mean(d_2, ..., d_B)``.

    Pooling is linear, so fusing before or after it is the same.

    ``forward`` runs these modules literally with ``fast_forward=False``.
    With ``fast_forward=True`` (the default) it takes the pooled logits of
    each branch from :mod:`.classification_branch_fast`, which computes
    them without the class maps (same function, parameters, state-dict keys
    and dropout masks; equal up to float rounding), as long as every branch
    is as built here; branches replaced by other modules run literally.

    Args:
        in_channels (int): Channels of the (shared) backbone feature.
        num_classes (int): ``K``, the number of foreground classes (the
            tags carry no background). For VOC: 20.
        channels (int): Width of each branch. Default: 256.
        dilations (Sequence[int]): Dilation rate of each branch; the paper's
            best structure (Table V) is (1, 3, 6, 9). Default: (1, 3, 6, 9).
        fusion (str): ``'sum'`` or ``'first_plus_mean'``. Default: 'sum'.
        with_fc (bool): Add the ``K x K`` FC of the authors' code after the
            pooling. Default: False.
        dropout_ratio (float): Dropout inside each branch (the paper trains
            with 0.5). Default: 0.5.
        conv_cfg (dict, optional): Conv config of the first conv of each
            branch.
        norm_cfg (dict, optional): Norm config of the first conv of each
            branch. Default: None (as the authors).
        act_cfg (dict): Activation. Default: ``dict(type='ReLU')``.
        fast_forward (bool): Compute the pooled logits with
            :mod:`.classification_branch_fast` instead of running the
            modules literally; same function, same parameters and
            checkpoints. Default: True.
        init_cfg (dict or list[dict], optional): Initialisation. The
            default draws every ``Conv2d`` and the FC from N(0, 0.01): the
            class convs and also the first conv of each branch (it
            replaces ``ConvModule``'s own Kaiming init). With it the
            branch still learns from the start (its first convs get
            0.06-0.16x the head's gradient norms, measured by
            ``benchmarks/attention_init_audit.py``).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 channels: int = 256,
                 dilations: Sequence[int] = (1, 3, 6, 9),
                 fusion: str = 'sum',
                 with_fc: bool = False,
                 dropout_ratio: float = 0.5,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: ConfigType = dict(type='ReLU'),
                 fast_forward: bool = True,
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.01, layer=['Conv2d', 'Linear'])):
        super().__init__(init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('num_classes', num_classes), ('channels',
                                                           channels)):
            check_positive_int(name, value)
        check_dilations(dilations)
        check_choice('fusion', fusion, _FUSIONS)
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(
                f'dropout_ratio must be in [0, 1), got {dropout_ratio!r}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.channels = channels
        self.dilations = tuple(dilations)
        self.fusion = fusion
        self.with_fc = with_fc
        self.dropout_ratio = float(dropout_ratio)
        self.fast_forward = bool(fast_forward)

        self.branches = nn.ModuleList()
        for dilation in self.dilations:
            self.branches.append(
                nn.Sequential(
                    ConvModule(
                        in_channels,
                        channels,
                        3,
                        padding=dilation,
                        dilation=dilation,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg,
                        act_cfg=act_cfg),
                    nn.Dropout2d(dropout_ratio)
                    if dropout_ratio > 0 else nn.Identity(),
                    nn.Conv2d(channels, num_classes, 3, padding=1)))
        self.fc = nn.Linear(num_classes, num_classes) if with_fc else None

    def _fuse(self, per_branch: List[Tensor]) -> Tensor:
        """Fuse per-branch maps or pooled logits (``fusion``)."""
        if self.fusion == 'sum' or len(per_branch) == 1:
            return torch.stack(per_branch, dim=0).sum(dim=0)
        return per_branch[0] + torch.stack(per_branch[1:], dim=0).mean(dim=0)

    def forward_maps(self, x: Tensor) -> Tensor:
        """Fused class maps before pooling.

        Args:
            x (Tensor): ``(N, in_channels, H, W)`` backbone feature.

        Returns:
            Tensor: ``(N, num_classes, H, W)`` fused maps.
        """
        return self._fuse([branch(x) for branch in self.branches])

    def forward(self, x: Tensor) -> Tensor:
        """Image-level class logits (``d_s = sigmoid(logits)``).

        Args:
            x (Tensor): ``(N, in_channels, H, W)`` backbone feature.

        Returns:
            Tensor: ``(N, num_classes)`` logits.
        """
        if self.fast_forward and all(map(is_plain_branch, self.branches)):
            logits = self._fuse([
                pooled_branch_logits(branch, x, self.training)
                for branch in self.branches
            ])
        else:
            logits = self.forward_maps(x).mean(dim=(2, 3))
        if self.fc is not None:
            logits = self.fc(logits)
        return logits


def build_classification_branch(cfg: Optional[dict], in_channels: int,
                                num_classes: int) -> Optional[nn.Module]:
    """Build the classification branch, filling ``in_channels`` and
    ``num_classes`` from the head unless the config sets them."""
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise TypeError(f'cls_branch must be a dict or None, got {cfg!r}')
    cfg = dict(cfg)
    cfg.setdefault('type', 'SALClassificationBranch')
    cfg.setdefault('in_channels', in_channels)
    cfg.setdefault('num_classes', num_classes)
    if cfg['num_classes'] != num_classes:
        raise ValueError(
            f'cls_branch num_classes={cfg["num_classes"]!r} must equal the '
            f'number of foreground classes {num_classes} (num_classes - 1)')
    return MODELS.build(cfg)
