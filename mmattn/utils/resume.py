# Copyright (c) mmattn contributors. All rights reserved.
"""Choose the checkpoint to resume from, and explain a resume that fails.

mmengine's auto-resume reads ``<work_dir>/last_checkpoint`` and loads the
file it names. When that file was cut short (the job was killed while
saving, the disk filled up) resuming fails with ``torch.load``'s error, and
the user has to find and delete files by hand. :func:`find_resume_checkpoint`
checks the latest checkpoint first (:func:`check_checkpoint_file`, without
unpickling it), names it when it is truncated or not a checkpoint, and with
``fallback=True`` resumes from the newest earlier intact one instead. It
never deletes or renames a file.
"""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence

from mmengine.logging import print_log
from mmengine.runner.checkpoint import find_latest_checkpoint

from .checkpoint import CheckpointFileError, check_checkpoint_file
from .strict_loading import CheckpointMismatchError, StateDictMismatch

__all__ = [
    'earlier_checkpoints', 'find_resume_checkpoint',
    'optimizer_mismatch_error'
]

_CHECKPOINT_NAME = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


def earlier_checkpoints(latest: str, work_dir: str) -> List[str]:
    """Checkpoints written before ``latest``, newest first.

    ``iter_<n>.pth`` / ``epoch_<n>.pth`` files next to ``latest`` (or in
    ``work_dir`` when that folder does not exist) of the same kind and with a
    smaller ``n``; any kind when ``latest`` is named otherwise.

    Args:
        latest (str): The latest checkpoint's path.
        work_dir (str): The run's work dir.

    Returns:
        list[str]: Paths, newest first.
    """
    folder = osp.dirname(latest) if osp.isdir(osp.dirname(latest) or '.') \
        else work_dir
    match = _CHECKPOINT_NAME.match(osp.basename(latest))
    found = []
    for name in os.listdir(folder):
        m = _CHECKPOINT_NAME.match(name)
        path = osp.join(folder, name)
        if m is None or osp.abspath(path) == osp.abspath(latest):
            continue
        if match is not None and (m.group(1) != match.group(1)
                                  or int(m.group(2)) >= int(match.group(2))):
            continue
        found.append((int(m.group(2)), path))
    return [path for _, path in sorted(found, reverse=True)]


def _intact(path: str) -> Optional[str]:
    """None when ``path`` passes :func:`check_checkpoint_file`, else why."""
    try:
        check_checkpoint_file(path)
    except FileNotFoundError:
        return 'does not exist'
    except CheckpointFileError as err:
        return err.problem
    return None


def find_resume_checkpoint(work_dir: str,
                           fallback: bool = False,
                           option: str = '--resume-fallback') -> Optional[str]:
    """The checkpoint that auto-resume should load.

    Args:
        work_dir (str): The run's work dir (holds ``last_checkpoint``).
        fallback (bool): When the latest checkpoint is missing, truncated or
            not a checkpoint, return the newest intact earlier one (logged
            at WARNING level) instead of raising. Defaults to False.
        option (str): How the user turns ``fallback`` on, quoted in the
            error. Defaults to tools/train.py's ``--resume-fallback``.

    Returns:
        str or None: The path, or None when ``work_dir`` has no
        ``last_checkpoint`` (training starts afresh, as in mmengine).

    Raises:
        CheckpointFileError: If the latest checkpoint is unusable and
            ``fallback`` is off (the message names it and the earlier one
            ``fallback`` would use), or no earlier checkpoint is intact.
    """
    latest = find_latest_checkpoint(work_dir)
    if latest is None:
        return None
    problem = _intact(latest)
    if problem is None:
        return latest
    pointer = osp.join(work_dir, 'last_checkpoint')
    candidates = earlier_checkpoints(latest, work_dir)
    skipped, chosen = [], None
    for path in candidates:
        if _intact(path) is None:
            chosen = path
            break
        skipped.append(path)
    problem = f'(the latest checkpoint, named in {pointer}) {problem}'
    if chosen is None:
        raise CheckpointFileError(
            latest, problem, corrupt=True,
            hint=f'No earlier checkpoint in {osp.dirname(latest) or work_dir}'
            f' is intact either ({len(candidates)} checked). Nothing was '
            'deleted; start a new run without --resume, or in another '
            '--work-dir')
    if not fallback:
        raise CheckpointFileError(
            latest, problem, corrupt=True,
            hint='To resume from the newest intact earlier checkpoint, '
            f'{chosen}, pass {option} (or --resume {chosen}); nothing was '
            'deleted')
    print_log(
        f'resuming from {chosen} instead: {latest} {problem}' +
        (f'; also skipped {", ".join(skipped)}' if skipped else '') +
        '. No file was deleted (training writes that iteration\'s '
        'checkpoint again when it gets there).',
        logger='current',
        level=30)
    return chosen


def _group_sizes(optimizer_state) -> Optional[List[int]]:
    groups = optimizer_state.get('param_groups') \
        if isinstance(optimizer_state, dict) else None
    if groups is None:
        return None
    return [len(group.get('params', [])) for group in groups]


def optimizer_mismatch_error(
        filename: str,
        error: BaseException,
        checkpoint_optimizer=None,
        optimizers: Sequence = ()) -> CheckpointMismatchError:
    """Explain mmengine's ``ValueError`` about parameter groups on resume.

    Args:
        filename (str): The checkpoint being resumed.
        error (BaseException): The optimizer's ``ValueError``.
        checkpoint_optimizer (dict, optional): The checkpoint's
            ``optimizer`` entry, for the group sizes.
        optimizers (sequence): The run's ``torch.optim.Optimizer`` objects.

    Returns:
        CheckpointMismatchError: To raise.
    """
    theirs = _group_sizes(checkpoint_optimizer)
    ours = [len(g['params']) for opt in optimizers for g in opt.param_groups]
    sizes = ''
    if theirs is not None and ours:
        sizes = (f' (parameters per group: {theirs} in the checkpoint, {ours} '
                 'in this run)')
    return CheckpointMismatchError(
        f'checkpoint {filename} belongs to another model or optimizer set-up: '
        f'its optimizer state does not fit this run\'s optimizer{sizes}: '
        f'{error}. Resume only from a checkpoint of this config; to start '
        f'from its weights instead, pass --cfg-options load_from={filename} '
        'without --resume', filename, StateDictMismatch())
