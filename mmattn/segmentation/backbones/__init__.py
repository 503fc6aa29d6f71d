# Copyright (c) mmattn contributors. All rights reserved.
"""Backbones of SAL-Net that mmseg lacks."""
from .vgg import DeepLabVGG

__all__ = ['DeepLabVGG']
