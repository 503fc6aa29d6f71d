# Copyright (c) mmattn contributors. All rights reserved.
"""A Runner hook that reports (or refuses) a checkpoint that does not fit the
model, before mmengine loads it non-strictly."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .strict_loading import (CheckpointMismatchError, compare_state_dict,
                             mismatch_message)

__all__ = ['CheckpointMismatchHook', 'pop_mismatch_hooks']


@HOOKS.register_module()
class CheckpointMismatchHook(Hook):
    """Summarise a checkpoint/model mismatch in one line, or refuse it.

    ``Runner.load_checkpoint`` (``load_from``, ``resume``) calls
    ``after_load_checkpoint`` with the loaded checkpoint just before copying
    it into the model non-strictly; mmengine then logs one warning with a
    line per mismatched key. This hook compares the checkpoint with the
    model first (:func:`mmattn.utils.compare_state_dict`) and

    - ``strict=False``: logs the summary at WARNING level in one line
      (counts and the first keys of each kind), and mmengine goes on as
      before;
    - ``strict=True``: raises :class:`CheckpointMismatchError` naming the
      file, the config and the keys, so nothing runs on half-loaded weights.

    Registered in mmengine's root ``HOOKS``, so mmdet- and mmseg-scoped
    configs find it: ``custom_hooks = [dict(type='CheckpointMismatchHook')]``.
    tools/train.py and tools/test.py register it themselves, in place of the
    config's entry (:func:`pop_mismatch_hooks`).

    Args:
        strict (bool): Raise instead of warning. Defaults to False.
        checkpoint (str, optional): The checkpoint file, named in the
            messages (``after_load_checkpoint`` is not given it). Defaults to
            the runner's ``load_from``.
        config (str, optional): The config file, named in the messages.
            Defaults to the runner's ``cfg.filename``.
        advice (str, optional): Last sentence of the error (``strict``).
        belongs_to_another_model (bool): Word the error for resuming: the
            checkpoint "belongs to another model". Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 strict: bool = False,
                 checkpoint: Optional[str] = None,
                 config: Optional[str] = None,
                 advice: Optional[str] = None,
                 belongs_to_another_model: bool = False) -> None:
        self.strict = strict
        self.checkpoint = checkpoint
        self.config = config
        self.advice = advice
        self.belongs_to_another_model = belongs_to_another_model

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Compare ``checkpoint`` with ``runner.model`` and warn or raise."""
        if not isinstance(checkpoint, dict):
            return  # mmengine fails on it with its own message
        mismatch = compare_state_dict(runner.model, checkpoint)
        if not mismatch:
            return
        cfg = getattr(runner, 'cfg', None)
        # A Runner built from arguments, not a config, keeps load_from only
        # in its private attribute.
        filename = self.checkpoint or (cfg.get('load_from') if cfg else None) \
            or getattr(runner, '_load_from', None) or 'the checkpoint'
        config = self.config or getattr(cfg, 'filename', None)
        if self.strict:
            message = mismatch_message(filename, mismatch, config, checkpoint,
                                       self.advice,
                                       self.belongs_to_another_model)
            raise CheckpointMismatchError(message, filename, mismatch)
        model = f'the model of {config}' if config else 'the model'
        runner.logger.warning(
            f'checkpoint {filename} does not match {model}: '
            f'{mismatch.summary()}; mismatched weights keep their initial '
            'values')


def pop_mismatch_hooks(runner) -> dict:
    """Unregister the CheckpointMismatchHooks a config put into ``runner``.

    tools/train.py and tools/test.py register their own hook after building
    the Runner. One from the config's ``custom_hooks`` as well would compare
    the checkpoint a second time and report it again: a WARNING that the
    weights keep their initial values before the tool's error on
    ``--resume`` or in testing, or a second WARNING line when the two hooks
    name things differently (mmengine drops only repeated identical
    warnings). The tools call this and build their hook from what it
    returns. The config itself is left as written, so the dumped config,
    the log and the checkpoints' meta still list the entry.

    Args:
        runner (mmengine.runner.Runner): A built Runner. Subclasses of the
            hook are left registered (they may do more than report).

    Returns:
        dict: The arguments of the removed hooks, merged in order (a later
        hook's value wins), except ``strict``: True when any hook asks for
        it. Empty when none was registered.
    """
    # Runner.hooks is the Runner's own list (register_hook inserts into it);
    # mmengine has no call to unregister a hook.
    hooks = runner.hooks
    listed = [hook for hook in hooks if type(hook) is CheckpointMismatchHook]
    if not listed:
        return {}
    hooks[:] = [
        hook for hook in hooks if type(hook) is not CheckpointMismatchHook
    ]
    kwargs, strict = {}, False
    for hook in listed:
        strict = strict or hook.strict
        given = dict(
            checkpoint=hook.checkpoint,
            config=hook.config,
            advice=hook.advice,
            belongs_to_another_model=hook.belongs_to_another_model or None)
        kwargs.update({k: v for k, v in given.items() if v is not None})
    if strict:
        kwargs['strict'] = True
    return kwargs
