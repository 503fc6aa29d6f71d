# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net decode head and its parts."""
from .classification_branch import SALClassificationBranch
from .deeplabv2_aspp import DeepLabV2ASPP
from .sal_head import SALHead

__all__ = ['DeepLabV2ASPP', 'SALClassificationBranch', 'SALHead']
