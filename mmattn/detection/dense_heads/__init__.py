# Copyright (c) mmattn contributors. All rights reserved.
from .har_atss_head import HARATSSHead
from .har_fcos_head import HARFCOSHead
from .har_gfl_head import HARGFLHead
from .har_retina_head import HARRetinaHead
from .hybrid_attention import HybridAttentionMixin

__all__ = [
    'HARRetinaHead', 'HARATSSHead', 'HARGFLHead', 'HARFCOSHead',
    'HybridAttentionMixin'
]
