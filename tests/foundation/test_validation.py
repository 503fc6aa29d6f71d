# Copyright (c) mmattn contributors. All rights reserved.
import numpy as np
import pytest

from mmattn.utils.validation import (check_bool, check_choice, check_dilations,
                                     check_positive_int, is_int,
                                     is_positive_int, is_real)


@pytest.mark.parametrize('value, ok', [(1, True), (7, True), (0, False),
                                       (-2, False), (True, False),
                                       (2.0, False), ('3', False),
                                       (None, False)])
def test_is_positive_int(value, ok):
    assert is_positive_int(value) is ok


def test_check_positive_int_names_the_value():
    assert check_positive_int('channels', 16) == 16
    with pytest.raises(ValueError, match=r"channels must be a positive int, "
                       r"got 0"):
        check_positive_int('channels', 0)


@pytest.mark.parametrize('bad', [[], (), [1, 0], [2, -1], [1, True], '125',
                                 [1.0, 2], None, 5])
def test_check_dilations_rejects(bad):
    with pytest.raises(ValueError, match='rates must be a non-empty list'):
        check_dilations(bad, name='rates')


def test_check_dilations_returns_a_tuple():
    assert check_dilations([1, 2, 5, 2, 1]) == (1, 2, 5, 2, 1)


@pytest.mark.parametrize('value, as_int, as_real', [(3, True, True),
                                                    (-2, True, True),
                                                    (2.5, False, True),
                                                    (True, False, False),
                                                    (False, False, False),
                                                    ('3', False, False),
                                                    (None, False, False)])
def test_is_int_and_is_real_exclude_bools(value, as_int, as_real):
    assert is_int(value) is as_int
    assert is_real(value) is as_real


def test_is_int_and_is_real_take_numpy_scalars():
    assert is_int(np.int64(4)) and is_real(np.int64(4))
    assert is_real(np.float32(0.5)) and not is_int(np.float32(0.5))
    assert not is_int(np.bool_(True)) and not is_real(np.bool_(True))


def test_check_choice_returns_the_value_and_names_it():
    assert check_choice('fusion', 'sum', ('sum', 'max')) == 'sum'
    with pytest.raises(ValueError) as info:
        check_choice('fusion', 'mean', ('sum', 'max'))
    expected = "fusion must be one of ('sum', 'max'), got 'mean'"
    assert str(info.value) == expected
    # The choices are shown as given, e.g. a sorted list of a dict's keys.
    with pytest.raises(ValueError) as info:
        check_choice('depth', 17, sorted({19: 0, 11: 0}))
    assert str(info.value) == 'depth must be one of [11, 19], got 17'


@pytest.mark.parametrize('value', [True, False])
def test_check_bool_accepts_bools(value):
    assert check_bool('overwrite', value) is value


@pytest.mark.parametrize('bad', [0, 1, None, 'yes', np.bool_(True)])
def test_check_bool_rejects_everything_else(bad):
    with pytest.raises(TypeError) as info:
        check_bool('overwrite', bad)
    assert str(info.value) == f'overwrite must be a bool, got {bad!r}'
