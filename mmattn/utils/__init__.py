# Copyright (c) mmattn contributors. All rights reserved.
from .checkpoint import (checkpoint_safe_globals, history_buffer_getattr,
                         register_checkpoint_safe_globals)
from .version_check import check_openmmlab_versions

__all__ = [
    'check_openmmlab_versions', 'checkpoint_safe_globals',
    'history_buffer_getattr', 'register_checkpoint_safe_globals'
]
