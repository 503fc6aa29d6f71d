# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net: hybrid attention for single-stage detection (mmdet modules)."""
from . import (dense_heads, hooks, necks, post_processing,  # noqa: F401
               test_time)

__all__ = ['dense_heads', 'hooks', 'necks', 'post_processing', 'test_time']
