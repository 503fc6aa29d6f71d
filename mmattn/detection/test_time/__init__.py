# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net multi-scale testing (Sec. IV-B, Fig. 6)."""
from .har_multi_scale_retinanet import HARMultiScaleRetinaNet
from .pyramid_merge import (check_two_x_scale_factors, merge_pyramid_maps,
                            pyramid_merge_plan)

__all__ = [
    'HARMultiScaleRetinaNet', 'check_two_x_scale_factors',
    'merge_pyramid_maps', 'pyramid_merge_plan'
]
