# Copyright (c) mmattn contributors. All rights reserved.
"""FPN whose high backbone levels pass through aligned attention first."""
from typing import Sequence, Tuple

from mmdet.models.necks import FPN
from mmdet.registry import MODELS
from mmengine.model import ModuleList
from torch import Tensor

from mmattn.utils.validation import is_int


@MODELS.register_module()
class AlignedFPN(FPN):
    """FPN built on aligned backbone features ``C'_x`` (HAR-Net Fig. 5).

    The chosen backbone levels go through an
    :class:`~mmattn.blocks.AlignedAttention` block (one instance per level,
    since their widths differ) and the aligned maps replace the originals
    everywhere FPN uses them: in the lateral/top-down merge and, with
    ``add_extra_convs='on_input'``, as the source of the extra levels.

    Args:
        in_channels (list[int]): Channels of each backbone input.
        out_channels (int): Channels of every output level.
        num_outs (int): Number of output levels.
        aligned_levels (Sequence[int]): Indices into the backbone inputs that
            get aligned attention. Defaults to ``(2, 3)``: C4 and C5 for
            mmdet's ResNet with ``out_indices=(0, 1, 2, 3)`` (the paper,
            Table III). ``(3,)`` is AA(C5), ``(1, 2, 3)`` AA(C3, C4, C5).
        aligned_attention (dict): Config of the aligned attention block;
            ``in_channels`` is filled in per level. Defaults to
            ``dict(type='AlignedAttention')``.
        **kwargs: Everything else of mmdet's :class:`FPN` (``start_level``,
            ``add_extra_convs``, ``norm_cfg``, ``init_cfg``, ...).

    Shapes:
        - Input: tuple of ``len(in_channels)`` tensors
          ``(N, in_channels[i], H_i, W_i)``.
        - Output: tuple of ``num_outs`` tensors ``(N, out_channels, H, W)``.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 num_outs: int,
                 aligned_levels: Sequence[int] = (2, 3),
                 aligned_attention: dict = dict(type='AlignedAttention'),
                 **kwargs) -> None:
        super().__init__(list(in_channels), out_channels, num_outs, **kwargs)
        if isinstance(aligned_levels, (str, bytes)) or not isinstance(
                aligned_levels, Sequence) or len(aligned_levels) == 0:
            raise ValueError('aligned_levels must be a non-empty sequence of '
                             f'input indices, got {aligned_levels!r}')
        used = range(self.start_level, self.backbone_end_level)
        for level in aligned_levels:
            if not is_int(level) or level not in used:
                raise ValueError(
                    f'aligned_levels entry {level!r} is not an input index '
                    f'that this FPN uses ({list(used)}, from start_level='
                    f'{self.start_level} to the backbone end level); got '
                    f'aligned_levels={aligned_levels!r}')
        if len(set(aligned_levels)) != len(aligned_levels):
            raise ValueError(
                f'aligned_levels has duplicates: {aligned_levels!r}')
        if not isinstance(aligned_attention, dict):
            raise TypeError('aligned_attention must be a config dict, got '
                            f'{type(aligned_attention).__name__}')
        self.aligned_levels = tuple(sorted(int(i) for i in aligned_levels))
        # mmengine's ModuleList forwards init_weights to the blocks, which
        # must re-zero their offsets after FPN's Xavier init of all Conv2d.
        self.aligned_attentions = ModuleList()
        for level in self.aligned_levels:
            cfg = dict(aligned_attention)
            cfg.setdefault('type', 'AlignedAttention')
            cfg['in_channels'] = self.in_channels[level]
            self.aligned_attentions.append(MODELS.build(cfg))

    def forward(self, inputs: Tuple[Tensor]) -> tuple:
        """Align the chosen levels, then run FPN on the result.

        Args:
            inputs (tuple[Tensor]): Backbone maps, one per ``in_channels``.

        Returns:
            tuple[Tensor]: ``num_outs`` pyramid levels.
        """
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'AlignedFPN expects {len(self.in_channels)} '
                             f'inputs, got {len(inputs)}')
        aligned = list(inputs)
        for level, block in zip(self.aligned_levels, self.aligned_attentions):
            aligned[level] = block(inputs[level])
        return super().forward(tuple(aligned))
