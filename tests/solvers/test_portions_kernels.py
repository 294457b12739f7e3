"""Kernels of the portions solver on arrays in key order, checked by hand (no pandas)."""

import numpy as np
import pytest

from fairalloc.solvers.portions import METHODS, apportion, verify_portions
from fairalloc.solvers.verify import SolverFailure


def test_spec_example_ratios_3_to_1_share_8_as_6_and_2():
    # SPEC: ratios {1: 3, 2: 1}, total 8; key order is array order
    got = apportion(np.array([3.0, 1.0]), 8)
    assert got.tolist() == [6, 2]
    assert got.dtype == np.int64


@pytest.mark.parametrize(("ratios", "total", "method", "expected"), [
    # a key of ratio 0 keeps 0, the others as without it
    ([3.0, 0.0, 1.0], 8, "priority", [6, 0, 2]),
    # quotas 5.5, 3.3, 2.2: floors 5 + 3 + 2, the one left to the largest remainder (0.5)
    ([5.0, 3.0, 2.0], 11, "hamilton", [6, 3, 2]),
    # values 5, 3, 2.5, 5/3, 1.5, 1.25, then 5/5 and 3/3 tie: the lower key wins
    ([5.0, 0.0, 3.0], 7, "jefferson", [5, 0, 2]),
    # values r / (j + 1/2): 10, 6, 4, 3.33, 2, 2, 1.43, 1.33, 1.2, 1.11, 0.91 (key 0)
    ([5.0, 3.0, 2.0], 11, "webster", [6, 3, 2]),
    # first portions to every positive key, then the largest r / j: 5 (key 0)
    ([5.0, 3.0, 2.0], 4, "adams", [2, 1, 1]),
    # first portions to every positive key, then the largest r / sqrt(2): key 0
    ([5.0, 3.0, 2.0], 4, "huntington_hill", [2, 1, 1]),
    # equal values: the lower key first
    ([1.0, 1.0], 3, "webster", [2, 1]),
])
def test_methods_by_hand(ratios, total, method, expected):
    assert apportion(np.array(ratios), total, method).tolist() == expected


@pytest.mark.parametrize("method", sorted(METHODS.names()))
def test_nothing_to_share_or_nobody_to_share_with_gives_zeros(method):
    assert apportion(np.array([2.0, 1.0]), 0, method).tolist() == [0, 0]
    assert apportion(np.array([0.0, 0.0]), 5, method).tolist() == [0, 0]


def test_an_unknown_method_is_a_key_error():
    with pytest.raises(KeyError, match="hamilton"):
        apportion(np.array([1.0]), 1, "dhondt")


# --- verify_portions: every answer is checked before it is returned ----------------------------

def test_verify_accepts_the_spec_answer():
    verify_portions(np.array([3.0, 1.0]), 8, np.array([6, 2]))
    verify_portions(np.array([0.0, 0.0]), 8, np.array([0, 0]))  # nobody to share with


def test_verify_catches_a_wrong_sum():
    with pytest.raises(SolverFailure) as info:
        verify_portions(np.array([3.0, 1.0]), 8, np.array([6, 1]), "priority")
    err = info.value
    assert err.limit == "total" and err.codes == []
    assert "the portions (priority) sum to 7, not 8" in str(err)
    with pytest.raises(SolverFailure, match="sum to 9, not 8"):
        verify_portions(np.array([3.0, 1.0]), 8, np.array([6, 3]))


def test_verify_names_a_key_of_ratio_zero_given_portions():
    # the sum is right (8), but key code 1 has ratio 0
    with pytest.raises(SolverFailure) as info:
        verify_portions(np.array([3.0, 0.0, 1.0]), 8, np.array([5, 1, 2]))
    err = info.value
    assert (err.what, err.codes, err.limit) == ("key", [1], "portions")
    assert "1 key(s) of ratio 0 get portions (codes [1])" in str(err)


def test_verify_names_negative_portions():
    with pytest.raises(SolverFailure) as info:
        verify_portions(np.array([3.0, 1.0, 1.0]), 8, np.array([7, 2, -1]))
    assert (info.value.what, info.value.codes) == ("key", [2])
    assert "get negative portions" in str(info.value)
