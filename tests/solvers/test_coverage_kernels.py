"""Kernels of the coverage solver checked against plain Python."""

import hypothesis.strategies as st
import numpy as np
from hypothesis import given

from solvers.coverage import _prefix_min_by_segment


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.0, 0.25, 0.5, 0.9, np.inf])),
                max_size=30))
def test_prefix_min_restarts_at_every_segment(rows):
    rows.sort(key=lambda r: r[0])  # segments sorted, values in any order within
    seg = np.array([r[0] for r in rows], np.int64)
    v = np.array([r[1] for r in rows], float)
    expected, current, last = [], np.inf, None
    for s, x in rows:
        current = x if s != last else min(current, x)
        last = s
        expected.append(current)
    assert _prefix_min_by_segment(v, seg).tolist() == expected
