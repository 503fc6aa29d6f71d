# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net: selection and attention losses, and coarse-to-fine mask scoring
(mmseg modules)."""
from . import (backbones, datasets, decode_heads, evaluation,  # noqa: F401
               losses, mask_scoring)
from . import wsss  # noqa: F401

__all__ = [
    'backbones', 'datasets', 'decode_heads', 'evaluation', 'losses',
    'mask_scoring', 'wsss'
]
