"""The benchmark harness: interleaved calls in rotating order, one timing per call."""

from benchmarks.harness import measure_together


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
