# Copyright (c) mmattn contributors. All rights reserved.
"""Strict checkpoint loading with a readable mismatch summary.

mmengine's ``load_checkpoint`` loads non-strictly: a checkpoint of another
model (another config, another number of classes) loads *nothing* for the
mismatched weights, logs one warning line per key and returns normally, so a
tool then runs an untrained network. mmattn's own tools load with
:func:`load_checkpoint_strict` instead, which refuses such a checkpoint with
one paragraph naming the file, the config and the mismatched keys (the first
few of each kind and their count).

:func:`compare_state_dict` compares keys and shapes the way
``mmengine.runner.checkpoint.load_state_dict`` loads them: the checkpoint's
``state_dict`` (or the checkpoint itself when it is a bare state dict) with
the ``module.`` prefix of wrapped models stripped, against the model's
``state_dict()`` (a model wrapper or a test-time-augmentation model is
unwrapped first; BN ``num_batches_tracked`` buffers may be missing, as
mmengine allows).
"""
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)

from .checkpoint import CheckpointError

__all__ = [
    'CheckpointMismatchError', 'StateDictMismatch', 'compare_state_dict',
    'load_checkpoint_strict', 'mismatch_message', 'unwrap_model'
]

#: mmengine's default ``revise_keys`` (``Runner.load_checkpoint``).
DEFAULT_REVISE_KEYS: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )


def _plural(count: int, word: str) -> str:
    return f'{count} {word}' + ('' if count == 1 else 's')


def _shape(value: Any) -> Optional[Tuple[int, ...]]:
    shape = getattr(value, 'shape', None)
    return None if shape is None else tuple(shape)


@dataclass
class StateDictMismatch:
    """Keys of a checkpoint that do not fit a model.

    Attributes:
        missing (list[str]): Model keys the checkpoint lacks.
        unexpected (list[str]): Checkpoint keys the model lacks.
        shape (list[tuple]): ``(key, checkpoint shape, model shape)`` of the
            keys both have with different shapes.
    """
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shape: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shape)

    def summary(self, limit: int = 3) -> str:
        """One line: each kind of mismatch with its count and first keys.

        Args:
            limit (int): How many keys of each kind to name. Defaults to 3.

        Returns:
            str: E.g. ``"2 shape mismatches (head.weight: checkpoint (4, 8),
            model (2, 8); head.bias: ...), 1 missing key (neck.w)"``, or
            ``"none"``.
        """

        def first(items: List[str]) -> str:
            shown = '; '.join(items[:limit])
            more = len(items) - limit
            return shown + (f'; and {more} more' if more > 0 else '')

        parts = []
        if self.shape:
            count = len(self.shape)
            parts.append(
                f'{count} shape mismatch' + ('' if count == 1 else 'es') +
                ' (' + first([
                    f'{key}: checkpoint {ckpt}, model {model}'
                    for key, ckpt, model in self.shape
                ]) + ')')
        if self.missing:
            parts.append(
                _plural(len(self.missing), 'key') +
                f' missing from the checkpoint ({first(self.missing)})')
        if self.unexpected:
            parts.append(
                _plural(len(self.unexpected), 'key') +
                f' the model does not have ({first(self.unexpected)})')
        return ', '.join(parts) if parts else 'none'


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose weights do not fit the model they are loaded into.

    Args:
        message (str): The full one-paragraph message.
        filename (str): The checkpoint file.
        mismatch (StateDictMismatch): The mismatched keys.
    """

    def __init__(self, message: str, filename: str,
                 mismatch: StateDictMismatch) -> None:
        self.filename = filename
        self.mismatch = mismatch
        super().__init__(message)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module whose ``state_dict`` a checkpoint holds: DDP-style wrappers
    and test-time-augmentation models (``tta_model``) are unwrapped, as
    mmengine's ``load_state_dict`` does."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def _state_dict_of(checkpoint: Any) -> Dict[str, Any]:
    if not isinstance(checkpoint, dict):
        raise TypeError(
            f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, dict):
        raise TypeError("the checkpoint's 'state_dict' is a "
                        f'{type(state_dict).__name__}, not a dict')
    return state_dict


def compare_state_dict(
    model: nn.Module,
    checkpoint: Dict[str, Any],
    revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS
) -> StateDictMismatch:
    """Compare a checkpoint's weights with a model's, key by key.

    Args:
        model (nn.Module): The model (wrappers are unwrapped).
        checkpoint (dict): A loaded checkpoint, with a ``state_dict`` entry or
            itself a state dict.
        revise_keys (sequence of (pattern, replacement)): Regex rewrites of
            the checkpoint's keys, as in ``Runner.load_checkpoint``. Defaults
            to stripping a leading ``module.``.

    Returns:
        StateDictMismatch: Empty (falsy) when the checkpoint loads strictly.
    """
    state_dict = _state_dict_of(checkpoint)
    for pattern, replacement in revise_keys:
        state_dict = {
            re.sub(pattern, replacement, key): value
            for key, value in state_dict.items()
        }
    model_state = unwrap_model(model).state_dict()
    missing = [
        key for key in model_state
        if key not in state_dict and 'num_batches_tracked' not in key
    ]
    unexpected = [key for key in state_dict if key not in model_state]
    shape = []
    for key, value in model_state.items():
        if key not in state_dict:
            continue
        ckpt_shape, model_shape = _shape(state_dict[key]), _shape(value)
        if ckpt_shape != model_shape:
            shape.append((key, ckpt_shape, model_shape))
    return StateDictMismatch(missing, unexpected, shape)


def mismatch_message(filename: str,
                     mismatch: StateDictMismatch,
                     config: Optional[str] = None,
                     checkpoint: Optional[Dict[str, Any]] = None,
                     advice: Optional[str] = None,
                     another_model: bool = False) -> str:
    """The one-paragraph message of :class:`CheckpointMismatchError`.

    Args:
        filename (str): The checkpoint file.
        mismatch (StateDictMismatch): What does not fit.
        config (str, optional): The config the model was built from.
        checkpoint (dict, optional): The loaded checkpoint; its
            ``meta['experiment_name']`` (written by mmengine's Runner) tells
            which config trained it.
        advice (str, optional): The last sentence. Defaults to advice to use
            the config the checkpoint was trained with.
        another_model (bool): Say that the checkpoint belongs to another
            model (for resuming, where any mismatch means that).

    Returns:
        str: The message.
    """
    model = f'the model of {config}' if config else 'the model'
    origin = ''
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and meta.get('experiment_name'):
        origin = (' (the checkpoint was written by the run '
                  f"{meta['experiment_name']!r})")
    if advice is None:
        advice = ('Use the config the checkpoint was trained with, or a '
                  'checkpoint trained with this config')
    if another_model:
        return (f'checkpoint {filename} belongs to another model: it does '
                f'not fit {model}{origin}: {mismatch.summary()}. {advice}.')
    return (f'checkpoint {filename} does not load strictly into {model}'
            f'{origin}: {mismatch.summary()}. {advice}.')


def load_checkpoint_strict(
    model: nn.Module,
    filename: str,
    config: Optional[str] = None,
    map_location: Any = 'cpu',
    revise_keys: Sequence[Tuple[str, str]] = DEFAULT_REVISE_KEYS,
    advice: Optional[str] = None,
) -> Dict[str, Any]:
    """Load a checkpoint into ``model``, refusing any key or shape mismatch.

    Loads through mmengine's checkpoint loader (local files are checked by
    :func:`mmattn.utils.checkpoint.load_from_local` once mmattn is
    imported), compares with :func:`compare_state_dict`, and only then
    copies the weights in.

    Args:
        model (nn.Module): The model (wrappers are unwrapped).
        filename (str): Checkpoint path or URL, as for mmengine's
            ``load_checkpoint``.
        config (str, optional): The config the model was built from, named
            in the error.
        map_location: As for :func:`torch.load`. Defaults to ``'cpu'``.
        revise_keys (sequence of (pattern, replacement)): Regex rewrites of
            the checkpoint's keys. Defaults to stripping ``module.``.
        advice (str, optional): Last sentence of the error message.

    Returns:
        dict: The loaded checkpoint (with its ``meta``).

    Raises:
        CheckpointMismatchError: If keys are missing or unexpected or shapes
            differ; the model is left unchanged.
        CheckpointFileError: If the file is not a complete PyTorch
            checkpoint.
    """
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'checkpoint {filename} holds a {type(checkpoint).__name__}, not '
            'a dict of weights (a state dict or a training checkpoint)',
            filename, StateDictMismatch())
    mismatch = compare_state_dict(model, checkpoint, revise_keys)
    if mismatch:
        raise CheckpointMismatchError(
            mismatch_message(filename, mismatch, config, checkpoint, advice),
            filename, mismatch)
    # mmengine's own copy (it keeps the state dict's version metadata);
    # strict=True cannot fail any more, BN counters aside, which it skips.
    return _load_checkpoint_to_model(
        unwrap_model(model), checkpoint, strict=True,
        revise_keys=list(revise_keys))
