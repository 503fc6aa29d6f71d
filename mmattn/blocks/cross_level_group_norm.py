# Copyright (c) mmattn contributors. All rights reserved.
"""Cross-level group normalisation, CLGN (HAR-Net Sec. III-B, Fig. 3)."""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from mmattn.utils.validation import (check_positive_int, is_positive_int,
                                     is_real)


@MODELS.register_module()
class CrossLevelGroupNorm(BaseModule):
    """Group normalisation whose statistics span every pyramid level.

    A detection head whose tower convs are shared across pyramid levels
    produces one feature map per level. Plain GroupNorm normalises each of
    them on its own; CLGN takes, for every (sample, group), the mean and the
    (biased) variance over the channels of the group and the spatial
    positions of *all* levels together, i.e. over the concatenation of the
    flattened levels, and normalises every level with them::

        y_l = (x_l - mean) / sqrt(var + eps) * gamma + beta

    The paper shares the scaling ``gamma, beta`` across levels
    (``affine_per_level=False``); the authors' released code learns one
    ``gamma, beta`` per level (``affine_per_level=True``). With a single
    level CLGN is exactly :class:`torch.nn.GroupNorm`.

    Args:
        num_channels (int): Channels C of every level.
        num_groups (int): Number of channel groups; must divide C.
            Defaults to 32.
        eps (float): Added to the variance. Defaults to 1e-5.
        affine (bool): Learn the scaling ``gamma, beta``. Defaults to True.
        affine_per_level (bool): One ``gamma, beta`` per level (the authors'
            code) instead of one shared by all levels (the paper).
            Defaults to False.
        num_levels (int, optional): Number of levels; required when
            ``affine_per_level`` is True, and checked against the input when
            given. Defaults to None.
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None (``gamma = 1``, ``beta = 0``).

    Shapes:
        - Input: a sequence of L tensors ``(N, C, H_l, W_l)``.
        - Output: a list of L tensors of the same shapes.
    """

    def __init__(self,
                 num_channels: int,
                 num_groups: int = 32,
                 eps: float = 1e-5,
                 affine: bool = True,
                 affine_per_level: bool = False,
                 num_levels: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_positive_int('num_channels', num_channels)
        check_positive_int('num_groups', num_groups)
        if num_channels % num_groups != 0:
            raise ValueError(
                f'num_channels={num_channels} is not divisible by '
                f'num_groups={num_groups}')
        if not is_real(eps) or eps < 0:
            raise ValueError(f'eps must be a non-negative number, got {eps!r}')
        if num_levels is not None and not is_positive_int(num_levels):
            raise ValueError(
                f'num_levels must be a positive int or None, got '
                f'{num_levels!r}')
        if affine_per_level and not affine:
            raise ValueError('affine_per_level=True needs affine=True')
        if affine_per_level and num_levels is None:
            raise ValueError(
                'affine_per_level=True needs num_levels (one scale per '
                'level), got num_levels=None')
        self.num_channels = num_channels
        self.num_groups = num_groups
        self.eps = eps
        self.affine = affine
        self.affine_per_level = affine_per_level
        self.num_levels = num_levels
        if affine:
            shape = (num_levels, num_channels) if affine_per_level else (
                num_channels, )
            self.weight = nn.Parameter(torch.ones(shape))
            self.bias = nn.Parameter(torch.zeros(shape))
        else:
            self.register_parameter('weight', None)
            self.register_parameter('bias', None)

    def _check_inputs(self, feats: Sequence[Tensor]) -> None:
        if isinstance(feats, Tensor) or len(feats) == 0:
            raise ValueError(
                'CrossLevelGroupNorm expects a non-empty list of (N, C, H, W) '
                f'tensors, got {type(feats).__name__}')
        shapes = [tuple(f.shape) for f in feats]
        if any(len(s) != 4 for s in shapes):
            raise ValueError(
                f'every level must be (N, C, H, W), got shapes {shapes}')
        channels = [s[1] for s in shapes]
        if any(c != channels[0] for c in channels):
            raise ValueError(
                'all levels must have the same channel count, got '
                f'{channels}')
        if channels[0] != self.num_channels:
            raise ValueError(
                f'levels have {channels[0]} channels but num_channels='
                f'{self.num_channels}')
        batch = [s[0] for s in shapes]
        if any(n != batch[0] for n in batch):
            raise ValueError(
                f'all levels must have the same batch size, got {batch}')
        if self.num_levels is not None and len(feats) != self.num_levels:
            raise ValueError(f'expected num_levels={self.num_levels} levels, '
                             f'got {len(feats)}')

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Normalise all levels with shared per-(sample, group) statistics.

        Args:
            feats (Sequence[Tensor]): L tensors of shape ``(N, C, H_l, W_l)``.

        Returns:
            list[Tensor]: L normalised tensors, shapes unchanged.
        """
        self._check_inputs(feats)
        sizes = [f.shape[2] * f.shape[3] for f in feats]
        # F.group_norm accepts (N, C, *): on the concatenation of the
        # flattened levels it computes exactly the cross-level statistics.
        joint = torch.cat([f.flatten(2) for f in feats], dim=2)
        shared_affine = self.affine and not self.affine_per_level
        joint = F.group_norm(joint, self.num_groups,
                             self.weight if shared_affine else None,
                             self.bias if shared_affine else None, self.eps)
        outs = []
        for level, (flat, feat) in enumerate(
                zip(joint.split(sizes, dim=2), feats)):
            out = flat.reshape(feat.shape)
            if self.affine_per_level:
                out = out * self.weight[level].view(1, -1, 1, 1) + \
                    self.bias[level].view(1, -1, 1, 1)
            outs.append(out)
        return outs

    def extra_repr(self) -> str:
        return (f'num_channels={self.num_channels}, num_groups='
                f'{self.num_groups}, eps={self.eps}, affine={self.affine}, '
                f'affine_per_level={self.affine_per_level}, '
                f'num_levels={self.num_levels}')
