"""Maximum flow through source → left nodes → few right nodes → sink, by augmenting paths found
among the right nodes alone.

The network: the source feeds every *linked* left node c up to ``supply[c]``; left node c
feeds right node p up to ``caps[c, p]`` (no arc where that is 0); right node p feeds the sink
up to ``demand[p]``. A left node that is not linked has no supply limit: its arcs run from the
source straight to the right nodes. Step 2 of the multi-period capability is such a network,
with the account classes on the left (hundreds of thousands) and the leftover periods on the
right (a few dozen).

With few right nodes, a residual path can be followed right node by right node: it enters
right node p from the source through some left node c with spare supply and spare capacity
on (c, p), moves on from p to q through any linked left node c that sends flow to p and has
spare capacity on (c, q) (the flow of c is moved from p to q), and leaves through a right node
with spare demand. Whether a move p → q is open at all is a count of left nodes kept per pair
of right nodes (P × P); how much it can carry is a pass over the left nodes. Every amount is
an integer (int64), so the flow is exact, and the search ends with a certificate: no residual
path from the source to the sink, on counts taken afresh from the final flow. That is the
maximum flow.

A pass over the left nodes per move costs little against a general max-flow solver's pass
over every arc, provided few paths are needed: the flow starts from a proportional fit (a few
rounds of matrix balancing on the capacities, floored to integers) that carries nearly all of
the maximum, topped up right node by right node from the spare supply (the one-node paths,
all at once). Once the paths have passed over more than :data:`WORK_PER_ARC` left nodes per
arc of the network, :func:`max_flow` gives up and returns None (the caller then solves the
network with a general solver).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from fairalloc.solvers.blocks import cols_dot, fresh, row_blocks, rows_dot

#: Rounds of matrix balancing for the starting flow (each one pass over the capacities).
FIT_ROUNDS = 6
#: The starting flow is scaled down by this share of itself before it is floored, so that
#: rounding in the float balancing never lifts a node over its limit (checked in integers).
FIT_MARGIN = 2.0 ** -30
#: The spare supply of a left node that is not linked (it has no limit).
UNLIMITED = np.int64(1 << 62)
#: :func:`max_flow` gives up once its paths have passed over this many left nodes per arc.
WORK_PER_ARC = 24
#: The first stretch of left nodes searched for a path's amount (grown 8-fold until enough).
FIRST_STRETCH = 4096


def max_flow(caps: np.ndarray, supply: np.ndarray, demand: np.ndarray, linked: np.ndarray,
             *, work_per_arc: float | None = None) -> np.ndarray | None:
    """A maximum flow through source → left → right → sink, or None once its paths have
    passed over more than ``work_per_arc`` left nodes per arc of the network.

    Parameters
    ----------
    caps : numpy.ndarray
        (C, P) float64 of whole numbers: the capacity of arc c → p (0: no arc). Within what
        one flow path can reach (a component), every sum of capacities is below 2**62.
    supply : numpy.ndarray
        (C,) int64: what the source may send to each linked left node (others: unused).
    demand : numpy.ndarray
        (P,) int64: what each right node may send to the sink.
    linked : numpy.ndarray
        (C,) bool: left nodes fed through their own supply limit. The arcs of the others run
        from the source straight to the right nodes, so their flow is never moved between
        right nodes.
    work_per_arc : float, optional
        The budget of the path search, in left nodes passed over per arc (default
        :data:`WORK_PER_ARC`, read at the call).

    Returns
    -------
    numpy.ndarray or None
        (P, C) int64 flows on the arcs, laid out right node by right node; None when the
        budget ran out (the proportional fit and the counts taken afresh are not charged to
        it), or when a path its exact counts opened carried nothing (which they exclude: a
        defect of the method, left to the caller's general solver).

    Examples
    --------
    Left node 1 only reaches right node 0. The fit, floored, sends nothing; right node 0
    takes left node 0 (the first) from the source; a path then moves left node 0 over to
    right node 1, which makes room for left node 1:

    >>> caps = np.array([[1.0, 1.0], [1.0, 0.0]])
    >>> flow = max_flow(caps, np.array([1, 1]), np.array([1, 1]), np.array([True, True]))
    >>> flow.T.tolist()
    [[0, 1], [1, 0]]
    """
    net = _Network.start(caps, supply, demand, linked)
    per_arc = WORK_PER_ARC if work_per_arc is None else work_per_arc
    return _augment(net, per_arc * float(np.count_nonzero(caps)))


def _augment(net: _Network, budget: float) -> np.ndarray | None:
    """Paths until there is none (the network's flow, then maximum), or None once they have
    passed over more than ``budget`` left nodes."""
    n_left = net.flow.shape[1]
    work = 0.0
    fresh_counts = True
    while True:
        path = net.path()
        if path is None:
            if fresh_counts:
                return net.flow
            net.recount()  # the certificate: no path on counts taken afresh
            fresh_counts = True
            continue
        work += len(path) * n_left
        if work > budget:
            return None
        if net.push(path) == 0:  # counts that open a path carry at least 1 when exact
            if fresh_counts:
                return None
            net.recount()
            fresh_counts = True
            continue
        fresh_counts = False


class _Network:
    """The residual network: flows and spare capacities laid out right node by right node
    (P, C), spare supply per left node and spare demand per right node, and the counts that
    say which moves are open."""

    def __init__(self, flow, res, spare_in, spare_out, linked):
        self.flow, self.res = flow, res  # (P, C) int64
        self.spare_in, self.spare_out = spare_in, spare_out  # (C,), (P,) int64
        self.linked = linked  # (C,) bool, or None when every left node is linked
        self.unlinked = None if linked is None else ~linked
        self.recount()

    @classmethod
    def start(cls, caps, supply, demand, linked) -> _Network:
        """The network with the proportional fit as its flow (:func:`_fit`)."""
        n_left, n_right = caps.shape
        flow = fresh((n_right, n_left), np.int64)
        res = fresh((n_right, n_left), np.int64)
        reach = np.where(linked, supply, 0).astype(np.float64)
        if not linked.all():
            reach[~linked] = caps[~linked].sum(axis=1)
        a, b = _fit(caps, reach, demand.astype(np.float64))
        rows_f = np.empty(n_left)  # each row's limit to its reach
        col = np.zeros(n_right)
        for rows in row_blocks(n_left, n_right):  # the column sums after the row limits
            f = _fitted(caps[rows], a[rows], b)
            rows_f[rows] = np.minimum(1.0, _quotient(reach[rows], f.sum(axis=1)))
            col += rows_f[rows] @ f
        rows_f *= 1.0 - FIT_MARGIN
        cols_f = np.minimum(1.0, _quotient(demand.astype(np.float64), col)) * (1.0 - FIT_MARGIN)
        for rows in row_blocks(n_left, n_right):
            blk = caps[rows]
            f = _fitted(blk, a[rows], b)
            f *= rows_f[rows, None]
            f *= cols_f[None, :]
            np.floor(f, out=f)
            flow[:, rows] = f.T
            res[:, rows] = blk.T
        res -= flow
        return cls.with_flow(flow, res, supply, demand, linked)

    @classmethod
    def with_flow(cls, flow, res, supply, demand, linked) -> _Network:
        """The network with a given flow and spare capacities (both (P, C) int64, in place):
        the flow of a left or right node over its limit dropped, then topped up
        (:func:`_top_up`)."""
        spare_in = np.where(linked, supply - flow.sum(axis=0), UNLIMITED)
        spare_out = demand - flow.sum(axis=1)
        # the fit's margin keeps every node within its limit; should rounding ever lift one
        # over, its flow is dropped (a smaller flow, still feasible: the paths make up for it)
        over_in, over_out = spare_in < 0, spare_out < 0
        if over_in.any() or over_out.any():
            res[:, over_in] += flow[:, over_in]
            flow[:, over_in] = 0
            res[over_out] += flow[over_out]
            flow[over_out] = 0
            spare_in = np.where(linked, supply - flow.sum(axis=0), UNLIMITED)
            spare_out = demand - flow.sum(axis=1)
        _top_up(flow, res, spare_in, spare_out, linked)
        return cls(flow, res, spare_in, spare_out, None if linked.all() else linked)

    def recount(self) -> None:
        """The marks and counts afresh from the flow: ``moves[p, q]`` left nodes that can move
        flow from p to q, ``entries[q]`` left nodes that can take more from the source into
        q. The marks are laid out left node by left node (C, P), so that the marks of a few
        left nodes are a few rows."""
        kind = np.float32 if self.flow.shape[1] < (1 << 24) else np.float64  # exact counts
        sends = self.flow > 0
        if self.linked is not None:
            sends &= self.linked[None, :]
        self.sends = np.ascontiguousarray(sends.T, dtype=kind)
        del sends
        self.room = np.ascontiguousarray((self.res > 0).T, dtype=kind)
        self.more = (self.spare_in > 0).astype(kind)
        self.moves = np.rint(self.sends.T @ self.room).astype(np.int64)
        self.entries = np.rint(self.room.T @ self.more).astype(np.int64)

    def _sends_changed(self, p: int, idx: np.ndarray) -> None:
        """Marks and counts after the flow of left nodes ``idx`` into p changed."""
        new = self.flow[p, idx] > 0
        if self.linked is not None:
            new &= self.linked[idx]
        delta = new - self.sends[idx, p]
        at = np.flatnonzero(delta)
        if at.size:
            left = idx[at]
            self.moves[p] += np.rint(delta[at] @ self.room[left]).astype(np.int64)
            self.sends[left, p] = new[at]

    def _room_changed(self, q: int, idx: np.ndarray) -> None:
        """Marks and counts after the spare capacity of left nodes ``idx`` into q changed."""
        new = self.res[q, idx] > 0
        delta = new - self.room[idx, q]
        at = np.flatnonzero(delta)
        if at.size:
            left = idx[at]
            self.moves[:, q] += np.rint(delta[at] @ self.sends[left]).astype(np.int64)
            self.entries[q] += int(np.rint(delta[at] @ self.more[left]))
            self.room[left, q] = new[at]

    def _more_changed(self, idx: np.ndarray) -> None:
        """Marks and counts after the spare supply of left nodes ``idx`` changed."""
        new = self.spare_in[idx] > 0
        delta = new - self.more[idx]
        at = np.flatnonzero(delta)
        if at.size:
            left = idx[at]
            self.entries += np.rint(delta[at] @ self.room[left]).astype(np.int64)
            self.more[left] = new[at]

    def path(self) -> list[int] | None:
        """The shortest residual path, as its right nodes (entered from the source, left to
        the sink), or None. Ties go to the lowest right node, so the path is deterministic."""
        n = len(self.spare_out)
        parent = np.full(n, -2)  # -2: not reached, -1: entered from the source
        frontier = np.flatnonzero(self.entries > 0)
        parent[frontier] = -1
        while frontier.size:
            out = frontier[self.spare_out[frontier] > 0]
            if out.size:
                node = int(out[0])
                path = [node]
                while parent[node] >= 0:
                    node = int(parent[node])
                    path.append(node)
                return path[::-1]
            step = (self.moves[frontier] > 0) & (parent == -2)[None, :]
            new = step.any(axis=0)
            parent[new] = frontier[step[:, new].argmax(axis=0)]
            frontier = np.flatnonzero(new)
        return None

    def push(self, path: list[int]) -> int:
        """Send the most the path carries, and bring the marks and counts up to date (one
        change at a time, each against the current marks of the other kind); returns the
        amount sent."""
        first = path[0]
        steps = list(pairwise(path))
        hops = [np.minimum(self.spare_in, self.res[first])]
        for p, q in steps:
            v = np.minimum(self.flow[p], self.res[q])
            if self.unlinked is not None:
                v[self.unlinked] = 0
            hops.append(v)
        amount = min(int(self.spare_out[path[-1]]), *(int(v.sum()) for v in hops))
        if amount <= 0:
            return 0
        idx, d = _first_amount(hops[0], amount)
        self.spare_in[idx] -= d
        if self.unlinked is not None:  # no limit: never drawn down
            self.spare_in[idx[self.unlinked[idx]]] = UNLIMITED
        self._more_changed(idx)
        self.flow[first, idx] += d
        self._sends_changed(first, idx)
        self.res[first, idx] -= d
        self._room_changed(first, idx)
        for (p, q), v in zip(steps, hops[1:], strict=True):
            idx, d = _first_amount(v, amount)
            self.flow[p, idx] -= d
            self._sends_changed(p, idx)
            self.res[p, idx] += d
            self._room_changed(p, idx)
            self.flow[q, idx] += d
            self._sends_changed(q, idx)
            self.res[q, idx] -= d
            self._room_changed(q, idx)
        self.spare_out[path[-1]] -= amount
        return amount


def _top_up(flow, res, spare_in, spare_out, linked) -> None:
    """The paths of one right node, all at once and in place: each right node in turn takes
    what it can from the spare supply of its left nodes (the first ones first), as the
    one-node paths would, without counts to keep meanwhile."""
    for p in np.flatnonzero(spare_out > 0):
        avail = np.minimum(spare_in, res[p])
        amount = min(int(spare_out[p]), int(avail.sum()))
        if amount <= 0:
            continue
        idx, d = _first_amount(avail, amount)
        spare_in[idx] -= d
        flow[p, idx] += d
        res[p, idx] -= d
        spare_out[p] -= amount
    spare_in[~linked] = UNLIMITED


def _first_amount(v: np.ndarray, amount: int) -> tuple[np.ndarray, np.ndarray]:
    """``amount`` taken from the first left nodes of ``v`` (each up to its value): their
    indices and what each gives. Sums only as long a stretch of ``v`` as it needs."""
    m = FIRST_STRETCH
    while True:
        cum = np.cumsum(v[:m])
        if cum[-1] >= amount or m >= len(v):
            break
        m *= 8
    last = int(np.searchsorted(cum, amount))  # cum[last] ≥ amount > cum[last - 1]
    idx = np.flatnonzero(v[:last + 1])
    d = v[idx]
    d[-1] -= int(cum[last]) - amount
    return idx, d


def _quotient(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _fit(caps: np.ndarray, reach: np.ndarray, demand: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    """Row and column factors a, b with caps · a_c · b_p roughly meeting every row's
    ``reach`` and every column's ``demand`` (:data:`FIT_ROUNDS` rounds of balancing)."""
    b = np.ones(caps.shape[1])
    a = np.zeros(caps.shape[0])
    for _ in range(FIT_ROUNDS):  # products in blocks: the same bits on any number of threads
        a = _quotient(reach, rows_dot(caps, b))
        b = _quotient(demand, cols_dot(a, caps))
    return a, b


def _fitted(blk: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The balanced flow of a block of left nodes: caps · a · b, at most the capacity."""
    f = blk * a[:, None]
    f *= b[None, :]
    np.minimum(f, blk, out=f)
    return f
