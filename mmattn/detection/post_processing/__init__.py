# Copyright (c) mmattn contributors. All rights reserved.
"""HAR-Net post-processing: box voting (Eq. 3); soft-NMS is mmcv's, selected
with ``test_cfg.nms=dict(type='soft_nms', method='gaussian', ...)``."""
from .box_voting import (SCORE_MODES, box_voting, box_voting_instances,
                         validate_box_voting_cfg)

__all__ = [
    'SCORE_MODES', 'box_voting', 'box_voting_instances',
    'validate_box_voting_cfg'
]
