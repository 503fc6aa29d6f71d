# Copyright (c) mmattn contributors. All rights reserved.
from .spatial_mask_contrast import spatial_mask_contrast

__all__ = ['spatial_mask_contrast']
