# Copyright (c) mmattn contributors. All rights reserved.
"""Cross-level squeeze-and-excitation, CLSE (HAR-Net Sec. III-B, Eq. 2)."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from mmattn.utils.validation import (check_choice, check_level_channels,
                                     check_positive_int)

from .bypass import BypassMixin

_POOLINGS = ('max', 'avg')


@MODELS.register_module()
class CrossLevelSE(BypassMixin, BaseModule):
    """One channel-attention vector for all pyramid levels.

    Each level is squeezed by global pooling into a ``C``-vector (the paper
    uses max pooling, the authors' code average pooling); the ``L`` vectors
    are concatenated into one ``L*C`` vector, and the excitation
    ``FC(L*C -> reduced) -> ReLU -> FC(reduced -> C) -> sigmoid`` gives the
    channel weights ``A(c)`` that multiply every level (Eq. 2). With
    ``num_levels=1`` this is a plain SE block (the paper's SE-CA when one
    instance is used per level).

    The number of levels is fixed at build time because it sets the width of
    the first FC layer. With ``bypass = True`` (:mod:`mmattn.blocks.bypass`)
    the weights are all ones and no layer runs.

    Args:
        channels (int): Channels C of every level.
        num_levels (int): Number of levels L. Defaults to 5.
        reduced_channels (int): Width of the bottleneck FC. Defaults to 32,
            as in the authors' code.
        pooling (str): ``'max'`` (paper) or ``'avg'`` (authors' code).
            Defaults to ``'max'``.
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None (PyTorch's default ``nn.Linear`` init).

    Shapes:
        - Input: a sequence of L tensors ``(N, C, H_l, W_l)``.
        - Output: ``(N, C, 1, 1)`` channel weights in ``(0, 1)``, to be
          broadcast over every level.
    """

    def __init__(self,
                 channels: int,
                 num_levels: int = 5,
                 reduced_channels: int = 32,
                 pooling: str = 'max',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('channels', channels),
                            ('num_levels', num_levels),
                            ('reduced_channels', reduced_channels)):
            check_positive_int(name, value)
        check_choice('pooling', pooling, _POOLINGS)
        self.channels = channels
        self.num_levels = num_levels
        self.reduced_channels = reduced_channels
        self.pooling = pooling
        self.fc_reduce = nn.Linear(num_levels * channels, reduced_channels)
        self.relu = nn.ReLU(inplace=True)
        self.fc_expand = nn.Linear(reduced_channels, channels)

    def squeeze(self, feats: Sequence[Tensor]) -> Tensor:
        """Pool every level and concatenate the level vectors.

        Args:
            feats (Sequence[Tensor]): L tensors ``(N, C, H_l, W_l)``.

        Returns:
            Tensor: ``(N, L*C)``, level-major (level 0's C values first).
        """
        if isinstance(feats, Tensor) or len(feats) != self.num_levels:
            got = 'a single tensor' if isinstance(feats, Tensor) else \
                f'{len(feats)} levels'
            raise ValueError(f'CrossLevelSE was built for num_levels='
                             f'{self.num_levels}, got {got}')
        check_level_channels(feats, self.channels)
        if self.pooling == 'max':
            pooled = [f.amax(dim=(2, 3)) for f in feats]
        else:
            pooled = [f.mean(dim=(2, 3)) for f in feats]
        return torch.cat(pooled, dim=1)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Compute the channel weights shared by all levels.

        Args:
            feats (Sequence[Tensor]): L tensors ``(N, C, H_l, W_l)``.

        Returns:
            Tensor: ``(N, C, 1, 1)`` weights in ``(0, 1)``.
        """
        squeezed = self.squeeze(feats)
        if self.bypass:
            return squeezed.new_ones(squeezed.shape[0], self.channels, 1, 1)
        weights = self.fc_expand(self.relu(self.fc_reduce(squeezed)))
        return weights.sigmoid()[:, :, None, None]

    def extra_repr(self) -> str:
        return f'pooling={self.pooling!r}'
