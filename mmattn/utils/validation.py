# Copyright (c) mmattn contributors. All rights reserved.
"""Build-time argument checks shared by mmattn's modules, so that a bad
config value fails with one consistent message that names it."""
from numbers import Integral, Real
from typing import Any, Collection, Sequence, Tuple


def is_int(value) -> bool:
    """Whether ``value`` is an int (``numbers.Integral``), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """Whether ``value`` is a real number (``numbers.Real``: int, float,
    numpy scalars), not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool)


def is_positive_int(value) -> bool:
    """Whether ``value`` is an int > 0 (``True``/``False`` are not ints
    here, though Python says they are)."""
    return (not isinstance(value, bool) and isinstance(value, Integral)
            and value > 0)


def check_positive_int(name: str, value) -> int:
    """Return ``value`` if it is a positive int.

    Raises:
        ValueError: ``'<name> must be a positive int, got <value>'``.
    """
    if not is_positive_int(value):
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return int(value)


def check_dilations(dilations: Sequence[int],
                    name: str = 'dilations') -> Tuple[int, ...]:
    """Return ``dilations`` as a tuple if it is a non-empty sequence of
    positive ints.

    Raises:
        ValueError: naming ``name`` and the value.
    """
    if (isinstance(dilations, (str, bytes))
            or not isinstance(dilations, Sequence) or len(dilations) == 0
            or not all(is_positive_int(d) for d in dilations)):
        raise ValueError(f'{name} must be a non-empty list of positive ints, '
                         f'got {dilations!r}')
    return tuple(int(d) for d in dilations)


def check_choice(name: str, value: Any, choices: Collection) -> Any:
    """Return ``value`` if it is one of ``choices``.

    Args:
        name (str): How the message names the value (``'fusion'``,
            ``'box voting score_mode'``).
        value: The value to check.
        choices (Collection): The allowed values; the message shows them as
            given (a tuple, or a sorted list of a dict's keys).

    Raises:
        ValueError: ``'<name> must be one of <choices>, got <value>'``.
    """
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')
    return value


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a bool (``True``/``False``; not 0, 1 or
    ``None``).

    Raises:
        TypeError: ``'<name> must be a bool, got <value>'``.
    """
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be a bool, got {value!r}')
    return value


def check_level_channels(feats: Sequence, channels: int) -> None:
    """Check that every pyramid level is a 4-d ``(N, channels, H, W)``
    tensor (the input contract of the cross-level blocks and heads).

    Raises:
        ValueError: ``'every level must be (N, <channels>, H, W), got shapes
            [...]'``.
    """
    if any(f.dim() != 4 or f.shape[1] != channels for f in feats):
        raise ValueError(
            f'every level must be (N, {channels}, H, W), got '
            f'shapes {[tuple(f.shape) for f in feats]}')
