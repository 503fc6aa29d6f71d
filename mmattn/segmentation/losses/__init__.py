# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net losses: the selection loss (Eq. 8/9/13) and the attention loss
(Eq. 12)."""
from .attention_loss import AttentionLoss
from .selection_loss import SelectionLoss

__all__ = ['AttentionLoss', 'SelectionLoss']
