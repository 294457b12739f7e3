"""Fair coverage (SPEC §4) on integer codes: minimise Σ w_i n_i F(y_i) over eligible supplies.

Groups i have population n_i > 0, prior coverage f_i in [0, 1) and weight w_i > 0; resources k
have supply b_k > 0; an allocation x_ik ≥ 0 exists only for eligible pairs, with
Σ_i x_ik ≤ b_k and y_i = f_i + Σ_k x_ik / n_i ≤ 1.

Method: decomposition over tight sets, per connected component of the eligibility graph
(components never share a scale, a price or a tolerance). The totals s_i = Σ_k x_ik that a
network can carry form a polymatroid, and the objective is separable and convex, so the
optimum is found by
    1. water-filling each component with its total supply alone: one price λ such that every
       group below coverage 1 and above its prior has w_i |F'(y_i)| = λ. The price is sought
       in a well-conditioned variable t (log λ, shifted by the component's largest log weight,
       divided by m − 1 for the power loss): every group's coverage is a closed form in
       t − a_i with a_i its normalised log weight, so weights of any size never overflow.
       Newton steps (in e^t for the losses (1 − y)^m, where the total is convex and piecewise
       linear: :meth:`Loss.newton`) are kept inside a bracket, with a bisection whenever
       they leave it or stop halving the residual. The search ends when the total is within
       1e-12 of the supply (the totals are then scaled onto it), or when the bracket is 1e-15
       wide (its two ends are then one price to float precision, and their totals are mixed
       to meet the supply). It does not stop at an iteration cap: every other step halves the
       bracket or the residual, so it always converges; should it not, it says so
       (status ``iteration_limit``);
    2. checking with one max flow (all open components at once) whether the network can
       deliver those totals; where it cannot, the source side of a minimum cut is the most
       over-demanded set of groups A: at the optimum A consumes exactly its resources N(A)
       and no other group draws on them, so the component splits into (A, N(A)) and the rest,
       without the rest's arcs into N(A);
    3. repeating until every component is deliverable; the last max flow of a component
       splits its totals into x_ik. On large networks (``GROUPED_ARCS`` eligible pairs,
       decided once per solve) every round's max flow runs on groups merged by their set of
       resources within their component (the same minimum cuts, a far smaller network), and
       each group takes its merged node's flow on every resource in proportion to its own
       ask (its total in integer units): groups of one component eligible for the same
       resources draw on them in the same proportions, up to the rounding the last steps
       settle (below). A round whose groups' resources do not pack into 63 bits runs the
       plain max flow instead.
Each split separates resources, so there are at most as many rounds as resources; every round
is vectorised over groups, resources and components. Amounts enter the max flows as integers
scaled per component by a power of two from an upper bound of the component's own max flow
(what its resources can give its groups), not from its demand: units of 2^-61 of that bound
divided by the number of components sharing the call, so the max flow value stays inside int64
(capacities above 2^62 are cut to 2^62, which leaves every minimum cut as it is). A component
whose positive amounts span more than 2^(61 − 24) of its units gets a max flow call of its
own, so its resolution never depends on other components. Where a split component has an
amount within 2^24 units, the cut (A, N(A)) is settled at each side's own scale: A must fill
N(A) and the rest (without its arcs into N(A)) must deliver all it asks for; where the rest
falls short its cut side joins A, where A leaves supply unused A shrinks to its own cut side.
The split of each group's total over its arcs is then refined on the residual and topped up
to the exact total (a rounding remainder below one unit per arc). Where the top-up leaves a
resource over by more than its own float noise (it follows the flows: a small group's
remainder may land on a small supply its large neighbours hardly use), the excess is moved
on by one more residual max flow, out through the groups it can be shifted to, each of which
may give up to ``NOISE`` of its own total: the noise of a large component then falls on its
large groups, not on a small group that cannot absorb it (scaling the resource's flows back,
as before, took 7e-9 of the coverage of a group of 1e-6 beside one of 1e4).

Known limit: amounts inside one side of a cut that are more than about 2^61 (2e18) apart
relative to its max flow bound (for example a group of 1e-9 next to a set flowing 1e11) can
still be cut off from a resource it should share, or (with no cut at all) left short of its
total by the component's float noise. The answer then keeps every limit but is not optimal;
this is detected (a group that would take more at the price of a resource it was cut off
from, :func:`_optimal_apart`, or a group holding less than its total by more than 1e-6 of its
room) and the status is ``"suboptimal"``, never ``"optimal"``.

Before anything is returned, :func:`verify` checks the answer: finite and non-negative, every
resource within its supply and every group within coverage 1 (relative tolerance
``fairalloc.solvers.verify.RTOL`` of each limit). A resource or group beyond it (possible only where
a component mixes amounts more than about 10^9 apart, below one integer unit) has its flows
scaled back exactly onto its limit and the status says ``"repaired"``; anything else raises
:class:`~fairalloc.solvers.verify.SolverFailure`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import max_flow
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from fairalloc.solvers.blocks import settle_malloc
from fairalloc.solvers.verify import SolverFailure, Status, check, over, shrink_keyed

CAPABILITY = "coverage"
#: A water-fill ends when its total is this close (relative) to the supply …
HIT = 1e-12
#: … or its bracket in t is this narrow (relative to max(1, |t|)).
WIDTH = 1e-15
#: Excess of a resource, relative to its component's total, trimmed as float rounding.
NOISE = 1e-12
#: Water-fill steps allowed (every other step halves the bracket or the residual, so
#: about 250 suffice for any float64 input; never reached in tests).
MAX_STEPS = 500
#: Label passes :func:`_components` makes before it leaves the work to scipy.
PROPAGATION_PASSES = 8
#: From this many eligible pairs on, every round's max flow runs on groups merged by their
#: resources, each group taking its node's flows in proportion to its ask
#: (:func:`_max_flow_grouped`); decided once per solve, so that the split of a group's total
#: over its resources follows one rule from round to round.
GROUPED_ARCS = 20_000
#: A part of a max flow whose amounts span more than 2^(bits − WIDE) of its units gets a max
#: flow of its own (2^61 units), so its resolution never depends on other components.
WIDE = 24


@dataclass(frozen=True)
class Loss:
    """F(y) decreasing and strictly convex on [0, 1], with its derivative's inverse in logs."""

    name: str
    param: float = 0.0

    @property
    def exponent(self) -> float:  # numpydoc ignore=RT01
        """m of (1 − y)^m: 2 for the quadratic loss, the parameter for the power loss."""
        return 2.0 if self.name == "quadratic" else self.param

    @property
    def polynomial(self) -> bool:  # numpydoc ignore=RT01
        """True for the losses of the form (1 − y)^m (quadratic, power)."""
        return self.name in ("quadratic", "power")

    def value(self, y: np.ndarray) -> np.ndarray:
        """F(y), the loss at coverage ``y``.

        Parameters
        ----------
        y : numpy.ndarray
            Coverages in [0, 1].

        Returns
        -------
        numpy.ndarray
            The loss per coverage.

        Examples
        --------
        >>> Loss("quadratic").value(np.array([0.0, 0.5])).tolist()
        [1.0, 0.25]
        """
        if self.polynomial:
            return (1.0 - y) ** self.exponent
        if self.name == "log":
            return -np.log(y + self.param)
        return np.exp(-y)  # "exp"

    def marginal(self, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """-w F'(y) ≥ 0: the value of one more unit of coverage to a group (the weight is
        multiplied last, so a large weight overflows only if the value itself does).

        Parameters
        ----------
        y : numpy.ndarray
            Coverages.
        w : numpy.ndarray
            Weights of the groups.

        Returns
        -------
        numpy.ndarray
            The marginal value per group.
        """
        with np.errstate(over="ignore"):
            if self.polynomial:
                m = self.exponent
                return w * (m * (1.0 - y) ** (m - 1.0))
            if self.name == "log":
                return w / (y + self.param)
            return w * np.exp(-y)

    # --- the water-fill in t: for group i with normalised log weight a_i, coverage y_i(t)
    # --- falls as t rises; log λ = price_log(t) + the component's largest log weight

    def offsets(self, log_w_rel: np.ndarray) -> np.ndarray:
        """The offsets a_i of the water-fill in t.

        Parameters
        ----------
        log_w_rel : numpy.ndarray
            log w_i − the largest log w of the group's component (≤ 0).

        Returns
        -------
        numpy.ndarray
            a_i per group.
        """
        return log_w_rel / (self.exponent - 1.0) if self.polynomial else log_w_rel

    def t_at(self, y: np.ndarray, a: np.ndarray, gap: np.ndarray | None = None) -> np.ndarray:
        """The t at which a group reaches coverage ``y``.

        Parameters
        ----------
        y : numpy.ndarray
            Coverages.
        a : numpy.ndarray
            The groups' offsets (:meth:`offsets`).
        gap : numpy.ndarray, optional
            1 − y when known exactly (default: computed from ``y``).

        Returns
        -------
        numpy.ndarray
            t per group.
        """
        gap = 1.0 - y if gap is None else gap
        with np.errstate(divide="ignore"):
            if self.polynomial:
                return a + np.log(gap)
            if self.name == "log":
                return a - np.log(y + self.param)
            return a - y

    def totals(self, t: np.ndarray, a: np.ndarray, n: np.ndarray, f: np.ndarray,
               cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What each group receives at level ``t``, and its slope.

        Parameters
        ----------
        t : numpy.ndarray
            The level per group (its component's).
        a : numpy.ndarray
            The groups' offsets (:meth:`offsets`).
        n : numpy.ndarray
            Populations.
        f : numpy.ndarray
            Prior coverages.
        cap : numpy.ndarray
            The most each group can take (its population's uncovered part).

        Returns
        -------
        tuple of numpy.ndarray
            s_i(t) = n_i (y_i(t) − f_i) clipped to [0, cap_i] (written to avoid
            cancellation), and d s_i / d t where 0 < s_i < cap_i (0 elsewhere).
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return self._totals(t, a, n, f, cap)

    def _totals(self, t, a, n, f, cap):  # numpydoc ignore=GL08,RT01,PR01
        """:meth:`totals` for a caller that has silenced overflow itself (the water-fill)."""
        if self.polynomial:
            e = n * np.exp(t - a)
            s, ds = cap - e, -e
        elif self.name == "log":
            e = n * np.exp(a - t)
            s, ds = e - n * (f + self.param), -e
        else:
            s, ds = n * ((a - f) - t), -n
        inside = (s > 0) & (s < cap)
        return np.clip(s, 0.0, cap), np.where(inside, ds, 0.0)

    def newton(self, t, excess, slope):
        """A Newton step of the water-fill from level ``t``, where the total exceeds the
        supply by ``excess`` and falls with ``t`` at rate ``slope`` (< 0).

        For the losses (1 − y)^m every group's total is linear in u = e^t until it reaches
        0, so the total is convex and piecewise linear in u: the step is taken in u (from
        below the price it never overshoots, and it lands on the price exactly once the
        groups taking something are the right ones). The others step in t.

        Parameters
        ----------
        t : numpy.ndarray or float
            Levels.
        excess : numpy.ndarray or float
            Total minus supply at ``t``.
        slope : numpy.ndarray or float
            d total / d t at ``t``.

        Returns
        -------
        numpy.ndarray or float
            The next level (NaN or ±inf where the step has no meaning; the caller then
            bisects).
        """
        if self.polynomial:
            return t + np.log1p(-excess / slope)
        return t - excess / slope

    def log_price(self, t: np.ndarray, top: np.ndarray) -> np.ndarray:
        """The log of the price λ at level ``t``.

        Parameters
        ----------
        t : numpy.ndarray
            Levels.
        top : numpy.ndarray
            The largest log weight of each level's component.

        Returns
        -------
        numpy.ndarray
            log λ.
        """
        if self.polynomial:
            m = self.exponent
            return (m - 1.0) * t + np.log(m) + top
        return t + top


@dataclass(frozen=True)
class Coverage:
    """A solver's answer: flows per arc, totals per group, prices and scarcity per resource."""

    x: np.ndarray  # per eligible arc
    s: np.ndarray  # per group: total received
    price: np.ndarray  # per resource: λ of its component (0 when not scarce; may underflow)
    scarce: np.ndarray  # per resource: its component needs more than it has
    rounds: int
    status: str  # "optimal"; "repaired" when verify scaled flows back onto a limit;
    # "suboptimal" when the limits hold but the optimum is known to be missed (a wrong cut,
    # _optimal_apart, or a group short of its total: see solve_coverage)


def _water_fill(comp, n, f, log_w, cap, supply, loss: Loss, n_comp: int):
    """Per component c (groups carry its code in ``comp``), the totals s_i meeting its supply
    B_c = ``supply[c]`` at one price, or every group's room when that fits.

    Returns (s per group, log λ per component, whether the component is short of supply).
    Raises :class:`SolverFailure` (status ``iteration_limit``) if a bracket fails to close,
    which bisection rules out.
    """
    # one silenced section for the whole search (overflow of exp, 0/0 and inf − inf in the
    # bracket are expected and handled): entering errstate per operation cost more than the
    # arithmetic on small inputs
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # per component: the greatest / least of its groups' values (one component: a
        # reduction, the same value; none for a component without groups)
        one = n_comp == 1 and len(comp) > 0

        def most(values, initial, at):
            if one:
                return np.array([at.reduce(values)])
            out = np.full(n_comp, initial)
            at.at(out, comp, values)
            return out

        full = np.bincount(comp, weights=cap, minlength=n_comp)
        need = full > supply
        top = most(log_w, -np.inf, np.maximum)
        a = loss.offsets(log_w - top[comp])
        start = loss.t_at(f, a, 1.0 - f)  # from this t down, group i takes something
        hi = most(start, -np.inf, np.maximum)  # at hi nobody takes anything
        # a first probe where every group has at least coverage 1 − gap: the total is then
        # ≥ full − N gap = (full + B) / 2 > B
        pop = np.bincount(comp, weights=n, minlength=n_comp)
        gap = np.divide(full - supply, 2.0 * pop, out=np.ones(n_comp), where=need)  # ≤ 1/2
        gap_g = gap[comp]
        probe = most(loss.t_at(1.0 - gap_g, a, gap_g), np.inf, np.minimum)
        t = np.minimum(np.where(need, probe, hi), hi)
        s = np.where(need[comp], 0.0, cap)
        if n_comp == 1:  # one component: its search on numpy scalars (same steps)
            s, final_t = _search_one(comp, n, f, a, cap, supply[0], loss, full[0], need[0],
                                     t[0], hi[0], s)
        else:
            s, final_t = _search(comp, n, f, a, cap, supply, loss, n_comp, full, need, t,
                                 hi, s)
        return s, np.where(need, loss.log_price(final_t, top), -np.inf), need


def _search(comp, n, f, a, cap, supply, loss: Loss, n_comp: int, full, need, t, hi, s):
    """:func:`_water_fill`'s search for the price of every component (arrays per component),
    from the first probe ``t``; returns (s per group, final t per component). Runs inside the
    caller's silenced floating-point section."""
    lo = np.full(n_comp, -np.inf)  # at lo (−inf: everyone full) the total is over supply
    top_hi = hi.copy()  # at the first hi nobody takes anything
    got_lo, got_hi = full.copy(), np.zeros(n_comp)
    final_t = np.where(need, hi, -np.inf)
    active = need.copy()
    resid_before = np.full(n_comp, np.inf)
    for _ in range(MAX_STEPS):
        if not active.any():
            break
        s_t, ds = loss._totals(t[comp], a, n, f, cap)  # finished components: ignored below
        got = np.bincount(comp, weights=s_t, minlength=n_comp)
        above = active & (got > supply)
        below = active & ~above
        lo, got_lo = np.where(above, t, lo), np.where(above, got, got_lo)
        hi, got_hi = np.where(below, t, hi), np.where(below, got, got_hi)
        resid = np.abs(got - supply)
        hit = active & (resid <= HIT * supply)
        width = hi - lo  # NaN for components without groups (never active)
        narrow = active & ~hit & ((width <= WIDTH * np.maximum(1.0, np.maximum(
            np.abs(lo), np.abs(hi)))) | np.isneginf(lo))  # −inf: the probe fell short
        if hit.any():  # within HIT of the supply: scaled onto it (float noise of the price)
            ratio = np.where(got > 0, supply / np.where(got > 0, got, 1.0), 1.0)
            s = np.where(hit[comp], np.minimum(s_t * ratio[comp], cap), s)
            final_t = np.where(hit, t, final_t)
        if narrow.any():  # both ends are one price: mix their totals to meet the supply
            theta = np.clip((supply - got_hi) / (got_lo - got_hi), 0.0, 1.0)
            theta = np.where(np.isfinite(theta), theta, 0.0)
            s_lo = np.where(np.isneginf(lo)[comp], cap,
                            loss._totals(lo[comp], a, n, f, cap)[0])
            s_hi = np.where((hi == top_hi)[comp], 0.0,
                            loss._totals(hi[comp], a, n, f, cap)[0])
            mixed = s_hi + theta[comp] * (s_lo - s_hi)
            s = np.where(narrow[comp], mixed, s)
            final_t = np.where(narrow, hi, final_t)
        active &= ~(hit | narrow)
        if not active.any():  # no step left to take
            break
        # Newton from t while it stays inside the bracket and halves the residual; else a
        # bisection. So every other step at least halves the residual or the bracket.
        slope = np.bincount(comp, weights=ds, minlength=n_comp)
        step = loss.newton(t, got - supply, slope)
        ok = np.isfinite(step) & (step > lo) & (step < hi) & (resid <= 0.5 * resid_before)
        resid_before = np.where(ok, resid, np.inf)
        t = np.where(ok, step, 0.5 * (lo + hi))
    else:
        if active.any():
            raise SolverFailure(CAPABILITY, Status.ITERATION_LIMIT,
                                "the price search did not converge", "component",
                                np.flatnonzero(active))
    return s, final_t


def _search_one(comp, n, f, a, cap, supply, loss: Loss, full, need, t, hi, s):
    """:func:`_search` for a single component, its bracket and residuals held as numpy
    scalars: the same steps and the same floating-point operations (a masked choice becomes
    a branch), without some forty calls on one-element arrays per step. Returns (s per
    group, final t as a one-element array)."""
    lo = np.float64(-np.inf)
    top_hi = hi
    got_lo, got_hi = full, np.float64(0.0)
    final_t = hi if need else np.float64(-np.inf)
    active = bool(need)
    resid_before = np.float64(np.inf)
    limit = HIT * supply
    for _ in range(MAX_STEPS):
        if not active:
            break
        s_t, ds = loss._totals(t, a, n, f, cap)
        got = np.bincount(comp, weights=s_t, minlength=1)[0]
        if got > supply:
            lo, got_lo = t, got
        else:
            hi, got_hi = t, got
        resid = abs(got - supply)
        hit = resid <= limit
        narrow = not hit and (hi - lo <= WIDTH * max(1.0, abs(lo), abs(hi)) or lo == -np.inf)
        if hit:  # within HIT of the supply: scaled onto it (float noise of the price)
            ratio = supply / got if got > 0 else 1.0
            s = np.minimum(s_t * ratio, cap)
            final_t = t
        elif narrow:  # both ends are one price: mix their totals to meet the supply
            theta = np.clip((supply - got_hi) / (got_lo - got_hi), 0.0, 1.0)
            theta = theta if np.isfinite(theta) else 0.0
            s_lo = cap if lo == -np.inf else loss._totals(lo, a, n, f, cap)[0]
            s_hi = np.zeros(len(cap)) if hi == top_hi else loss._totals(hi, a, n, f, cap)[0]
            s = s_hi + theta * (s_lo - s_hi)
            final_t = hi
        else:
            # Newton from t while it stays inside the bracket and halves the residual; else
            # a bisection (as _search)
            slope = np.bincount(comp, weights=ds, minlength=1)[0]
            step = loss.newton(t, got - supply, slope)
            ok = np.isfinite(step) and lo < step < hi and resid <= 0.5 * resid_before
            resid_before = resid if ok else np.float64(np.inf)
            t = step if ok else 0.5 * (lo + hi)
            continue
        active = False
    else:
        if active:
            raise SolverFailure(CAPABILITY, Status.ITERATION_LIMIT,
                                "the price search did not converge", "component",
                                np.zeros(1, np.int64))
    return s, np.array([final_t], np.float64)


@dataclass(frozen=True)
class _Flow:
    """One max flow over several parts (components, or the two sides of a cut), each scaled to
    integers on its own: ``x`` per arc (real amounts), ``short`` per group and ``unused`` per
    resource in units of the part's scale (``scale_g``, ``scale_k``), ``side`` the source side
    of a minimum cut (groups then resources)."""

    x: np.ndarray
    short: np.ndarray
    unused: np.ndarray
    side: np.ndarray
    scale_g: np.ndarray
    scale_k: np.ndarray
    bound: np.ndarray  # per part: an upper bound of its max flow (real amounts)
    fine: np.ndarray  # per part: some amount is within 2^WIDE units (a cut may miss it)


def _flows(ag, ak, s, b, part_g, part_k, n_part: int, *, grouped: bool = False,
           ordered: bool = False) -> _Flow:
    """Max flow source → groups (``s``) → resources (arcs ``ag``, ``ak``) → sink (``b``), for
    the groups and resources of parts ≥ 0 (``part_g``, ``part_k``; arcs join one part).

    Each part is scaled by a power of two from an upper bound of its own max flow (what its
    resources can give to its groups, and its groups take from its resources), not from its
    demand: a group asking far more than its resources hold does not coarsen the units of
    the others. A capacity above 2^62 is cut to 2^62, which is still above every cut of the
    part that could be minimal, so the minimum cuts stay the same. Parts whose amounts span
    more than 2^(bits − WIDE) of that bound get a max flow of their own with 2^61 units;
    the others share one, 2^61 / (their number) units each.

    ``grouped`` runs it on groups merged by their resources (:func:`_max_flow_grouped`);
    ``ordered`` says the arcs come by group, then resource.
    """
    n_g, n_k = len(s), len(b)
    in_g, in_k = part_g >= 0, part_k >= 0
    reach = np.bincount(ak, weights=s[ag], minlength=n_k)
    room = np.bincount(ag, weights=b[ak], minlength=n_g)
    give_r = np.where(in_k, np.minimum(b, reach), 0.0)
    take_r = np.where(in_g, np.minimum(s, room), 0.0)
    pg, pk = np.where(in_g, part_g, 0), np.where(in_k, part_k, 0)
    bound = np.minimum(np.bincount(pk, weights=give_r, minlength=n_part),
                       np.bincount(pg, weights=take_r, minlength=n_part))
    low = np.full(n_part, np.inf)
    takes, gives = take_r > 0, give_r > 0
    np.minimum.at(low, pg[takes], take_r[takes])
    np.minimum.at(low, pk[gives], give_r[gives])
    flowing = bound > 0
    shared_bits = 61 - int(np.ceil(np.log2(max(int(flowing.sum()), 1))))
    with np.errstate(divide="ignore"):
        wide = flowing & (np.log2(bound) - np.log2(low) > shared_bits - WIDE)
    narrow_bits = 61 - int(np.ceil(np.log2(max(int((flowing & ~wide).sum()), 1))))
    exp = np.frexp(np.where(flowing, bound, 1.0))[1]
    scale = np.ldexp(1.0, np.minimum(np.maximum(np.where(wide, 61, narrow_bits) - exp,
                                                -1000), 1000))  # integers: a clip
    sg, sk = np.where(in_g, scale[pg], 1.0), np.where(in_k, scale[pk], 1.0)
    big = float(2**62)
    ask = np.where(in_g, np.floor(np.minimum(s * sg, big)), 0.0)
    # a resource gives no more than its groups ask for (this keeps a supply far above its
    # part's needs inside int64 without changing the max flow); their float sum is raised by
    # far more than its rounding so that it never falls below the integer sum
    reach_up = np.bincount(ak, weights=ask[ag], minlength=n_k) * (1.0 + 2.0**-30) + 1.0
    give = np.where(in_k, np.minimum(np.ceil(np.minimum(b * sk, big)),
                                     np.floor(np.minimum(reach_up, big))), 0.0)
    x = np.zeros(len(ag))
    short = np.zeros(n_g, np.int64)
    unused = np.zeros(n_k, np.int64)
    side = np.zeros(n_g + n_k, bool)
    # one call for the narrow parts, one for each wide part
    calls = [~wide] + [np.arange(n_part) == p for p in np.flatnonzero(wide)]
    local_g, local_k = np.empty(n_g, np.int64), np.empty(n_k, np.int64)
    asks = ask > 0  # groups asking nothing carry no flow and are never on a cut's source side:
    # they stay out of the max flow (the others keep their order, so it runs the same)
    for which in calls:
        members = in_g & which[pg]
        ks = (in_k & which[pk]).nonzero()[0]
        if not (ks.size and members.any()):
            short[members] = ask[members].astype(np.int64)
            continue
        takers = members & asks
        gs = takers.nonzero()[0]
        if not gs.size:
            unused[ks] = give[ks].astype(np.int64)
            continue
        arcs = takers[ag].nonzero()[0]
        local_g[gs] = np.arange(gs.size)  # node numbers inside this call, in code order
        local_k[ks] = np.arange(ks.size)
        arc_g = ag[arcs]
        lg, lk = local_g[arc_g], local_k[ak[arcs]]
        asks_i, gives_i = ask[gs].astype(np.int64), give[ks].astype(np.int64)
        if grouped:  # local numbers keep the order of the codes
            f, d, u, cut = _max_flow_grouped(lg, lk, asks_i, gives_i, ordered=ordered)
        else:
            f, d, u, cut = _max_flow(lg, lk, asks_i, gives_i)
        x[arcs] = f / sg[arc_g]
        short[gs], unused[ks] = d, u
        side[gs], side[n_g + ks] = cut[:gs.size], cut[gs.size:]
    fine = flowing & (low * np.where(wide, np.ldexp(1.0, 61 - exp), np.ldexp(
        1.0, narrow_bits - exp)) < 2.0**WIDE)
    return _Flow(x, short, unused, side, sg, sk, bound, fine)


def _max_flow(ag, ak, ask, give):
    """Integer max flow source → groups (``ask``) → resources (arcs ``ag``, ``ak``) → sink
    (``give``). Returns the flow per arc, per group the units asked for and not delivered,
    per resource the units not used, and where some group is short the source side of a
    minimum cut (groups, then resources; none when no group is short)."""
    n_g, n_k = len(ask), len(give)
    flow = max_flow.SimpleMaxFlow()
    src, snk = n_g + n_k, n_g + n_k + 1
    m = len(ag)
    tails = np.concatenate([np.full(n_g, src), ag, n_g + np.arange(n_k)])
    heads = np.concatenate([np.arange(n_g), n_g + ak, np.full(n_k, snk)])
    caps = np.concatenate([ask, np.full(m, 2**62, np.int64), give])
    ids = flow.add_arcs_with_capacity(tails.astype(np.int64, copy=False),
                                      heads.astype(np.int64, copy=False), caps)
    status = flow.solve(src, snk)
    if status != flow.OPTIMAL:
        raise SolverFailure(CAPABILITY, Status.ERROR, f"max flow failed with status {status}")
    got = flow.flows(ids)
    short = ask - got[:n_g]
    cut = np.zeros(n_g + n_k, bool)
    if (short > 0).any():
        nodes = np.asarray(flow.get_source_side_min_cut(), np.int64)
        cut[nodes[nodes < n_g + n_k]] = True
    return got[n_g:n_g + m], short, give - got[n_g + m:], cut


def _by_group_then_resource(ag, ak) -> bool:
    """Whether the arcs come by group, then resource, each pair once (steps compared as int64,
    whatever the codes' dtype)."""
    step_g = np.diff(ag.astype(np.int64, copy=False))
    step_k = np.diff(ak.astype(np.int64, copy=False))
    return bool(((step_g > 0) | ((step_g == 0) & (step_k > 0))).all())


def _max_flow_grouped(ag, ak, ask, give, *, ordered: bool = False):
    """:func:`_max_flow` on a smaller network: groups with the same resources merge into one
    node asking their sum (capped at 2^62, as every capacity). The minimum cuts are the same
    (given the resources on its source side, a cut's cheapest groups are those whose resources
    all lie there, merged or not), so is the max flow value; each merged node's shortage is
    reported on its first group (the per-group shortages serve as sums per component), its
    side on all, and each of its groups takes the node's flow on every one of their resources
    in proportion to its own ask (as floats; a node asking nothing gives nothing). The
    caller's last steps settle the rounding (:func:`_refine`, :func:`_top_up`). A group's
    resources are packed into one integer (with their number); where they do not fit in 63
    bits the plain max flow answers. ``ordered`` says the arcs already come by group, then
    resource (else they are sorted so, and the flows put back in their order). Returns (flow
    per arc, short per group, unused per resource, cut)."""
    n_g, m = len(ask), len(ag)
    deg = np.bincount(ag, minlength=n_g)
    bits = max(int(len(give) - 1).bit_length(), 1)
    top = int(deg.max(initial=0))
    if bits * top + top.bit_length() > 63:
        return _max_flow(ag, ak, ask, give)
    order = None
    if not (ordered or _by_group_then_resource(ag, ak)):
        order = np.lexsort((ak, ag))
        ag, ak = ag[order], ak[order]
    first = np.cumsum(deg) - deg
    pos = np.arange(m) - first[ag]  # an arc's place among its group's
    with_arcs = np.flatnonzero(deg)
    packed = np.zeros(n_g, np.int64)
    if m:
        packed[with_arcs] = np.add.reduceat(ak.astype(np.int64) << (bits * pos), first[with_arcs])
    packed |= deg.astype(np.int64) << (bits * top)
    key, node = np.unique(packed, return_inverse=True)
    node = node.ravel()
    count = len(key)
    deg_u = key >> (bits * top)
    tails = np.repeat(np.arange(count), deg_u)
    start = np.cumsum(deg_u) - deg_u  # where each node's arcs begin
    at = np.arange(len(tails)) - np.repeat(start, deg_u)
    heads = (key[tails] >> (bits * at)) & ((1 << bits) - 1)
    # exact integer sums of the asks, in two halves (no int64 overflow), capped at 2^62
    high = np.zeros(count, np.int64)
    low = np.zeros(count, np.int64)
    np.add.at(high, node, ask >> 31)
    np.add.at(low, node, ask & (2**31 - 1))
    high += low >> 31
    low &= 2**31 - 1
    merged = np.where(high >= 2**31, 2**62, (high << 31) | low)
    flow_m, short_m, unused, cut_m = _max_flow(tails, heads, merged, give)
    rep = np.empty(count, np.int64)
    rep[node[::-1]] = np.arange(n_g)[::-1]  # each node's first group
    short = np.zeros(n_g, np.int64)
    short[rep] = short_m
    total = np.bincount(node, weights=ask, minlength=count)[node]
    share = np.divide(ask, total, out=np.zeros(n_g), where=total > 0)
    # an arc's place among its node's arcs is its place among its group's
    flows = flow_m[start[node[ag]] + pos] * share[ag]
    if order is not None:
        flows[order] = flows.copy()
    return flows, short, unused, np.concatenate([cut_m[node], cut_m[count:]])


def _settle_cut(ag, ak, s, b, comp_g, comp_k, split, in_a_g, in_a_k, n_comp):
    """Make the cut side (A, K) of every ``split`` component a most over-demanded set at the
    scale of each side, not only at the component's.

    The component's max flow sees a violation only above its units; inside a component whose
    amounts are ~1e17 apart the cut may then miss a small group that belongs to A. (A, K) is a
    minimum cut exactly when A alone fills K and the rest (without its arcs into K) can
    deliver all it asks for. Both are checked in one max flow, each side scaled on its own;
    where the rest falls short, its own cut side joins A (the union is more over-demanded);
    where A leaves some of K unused, A and K shrink to the cut side of A's flow (again more
    over-demanded). Every step raises the violation, so this ends.
    """
    n_g, n_k = len(s), len(b)
    for _ in range(n_g + n_k + 1):
        pg = np.where(split[comp_g], 2 * comp_g + in_a_g, -1)
        pk = np.where(split[comp_k], 2 * comp_k + in_a_k, -1)
        keep = (pg[ag] >= 0) & (pg[ag] == pk[ak])
        fl = _flows(ag[keep], ak[keep], s, b, pg, pk, 2 * n_comp)
        qg, qk = np.maximum(pg, 0), np.maximum(pk, 0)
        size = np.bincount(qg, weights=pg >= 0, minlength=2 * n_comp) + np.bincount(
            qk, weights=pk >= 0, minlength=2 * n_comp)
        units = np.zeros(2 * n_comp)
        units[pg[pg >= 0]] = fl.bound[pg[pg >= 0]] * fl.scale_g[pg >= 0]
        noise = 1e-12 * units + 4.0 * size
        short = np.bincount(qg, weights=fl.short.astype(float), minlength=2 * n_comp) > noise
        unused = np.bincount(qk, weights=np.where(pk >= 0, fl.unused, 0).astype(float),
                             minlength=2 * n_comp) > noise
        grow = split & short[0::2]
        shrink = split & ~grow & unused[1::2]
        if not (grow | shrink).any():
            return in_a_g, in_a_k
        side_g, side_k = fl.side[:n_g], fl.side[n_g:]
        in_a_g = np.where(grow[comp_g], in_a_g | (split[comp_g] & side_g),
                          np.where(shrink[comp_g], in_a_g & side_g, in_a_g))
        in_a_k = np.where(grow[comp_k], in_a_k | (split[comp_k] & side_k),
                          np.where(shrink[comp_k], in_a_k & side_k, in_a_k))
    raise SolverFailure(CAPABILITY, Status.ERROR, "the cut of a component did not settle "
                        "(numerical trouble)", "resource", np.flatnonzero(split[comp_k]))


def _components(arc_g, arc_k, n_g, n_k) -> tuple[np.ndarray, np.ndarray, int]:
    """Connected components of the eligibility graph: codes per group and per resource,
    numbered in the order of each component's first node (groups, then resources).

    Each resource takes the least resource code among the groups it shares, and labels
    follow their own chains (pointer jumping), until nothing changes: a few vectorised passes
    on usual networks, with no graph to build. Networks that take more passes (long chains of
    resources) go to scipy's connected components, which numbers them the same way.
    """
    lab = np.arange(n_k)
    for passes in range(1, PROPAGATION_PASSES + 1):
        reach = np.full(n_g, n_k)
        np.minimum.at(reach, arc_g, lab[arc_k])
        new = lab.copy()
        np.minimum.at(new, arc_k, reach[arc_g])
        while True:  # labels point at smaller codes: each jump halves every chain
            jump = new[new]
            if (jump == new).all():
                break
            new = jump
        if (new == lab).all():
            break
        lab = new
        if passes < PROPAGATION_PASSES and (lab == lab[0]).all():
            break  # one label (the least) everywhere: the next pass would keep it
    else:
        return _scipy_components(arc_g, arc_k, n_g, n_k)
    alone = np.bincount(arc_g, minlength=n_g) == 0  # groups without a resource
    roots = (lab == np.arange(n_k)).nonzero()[0]
    if len(roots) == 1 and not alone.any():  # one component holding every node
        return np.zeros(n_g, np.int64), np.zeros(n_k, np.int64), 1
    # number the components by their first node: the least group of each, else its resource
    first = n_g + np.arange(n_k)
    np.minimum.at(first, lab[arc_k], arc_g)
    order = np.argsort(np.concatenate([first[roots], alone.nonzero()[0]]), kind="stable")
    code = np.empty(len(order), np.int64)
    code[order] = np.arange(len(order))
    of_root = np.empty(n_k, np.int64)
    of_root[roots] = code[:len(roots)]
    comp_k = of_root[lab]
    comp_g = np.empty(n_g, np.int64)
    comp_g[arc_g] = comp_k[arc_k]
    comp_g[alone] = code[len(roots):]
    return comp_g, comp_k, len(order)


def _scipy_components(arc_g, arc_k, n_g, n_k) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`_components` by scipy's connected components on the graph in CSR form."""
    order = None if (np.diff(arc_g) >= 0).all() else np.argsort(arc_g, kind="stable")
    heads = n_g + (arc_k if order is None else arc_k[order])  # rows: groups, in code order
    index = np.int32 if max(len(arc_g), n_g + n_k) < 2**31 else np.int64  # scipy's own choice
    indptr = np.zeros(n_g + n_k + 1, index)
    np.cumsum(np.bincount(arc_g, minlength=n_g), out=indptr[1:n_g + 1])
    indptr[n_g + 1:] = indptr[n_g]
    graph = csr_matrix((np.ones(len(arc_g), np.int8), heads.astype(index), indptr),
                       shape=(n_g + n_k, n_g + n_k))
    count, label = connected_components(graph, directed=False)
    return label[:n_g].astype(np.int64), label[n_g:].astype(np.int64), int(count)


def _scales(total: np.ndarray, n_open: int) -> np.ndarray:
    """Per component, a power of two putting its total near 2^61 / n_open (so the total of
    all source capacities stays inside int64); 1 where the total is 0."""
    bits = 61 - int(np.ceil(np.log2(max(n_open, 1))))
    exp = np.frexp(np.where(total > 0, total, 1.0))[1]
    return np.ldexp(1.0, np.minimum(bits - exp, 1000)).astype(float)


def solve_coverage(n, f, w, b, arc_g, arc_k, loss: Loss) -> Coverage:
    """Optimal allocation on codes: groups 0..len(n)-1, resources 0..len(b)-1, eligible arcs
    (arc_g, arc_k) without repeats. Inputs must be finite, n and b positive, w positive, f in
    [0, 1) (the transforms check); sizes are otherwise free: each component is solved on its
    own scale and weights enter only as logarithms.

    Parameters
    ----------
    n : numpy.ndarray
        Population per group (> 0).
    f : numpy.ndarray
        Prior coverage per group, in [0, 1).
    w : numpy.ndarray
        Weight per group (> 0).
    b : numpy.ndarray
        Supply per resource (> 0).
    arc_g : numpy.ndarray
        Group code of each eligible arc.
    arc_k : numpy.ndarray
        Resource code of each eligible arc.
    loss : Loss
        The loss F minimised as Σ w n F(coverage).

    Returns
    -------
    Coverage
        Amount per arc, allocated total per group, scarce resources and their prices, the
        number of rounds and the status (``"optimal"``, ``"repaired"`` or ``"suboptimal"``:
        see the module notes).

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        A max flow failed, the decomposition made no progress or ran out of rounds, or the
        answer broke a limit beyond repair (naming the groups or resources).
    """
    settle_malloc()  # glibc's thresholds at their top (see there)
    n_g, n_k = len(n), len(b)
    cap = n * (1.0 - f)
    log_w = np.log(w)
    comp_g, comp_k, n_comp = _components(arc_g, arc_k, n_g, n_k)
    alive = np.ones(len(arc_g), bool)
    done = np.bincount(comp_g, minlength=n_comp) == 0  # resources nobody may use
    log_price = np.full(n_comp, -np.inf)
    short_c = np.zeros(n_comp, bool)  # the component's supply is all used
    x = np.zeros(len(arc_g))
    total = np.zeros(n_g)  # per group, fixed when its component is finished
    rounds = 0
    grouped = len(arc_g) >= GROUPED_ARCS  # large networks: on groups merged by their resources
    # arcs by group, then resource, stay so in every round's subset (checked once)
    ordered = grouped and _by_group_then_resource(arc_g, arc_k)
    degree = np.bincount(arc_g, minlength=n_g)  # live arcs per group
    while True:
        rounds += 1
        has_arc = degree > 0  # the others get nothing
        supply = np.bincount(comp_k, weights=b, minlength=n_comp)
        open_c = ~done
        live = (has_arc & open_c[comp_g]).nonzero()[0]
        try:
            s_live, lp, need = _water_fill(comp_g[live], n[live], f[live], log_w[live],
                                           cap[live], supply, loss, n_comp)
        except SolverFailure as exc:  # name the resources of the components concerned
            raise SolverFailure(CAPABILITY, exc.status, exc.detail, "resource", np.flatnonzero(
                np.isin(comp_k, exc.codes))) from exc
        log_price = np.where(open_c, lp, log_price)
        short_c = np.where(open_c, need, short_c)
        s = np.zeros(n_g)
        s[live] = s_live
        # finished components keep their flows: only open ones enter this round's max flow
        arcs = (alive & open_c[comp_g[arc_g]]).nonzero()[0]
        ag, ak = arc_g[arcs], arc_k[arcs]
        sum_s = np.bincount(comp_g, weights=s, minlength=n_comp)
        part_g = np.where(open_c[comp_g], comp_g, -1)
        part_k = np.where(open_c[comp_k], comp_k, -1)
        fl = _flows(ag, ak, s, b, part_g, part_k, n_comp, grouped=grouped, ordered=ordered)
        scale = np.ones(n_comp)
        scale[comp_g] = fl.scale_g
        missing_c = np.bincount(comp_g, weights=fl.short.astype(float), minlength=n_comp)
        side = fl.side
        # a cut side holding some of a component's resources splits it; one holding all of
        # them means the whole component is over its supply, by float noise of the water-fill
        # (then it is deliverable) or by a fault
        whole = np.bincount(comp_k, minlength=n_comp)
        part = np.bincount(comp_k, weights=side[n_g:], minlength=n_comp)
        size = np.bincount(comp_g, minlength=n_comp) + whole
        noise = (1e-13 + 1e-15 * size) * sum_s * scale + 4.0 * size
        split = open_c & (missing_c > 0) & (part > 0) & (part < whole)
        stuck = open_c & (missing_c > 0) & ~split & ((part == 0) | (missing_c > noise))
        if stuck.any() or rounds > n_k + 1:
            bad = np.flatnonzero(np.isin(comp_k, np.flatnonzero(stuck if stuck.any() else open_c)))
            raise SolverFailure(CAPABILITY, Status.ERROR, "the decomposition made no progress "
                                "(numerical trouble)", "resource", bad)
        in_a_g = side[:n_g] & split[comp_g]
        in_a_k = side[n_g:] & split[comp_k]
        settle = split & fl.fine  # the cut may have missed an amount of a few units
        if settle.any():  # the cut, exact to each side's own scale
            in_a_g, in_a_k = _settle_cut(ag, ak, s, b, comp_g, comp_k, settle, in_a_g, in_a_k,
                                         n_comp)
            part = np.bincount(comp_k, weights=in_a_k, minlength=n_comp)
            split &= (part > 0) & (part < whole)
            in_a_g &= split[comp_g]
            in_a_k &= split[comp_k]
        newly = open_c & ~split
        total = np.where(newly[comp_g], s, total)
        keep = newly[comp_g[ag]]
        x[arcs[keep]] = fl.x[keep]
        done = done | newly
        if not split.any():
            break
        # split every such component c: its cut side becomes a new component
        new_id = np.full(n_comp, -1, np.int64)
        new_id[split] = n_comp + np.arange(int(split.sum()))
        comp_g = np.where(in_a_g, new_id[comp_g], comp_g)
        comp_k = np.where(in_a_k, new_id[comp_k], comp_k)
        grow = int(split.sum())
        n_comp += grow
        done = np.concatenate([done, np.zeros(grow, bool)])
        log_price = np.concatenate([log_price, np.full(grow, -np.inf)])
        short_c = np.concatenate([short_c, np.zeros(grow, bool)])
        # arcs from the rest of a component into the cut side carry nothing at the optimum
        # (only arcs of this round's components change)
        cut_off = arcs[comp_g[ag] != comp_k[ak]]
        alive[cut_off] = False
        degree -= np.bincount(arc_g[cut_off], minlength=n_g)
    x = _refine(x, arc_g[alive], arc_k[alive], alive.nonzero()[0], total, b, comp_g,
                comp_k, n_comp)
    x = _top_up(x, arc_g, total, alive)
    # the top-up puts each group's remainder where its flows are: a resource may then be over
    # by more than its own float noise (a group of 1e-6 beside one of 1e4 in one component,
    # with the remainder on a resource of 1e-6). That excess moves to other resources and
    # leaves as float noise of the groups there (NOISE of each group's total), not of the
    # group that put it there
    spill = np.bincount(arc_k, weights=x, minlength=n_k) - b > NOISE * b
    if spill.any():
        x = _refine(x, arc_g[alive], arc_k[alive], alive.nonzero()[0], total, b, comp_g,
                    comp_k, n_comp, allow=NOISE * total)
    # what the residual could not place is the water-fill's float noise (its total meets the
    # supply to rounding): an excess within 1e-12 of the component's total is trimmed as
    # rounding; anything larger is left for verify to repair and report
    excess = np.bincount(arc_k, weights=x, minlength=n_k) - b
    rounding = (excess > 0) & (excess <= NOISE * np.bincount(
        comp_g, weights=total, minlength=n_comp)[comp_k])
    if rounding.any():
        x = shrink_keyed(x, arc_k, b, only=rounding, capability=CAPABILITY, what="resource")
    x, status = verify(x, arc_g, arc_k, cap, b)
    got = np.bincount(arc_g, weights=x, minlength=n_g)
    # every group holds its total (to 1e-6 of its room; a component whose amounts lie beyond
    # float64's reach of each other may leave a small group short without any cut), and no
    # group would rather draw on a resource a cut took from it
    if status == Status.OPTIMAL and not ((got >= total - 1e-6 * cap).all() and _optimal_apart(
            x, arc_g, arc_k, alive, n, f, log_w, cap, comp_k, short_c, log_price, loss)):
        status = str(Status.SUBOPTIMAL)
    scarce = short_c[comp_k]
    with np.errstate(over="ignore", under="ignore"):
        price = np.where(scarce, np.exp(log_price[comp_k]), 0.0)
    return Coverage(x, got, price, scarce, rounds, status)


def _optimal_apart(x, arc_g, arc_k, alive, n, f, log_w, cap, comp_k, short_c, log_price,
                  loss: Loss) -> bool:
    """Whether no group would rather draw on a resource the decomposition cut it off from:
    at the price λ of that resource's (scarce) set, the amount the group would hold is not
    above what it has (to 1e-6 of its room). False means a cut was wrong (amounts too far
    apart inside one component for the max flows to resolve) and the answer, while within
    every limit, is not optimal."""
    cut = (~alive & short_c[comp_k[arc_k]]).nonzero()[0]
    if not cut.size:
        return True
    g, lp = arc_g[cut], log_price[comp_k[arc_k[cut]]]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if loss.polynomial:
            m = loss.exponent
            want = cap[g] - n[g] * np.exp((lp - np.log(m) - log_w[g]) / (m - 1.0))
        elif loss.name == "log":
            want = n[g] * np.exp(log_w[g] - lp) - n[g] * (f[g] + loss.param)
        else:
            want = n[g] * ((log_w[g] - lp) - f[g])
    want = np.clip(np.nan_to_num(want, nan=0.0), 0.0, cap[g])
    got = np.bincount(arc_g, weights=x, minlength=len(n))[g]
    return not (want > got + 1e-6 * cap[g]).any()


def verify(x, arc_g, arc_k, cap, b) -> tuple[np.ndarray, str]:
    """Check an allocation before it is returned: finite and ≥ 0, each resource within its
    supply b_k and each group within its room cap_i = n_i (1 − f_i) (coverage ≤ 1), both to
    ``fairalloc.solvers.verify.RTOL`` of the limit. Breaches are scaled back exactly onto their
    limit (status ``"repaired"``); what cannot be repaired raises :class:`SolverFailure` naming
    the groups or resources.

    Parameters
    ----------
    x : numpy.ndarray
        Amount per arc.
    arc_g : numpy.ndarray
        Group code of each arc.
    arc_k : numpy.ndarray
        Resource code of each arc.
    cap : numpy.ndarray
        Room per group, n_i (1 − f_i).
    b : numpy.ndarray
        Supply per resource.

    Returns
    -------
    x : numpy.ndarray
        The amounts, scaled back where they broke a limit.
    status : str
        ``"optimal"``, or ``"repaired"`` when something was scaled back.

    Raises
    ------
    fairalloc.solvers.verify.SolverFailure
        A negative or non-finite amount, or a breach that scaling cannot repair.

    Examples
    --------
    >>> x, status = verify(np.array([0.3, 0.3]), np.array([0, 1]), np.array([0, 0]),
    ...                    np.array([1.0, 1.0]), np.array([0.5]))
    >>> x.tolist(), status
    ([0.25, 0.25], 'repaired')
    """
    x = np.array(x, dtype=np.float64)
    n_g, n_k = len(cap), len(b)
    bad = ~(np.isfinite(x) & (x >= 0))
    if bad.any():
        raise SolverFailure(CAPABILITY, Status.ERROR, "the answer has negative or non-finite "
                            "amounts", "group", np.unique(arc_g[bad]), "amount")
    status = Status.OPTIMAL
    sums = []
    for key, limit, what in ((arc_k, b, "resource"), (arc_g, cap, "group")):
        total = np.bincount(key, weights=x, minlength=len(limit))
        breach = over(total, limit)
        if breach.any():
            x = shrink_keyed(x, key, limit, only=breach, capability=CAPABILITY, what=what)
            status = Status.REPAIRED
        sums.append(total)
    if status == Status.REPAIRED:  # the sums of the scaled amounts
        sums = [np.bincount(arc_k, weights=x, minlength=n_k),
                np.bincount(arc_g, weights=x, minlength=n_g)]
    check(CAPABILITY, status, "resource", "supply", sums[0], b)
    check(CAPABILITY, status, "group", "population", sums[1], cap)
    return x, str(status)


def _refine(x, ag, ak, ids, total, b, comp_g, comp_k, n_comp, allow=None) -> np.ndarray:
    """Correct the integer flows' rounding (each group short of its total, each resource over
    its supply, by at most a unit per arc) with a second max flow on the residual network at
    the residual's own, far finer, scale: sources are the groups' shortfalls and the
    resources' excesses, sinks the resources' spare supply; flows may grow along any arc
    (``ag``, ``ak``: the arcs in use, at positions ``ids`` of ``x``) or shrink back along
    one that carries something. Conservation then holds to float precision however far the
    amounts of one component are apart; what still does not fit is a remainder about 2^-60
    of the first one, topped up by :func:`_top_up`.

    ``allow`` (per group) lets each group end up to that much below its total: more sinks,
    through which a resource's excess leaves by way of the groups it could be shifted to
    (used after the top-up, with the float noise of each group's own total)."""
    n_g, n_k = len(total), len(b)
    xa = x[ids]
    used = np.bincount(ak, weights=xa, minlength=n_k)
    e = np.maximum(used - b, 0.0)
    if not (e > NOISE * b).any():  # at most rounding over any supply: trimmed by the caller
        return x
    r = np.maximum(total - np.bincount(ag, weights=xa, minlength=n_g), 0.0)
    spare = np.maximum(b - used, 0.0)
    need = np.bincount(comp_g, weights=r, minlength=n_comp) + np.bincount(
        comp_k, weights=e, minlength=n_comp)
    scale = _scales(need, int((need > 0).sum()))
    sg, sk = scale[comp_g], scale[comp_k]
    big = float(2**62)
    flow = max_flow.SimpleMaxFlow()
    src, snk = n_g + n_k, n_g + n_k + 1
    m = len(ag)
    tails = [np.full(n_g, src), np.full(n_k, src), ag, n_g + ak, n_g + np.arange(n_k)]
    heads = [np.arange(n_g), n_g + np.arange(n_k), n_g + ak, ag, np.full(n_k, snk)]
    caps = [np.floor(r * sg), np.minimum(np.ceil(e * sk), big), np.full(m, big),
            np.minimum(np.floor(xa * sg[ag]), big), np.minimum(np.floor(spare * sk), big)]
    if allow is not None:
        tails.append(np.arange(n_g))
        heads.append(np.full(n_g, snk))
        caps.append(np.minimum(np.floor(allow * sg), big))
    tails, heads = np.concatenate(tails), np.concatenate(heads)
    caps = np.concatenate(caps).astype(np.int64)
    arc = flow.add_arcs_with_capacity(tails.astype(np.int64), heads.astype(np.int64), caps)
    if flow.solve(src, snk) != flow.OPTIMAL:
        raise SolverFailure(CAPABILITY, Status.ERROR, "the max flow failed refining the answer")
    start = n_g + n_k
    more = flow.flows(arc[start:start + m]).astype(float)
    less = flow.flows(arc[start + m:start + 2 * m]).astype(float)
    x = x.copy()
    x[ids] = np.maximum(xa + (more - less) / sg[ag], 0.0)
    return x


def _top_up(x: np.ndarray, arc_g: np.ndarray, total: np.ndarray,
            alive: np.ndarray) -> np.ndarray:
    """Spread each group's rounding remainder (total − Σ x, under one unit per arc) over its
    arcs in use in proportion to their flows (evenly when none carries any)."""
    n_g = len(total)
    got = np.bincount(arc_g, weights=x, minlength=n_g)
    arcs_of = np.bincount(arc_g, weights=alive, minlength=n_g)
    rest = np.maximum(total - got, 0.0)
    got_a = got[arc_g]
    some = got_a > 0
    share = np.where(some, x / np.where(some, got_a, 1.0), alive / np.maximum(arcs_of[arc_g], 1))
    return x + rest[arc_g] * share


def complaints(eg, ek, n, w, y, x, tol: float):
    """Every justified complaint against amounts ``x`` on eligible pairs (eg, ek), given the
    coverages ``y``: arrays (complainant, other, resource, amount, higher_weight), sorted.

    Group c may complain about group o over resource k when both are eligible for k, o
    receives more than ``tol`` × its population of k, y_c < 1 − tol, and w_c > w_o with
    y_c ≤ y_o + tol, or w_c ≥ w_o with y_c < y_o − tol. Receivers are screened first with the
    least coverage among groups (below 1) of weight > w and of weight ≥ w on each resource:
    prefix minima over the eligible rows sorted by resource and weight descending. Only
    screened receivers are paired with their resource's groups.

    Parameters
    ----------
    eg : numpy.ndarray
        Group code of each eligible pair.
    ek : numpy.ndarray
        Resource code of each eligible pair.
    n : numpy.ndarray
        Population per group.
    w : numpy.ndarray
        Weight per group.
    y : numpy.ndarray
        Coverage per group.
    x : numpy.ndarray
        Amount on each eligible pair.
    tol : float
        Slack of the comparisons (see above).

    Returns
    -------
    complainant : numpy.ndarray
        Group codes of the complainants.
    other : numpy.ndarray
        Group codes of the groups complained about.
    resource : numpy.ndarray
        Resource codes of the complaints.
    amount : numpy.ndarray
        What the other group receives of that resource.
    higher_weight : numpy.ndarray
        True where the complaint is by higher weight, False by lower coverage.
    """
    m = len(eg)
    order = np.lexsort((-w[eg], ek))  # by resource, then weight descending
    ks, ws = ek[order], w[eg][order]
    open_y = np.where(y[eg] < 1.0 - tol, y[eg], np.inf)[order]
    upto = _prefix_min_by_segment(open_y, ks)
    new_k = np.r_[True, ks[1:] != ks[:-1]] if m else np.zeros(0, bool)
    new_block = new_k | (np.r_[True, ws[1:] != ws[:-1]] if m else new_k)
    block = np.cumsum(new_block) - 1
    first = np.flatnonzero(new_block)
    last = np.r_[first[1:] - 1, m - 1] if m else first
    ge, gt = np.empty(m), np.empty(m)
    ge[order] = upto[last[block]]  # weights ≥ this block's
    gt[order] = np.where(new_k[first], np.inf, upto[np.maximum(first - 1, 0)])[block]  # >
    yr = y[eg]
    suspect = np.flatnonzero((x > tol * n[eg]) & ((gt <= yr + tol) | (ge < yr - tol)))
    # pair each suspect receiver with every row of its resource: rows sorted by resource
    by_k = np.argsort(ek, kind="stable")
    start = np.searchsorted(ek[by_k], ek[suspect], side="left")
    count = np.searchsorted(ek[by_k], ek[suspect], side="right") - start
    recv = np.repeat(suspect, count)
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    c, o = eg[by_k[np.repeat(start, count) + offset]], eg[recv]
    higher = (w[c] > w[o]) & (y[c] <= y[o] + tol)
    lower = (w[c] >= w[o]) & (y[c] < y[o] - tol)
    keep = np.flatnonzero((c != o) & (y[c] < 1.0 - tol) & (higher | lower))
    keep = keep[np.lexsort((ek[recv][keep], o[keep], c[keep]))]
    return c[keep], o[keep], ek[recv][keep], x[recv][keep], higher[keep]


def _prefix_min_by_segment(v: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running minimum of ``v`` restarting wherever the sorted ``seg`` changes, exactly: values
    become their ranks, and each later segment is shifted below every earlier one."""
    if not len(v):
        return v
    uniq, rank = np.unique(v, return_inverse=True)
    s = np.cumsum(np.r_[True, seg[1:] != seg[:-1]]) - 1
    shift = (s[-1] - s) * (len(uniq) + 1)
    return uniq[np.minimum.accumulate(rank + shift) - shift]
