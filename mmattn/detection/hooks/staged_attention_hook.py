# Copyright (c) mmattn contributors. All rights reserved.
"""Incremental training of HAR-Net (Sec. III-D and IV-B).

The paper: "we firstly train the main network for better descriptive
features, then add the spatial and channel attention modules with several
more iterative learning". :class:`StagedAttentionHook` trains in two stages:

- Stage 1 (before ``switch_iter`` / ``switch_epoch``): the attention
  parameters (selected by name patterns) have ``requires_grad=False``, and,
  with ``stage1='bypass'`` (the default), the attention modules are also taken
  out of the forward pass through their ``bypass`` flag
  (:mod:`mmattn.blocks.bypass`): a gate (``SpatialAttention``,
  ``CrossLevelSE``) returns ones, so it multiplies by 1; a residual block
  (``AlignedAttention``) returns its input. That is the paper's "add the
  modules later". The hook only toggles the flag, so any block that
  implements the interface can be postponed. ``stage1='freeze'`` only freezes: the modules then keep
  running with their initial weights (a spatial mask around its
  ``mask_init``, a channel gate near sigmoid of a small random projection),
  so the main
  network is trained under a fixed, untrained attention.
- Stage 2: the bypass flags are cleared and every selected parameter
  gets back the ``requires_grad`` it had when the model was built.

Why frozen parameters do not move: a parameter with ``requires_grad=False``
gets no gradient (``.grad`` stays ``None``) and torch's optimizers (SGD,
Adam, AdamW, ...) skip parameters whose ``.grad`` is ``None`` altogether, so
neither the update, the momentum nor the weight decay touches them. They
stay in the optimizer's parameter groups, so nothing needs rebuilding at the
switch; their momentum simply starts at zero then.

Resuming: the stage is decided from ``runner.iter`` / ``runner.epoch`` in
``before_train``, which mmengine calls after loading a checkpoint, so a run
resumed before the switch continues in stage 1 and switches on time, and a
run resumed after it starts in stage 2.

Distributed training: DDP expects every parameter that required a gradient
when it was wrapped to get one; stage 1 leaves the attention parameters
without gradients, so use ``model_wrapper_cfg=dict(
type='MMDistributedDataParallel', find_unused_parameters=True)``.
"""
import re
from typing import Dict, Optional, Sequence

from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from torch import nn

from mmattn.blocks.bypass import is_bypassable

DEFAULT_ATTENTION_PATTERNS = ('spatial_attention', 'channel_attention')

_STAGE1_MODES = ('bypass', 'freeze')
_STAGE1_VERBS = dict(bypass='bypassed and frozen', freeze='frozen')


def _check_switch_point(name: str, value) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f'{name} must be None or a non-negative int, got {value!r}')


@HOOKS.register_module()
class StagedAttentionHook(Hook):
    """Train the main network first, then switch the attention on.

    Args:
        switch_iter (int, optional): Iteration (0-based, counted over the
            whole run) from which the attention is trained: iterations
            ``0 .. switch_iter - 1`` are stage 1. Exactly one of
            ``switch_iter`` and ``switch_epoch`` must be given.
        switch_epoch (int, optional): Epoch (0-based) from which the
            attention is trained; only with an epoch-based train loop.
        patterns (Sequence[str]): Regular expressions searched
            (``re.search``) in the parameter and module names of the model
            (without a DDP wrapper's ``module.`` prefix). Defaults to
            ``('spatial_attention', 'channel_attention')``: HARRetinaHead's
            spatial attention and its cls/reg CLSE, the two modules the
            paper adds in the second stage. Add ``'aligned_attention'`` to
            also postpone AlignedFPN's blocks, ``'extra_conv'`` for the conv
            between them (only with ``stage1='freeze'``: it is not a gate).
        stage1 (str): ``'bypass'`` (default) or ``'freeze'``, see the module
            docstring.
        priority (str | int): Hook priority. Defaults to ``'NORMAL'``.

    Raises:
        ValueError: At construction, if both or neither of ``switch_iter``
            and ``switch_epoch`` are given, or a value is bad; in
            ``before_train``, if a pattern matches no parameter, if
            ``stage1='bypass'`` and a matched parameter lies in no module the
            hook can bypass, or if ``switch_epoch`` is used with an
            iteration-based loop.
    """

    def __init__(self,
                 switch_iter: Optional[int] = None,
                 switch_epoch: Optional[int] = None,
                 patterns: Sequence[str] = DEFAULT_ATTENTION_PATTERNS,
                 stage1: str = 'bypass',
                 priority='NORMAL') -> None:
        if (switch_iter is None) == (switch_epoch is None):
            raise ValueError(
                'StagedAttentionHook needs exactly one of switch_iter and '
                f'switch_epoch, got switch_iter={switch_iter!r}, '
                f'switch_epoch={switch_epoch!r}')
        _check_switch_point('switch_iter', switch_iter)
        _check_switch_point('switch_epoch', switch_epoch)
        if isinstance(patterns, str) or not isinstance(patterns, Sequence) \
                or not patterns or not all(
                    isinstance(p, str) and p for p in patterns):
            raise ValueError('patterns must be a non-empty list of non-empty '
                             f'regular expressions, got {patterns!r}')
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f'pattern {pattern!r} is not a valid regular expression: '
                    f'{exc}') from exc
        if stage1 not in _STAGE1_MODES:
            raise ValueError(
                f'stage1 must be one of {_STAGE1_MODES}, got {stage1!r}')
        self.switch_iter = switch_iter
        self.switch_epoch = switch_epoch
        self.patterns = tuple(patterns)
        self.stage1 = stage1
        self.priority = priority
        self.attention_params: Dict[str, nn.Parameter] = {}
        self._built_requires_grad: Dict[str, bool] = {}
        self._bypass_modules: Dict[str, nn.Module] = {}
        self.attention_on: Optional[bool] = None

    # ------------------------------------------------------------------
    # selection
    # ------------------------------------------------------------------
    def _matches(self, name: str) -> bool:
        return any(re.search(p, name) for p in self.patterns)

    def _select(self, model: nn.Module) -> None:
        named = dict(model.named_parameters())
        for pattern in self.patterns:
            if not any(re.search(pattern, name) for name in named):
                raise ValueError(
                    f'StagedAttentionHook pattern {pattern!r} matches no '
                    f'parameter of {type(model).__name__}; its parameters '
                    f'start with {sorted({n.split(".")[0] for n in named})}')
        self.attention_params = {
            name: param
            for name, param in named.items() if self._matches(name)
        }
        self._built_requires_grad = {
            name: param.requires_grad
            for name, param in self.attention_params.items()
        }

    def _bypassable_modules(self, model: nn.Module) -> Dict[str, nn.Module]:
        """Top-most bypassable blocks whose names match a pattern."""
        found = {}
        for name, module in model.named_modules():
            if not is_bypassable(module):
                continue
            if not self._matches(name) or any(
                    name.startswith(outer + '.') for outer in found):
                continue
            found[name] = module
        uncovered = [
            p for p in self.attention_params
            if not any(p.startswith(m + '.') for m in found)
        ]
        if uncovered:
            raise ValueError(
                "stage1='bypass' can only take out blocks with a 'bypass' "
                'flag (mmattn.blocks.bypass), but the patterns '
                f'{self.patterns} also select {uncovered[:5]}; drop those '
                "patterns or use stage1='freeze'")
        return found

    # ------------------------------------------------------------------
    # stage switching
    # ------------------------------------------------------------------
    def _set_stage(self, runner, attention_on: bool) -> None:
        if attention_on == self.attention_on:
            return
        for name, param in self.attention_params.items():
            param.requires_grad_(
                self._built_requires_grad[name] if attention_on else False)
        for module in self._bypass_modules.values():
            module.bypass = not attention_on
        self.attention_on = attention_on
        state = 'trained' if attention_on else _STAGE1_VERBS[self.stage1]
        runner.logger.info(
            f'StagedAttentionHook: attention {state} from iter {runner.iter} '
            f'/ epoch {runner.epoch} ({len(self.attention_params)} '
            'parameters)')

    def _stage_due(self, runner) -> bool:
        if self.switch_iter is not None:
            return runner.iter >= self.switch_iter
        return runner.epoch >= self.switch_epoch

    def before_train(self, runner) -> None:
        """Select the parameters and enter the stage the run is in."""
        if self.switch_epoch is not None and isinstance(
                runner.train_loop, IterBasedTrainLoop):
            raise ValueError(
                f'switch_epoch={self.switch_epoch} needs an epoch-based '
                'train loop; this run is iteration-based, use switch_iter')
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._select(model)
        self._bypass_modules = self._bypassable_modules(model) \
            if self.stage1 == 'bypass' else {}
        self.attention_on = None
        self._set_stage(runner, self._stage_due(runner))

    def before_train_epoch(self, runner) -> None:
        """Switch at the start of ``switch_epoch``."""
        if self.switch_epoch is not None and self._stage_due(runner):
            self._set_stage(runner, True)

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        """Switch before iteration ``switch_iter``."""
        if self.switch_iter is not None and self._stage_due(runner):
            self._set_stage(runner, True)

    def after_train(self, runner) -> None:
        """Leave no bypass behind for a later test or val run."""
        for module in self._bypass_modules.values():
            module.bypass = False
