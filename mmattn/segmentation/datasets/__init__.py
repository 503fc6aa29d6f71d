# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net training data: proxy masks with image tags and mask scores, and
the checks of a folder and of each sample."""
from .folder_check import FolderReport, check_weak_seg_folder
from .sample_check import SegSampleError, check_label_mask, label_mask_problems
from .transforms import PackWeakSegInputs
from .weak_seg import WeakSegDataset
from .weak_voc import WeakVOCDataset

__all__ = [
    'FolderReport', 'PackWeakSegInputs', 'SegSampleError', 'WeakSegDataset',
    'WeakVOCDataset', 'check_label_mask', 'check_weak_seg_folder',
    'label_mask_problems'
]
