# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net training data: proxy masks with image tags and mask scores."""
from .transforms import PackWeakSegInputs
from .weak_seg import WeakSegDataset
from .weak_voc import WeakVOCDataset

__all__ = ['PackWeakSegInputs', 'WeakSegDataset', 'WeakVOCDataset']
