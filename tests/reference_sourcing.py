"""The spec's sourcing rules written the plainest way (dicts and loops), to test against.

Independent of solvers/ and transforms/: it shares no code with them.
"""

from __future__ import annotations


def proportional(matches, capacity, demand, on_zero="even"):
    """SPEC §1 proportional pass: {(source, sink): volume}."""
    by_sink: dict = {}
    for s, k in sorted(set(matches)):
        by_sink.setdefault(k, []).append(s)
    out = {}
    for k, sources in by_sink.items():
        total = sum(capacity[s] for s in sources)
        for s in sources:
            if total > 0:
                out[(s, k)] = demand[k] * capacity[s] / total
            elif on_zero == "even":
                out[(s, k)] = demand[k] / len(sources)
            else:
                out[(s, k)] = 0.0
    return out


def scaled(flows, capacity):
    """SPEC §1 step 2: every over-requested source scales its flows by capacity / requested."""
    requested: dict = {}
    for (s, _), v in flows.items():
        requested[s] = requested.get(s, 0.0) + v
    return {
        (s, k): (v * capacity[s] / requested[s] if requested[s] > capacity[s] else v)
        for (s, k), v in flows.items()
    }


def direct(matches, capacity, demand, tol=0.0):
    """SPEC §1 steps 1-3: (source allocation, sink allocation) as dicts."""
    src = scaled(proportional(matches, capacity, demand, "zero"), capacity)
    reduced = {k: d * (1 - tol) for k, d in demand.items()}
    src_reduced = scaled(proportional(matches, capacity, reduced, "zero"), capacity)
    sink = {}
    for key, v in src.items():
        # "the flow on that match does not shrink" (up to float rounding)
        unchanged = v > 0 and src_reduced[key] >= v * (1 - 1e-12)
        sink[key] = v / (1 - tol) if tol > 0 and unchanged else v
    return src, sink
