# Copyright (c) mmattn contributors. All rights reserved.
"""A Runner hook that reports (or refuses) a checkpoint that does not fit the
model, before mmengine loads it non-strictly."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from .strict_loading import (CheckpointMismatchError, compare_state_dict,
                             mismatch_message)

__all__ = ['CheckpointMismatchHook']


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
    tools/train.py and tools/test.py register it themselves.

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
