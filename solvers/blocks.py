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

import mmap

import numpy as np

#: From this many bytes on, :func:`fresh` maps its own memory (numpy asks for huge pages from
#: 4 MiB on).
FRESH_MAP_BYTES = 1 << 22


def fresh(shape: int | tuple[int, ...], dtype: np.dtype | type = np.float64, *,
          zeros: bool = False) -> np.ndarray:
    """An uninitialised (or, with ``zeros``, zero) array, large ones in memory mapped without
    numpy's request for transparent huge pages.

    NumPy advises the kernel to back every array of 4 MiB or more with 2 MiB huge pages. Where
    the host takes back the memory a virtual machine frees (free page reporting, as on the
    benchmarks' machine), touching a huge page again waits for the host: 4–14 ms per MB there
    once the memory has been free for a second or two, against about 1 ms per MB for ordinary
    pages, whatever their history (and 0.15 ms per MB for huge pages freed a moment ago). The
    long arrays written once and then read in order (codes, sorted pairs, flows, result
    columns) gain nothing from huge pages: they take ordinary ones, from a private anonymous
    map of their own (advised against huge pages; zero from the start, page by page as it is
    touched; copied on write in a forked process, like numpy's memory) that is unmapped when
    the array is freed. Such an array cannot be resized in place (``ndarray.resize``); it
    pickles and copies as any other.

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
    if size < FRESH_MAP_BYTES:
        return np.zeros(shape, dtype) if zeros else np.empty(shape, dtype)
    pages = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    pages.madvise(mmap.MADV_NOHUGEPAGE)  # (under THP "always" too)
    return np.frombuffer(pages, dtype=dtype).reshape(shape)


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
