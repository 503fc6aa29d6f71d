# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net: hybrid attention for single-stage detection (mmdet modules)."""
from . import (dense_heads, evaluation, hooks, necks,  # noqa: F401
               post_processing, test_time)

__all__ = [
    'dense_heads', 'evaluation', 'hooks', 'necks', 'post_processing',
    'test_time'
]
