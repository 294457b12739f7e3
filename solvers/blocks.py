"""Passes by blocks over long arrays, so that their temporaries never take fresh memory.

A numpy expression over 10^7 elements builds a fresh array for every intermediate result, and
the first touch of fresh memory costs far more than the arithmetic on it (on the 2-core
machine of the benchmarks, memory the host took back more than about a second ago costs
4–14 ms per MB to touch again with huge pages, against 0.15 ms per MB for memory just freed:
see :func:`fresh`).
The passes here work on blocks of :data:`ROW_BLOCK` elements instead: each block's
temporaries stay in the CPU's cache and come from memory the allocator reuses.

Integer codes narrower than ``intp`` (int32 codes of tables below 2^31 keys: half the memory)
would be copied whole to ``intp`` by ``np.take``, fancy indexing and ``np.bincount``; block by
block only a block's worth is.
"""

from __future__ import annotations

import collections
import mmap
import os
import threading
import time

import numpy as np

#: From this many bytes on, :func:`fresh` maps its own memory (numpy asks for huge pages from
#: 4 MiB on).
FRESH_MAP_BYTES = 1 << 22
def _memory_bytes() -> int:
    """The memory this process may use: the machine's, or its cgroup's limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                total = min(total, int(f.read().strip()))
        except (OSError, ValueError):  # no such file, or "max": no limit there
            pass
    return total


#: Most bytes of released maps :func:`fresh` keeps for reuse: 1 GiB, or an eighth of the
#: memory this process may use (the machine's, or its cgroup's limit) if that is less.
FRESH_KEEP_BYTES = min(1 << 30, _memory_bytes() // 8)
#: Seconds a released map is kept unused before it is unmapped.
FRESH_KEEP_SECONDS = 10.0
#: Most released maps kept (the oldest go first): a call of the transforms maps a few dozen.
FRESH_KEEP_MAPS = 64


class _Map:
    """One private anonymous map and the arrays on it: every array :func:`fresh` maps (and
    every view of one) holds its map as its base; when the last of them is freed, the map
    goes back to the kept ones (:class:`_Kept`) instead of being unmapped."""

    __slots__ = ("pages", "bytes", "__array_interface__")

    def __init__(self, pages: mmap.mmap, raw: np.ndarray, size: int):
        self.pages, self.bytes = pages, raw
        self.__array_interface__ = {"shape": (size,), "typestr": "|u1", "version": 3,
                                    "data": (raw.ctypes.data, False)}

    def __del__(self) -> None:
        try:
            _KEPT.release(self.pages, self.bytes)
        except (AttributeError, TypeError):  # at interpreter exit: unmapped as it goes
            pass


class _Kept:
    """Released maps kept for reuse, at most :data:`FRESH_KEEP_MAPS` and
    :data:`FRESH_KEEP_BYTES` of them (the oldest go first; a map larger than that is never
    kept), each unmapped :data:`FRESH_KEEP_SECONDS` after its release by a daemon thread that
    runs while any map is in use or kept. A map is taken for an array of at least half its
    size, the smallest that fits.

    A map released while another thread works on the kept ones (or while this one does: a
    finaliser run by the garbage collector inside the lock) waits in ``returned`` until the
    next settling; nothing done inside the lock re-enters it (``busy``: a re-entrant call
    maps anew and keeps nothing), so a map is never handed out twice.
    """

    def __init__(self) -> None:
        # (released at, pages, bytes): released while the lock was taken, settled later
        self.returned: collections.deque = collections.deque()
        self.gone: collections.deque = collections.deque()  # one per map let go on release
        self.idle: list[tuple[float, mmap.mmap, np.ndarray]] = []  # oldest first
        self.out = 0  # maps handed out and not yet taken in again
        self.lock = threading.RLock()
        self.busy = False  # the lock's holder is working on the lists
        self.wake = threading.Condition(self.lock)
        self.reaper: threading.Thread | None = None

    def _enter(self) -> bool:
        """Take the lock; False (the lock let go again) when its holder is this thread's
        own work on the lists, re-entered."""
        self.lock.acquire()
        if self.busy:
            self.lock.release()
            return False
        self.busy = True
        return True

    def _leave(self) -> None:
        self.busy = False
        self.lock.release()

    def release(self, pages: mmap.mmap, raw: np.ndarray) -> None:
        """Take a released map in (from its ``_Map``'s finaliser: any thread, any time)."""
        if len(pages) > FRESH_KEEP_BYTES:
            self.gone.append(None)  # (counted off at the next settling)
            return  # unmapped as it goes
        self.returned.append((time.monotonic(), pages, raw))
        if not self.lock.acquire(blocking=False):
            return  # the holder settles it
        try:
            if not self.busy:
                self.busy = True
                try:
                    self._settle()
                finally:
                    self.busy = False
        finally:
            self.lock.release()

    def _settle(self) -> None:
        """Take in the maps released since, then let go of the expired ones and of the oldest
        beyond the limits (lock held and busy; a map let go is unmapped when freed)."""
        while self.returned:
            self.idle.append(self.returned.popleft())
            self.out -= 1
        while self.gone:
            self.gone.popleft()
            self.out -= 1
        now = time.monotonic()
        self.idle = [m for m in self.idle
                     if now - m[0] < FRESH_KEEP_SECONDS and len(m[1]) <= FRESH_KEEP_BYTES]
        del self.idle[:max(len(self.idle) - FRESH_KEEP_MAPS, 0)]
        total = sum(len(m[1]) for m in self.idle)
        while self.idle and total > FRESH_KEEP_BYTES:
            total -= len(self.idle.pop(0)[1])

    def _reap(self) -> None:
        with self.lock:
            while True:
                self.busy = True
                try:
                    self._settle()
                    if not self.idle and not self.out:
                        self.reaper = None
                        return
                    oldest = self.idle[0][0] if self.idle else time.monotonic()
                finally:
                    self.busy = False
                self.wake.wait(max(FRESH_KEEP_SECONDS - (time.monotonic() - oldest), 0.01))

    def take(self, size: int) -> tuple[mmap.mmap, np.ndarray, bool]:
        """A map of at least ``size`` bytes (a page multiple): a kept one, else a new one
        (zero); and whether it was kept."""
        if self._enter():
            try:
                self._settle()
                fits = [i for i, m in enumerate(self.idle) if size <= len(m[1]) <= 2 * size]
                if fits:
                    _, pages, raw = self.idle.pop(min(fits, key=lambda i: len(self.idle[i][1])))
                    self.out += 1
                    return pages, raw, True
            finally:
                self._leave()
        pages = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        pages.madvise(mmap.MADV_NOHUGEPAGE)  # (under THP "always" too)
        with self.lock:
            self.out += 1
            if self.reaper is None:
                reaper = threading.Thread(target=self._reap, daemon=True,
                                          name="fairalloc-kept-maps")
                try:
                    reaper.start()
                    self.reaper = reaper
                except RuntimeError:  # no new threads (at interpreter exit): none needed
                    pass
        return pages, np.frombuffer(pages, np.uint8), False

    def trim(self) -> None:
        if self._enter():
            try:
                self._settle()
                self.idle.clear()
                self.wake.notify_all()  # the reaper waits anew (with the limits as they are)
            finally:
                self._leave()

    def kept(self) -> int:
        if not self._enter():
            return sum(len(m[1]) for m in list(self.idle))
        try:
            self._settle()
            return sum(len(m[1]) for m in self.idle)
        finally:
            self._leave()

    def after_fork(self) -> None:
        """In a forked child: a lock of its own and no reaper (the parent's thread is not
        there: the next map taken starts one); the maps stay as they were (copied on
        write)."""
        self.lock = threading.RLock()
        self.busy = False
        self.wake = threading.Condition(self.lock)
        self.reaper = None


_KEPT = _Kept()
os.register_at_fork(after_in_child=_KEPT.after_fork)

#: Bytes of the one block :func:`settle_malloc` allocates and frees: just below the largest
#: threshold glibc's malloc adapts to on its own (32 MiB on 64-bit systems).
MALLOC_SETTLE_BYTES = (32 << 20) - (64 << 10)


_SETTLED = threading.Event()


def settle_malloc() -> None:
    """Allocate one block of :data:`MALLOC_SETTLE_BYTES` and free it at once, untouched; once
    per process (the coverage and period solvers call it at their first solve).

    glibc's malloc serves a request of at least its mmap threshold (128 KiB at first) with a
    map of its own, returned to the system when freed, and gives the top of its heap back
    to the system once more than its trim threshold (also 128 KiB at first) lies free there.
    When a mapped block larger than the mmap threshold is freed, glibc raises that threshold
    to the block's size and the trim threshold to twice it, up to 32 and 64 MiB. A process
    that has only freed blocks of a few MB keeps giving back and touching again the
    temporaries of every call: the arrays of 10^5 groups or classes (0.8–2 MB each) that
    numpy builds and frees by the hundred in a coverage or period solve. A call of
    ``allocate_coverage`` at 100 000 × 50 took 27 000–29 000 fresh page faults and
    0.19–0.20 s that way on the benchmarks' machine, and 10–40 faults and 0.13–0.16 s once
    the thresholds were at their top.

    Freeing one block just below 32 MiB raises them there at once, as the first such free
    of any program would. The block is never touched, so it takes no memory. The price is
    the one glibc chose for such programs, and it is the whole process's from then on:
    requests up to 32 MiB come from the heap, freed memory up to 64 MiB at its top stays
    with the process for reuse, and free memory below a block still in use is not given back
    until that block is freed, so a process may hold more than 64 MiB it no longer uses. It
    is not free of time either: in the sourcing benchmark's process, where pandas merges of
    10^6 rows run between the calls, the settled thresholds made every call 10–20 % slower,
    fairalloc's and the references' alike (ours 100–107 ms against 84–91 ms). So only the
    solvers it was measured to help settle it, at their first solve, not the import.
    Thresholds set by the user (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
    ``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_MAX_``, their ``GLIBC_TUNABLES`` or ``mallopt``) stay as
    set: glibc then adapts them no more. With another C library this is one allocation and
    nothing else.
    """
    if _SETTLED.is_set():
        return
    _SETTLED.set()
    np.empty(MALLOC_SETTLE_BYTES, np.uint8)  # freed at once: the result is not kept


def trim() -> None:
    """Unmap the released maps :func:`fresh` keeps for reuse, now (else each goes
    :data:`FRESH_KEEP_SECONDS` after its release).

    Examples
    --------
    >>> a = fresh(FRESH_MAP_BYTES)
    >>> del a
    >>> kept_bytes() >= FRESH_MAP_BYTES
    True
    >>> trim()
    >>> kept_bytes()
    0
    """
    _KEPT.trim()


def kept_bytes() -> int:
    """Bytes of released maps :func:`fresh` keeps for reuse now.

    Returns
    -------
    int
        At most :data:`FRESH_KEEP_BYTES`.
    """
    return _KEPT.kept()


def fresh(shape: int | tuple[int, ...], dtype: np.dtype | type = np.float64, *,
          zeros: bool = False) -> np.ndarray:
    """An uninitialised (or, with ``zeros``, zero) array, large ones in memory mapped without
    numpy's request for transparent huge pages, and kept for reuse when released.

    NumPy advises the kernel to back every array of 4 MiB or more with 2 MiB huge pages. Where
    the host takes back the memory a virtual machine frees (free page reporting, as on the
    benchmarks' machine), touching a huge page again waits for the host: 4–14 ms per MB there
    once the memory has been free for a second or two, against about 0.5–1 ms per MB for
    ordinary pages, whatever their history (and 0.15 ms per MB for huge pages freed a moment
    ago). The long arrays written once and then read in order (codes, sorted pairs, flows,
    result columns) gain nothing from huge pages: they take ordinary ones, from a private
    anonymous map of their own (advised against huge pages; zero from the start, page by page
    as it is touched; copied on write in a forked process, like numpy's memory).

    When the array and every view of it are freed, its map is kept, up to
    :data:`FRESH_KEEP_MAPS` maps and :data:`FRESH_KEEP_BYTES` in all (a larger map is
    unmapped at once) and for :data:`FRESH_KEEP_SECONDS`, and a later array of at least half
    its size takes it over: pages already touched cost nothing to touch again (the first touch
    of a page costs about 0.5–1 ms per MB on that machine, as much as the arithmetic of
    several passes over it). A call that builds the same arrays as the one before it (a
    service, a notebook, a benchmark) touches no fresh page for them; the price is resident
    memory, up to those limits, for those seconds. :func:`trim` unmaps the kept maps at once.
    An array from a kept map holds whatever it held (as :func:`numpy.empty` may); ``zeros``
    fills it. Such an array cannot be resized in place (``ndarray.resize``), nor made
    writeable again once made read-only; it pickles and copies as any other. Arrays of
    Python objects always come from numpy.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the array.
    dtype : numpy.dtype or type, default numpy.float64
        Its type.
    zeros : bool, default False
        Zero-filled, as :func:`numpy.zeros` (else uninitialised, as :func:`numpy.empty`).

    Returns
    -------
    numpy.ndarray
        A writable C-ordered array.

    Examples
    --------
    >>> a = fresh(2 * 10**6, np.int32)
    >>> a.shape, a.dtype, a.flags.writeable
    ((2000000,), dtype('int32'), True)
    >>> b = fresh((1000, 1000), zeros=True)
    >>> b.shape, float(b.sum())
    ((1000, 1000), 0.0)
    """
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < FRESH_MAP_BYTES or dtype.hasobject:  # (objects: numpy's, never raw memory)
        return np.zeros(shape, dtype) if zeros else np.empty(shape, dtype)
    pages, raw, kept = _KEPT.take(-(-size // mmap.PAGESIZE) * mmap.PAGESIZE)
    array = np.asarray(_Map(pages, raw, size)).view(dtype).reshape(shape)
    if zeros and kept:  # a new map is zero already (its pages untouched)
        array.fill(0)
    return array


#: Elements per block of :func:`row_blocks` (a block's temporaries stay in the CPU's cache
#: and come from memory the allocator reuses, never from fresh pages).
ROW_BLOCK = 1 << 16


def row_blocks(n_rows: int, n_cols: int = 1) -> list[slice]:
    """Slices of about :data:`ROW_BLOCK` elements over the rows of an (n_rows, n_cols)
    array, for passes that would otherwise build (N × T) temporaries: at 10^5 × 52 each is
    42 MB of fresh pages, slow to touch the first time on a busy machine.

    Parameters
    ----------
    n_rows : int
        Rows of the array.
    n_cols : int, default 1
        Columns of the array (1 for a one-dimensional array).

    Returns
    -------
    list of slice
        Consecutive row slices covering ``range(n_rows)``.

    Examples
    --------
    >>> row_blocks(5, ROW_BLOCK // 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 6, None)]
    """
    rows = max(ROW_BLOCK // max(n_cols, 1), 1)
    return [slice(lo, lo + rows) for lo in range(0, n_rows, rows)]


def as_codes(codes: np.ndarray) -> np.ndarray:
    """Integer codes as they are when int32 or intp (the passes here take both without a
    copy), else converted to intp.

    Parameters
    ----------
    codes : array_like
        Integer codes.

    Returns
    -------
    numpy.ndarray
        ``codes`` itself, or its intp copy.

    Examples
    --------
    >>> as_codes(np.array([1, 2], np.int32)).dtype, as_codes([1, 2]).dtype
    (dtype('int32'), dtype('int64'))
    """
    codes = np.asarray(codes)
    return codes if codes.dtype in (np.int32, np.intp) else codes.astype(np.intp)


def totals(codes: np.ndarray, values: np.ndarray | None, n: int) -> np.ndarray:
    """Sum ``values`` per code (length ``n``), in array order; counts when ``values`` is None.

    The same bits as ``np.bincount(codes, weights=values, minlength=n)`` (which adds in array
    order too), without its ``intp`` copy of narrower codes or a float copy of the counts.

    Parameters
    ----------
    codes : array_like
        Integer code (0 ≤ code < ``n``) of each value; a code outside raises ValueError.
    values : numpy.ndarray or None
        The values to sum (float64); None counts the codes.
    n : int
        Number of codes.

    Returns
    -------
    numpy.ndarray
        float64 sum per code (int64 counts when ``values`` is None).

    Raises
    ------
    ValueError
        A code is negative or not below ``n``.

    Examples
    --------
    >>> totals(np.array([0, 2, 0], np.int32), np.array([1.0, 2.0, 3.0]), 3).tolist()
    [4.0, 0.0, 2.0]
    >>> totals([0, 2, 0], None, 4).tolist()
    [2, 0, 1, 0]
    """
    codes = as_codes(codes)
    if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= n):
        raise ValueError(f"codes must lie in [0, {n}): found {int(codes.min())} to "
                         f"{int(codes.max())}")
    if codes.dtype == np.intp or len(codes) <= ROW_BLOCK:  # nothing would be copied whole
        return np.bincount(codes, weights=values, minlength=n)
    out = np.zeros(n, np.int64 if values is None else np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # as quiet as np.bincount
        for part in row_blocks(len(codes)):
            np.add.at(out, codes[part], 1 if values is None else values[part])
    return out


def mark(codes: np.ndarray, n: int) -> np.ndarray:
    """Boolean array of length ``n``: True at every code in ``codes``.

    Parameters
    ----------
    codes : numpy.ndarray
        Integer codes (0 ≤ code < ``n``).
    n : int
        Number of codes.

    Returns
    -------
    numpy.ndarray
        The mask, by code.

    Examples
    --------
    >>> mark(np.array([3, 1, 3], np.int32), 5).tolist()
    [False, True, False, True, False]
    """
    out = np.zeros(n, dtype=bool)
    for part in row_blocks(len(codes)):
        out[codes[part]] = True
    return out


def gather(values: np.ndarray, codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``values[codes]`` for one-dimensional ``values``, filled by blocks (no ``intp`` copy of
    narrower codes); ``out`` may be ``codes`` itself (each block is read before it is written).

    Parameters
    ----------
    values : numpy.ndarray
        One-dimensional array to gather from.
    codes : numpy.ndarray
        Integer positions into ``values``.
    out : numpy.ndarray, optional
        Where to write (``codes`` itself is allowed); a :func:`fresh` array when None.

    Returns
    -------
    numpy.ndarray
        ``values`` at ``codes`` (``out`` when given).

    Examples
    --------
    >>> codes = np.array([2, 0], np.int32)
    >>> gather(np.array([1.0, 2.0, 3.0]), codes).tolist()
    [3.0, 1.0]
    >>> gather(np.array([5, 6, 7], np.int32), codes, out=codes) is codes, codes.tolist()
    (True, [7, 5])
    """
    if out is None:
        out = fresh(len(codes), values.dtype)
    for part in row_blocks(len(codes)):
        out[part] = np.take(values, codes[part])
    return out


def positions(mask: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``np.flatnonzero(mask[codes])``, found by blocks: the positions whose code is marked.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean mask by code.
    codes : numpy.ndarray
        Integer code of each position.

    Returns
    -------
    numpy.ndarray
        The positions (intp, increasing) whose code is marked in ``mask``.

    Examples
    --------
    >>> positions(np.array([False, True]), np.array([1, 0, 1], np.int32)).tolist()
    [0, 2]
    """
    found = [np.flatnonzero(np.take(mask, codes[part])) + part.start
             for part in row_blocks(len(codes))]
    return np.concatenate(found) if found else np.empty(0, np.intp)


#: Elements per block of :func:`rows_dot` and :func:`cols_dot`: OpenBLAS multiplies a
#: matrix and a vector this small on one thread (it splits from 9 216 elements on).
BLAS_BLOCK = 8192


def _blocks(a: np.ndarray) -> tuple[int, int]:
    """For a tall n × k matrix: the rows per block BLAS multiplies on one thread, and how
    many whole blocks of them ``a`` holds (0 or 1: one product is as fast)."""
    rows = max(BLAS_BLOCK // max(a.shape[1], 1), 1)
    return rows, a.shape[0] // rows


def rows_dot(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``a @ v`` for a tall matrix a (n × k), in blocks of rows that BLAS runs on one thread.

    On a shared, busy machine the threads of one large product wait for each other (the
    period solver's products over 10^5 × 52 took up to twice as long in wall time with
    OpenBLAS's threads as on one), and the answer does not depend on how many threads BLAS
    is allowed.

    Parameters
    ----------
    a : numpy.ndarray
        n × k.
    v : numpy.ndarray
        k.

    Returns
    -------
    numpy.ndarray
        n.

    Examples
    --------
    >>> rows_dot(np.arange(6.0).reshape(3, 2), np.array([1.0, 10.0])).tolist()
    [10.0, 32.0, 54.0]
    """
    a = np.ascontiguousarray(a)
    rows, nb = _blocks(a)
    if nb <= 1:
        return a @ v
    n, k = a.shape
    head = nb * rows
    out = np.empty(n, dtype=np.result_type(a, v))
    np.matmul(a[:head].reshape(nb, rows, k), v, out=out[:head].reshape(nb, rows))
    out[head:] = a[head:] @ v
    return out


def cols_dot(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``v @ a`` for a tall matrix a (n × k) or a vector a (n): sums of products over blocks
    of rows that BLAS runs on one thread (see :func:`rows_dot`), added up in a fixed order.

    Parameters
    ----------
    v : numpy.ndarray
        n.
    a : numpy.ndarray
        n × k, or n.

    Returns
    -------
    numpy.ndarray or float
        k (a float when a is a vector).

    Examples
    --------
    >>> cols_dot(np.array([1.0, 2.0, 3.0]), np.arange(6.0).reshape(3, 2)).tolist()
    [16.0, 22.0]
    >>> cols_dot(np.ones(3), np.array([1.0, 2.0, 3.0]))
    6.0
    """
    if a.ndim == 1:
        return float(cols_dot(v, a[:, None])[0])
    a = np.ascontiguousarray(a)
    v = np.ascontiguousarray(v, dtype=np.result_type(v, a, np.float64))
    rows, nb = _blocks(a)
    if nb <= 1:
        return v @ a
    k = a.shape[1]
    head = nb * rows
    part = np.matmul(v[:head].reshape(nb, 1, rows), a[:head].reshape(nb, rows, k))
    return part.sum(axis=0)[0] + v[head:] @ a[head:]
