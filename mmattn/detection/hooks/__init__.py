# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net training hooks: incremental (staged) attention training."""
from .staged_attention_hook import (DEFAULT_ATTENTION_PATTERNS,
                                    StagedAttentionHook)

__all__ = ['DEFAULT_ATTENTION_PATTERNS', 'StagedAttentionHook']
