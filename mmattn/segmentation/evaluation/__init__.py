# Copyright (c) mmattn contributors. All rights reserved.
"""Result files for evaluation servers (docs/leaderboards.md)."""
from .voc_submission import VOCSubmissionMetric

__all__ = ['VOCSubmissionMetric']
