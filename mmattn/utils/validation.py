# Copyright (c) mmattn contributors. All rights reserved.
"""Build-time argument checks shared by mmattn's modules, so that a bad
config value fails with one consistent message that names it."""
from numbers import Integral
from typing import Sequence, Tuple


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
