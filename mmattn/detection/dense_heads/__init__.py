# Copyright (c) mmattn contributors. All rights reserved.
from .har_retina_head import HARRetinaHead

__all__ = ['HARRetinaHead']
