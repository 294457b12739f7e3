"""The benchmark harness: interleaved calls in rotating order, one timing per call."""

from benchmarks.harness import measure, measure_together


def test_interleaved_calls_rotate_their_order():
    calls: list[str] = []
    fns = [lambda name=name: calls.append(name) for name in "abc"]
    got = measure_together(fns, 4)
    assert calls == list("abc" "bca" "cab" "abc")
    assert [len(m.times) for m in got] == [4, 4, 4]
    assert all(t >= 0 for m in got for t in m.times)


def test_memory_sampling_calls_each_function_once_more_untimed():
    calls: list[int] = []
    got = measure_together([lambda: calls.append(0), lambda: calls.append(1)], 2, memory=True)
    assert calls == [0, 1, 0, 1, 1, 0]
    assert [len(m.times) for m in got] == [2, 2]


def test_page_faults_are_counted_per_timed_call():
    import mmap

    pages = 2048

    def touch_fresh_pages() -> None:
        with mmap.mmap(-1, pages * mmap.PAGESIZE,  # fresh private anonymous pages
                       flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS) as m:
            if hasattr(mmap, "MADV_NOHUGEPAGE"):  # one fault per page, whatever the THP mode
                m.madvise(mmap.MADV_NOHUGEPAGE)
            for page in range(pages):
                m[page * mmap.PAGESIZE] = 1

    got = measure(touch_fresh_pages, 3)
    idle = measure(lambda: None, 3)
    assert len(got.faults) == 3 and all(f >= pages for f in got.faults)
    assert got.median_faults >= pages > idle.median_faults
    together = measure_together([touch_fresh_pages, lambda: None], 2)
    assert [len(m.faults) for m in together] == [2, 2]
    assert together[0].median_faults >= pages > together[1].median_faults
