# Copyright (c) mmattn contributors. All rights reserved.
import pytest

from mmattn.utils.validation import (check_dilations, check_positive_int,
                                     is_positive_int)


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
