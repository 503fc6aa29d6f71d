# Copyright (c) mmattn contributors. All rights reserved.
from .aligned_fpn import AlignedFPN

__all__ = ['AlignedFPN']
