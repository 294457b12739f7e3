"""The passes by blocks and the mapped arrays of fairalloc.solvers.blocks."""

import mmap
import multiprocessing

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from fairalloc.solvers import blocks


@given(st.integers(1, 50), st.integers(0, 400), st.sampled_from([1, 7, 64]),
       st.sampled_from([np.int32, np.int64]), st.booleans(), st.data())
def test_totals_are_bincounts_bits(n, m, block, dtype, counts, data):
    """By blocks of any size, in int32 or int64 codes: the bits of np.bincount."""
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n, m).astype(dtype)
    values = None if counts else rng.lognormal(0, 20, m) * rng.choice([-1, 1], m)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(blocks, "ROW_BLOCK", block)
        got = blocks.totals(codes, values, n)
        marked = blocks.mark(codes, n)
        where = blocks.positions(marked[::-1].copy(), codes)
        taken = blocks.gather(np.arange(n) * 3, codes)
    want = np.bincount(codes.astype(np.intp), weights=values, minlength=n)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    assert np.array_equal(marked, want != 0)
    assert np.array_equal(where, np.flatnonzero(marked[::-1][codes]))
    assert np.array_equal(taken, codes * 3)


@pytest.mark.parametrize("bad", [-1, 5])
def test_totals_refuse_codes_outside_the_range(bad, monkeypatch):
    monkeypatch.setattr(blocks, "ROW_BLOCK", 2)  # the np.add.at path, which would wrap -1
    codes = np.array([0, 1, bad, 2], np.int32)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        blocks.totals(codes, np.ones(4), 5)


def _write_in_child(array):
    array[0] = 42.0


def test_mapped_arrays_are_zero_and_copied_on_write_in_a_forked_process():
    a = blocks.fresh((blocks.FRESH_MAP_BYTES // 8 + 1,), zeros=True)
    owner = a
    while isinstance(owner, np.ndarray):
        owner = owner.base
    assert isinstance(owner.obj, mmap.mmap)  # a map of its own, not numpy's memory
    assert not a.any()
    a[:] = 1.0
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(a,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert a[0] == 1.0  # the child's write stays in the child
