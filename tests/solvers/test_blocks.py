"""The passes by blocks and the mapped arrays of fairalloc.solvers.blocks."""

import gc
import mmap
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time

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


def _map_of(array):
    owner = array
    while isinstance(owner, np.ndarray):
        owner = owner.base
    return owner


def test_mapped_arrays_are_zero_and_copied_on_write_in_a_forked_process():
    blocks.trim()  # a new map, not a kept one
    a = blocks.fresh((blocks.FRESH_MAP_BYTES // 8 + 1,), zeros=True)
    assert isinstance(_map_of(a).pages, mmap.mmap)  # a map of its own, not numpy's memory
    assert not a.any()
    a[:] = 1.0
    child = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(a,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert a[0] == 1.0  # the child's write stays in the child


def test_a_released_map_is_taken_again_and_zeroed_when_asked():
    gc.collect()
    blocks.trim()
    n = blocks.FRESH_MAP_BYTES // 8 * 3
    a = blocks.fresh(n)
    a[:] = 7.0
    where = a.ctypes.data
    del a
    assert blocks.kept_bytes() >= n * 8
    b = blocks.fresh((n // 2, 2), zeros=True)  # same bytes, another shape
    assert b.ctypes.data == where  # the same pages, taken again
    assert b.shape == (n // 2, 2) and not b.any()
    assert blocks.kept_bytes() == 0
    b[:] = 3.0
    del b
    c = blocks.fresh(n, np.int64)  # uninitialised: whatever the map held
    assert c.ctypes.data == where and (c.view(np.float64) == 3.0).all()


def test_a_map_is_kept_only_once_no_view_is_left():
    gc.collect()
    blocks.trim()
    n = blocks.FRESH_MAP_BYTES // 8 * 2
    a = blocks.fresh(n)
    a[:] = np.arange(n)
    view = a[4:].reshape(-1, 4)  # holds the map
    where = a.ctypes.data
    del a
    assert blocks.kept_bytes() == 0
    b = blocks.fresh(n, zeros=True)
    assert b.ctypes.data != where
    assert view[0, 0] == 4.0 and view[-1, -1] == n - 1  # untouched by the new array
    del view
    assert blocks.kept_bytes() >= n * 8


def test_maps_are_taken_only_for_arrays_of_at_least_half_their_size():
    blocks.trim()
    big = blocks.fresh(blocks.FRESH_MAP_BYTES // 8 * 4)
    where = big.ctypes.data
    del big
    small = blocks.fresh(blocks.FRESH_MAP_BYTES // 8)  # a quarter: a map of its own
    assert small.ctypes.data != where
    half = blocks.fresh(blocks.FRESH_MAP_BYTES // 8 * 2)  # half: the kept one
    assert half.ctypes.data == where


def test_kept_maps_stay_within_their_bytes_and_seconds(monkeypatch):
    gc.collect()
    blocks.trim()
    size = blocks.FRESH_MAP_BYTES
    monkeypatch.setattr(blocks, "FRESH_KEEP_BYTES", 2 * size)
    arrays = [blocks.fresh(size, np.uint8) for _ in range(3)]
    first = arrays[0].ctypes.data
    del arrays
    assert blocks.kept_bytes() == 2 * size  # the oldest released went
    assert blocks.fresh(size, np.uint8).ctypes.data != first
    blocks.trim()
    monkeypatch.setattr(blocks, "FRESH_KEEP_BYTES", 100 * size)
    monkeypatch.setattr(blocks, "FRESH_KEEP_MAPS", 3)
    arrays = [blocks.fresh(size, np.uint8) for _ in range(5)]
    del arrays
    assert blocks.kept_bytes() == 3 * size  # no more maps than that
    blocks.trim()
    monkeypatch.setattr(blocks, "FRESH_KEEP_SECONDS", 0.2)
    blocks.trim()  # (wakes the daemon thread: it waits anew, 0.2 s at most)
    a = blocks.fresh(size, np.uint8)
    del a
    assert blocks.kept_bytes() == size
    deadline = time.monotonic() + 10
    while blocks._KEPT.idle or blocks._KEPT.returned:  # let go by the daemon thread alone
        assert time.monotonic() < deadline, "a kept map outlived its seconds"
        time.sleep(0.05)
    assert blocks.kept_bytes() == 0


def _take_and_free(seed, rounds, errors):
    rng = np.random.default_rng(seed)
    live = []
    for _ in range(rounds):
        n = int(rng.integers(1, 5)) * blocks.FRESH_MAP_BYTES // 8
        a = blocks.fresh(n, zeros=bool(rng.integers(2)))
        a[:] = seed  # each thread's own mark
        live.append(a)
        if len(live) > 3:
            live.pop(int(rng.integers(len(live))))
        if any((x != seed).any() for x in live):
            errors.append(seed)


def test_threads_never_share_a_map():
    errors = []
    threads = [threading.Thread(target=_take_and_free, args=(s, 60, errors)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors


def test_maps_hold_any_plain_dtype_and_objects_stay_numpys():
    n = blocks.FRESH_MAP_BYTES // 16 + 1
    pair = np.dtype([("a", "<i8"), ("b", "<f8")])
    rec = blocks.fresh((n,), pair, zeros=True)
    assert rec.dtype == pair and isinstance(_map_of(rec), blocks._Map)
    rec["b"] = 2.5
    assert rec["b"].sum() == 2.5 * n and not rec["a"].any()
    objects = blocks.fresh((blocks.FRESH_MAP_BYTES,), object, zeros=True)
    assert not isinstance(_map_of(objects), blocks._Map) and objects[0] == 0


def test_a_map_larger_than_the_limit_is_never_kept(monkeypatch):
    gc.collect()
    blocks.trim()
    size = blocks.FRESH_MAP_BYTES
    monkeypatch.setattr(blocks, "FRESH_KEEP_BYTES", 2 * size)
    small = blocks.fresh(size, np.uint8)
    del small
    big = blocks.fresh(3 * size, np.uint8)
    del big
    assert blocks.kept_bytes() == size  # the small one stays, the big one went at once


def test_a_finaliser_run_inside_the_lock_neither_deadlocks_nor_shares_a_map():
    # what the garbage collector may do: run a finaliser that maps arrays while this thread
    # works on the kept maps
    gc.collect()
    blocks.trim()
    made = []
    kept = blocks._KEPT

    class Finaliser:
        def __del__(self):
            made.append(blocks.fresh(blocks.FRESH_MAP_BYTES, np.uint8, zeros=True))
            made.append(blocks.kept_bytes())
            blocks.trim()

    a = blocks.fresh(blocks.FRESH_MAP_BYTES, np.uint8)
    where = a.ctypes.data
    del a  # kept
    with kept.lock:  # as inside take(): busy, the lock held
        kept.busy = True
        try:
            f = Finaliser()
            del f
        finally:
            kept.busy = False
    assert made[0].ctypes.data != where  # mapped anew: the kept maps were not touched
    assert not made[0].any() and made[1] == blocks.FRESH_MAP_BYTES  # a, still kept
    b = blocks.fresh(blocks.FRESH_MAP_BYTES, np.uint8)
    assert b.ctypes.data == where  # still kept, for the next array


#: A process that builds and frees six 2 MB arrays eleven times, and prints the page faults
#: of the last ten rounds; first it imports the blocks module ("import"), settles malloc
#: ("settle"), or solves a small coverage problem ("coverage"), or none of these.
_CHURN = """
import resource, sys
import numpy as np
mode = sys.argv[1]
if mode != "control":
    from fairalloc.solvers import blocks
if mode == "settle":
    blocks.settle_malloc()
if mode == "coverage":
    from fairalloc.solvers import coverage
    coverage.solve_coverage(np.array([10.0, 20.0]), np.zeros(2), np.ones(2), np.array([5.0]),
                            np.array([0, 1]), np.array([0, 0]), coverage.Loss("quadratic"))
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def churn():
    arrays = [np.ones(2 << 20, np.uint8) for _ in range(6)]
    del arrays
churn()
before = faults()
for _ in range(10):
    churn()
print(faults() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_settling_malloc_stops_its_churn_of_fresh_pages_and_only_solvers_settle_it():
    # without the settling, glibc maps each 2 MB block anew and unmaps it when freed: every
    # round touches 12 MB of fresh pages (about 3 000 faults); after it, the blocks come from
    # the heap and stay there for the next round. Importing the module leaves glibc as it
    # is; a coverage solve settles it. The child's allocator starts at glibc's defaults (no
    # MALLOC_* variable), so that the control shows the churn
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _CHURN, mode], env=env, check=True,
                             capture_output=True, text=True, timeout=120)
        return int(out.stdout)

    assert faults("control") > 10 * 2_000
    assert faults("import") > 10 * 2_000
    assert faults("settle") < 1_000
    assert faults("coverage") < 1_000
