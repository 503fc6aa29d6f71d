# Copyright (c) mmattn contributors. All rights reserved.
from .checkpoint import (CheckpointError, CheckpointFileError,
                         check_checkpoint_file, checkpoint_safe_globals,
                         empty_bytes, history_buffer_getattr,
                         install_checked_local_loader,
                         register_checkpoint_safe_globals)
from .checkpoint_mismatch_hook import CheckpointMismatchHook
from .pretrained import (PretrainedDownloadError, pretrained_download_error,
                         remote_pretrained_weights)
from .resume import (earlier_checkpoints, find_resume_checkpoint,
                     optimizer_mismatch_error)
from .strict_loading import (CheckpointMismatchError, StateDictMismatch,
                             compare_state_dict, load_checkpoint_strict,
                             mismatch_message, unwrap_model)
from .version_check import check_openmmlab_versions

__all__ = [
    'CheckpointError', 'CheckpointFileError', 'CheckpointMismatchError',
    'CheckpointMismatchHook', 'PretrainedDownloadError', 'StateDictMismatch',
    'check_checkpoint_file', 'check_openmmlab_versions',
    'checkpoint_safe_globals', 'compare_state_dict', 'earlier_checkpoints',
    'empty_bytes', 'find_resume_checkpoint', 'history_buffer_getattr',
    'install_checked_local_loader', 'load_checkpoint_strict',
    'mismatch_message', 'optimizer_mismatch_error',
    'pretrained_download_error', 'register_checkpoint_safe_globals',
    'remote_pretrained_weights', 'unwrap_model'
]
