# Copyright (c) mmattn contributors. All rights reserved.
"""Result files for evaluation servers (docs/leaderboards.md) and the
class-attention contrast."""
from .class_attention_contrast import class_attention_contrast, map_contrast
from .voc_submission import VOCSubmissionMetric

__all__ = ['VOCSubmissionMetric', 'class_attention_contrast', 'map_contrast']
