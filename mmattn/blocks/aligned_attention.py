# Copyright (c) mmattn contributors. All rights reserved.
"""Aligned attention: a residual deformable bottleneck (HAR-Net Sec. III-C).
"""
from typing import Optional

import mmcv.ops  # noqa: F401  registers 'DCN' / 'DCNv2' conv layers
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor, nn

from mmattn.utils.validation import (check_choice, check_positive_int,
                                     is_positive_int)

from .bypass import BypassMixin

from .deform_conv import (TorchDeformConv2dPack,  # noqa: F401  registers
                          TorchModulatedDeformConv2dPack)  # 'DCN(v2)Torch'

_DEFORM_TYPES = ('DCN', 'DCNv2')
# Conv layer names per (implementation, deform_type); both implementations
# have the same parameters, so checkpoints move between them.
_DEFORM_LAYERS = {
    'mmcv': {'DCN': 'DCN', 'DCNv2': 'DCNv2'},
    'torch': {'DCN': 'DCNTorch', 'DCNv2': 'DCNv2Torch'},
}


@MODELS.register_module()
class AlignedAttention(BypassMixin, BaseModule):
    """Residual 1x1 -> 3x3 deformable -> 1x1 block applied to a backbone map.

    HAR-Net (Sec. III-C, Fig. 4) inserts this block after C4 and C5 so that
    one set of deformable offsets organises all filters of the block before
    the feature pyramid merges the levels. Following the authors' code::

        y = ReLU(x + GN_0.1(Conv1x1(ReLU(GN(DeformConv3x3(
                ReLU(GN(Conv1x1(x)))))))))

    where the last GN starts with scale 0.1 so the block starts close to the
    identity (plus the final ReLU) and does not disturb pretrained backbone
    features early in training.

    Args:
        in_channels (int): Channels of the backbone map (also the output).
        mid_channels (int): Bottleneck width. Defaults to 256 (the code).
        deform_groups (int): Deformable groups of the 3x3 conv. Defaults to
            4 (the code).
        deform_type (str): ``'DCN'`` (mmcv ``DeformConv2dPack``, the paper's
            DCN v1) or ``'DCNv2'`` (mmcv ``ModulatedDeformConv2dPack``).
            Defaults to ``'DCN'``.
        norm_cfg (dict, optional): Norm after every conv. Defaults to
            GN with 32 groups.
        act_cfg (dict): Activation after the first two convs and after the
            residual sum. Defaults to ReLU.
        restore_norm_init (float): Initial scale of the last norm layer.
            Defaults to 0.1 (the code); ignored when ``norm_cfg`` is None.
        relu_after_residual (bool): Apply ``act_cfg`` after the residual sum
            (the code). Defaults to True.
        init_cfg (dict or list[dict], optional): Initialisation config.
            Defaults to None (mmcv's Kaiming init of the convs).
        deform_impl (str): Who computes the deformable conv: ``'mmcv'``
            (mmcv's compiled op) or ``'torch'``
            (:func:`mmattn.blocks.deform_conv.deform_conv2d_torch`, the same
            numbers and parameters, several times faster to train on CPU).
            Defaults to ``'mmcv'``.

    Shapes:
        - Input: ``(N, in_channels, H, W)``.
        - Output: ``(N, in_channels, H, W)``.
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int = 256,
                 deform_groups: int = 4,
                 deform_type: str = 'DCN',
                 norm_cfg: Optional[dict] = dict(
                     type='GN', num_groups=32, requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 restore_norm_init: float = 0.1,
                 relu_after_residual: bool = True,
                 init_cfg: Optional[dict] = None,
                 deform_impl: str = 'mmcv') -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('in_channels', in_channels),
                            ('mid_channels', mid_channels),
                            ('deform_groups', deform_groups)):
            check_positive_int(name, value)
        check_choice('deform_type', deform_type, _DEFORM_TYPES)
        check_choice('deform_impl', deform_impl, tuple(_DEFORM_LAYERS))
        if mid_channels % deform_groups != 0:
            raise ValueError(f'mid_channels={mid_channels} is not divisible '
                             f'by deform_groups={deform_groups}')
        if norm_cfg is not None and norm_cfg.get('type') == 'GN':
            groups = norm_cfg.get('num_groups')
            for name, value in (('in_channels', in_channels),
                                ('mid_channels', mid_channels)):
                if not is_positive_int(groups) or value % groups != 0:
                    raise ValueError(
                        f'{name}={value} is not divisible by the GN '
                        f'num_groups={groups!r} of norm_cfg')
        self.in_channels = in_channels
        self.mid_channels = mid_channels
        self.restore_norm_init = float(restore_norm_init)
        self.relu_after_residual = relu_after_residual
        self.deform_impl = deform_impl

        self.reduce = ConvModule(
            in_channels, mid_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.deform = ConvModule(
            mid_channels,
            mid_channels,
            3,
            padding=1,
            conv_cfg=dict(
                type=_DEFORM_LAYERS[deform_impl][deform_type],
                deform_groups=deform_groups),
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            # mmcv's DeformConv2d has no bias; 'auto' would ask for one when
            # there is no norm layer.
            bias=False if deform_type == 'DCN' else 'auto')
        self.restore = ConvModule(
            mid_channels, in_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.out_act = build_activation_layer(act_cfg) \
            if relu_after_residual else nn.Identity()
        self._init_special()

    def _init_special(self) -> None:
        """Zero offsets and a small residual scale.

        Generic ``layer='Conv2d'`` init configs of a parent module also hit
        the offset conv of the deformable layer (an ``nn.Conv2d``), so this
        is re-applied after every ``init_weights``.
        """
        # Zero offsets (and DCNv2 masks at sigmoid(0)): the deformable conv
        # starts as a plain 3x3 conv.
        offset_conv = self.deform.conv.conv_offset
        nn.init.zeros_(offset_conv.weight)
        nn.init.zeros_(offset_conv.bias)
        if self.restore.with_norm:
            nn.init.constant_(self.restore.norm.weight,
                              self.restore_norm_init)
            nn.init.zeros_(self.restore.norm.bias)

    def init_weights(self) -> None:
        """Initialise from ``init_cfg``, then restore the special inits."""
        super().init_weights()
        self._init_special()

    def forward(self, x: Tensor) -> Tensor:
        """Align one backbone map.

        Args:
            x (Tensor): ``(N, in_channels, H, W)``.

        Returns:
            Tensor: ``(N, in_channels, H, W)``.
        """
        if self.bypass:  # x + branch(x) without the branch
            return self.out_act(x.clone())
        out = self.restore(self.deform(self.reduce(x)))
        return self.out_act(x + out)
