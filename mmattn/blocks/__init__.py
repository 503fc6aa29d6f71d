# Copyright (c) mmattn contributors. All rights reserved.
"""Attention building blocks shared by the detection and segmentation halves.

Each block is a small ``nn.Module`` with no dependency on a detector or a
segmentor, registered in mmengine's root ``MODELS`` registry so that both
mmdet-scoped and mmseg-scoped configs can build it by name.
"""
# -- the interface the incremental-training hook toggles --
from .bypass import Bypassable, BypassMixin, is_bypassable
# -- HAR-Net blocks (detection half uses them) --
from .aligned_attention import AlignedAttention
from .cross_level_group_norm import CrossLevelGroupNorm
from .cross_level_se import CrossLevelSE
from .deform_conv import (TorchDeformConv2dPack,
                          TorchModulatedDeformConv2dPack, deform_conv2d_torch)
from .spatial_attention import SpatialAttention

# -- SAL mask-scoring blocks --
from .gdn import GDN

__all__ = [
    'Bypassable', 'BypassMixin', 'is_bypassable', 'AlignedAttention', 'CrossLevelGroupNorm', 'CrossLevelSE',
    'SpatialAttention', 'TorchDeformConv2dPack',
    'TorchModulatedDeformConv2dPack', 'deform_conv2d_torch', 'GDN'
]
