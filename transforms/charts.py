"""Charts of every capability's result: one function each, a :class:`matplotlib.figure.Figure` out.

Each function takes what the transform returned (plus, where the result alone cannot say it,
the input table the chart compares against: demand, capacity, ratios) and draws on a new
``Figure`` with the Agg canvas: no pyplot state, no display, safe in threads and in Dagster
steps. The same figures are shown by the pipeline (asset metadata), written by the command
line's ``--plot`` and returned in a notebook by :func:`plot`.

Legible at any size: category bars show the :data:`TOP` largest categories and one
``other (n)`` bar summing the rest (additive amounts), or the largest only with the number left
out in the title (prices, rates); distributions are histograms over fixed bins; scatter plots
draw a fixed-size deterministic sample. Every aggregation is vectorised (pandas group-by on the
index levels, numpy histograms), so a chart of a 10^6-row result is as quick to draw as one of
ten rows (``benchmarks/bench_charts.py`` measures it).

Shares within 1e-9 of a bin edge count in the bin below (a utilisation of
1.0000000000000075 is "90–100 %", not "over 100 %"): float noise is ignored in display only,
the data are never changed.

Examples
--------
>>> import fairalloc as fa
>>> fig = fa.plot(fa.apportion({"a": 3, "b": 1}, 8))
>>> type(fig).__name__, fig.axes[0].get_title()
('Figure', 'portions per key')
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from fairalloc.transforms._tables import keyed_table
from fairalloc.transforms.errors import InputTypeError

#: Category bars drawn before the rest is summed into one ``other`` bar.
TOP = 12
#: Points drawn at most by a scatter plot (a deterministic sample of larger results).
SAMPLE = 5_000
#: Relative float noise ignored when a share is put in a bin (display only).
NOISE = 1e-9

_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#4C72B0", "#DD8452", "#55A868", "#C44E52", "#B8B8B8"
_BINDING_COLOURS = {"full": _GREEN, "entitlement": _ORANGE, "capacity": _BLUE}


# --- shared helpers -------------------------------------------------------------------------------

def _figure(width: float, height: float) -> Figure:
    # fixed margins: a layout engine would draw every figure twice (measured: 2× slower)
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=1.5 / width, right=1 - 0.3 / width, bottom=0.8 / height,
                        top=1 - 0.85 / height, wspace=0.45)
    return fig


def png_bytes(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (Agg canvas).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        A chart of this module (or any figure).
    dpi : int, default 100
        Resolution.

    Returns
    -------
    bytes
        The PNG file's contents.

    Examples
    --------
    >>> png_bytes(_figure(4, 3))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def key_label(key: Any) -> str:
    """A key as people read it: the parts of a tuple joined by ``" / "``.

    Parameters
    ----------
    key : object
        A scalar key or a tuple of key parts.

    Returns
    -------
    str
        ``"cocoa / 2024 / T020"`` for ``("cocoa", 2024, "T020")``.

    Examples
    --------
    >>> key_label(("cocoa", 2024, "T020")), key_label(7)
    ('cocoa / 2024 / T020', '7')
    """
    if isinstance(key, tuple):
        return " / ".join(map(str, key))
    return str(key)


def _labels(index: pd.Index) -> list[str]:
    """The labels of a (small, already aggregated) index."""
    return [key_label(k) for k in index]


def _compact(value: float, _pos: Any = None) -> str:
    """Axis numbers: 1.2M, 350k, 12.5."""
    v = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _top(frame: pd.DataFrame, by: str, n: int, noun: str, labels: Any = None, *,
         rest: bool = True) -> pd.DataFrame:
    """The ``n`` rows largest in column ``by`` (largest first) and (with ``rest``) one
    ``other`` row summing the rest, labelled by the count it holds. Rows are labelled by
    ``labels`` (positionally; default the frame's index), of which only the ``n`` shown are
    turned into text."""
    values = frame[by].to_numpy(dtype=float)
    keys = frame.index if labels is None else labels
    if len(frame) <= n:
        order = np.argsort(-values, kind="stable")
    else:
        head = np.argpartition(-values, n - 1)[:n]
        order = head[np.argsort(-values[head], kind="stable")]
    numeric = frame.select_dtypes("number")
    shown = pd.DataFrame(numeric.to_numpy(dtype=float)[order], columns=numeric.columns,
                         index=[key_label(k) for k in np.asarray(keys, dtype=object)[order]])
    if rest and len(frame) > n:
        others = numeric.to_numpy(dtype=float).sum(axis=0) - shown.to_numpy().sum(axis=0)
        shown.loc[f"other ({len(frame) - n:,} {noun})"] = others
    return shown


def _shares_histogram(ax, shares: np.ndarray, what: str, colour: str, *,
                      over: bool = False) -> None:
    """Bars of the share of items in each tenth of [0, 1] (plus "over 100 %" when ``over``)."""
    edges = np.linspace(0.0, 1.0, 11)
    s = np.asarray(shares, dtype=float)
    s = s[np.isfinite(s)]
    # a share within NOISE above an edge belongs to the bin below (display only)
    bins = np.clip(np.ceil(s * 10 * (1 - NOISE)) - 1, 0, 10).astype(np.int64)
    bins[s <= NOISE] = 0
    if not over:
        bins = np.minimum(bins, 9)
    counts = np.bincount(bins, minlength=11 if over else 10)
    labels = [f"{int(a * 100)}–{int(b * 100)}" for a, b in zip(edges[:-1], edges[1:],
                                                                 strict=True)]
    if over:
        labels.append(">100")
    share = counts / max(len(s), 1)
    ax.bar(range(len(counts)), share, color=colour, width=0.85)
    ax.set_xticks(range(len(counts)), labels, rotation=45, ha="right", fontsize=8)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel(f"{what} (%)")
    ax.set_ylabel(f"share of {len(s):,} items")


def _barh(ax, labels: Sequence[str]) -> np.ndarray:
    y = np.arange(len(labels))
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()  # largest first, from the top
    ax.xaxis.set_major_formatter(FuncFormatter(_compact))
    return y


def _fit_other(ax, shown: pd.DataFrame, extent: np.ndarray) -> None:
    """When the ``other`` bar (last row) dwarfs the bars shown, cut the axis at the shown
    bars and write the other bar's length on it, so the top N stay readable."""
    if len(shown) < 2 or not str(shown.index[-1]).startswith("other ("):
        return
    largest = float(np.max(extent[:-1]))
    if largest > 0 and extent[-1] > 2 * largest:
        ax.set_xlim(0, 1.3 * largest)
        ax.text(1.3 * largest * 0.98, len(shown) - 1, f"{_compact(extent[-1])} ▸", ha="right",
                va="center", fontsize=8, color="black",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})


def _legend(ax, **kw: Any) -> None:
    """The legend in one row above the plot area, under the title (never over the bars)."""
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, fontsize=8, frameon=False,
              borderaxespad=0.2, **kw)


def _title(ax, text: str) -> None:
    ax.set_title(text, pad=20)


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _sample(n: int, size: int = SAMPLE) -> np.ndarray:
    """Evenly spaced row numbers: at most ``size`` of ``n`` (all when fewer)."""
    if n <= size:
        return np.arange(n)
    return np.linspace(0, n - 1, size).astype(np.int64)


def _status(report: Any) -> str:
    return "" if report is None else f" — status {report.status}"


# --- sourcing -------------------------------------------------------------------------------------

def _sourcing_frame(result: Any) -> tuple[pd.Series, pd.Series, Any]:
    """Source and sink volumes (both Series on the match index) and the report, from what
    ``direct_sourcing`` / ``proportional_sourcing`` return or the stored table."""
    if isinstance(result, tuple) and len(result) == 2:
        src, snk = result
    elif isinstance(result, pd.Series):
        src = snk = result
    elif isinstance(result, pd.DataFrame) and {"source_volume", "sink_volume"} <= set(result):
        src, snk = result["source_volume"], result["sink_volume"]
    elif isinstance(result, pd.DataFrame) and "volume" in result:
        src = snk = result["volume"]
    else:
        raise InputTypeError("sourcing_chart: expected what direct_sourcing or "
                             "proportional_sourcing returns (or its stored table), not "
                             f"{type(result).__name__}")
    names = list(src.index.names)
    if len(names) < 2 or names[-2:] != ["source", "sink"]:
        raise InputTypeError("sourcing_chart: volumes must be indexed by (*by, source, sink)",
                             names)
    return src, snk, src.attrs.get("report")


def _level_sums(values: pd.Series, names: list[str], n_by: int) -> pl.DataFrame:
    """Sums of ``values`` per combination of the index levels ``names`` (columns ``label`` of
    the combination, ``group`` of its first ``n_by`` parts, ``value``).

    Works on the MultiIndex codes (``bincount``), never on the labels of the rows, so 10^6
    rows cost about as much as the number of distinct combinations.
    """
    index = values.index
    pos = [index.names.index(n) for n in names]
    codes = [np.asarray(index.codes[p], dtype=np.int64) for p in pos]
    sizes = [len(index.levels[p]) for p in pos]
    flat = np.ravel_multi_index(codes, sizes) if len(pos) > 1 else codes[0]
    weights = values.to_numpy(dtype=float)
    if int(np.prod(sizes, dtype=np.float64)) <= 4 * len(flat) + 1024:
        count = np.bincount(flat, minlength=int(np.prod(sizes)))
        present = np.flatnonzero(count)
        sums = np.bincount(flat, weights=weights, minlength=len(count))[present]
    else:
        present, inverse = np.unique(flat, return_inverse=True)
        sums = np.bincount(inverse, weights=weights, minlength=len(present))
    parts = np.unravel_index(present, sizes)
    text = [pl.Series(np.asarray(index.levels[p].astype(str), dtype=object)).cast(pl.String)
            .gather(part) for p, part in zip(pos, parts, strict=True)]
    frame = pl.DataFrame({f"k{i}": t for i, t in enumerate(text)})
    return frame.select(
        pl.concat_str(pl.all(), separator=" / ").alias("label"),
        _group_expr([f"k{i}" for i in range(n_by)]),
        pl.Series("value", sums))


def _group_expr(columns: list[str]) -> pl.Expr:
    if not columns:
        return pl.lit("all").alias("group")
    return pl.concat_str([pl.col(c).cast(pl.String) for c in columns],
                         separator=" / ").alias("group")


def _label_column(index: pd.Index) -> pl.Series:
    """Vectorised ``key_label`` of every entry of ``index`` (any size)."""
    if isinstance(index, pd.MultiIndex):
        parts = [pl.Series(index.get_level_values(i).astype(str)) for i in range(index.nlevels)]
        return pl.DataFrame(parts).select(pl.concat_str(pl.all(), separator=" / ")).to_series()
    return pl.Series(np.asarray(index.astype(str), dtype=object)).cast(pl.String)


def _input_labels(table: Any, keys: list[str], value: str, what: str,
                  n_by: int = 0) -> pl.DataFrame:
    """An input table (any form the transforms accept) as label, group → value."""
    frame = keyed_table(table, keys, value, what=what).frame
    label = pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator=" / ")
    return frame.select(label.alias("label"), _group_expr(keys[:n_by]),
                        pl.col(value).cast(pl.Float64))


def sourcing_chart(result: Any, sink_demand: Any = None, source_capacity: Any = None, *,
                   top: int = TOP) -> Figure:
    """Sourcing: per group demand = allocated + unmet (stacked bars), and how full sources
    and sinks are.

    Parameters
    ----------
    result : pandas.Series, tuple of pandas.Series or pandas.DataFrame
        What :func:`~fairalloc.transforms.sourcing.direct_sourcing` (the pair) or
        :func:`~fairalloc.transforms.sourcing.proportional_sourcing` returns, or the stored
        table (columns ``source_volume`` and ``sink_volume``, or ``volume``).
    sink_demand : table, optional
        The demand given to the transform: with it, unmet demand per group and the sinks'
        fulfilment (received / demand) are drawn.
    source_capacity : table, optional
        The capacity given to the transform: with it, the sources' utilisation
        (allocated / capacity) is drawn.
    top : int, default :data:`TOP`
        Groups drawn before the rest is summed into one ``other`` bar.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: volume per group, source utilisation, sink fulfilment.

    Examples
    --------
    >>> from fairalloc.transforms.sourcing import direct_sourcing
    >>> res = direct_sourcing([("A", "X"), ("B", "X")], {"A": 5, "B": 5}, {"X": 20})
    >>> fig = sourcing_chart(res, {"X": 20}, {"A": 5, "B": 5})
    >>> [float(p.get_width()) for p in fig.axes[0].patches]
    [10.0, 10.0]
    """
    src, snk, report = _sourcing_frame(result)
    names = list(src.index.names)
    by, source_keys, sink_keys = names[:-2], names[:-1], [*names[:-2], "sink"]
    fig = _figure(15, 5)
    grid = fig.add_gridspec(1, 3, width_ratios=[1.6, 1, 1])
    ax_groups, ax_src, ax_snk = (fig.add_subplot(grid[0, i]) for i in range(3))

    received = _level_sums(snk, sink_keys, len(by))
    if sink_demand is not None:
        demand = _input_labels(sink_demand, sink_keys, "demand", "sink_demand", len(by))
        sinks = demand.join(received.select("label", "value"), on="label", how="left")
        sinks = sinks.with_columns(pl.col("value").fill_null(0.0))
    else:
        sinks = received.with_columns(pl.lit(None, pl.Float64).alias("demand"))
    groups = sinks.group_by("group", maintain_order=True).agg(pl.col("value").sum(),
                                                              pl.col("demand").sum())
    table = pd.DataFrame({"allocated": groups["value"].to_numpy(),
                          "demand": groups["demand"].to_numpy()},
                         index=groups["group"].to_list())
    table["unmet"] = np.maximum(table["demand"] - table["allocated"], 0.0)
    shown = _top(table, "demand" if sink_demand is not None else "allocated", top, "groups")
    y = _barh(ax_groups, list(shown.index))
    ax_groups.barh(y, shown["allocated"], color=_BLUE, label="allocated")
    if sink_demand is not None:
        ax_groups.barh(y, shown["unmet"], left=shown["allocated"], color=_ORANGE,
                       label="unmet demand")
        _title(ax_groups, "demand per group = allocated + unmet")
    else:
        _title(ax_groups, "allocated per group")
    _fit_other(ax_groups, shown, shown[["allocated", "demand"]].max(axis=1).to_numpy()
               if sink_demand is not None else shown["allocated"].to_numpy())
    ax_groups.set_xlabel("volume (sink units)")
    _legend(ax_groups)

    if source_capacity is not None:
        capacity = _input_labels(source_capacity, source_keys, "capacity", "source_capacity")
        allocated = _level_sums(src, source_keys, 0).select("label", "value")
        used = capacity.join(allocated, on="label", how="left").filter(
            pl.col("capacity") > 0)
        share = (used["value"].fill_null(0.0) / used["capacity"]).to_numpy()
        _shares_histogram(ax_src, share, "allocated / capacity", _BLUE, over=True)
        ax_src.set_ylabel(f"share of {len(share):,} sources")
        _title(ax_src, "source utilisation")
    else:
        _empty(ax_src, "source utilisation:\npass source_capacity")
    if sink_demand is not None:
        positive = sinks.filter(pl.col("demand") > 0)
        share = (positive["value"] / positive["demand"]).to_numpy()
        _shares_histogram(ax_snk, share, "received / demand", _GREEN)
        ax_snk.set_ylabel(f"share of {len(share):,} sinks")
        _title(ax_snk, "sink fulfilment")
    else:
        _empty(ax_snk, "sink fulfilment:\npass sink_demand")
    method = f"{report.method} sourcing" if report is not None else "sourcing"
    fig.suptitle(f"{method}: {len(src):,} matches{_status(report)}")
    return fig


# --- periods --------------------------------------------------------------------------------------

def periods_chart(result: Any, *, top: int = TOP) -> Figure:
    """Periods: per period capacity against step-1 and step-2 use, and per account λ against
    its entitlement cap, coloured by binding reason.

    Parameters
    ----------
    result : PeriodAllocation
        What :func:`~fairalloc.transforms.periods.allocate_periods` or
        :func:`~fairalloc.transforms.periods.allocate_period_groups` returns.
    top : int, default :data:`TOP`
        Periods drawn (largest capacity first) before the rest is summed into ``other``.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: use per period (stacked bars, capacity marked), λ against cap.

    Examples
    --------
    >>> import pandas as pd
    >>> from fairalloc.transforms.periods import allocate_periods
    >>> req = pd.DataFrame({"account": ["A", "B"], "period": [1, 1], "request": [9.0, 9.0]})
    >>> fig = periods_chart(allocate_periods(req, {"A": 1, "B": 1}, {1: 10.0}))
    >>> [round(float(p.get_width()), 6) for p in fig.axes[0].patches[:1]]
    [10.0]
    """
    for attr in ("allocation", "accounts", "periods"):
        if not isinstance(getattr(result, attr, None), pd.DataFrame):
            raise InputTypeError("periods_chart: expected a PeriodAllocation, not "
                                 f"{type(result).__name__}")
    fig = _figure(14, 5.5)
    ax_use, ax_lam = fig.subplots(1, 2, width_ratios=[1.3, 1])
    keys = list(result.periods.index.names)
    steps = result.allocation[["step1", "step2"]].groupby(level=keys, sort=False).sum()
    table = result.periods[["capacity"]].join(steps)
    table.index = _labels(table.index)
    shown = _top(table, "capacity", top, "periods")
    y = _barh(ax_use, list(shown.index))
    ax_use.barh(y, shown["step1"], color=_BLUE, label="step 1 (entitlement)")
    ax_use.barh(y, shown["step2"], left=shown["step1"], color=_GREEN, label="step 2 (leftovers)")
    ax_use.scatter(shown["capacity"], y, marker="|", s=400, color="black", zorder=3,
                   label="capacity")
    _fit_other(ax_use, shown, np.maximum(shown["capacity"], shown["step1"] + shown["step2"])
               .to_numpy())
    ax_use.set_xlabel("amount per period (capacity units)")
    _title(ax_use, "use against capacity per period")
    _legend(ax_use)

    acc = result.accounts
    rows = _sample(len(acc))
    cap = acc["u_cap"].to_numpy(dtype=float)[rows]
    lam = acc["lambda"].to_numpy(dtype=float)[rows]
    binding = acc["binding"].to_numpy()
    counts = pd.Series(binding).value_counts()
    for reason, colour in _BINDING_COLOURS.items():
        mine = binding[rows] == reason
        ax_lam.scatter(cap[mine], lam[mine], s=8, alpha=0.6, color=colour, edgecolors="none",
                       rasterized=True,
                       label=f"{reason} ({int(counts.get(reason, 0)):,})")
    top_cap = float(np.nanmax(np.minimum(cap, 1.0), initial=1.0))
    ax_lam.plot([0, top_cap], [0, top_cap], ls="--", color="0.5", lw=1, label="λ = cap")
    ax_lam.set_xlabel("entitlement cap (share of request)")
    ax_lam.set_ylabel("λ (share of request received in step 1)")
    shown_n = f"{len(rows):,} of {len(acc):,}" if len(rows) < len(acc) else f"{len(acc):,}"
    _title(ax_lam, f"λ against cap, {shown_n} accounts")
    ax_lam.legend(title="binding", fontsize=8, loc="upper left", markerscale=3)
    report = getattr(result, "report", None)
    fig.suptitle(f"period allocation: {len(acc):,} accounts × {len(result.periods):,} "
                 f"periods{_status(report)}")
    return fig


def lottery_chart(draw: pd.DataFrame, *, top: int = TOP) -> Figure:
    """Seat lottery: units won against units expected per period.

    Parameters
    ----------
    draw : pandas.DataFrame
        What :func:`~fairalloc.transforms.periods.lottery` (or ``lottery_groups``) returns:
        indexed by (``*by``, account, period), columns ``probability`` and ``won``.
    top : int, default :data:`TOP`
        Periods drawn before the rest is summed into ``other``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: bars of units won, markers of units expected, per period.

    Examples
    --------
    >>> import pandas as pd
    >>> draw = pd.DataFrame({"probability": [0.5, 0.5], "won": [1, 0]},
    ...     index=pd.MultiIndex.from_tuples([("A", 1), ("B", 1)], names=["account", "period"]))
    >>> [float(p.get_width()) for p in lottery_chart(draw).axes[0].patches]
    [1.0]
    """
    names = [n for n in draw.index.names if n != "account"]
    sums = draw[["probability", "won"]].astype(float).groupby(level=names, sort=False).sum()
    sums.index = _labels(sums.index)
    shown = _top(sums, "probability", top, "periods")
    fig = _figure(9, 5)
    ax = fig.subplots()
    y = _barh(ax, list(shown.index))
    ax.barh(y, shown["won"], color=_BLUE, label="won")
    ax.scatter(shown["probability"], y, marker="|", s=400, color="black", zorder=3,
               label="expected (Σ probability)")
    _fit_other(ax, shown, shown[["won", "probability"]].max(axis=1).to_numpy())
    ax.set_xlabel("units (whole seats)")
    _title(ax, "lottery: won against expected per period")
    _legend(ax)
    return fig


# --- assignment -----------------------------------------------------------------------------------

def _rank_counts(allocation: pd.DataFrame, shown: int) -> pd.Series:
    """Users per rank obtained (1st … ``shown``-th, then ``shown+1``+), unlisted and none."""
    item = allocation["item"]
    rank = allocation["rank"]
    placed = item.notna().to_numpy()
    listed = rank.notna().to_numpy()
    ranks = rank.to_numpy(dtype=float, na_value=np.nan)[listed].astype(np.int64)
    shown = int(min(shown, max(ranks.max(initial=0), 1)))  # no empty bars past the worst rank
    counts = np.bincount(np.minimum(ranks, shown + 1), minlength=shown + 2)[1:]
    labels = [_ordinal(k) for k in range(1, shown + 1)] + [f"{_ordinal(shown + 1)}+"]
    out = pd.Series(counts, index=labels)
    if not counts[-1]:
        out = out.iloc[:-1]
    extra = pd.Series({"unlisted": int((placed & ~listed).sum()), "none": int((~placed).sum())})
    return pd.concat([out, extra[(extra.index == "none") | (extra > 0)]])


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def assignment_chart(result: Any, capacities: Any = None, *, top: int = TOP,
                     ranks: int = 9) -> Figure:
    """Assignment: how many users got their 1st, 2nd, … choice and how many none (per
    strategy when several are given), and how full the items are.

    Parameters
    ----------
    result : PreferenceAssignment, pandas.DataFrame or mapping
        What :func:`~fairalloc.transforms.assignment.assign_preferences` returns, its
        ``allocation`` table (indexed by user, columns ``item`` and ``rank``), or a mapping
        ``{strategy name: result}`` to compare strategies side by side.
    capacities : table, optional
        The capacities given to the transform: with them the right panel shows fill rates
        (assigned / capacity); without, users per item.
    top : int, default :data:`TOP`
        Items drawn before the rest is summed into ``other`` (or the fill rates become a
        histogram).
    ranks : int, default 9
        Ranks shown one by one; worse ranks are summed into one bar.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels: users per rank obtained, item fill.

    Examples
    --------
    >>> import pandas as pd
    >>> alloc = pd.DataFrame({"item": ["X", "Y", None], "rank": pd.array([1, 2, None], "Int64")},
    ...                      index=pd.Index(["a", "b", "c"], name="user"))
    >>> fig = assignment_chart(alloc, {"X": 1, "Y": 2})
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['1st', '2nd', 'none']
    """
    runs = dict(result) if isinstance(result, Mapping) else {None: result}
    tables: dict[str, pd.DataFrame] = {}
    for name, res in runs.items():  # a loop over strategies, not rows
        table = getattr(res, "allocation", res)
        if not isinstance(table, pd.DataFrame) or not {"item", "rank"} <= set(table.columns):
            raise InputTypeError("assignment_chart: expected a PreferenceAssignment or its "
                                 f"allocation table, not {type(res).__name__}")
        report = getattr(res, "report", None)
        tables[name or (report.strategy if report is not None else "assignment")] = table
    fig = _figure(14, 5)
    ax_rank, ax_fill = fig.subplots(1, 2)
    counts = pd.DataFrame({n: _rank_counts(t, ranks) for n, t in tables.items()}).fillna(0)
    order = [i for i in counts.index if i not in ("unlisted", "none")]
    counts = counts.loc[order + [i for i in ("unlisted", "none") if i in counts.index]]
    width = 0.8 / len(tables)
    x = np.arange(len(counts))
    colours = [_BLUE, _ORANGE, _GREEN, _RED, "#8172B3", "#937860"]
    for j, name in enumerate(counts.columns):
        bars = ax_rank.bar(x + (j - (len(tables) - 1) / 2) * width, counts[name], width=width,
                           color=colours[j % len(colours)], label=name)
        if len(tables) == 1:  # the small counts stay readable next to a tall first bar
            ax_rank.bar_label(bars, labels=[_compact(v) for v in counts[name]], fontsize=7)
    ax_rank.set_xticks(x, list(counts.index), fontsize=8)
    ax_rank.yaxis.set_major_formatter(FuncFormatter(_compact))
    ax_rank.set_xlabel("choice obtained")
    ax_rank.set_ylabel("users")
    _title(ax_rank, "users per choice obtained")
    if len(tables) > 1:
        _legend(ax_rank)

    first = next(iter(tables.values()))
    # a result of assign_preferences(by=...) is indexed (*by, user): items are per group
    levels = [str(n) for n in first.index.names[:-1]]
    if levels:
        assigned = first.reset_index().groupby([*levels, "item"], dropna=True).size()
    else:
        assigned = first["item"].value_counts(dropna=True)
    if capacities is not None:
        from fairalloc.transforms.assignment import _capacities  # the transform's own reading

        caps = _capacities(capacities, levels).to_pandas().set_index(
            [*levels, "item"])["capacity"]
        limited = caps[caps > 0]
        fill = assigned.reindex(limited.index, fill_value=0) / limited
        if len(fill) <= top:
            fill = fill.sort_values(ascending=False, kind="stable")
            y = _barh(ax_fill, _labels(fill.index))
            ax_fill.barh(y, fill.to_numpy(), color=_BLUE)
            ax_fill.xaxis.set_major_formatter(PercentFormatter(1.0))
            ax_fill.set_xlabel("assigned / capacity")
        else:
            _shares_histogram(ax_fill, fill.to_numpy(), "assigned / capacity", _BLUE)
            ax_fill.set_ylabel(f"share of {len(fill):,} items")
        unlimited = int((caps < 0).sum() + caps.isna().sum())
        closed = int((caps == 0).sum())
        left_out = [f"{n:,} {what}" for n, what in ((unlimited, "unlimited"),
                                                     (closed, "of capacity 0")) if n]
        more = f" ({', '.join(left_out)} not shown)" if left_out else ""
        _title(ax_fill, f"item fill rate{more}")
    else:
        shown = _top(assigned.rename("users").to_frame(), "users", top, "items")
        y = _barh(ax_fill, _labels(shown.index))
        ax_fill.barh(y, shown["users"], color=_BLUE)
        _fit_other(ax_fill, shown, shown["users"].to_numpy())
        ax_fill.set_xlabel("users assigned")
        _title(ax_fill, "users per item")
    fig.suptitle(f"assignment of {len(first):,} users")
    return fig


# --- coverage -------------------------------------------------------------------------------------

def coverage_chart(result: Any, audit: pd.DataFrame | None = None, *, top: int = TOP) -> Figure:
    """Coverage: before and after per weight class, resource use against supply (scarce
    ones marked) and the price (marginal value) per resource.

    Parameters
    ----------
    result : CoverageAllocation
        What :func:`~fairalloc.transforms.coverage.allocate_coverage` returns.
    audit : pandas.DataFrame, optional
        What :func:`~fairalloc.transforms.coverage.audit_fairness` returned for it: the
        number of justified complaints is shown in the title.
    top : int, default :data:`TOP`
        Weight classes and resources drawn before the rest is summed into ``other`` (prices:
        the highest only).

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: coverage by weight, use against supply, price per resource.

    Examples
    --------
    >>> import pandas as pd
    >>> from fairalloc.transforms.coverage import allocate_coverage
    >>> groups = pd.DataFrame({"group": ["a", "b"], "population": [100, 300],
    ...                        "prior": [0.0, 0.0], "weight": [3.0, 1.0]})
    >>> res = allocate_coverage(groups, groups[["group"]].assign(resource="R"), {"R": 150})
    >>> len(coverage_chart(res).axes)
    3
    """
    groups = getattr(result, "groups", None)
    resources = getattr(result, "resources", None)
    if not isinstance(groups, pd.DataFrame) or not isinstance(resources, pd.DataFrame):
        raise InputTypeError("coverage_chart: expected a CoverageAllocation, not "
                             f"{type(result).__name__}")
    fig = _figure(16, 5)
    ax_cov, ax_use, ax_price = fig.subplots(1, 3, width_ratios=[1.2, 1, 1])

    # coverage before / after, population-weighted, per weight class
    n = groups["population"].to_numpy(dtype=float)
    frame = pd.DataFrame({"weight": groups["weight"].to_numpy(dtype=float), "n": n,
                          "before": n * groups["prior"].to_numpy(dtype=float),
                          "after": n * groups["coverage"].to_numpy(dtype=float)})
    classes = frame.groupby("weight").sum()
    if len(classes) > top:  # many distinct weights: equal-count bins of weight
        edges = np.unique(np.quantile(frame["weight"], np.linspace(0, 1, top + 1)))
        cut = np.clip(np.searchsorted(edges, frame["weight"], side="right") - 1, 0,
                      len(edges) - 2)
        classes = frame.groupby(cut).sum()
        classes.index = [f"{_compact(edges[i])}–{_compact(edges[i + 1])}" for i in classes.index]
    else:
        classes.index = [_compact(w) for w in classes.index]
    x = np.arange(len(classes))
    ax_cov.bar(x - 0.2, classes["before"] / classes["n"], width=0.4, color=_GREY,
               label="before (prior)")
    ax_cov.bar(x + 0.2, classes["after"] / classes["n"], width=0.4, color=_BLUE, label="after")
    ax_cov.set_xticks(x, list(classes.index), fontsize=8)
    ax_cov.set_ylim(0, 1.05)
    ax_cov.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax_cov.set_xlabel("group weight (higher = served first)")
    ax_cov.set_ylabel("coverage (population-weighted)")
    _title(ax_cov, f"coverage by weight, {len(groups):,} groups")
    _legend(ax_cov)

    use = pd.DataFrame({"supply": resources["supply"].to_numpy(dtype=float),
                        "used": resources["used"].to_numpy(dtype=float),
                        "scarce": resources["scarce"].to_numpy(dtype=float),
                        "price": resources["marginal_value"].to_numpy(dtype=float)})
    shown = _top(use, "supply", top, "resources", labels=resources.index)
    y = _barh(ax_use, list(shown.index))
    ax_use.barh(y, shown["supply"], color=_GREY, label="supply")
    scarce = shown["scarce"].to_numpy() > 0
    if len(resources) > top:
        scarce[-1] = False  # the "other" bar mixes both kinds
    for mine, colour, label in ((~scarce, _BLUE, "used"), (scarce, _RED, "used up (scarce)")):
        if mine.any():
            ax_use.barh(y[mine], shown["used"].to_numpy()[mine], height=0.5, color=colour,
                        label=label)
    _fit_other(ax_use, shown, np.maximum(shown["supply"], shown["used"]).to_numpy())
    ax_use.set_xlabel("amount (resource units)")
    _title(ax_use, f"use against supply, {int(resources['scarce'].sum()):,} scarce")
    _legend(ax_use)

    price = _top(use, "price", top, "resources", labels=resources.index, rest=False)
    y = _barh(ax_price, list(price.index))
    ax_price.barh(y, price["price"], color=np.where(price["scarce"] > 0, _RED, _GREY))
    ax_price.set_xlabel("marginal value (objective per unit)")
    hidden = f"top {top} of {len(resources):,}; " if len(resources) > top else ""
    _title(ax_price, f"price per resource\n({hidden}red = scarce)")
    report = getattr(result, "report", None)
    title = f"fair coverage ({report.loss} loss){_status(report)}" if report else "fair coverage"
    if audit is not None:
        title += f" — fairness audit: {len(audit):,} justified complaint(s)"
    fig.suptitle(title)
    return fig


def audit_chart(audit: pd.DataFrame, *, top: int = TOP) -> Figure:
    """Fairness audit: justified complaints per resource, by definition.

    Parameters
    ----------
    audit : pandas.DataFrame
        What :func:`~fairalloc.transforms.coverage.audit_fairness` returns.
    top : int, default :data:`TOP`
        Resources drawn before the rest is summed into ``other``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel (a note when there is no complaint).

    Examples
    --------
    >>> from fairalloc.transforms.coverage import AUDIT_COLUMNS
    >>> audit_chart(pd.DataFrame(columns=AUDIT_COLUMNS)).axes[0].get_title()
    'fairness audit: no justified complaint'
    """
    fig = _figure(9, 4.5)
    ax = fig.subplots()
    if not len(audit):
        _empty(ax, "the allocation is fair:\nno group may complain")
        ax.set_title("fairness audit: no justified complaint")
        return fig
    counts = pd.crosstab(audit["resource"].astype(str), audit["definition"])
    counts["total"] = counts.sum(axis=1)
    shown = _top(counts, "total", top, "resources")
    y = _barh(ax, list(shown.index))
    left = np.zeros(len(shown))
    for name, colour in (("higher_weight", _RED), ("lower_coverage", _ORANGE)):
        if name in shown:
            ax.barh(y, shown[name], left=left, color=colour, label=name.replace("_", " "))
            left += shown[name].to_numpy()
    _fit_other(ax, shown, shown["total"].to_numpy())
    ax.set_xlabel("justified complaints")
    _title(ax, f"fairness audit: {len(audit):,} justified complaint(s)")
    _legend(ax)
    return fig


# --- portions -------------------------------------------------------------------------------------

def portions_chart(result: pd.Series | pd.DataFrame, ratios: Any = None, *,
                   top: int = TOP) -> Figure:
    """Portions per key against the exact quota (ratio share × total).

    Parameters
    ----------
    result : pandas.Series or pandas.DataFrame
        What :func:`~fairalloc.transforms.portions.apportion` returns (or its table with a
        ``portions`` column).
    ratios : table, optional
        The ratios given to the transform: with them each key's exact quota is marked and
        the distribution of portions − quota is drawn.
    top : int, default :data:`TOP`
        Keys drawn (largest first) before the rest is summed into ``other``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel, or two with ``ratios``.

    Examples
    --------
    >>> from fairalloc.transforms.portions import apportion
    >>> fig = portions_chart(apportion({"a": 3, "b": 1}, 8), {"a": 3, "b": 1})
    >>> [float(p.get_width()) for p in fig.axes[0].patches]
    [6.0, 2.0]
    """
    portions = result["portions"] if isinstance(result, pd.DataFrame) else result
    if not isinstance(portions, pd.Series):
        raise InputTypeError("portions_chart: expected what apportion returns, not "
                             f"{type(result).__name__}")
    table = pd.DataFrame({"portions": portions.to_numpy(dtype=float)})
    fig = _figure(14 if ratios is not None else 9, 5)
    axes = fig.subplots(1, 2 if ratios is not None else 1, squeeze=False)[0]
    total = float(portions.sum()) + float(portions.attrs.get("unallocated", 0))
    if ratios is not None:
        r = _aligned_ratios(portions, ratios)
        positive = r.sum()
        table["quota"] = r / positive * total if positive > 0 else np.zeros(len(r))
    shown = _top(table, "quota" if ratios is not None else "portions", top, "keys",
                 labels=portions.index)
    ax = axes[0]
    y = _barh(ax, list(shown.index))
    ax.barh(y, shown["portions"], color=_BLUE, label="portions")
    if ratios is not None:
        ax.scatter(shown["quota"], y, marker="|", s=400, color="black", zorder=3,
                   label="exact quota (ratio share × total)")
        _legend(ax)
    _fit_other(ax, shown, shown[[c for c in ("portions", "quota") if c in shown]].max(axis=1)
               .to_numpy())
    ax.set_xlabel("portions (whole units)")
    _title(ax, "portions per key")
    if ratios is not None:
        dev = (table["portions"] - table["quota"]).to_numpy()
        lim = max(1.0, float(np.nanmax(np.abs(dev), initial=0.0)))
        axes[1].hist(dev, bins=np.linspace(-lim, lim, 21), color=_GREEN)
        axes[1].axvline(0, color="black", lw=1)
        axes[1].set_xlabel("portions − exact quota")
        axes[1].set_ylabel(f"keys (of {len(dev):,})")
        axes[1].yaxis.set_major_formatter(FuncFormatter(_compact))
        _title(axes[1], "rounding per key")
    method = portions.attrs.get("method")
    fig.suptitle(f"{int(portions.sum()):,} portions to {len(portions):,} keys"
                 + (f" ({method})" if method else ""))
    return fig


def _aligned_ratios(portions: pd.Series, ratios: Any) -> np.ndarray:
    """The ratios in the order of ``portions`` (read as the transform reads them)."""
    if isinstance(ratios, pd.Series) and ratios.index.equals(portions.index):
        return ratios.to_numpy(dtype=float)
    from fairalloc.transforms.portions import _ratios_table  # the transform's own reading

    frame, _ = _ratios_table(ratios)
    keys = pl.from_pandas(pd.Series(portions.index, name="key"))
    if frame.height == len(keys) and frame["key"].cast(pl.String).equals(keys.cast(pl.String)):
        return frame["ratio"].to_numpy()  # both sorted by key: already aligned
    joined = pl.DataFrame({"key": keys.cast(pl.String)}).join(
        frame.select(pl.col("key").cast(pl.String), "ratio"), on="key", how="left",
        maintain_order="left")
    return joined["ratio"].fill_null(0.0).to_numpy()


# --- one entry for notebooks ----------------------------------------------------------------------

def plot(result: Any, *inputs: Any, **options: Any) -> Figure:
    """The chart of any transform's result, chosen by its type.

    Parameters
    ----------
    result : object
        What a transform returned: a ``PeriodAllocation``, ``PreferenceAssignment`` (or a
        mapping of strategy name → one), ``CoverageAllocation``, a sourcing Series or pair,
        the portions Series, a lottery draw or a fairness audit.
    *inputs : object
        Passed on to the capability's chart (e.g. ``sink_demand, source_capacity`` for
        sourcing, ``capacities`` for assignment, ``ratios`` for portions, ``audit`` for
        coverage).
    **options : object
        Keyword options of that chart (``top`` …).

    Returns
    -------
    matplotlib.figure.Figure
        The chart.

    Raises
    ------
    fairalloc.transforms.errors.InputTypeError
        ``result`` is not a transform result this module can draw.

    Examples
    --------
    >>> import fairalloc as fa
    >>> fa.plot(fa.apportion({1: 3, 2: 1}, 8), {1: 3, 2: 1}).axes[1].get_title()
    'rounding per key'
    """
    chart = _chart_for(result)
    if chart is None:
        raise InputTypeError(f"plot: no chart for a {type(result).__name__}")
    return chart(result, *inputs, **options)


def _chart_for(result: Any):
    """The chart function for ``result`` (None when there is none)."""
    if hasattr(result, "accounts") and hasattr(result, "periods"):
        return periods_chart
    if hasattr(result, "resources") and hasattr(result, "groups"):
        return coverage_chart
    first = next(iter(result.values()), None) if isinstance(result, Mapping) else result
    if hasattr(first, "allocation") and hasattr(getattr(first, "report", None), "strategy"):
        return assignment_chart
    if isinstance(result, tuple) and len(result) == 2:
        return sourcing_chart
    if isinstance(result, pd.Series):
        return portions_chart if result.name == "portions" else sourcing_chart
    if isinstance(result, pd.DataFrame):
        cols = set(result.columns)
        if {"complainant", "other", "definition"} <= cols:
            return audit_chart
        if {"probability", "won"} <= cols:
            return lottery_chart
        if {"item", "rank"} <= cols:
            return assignment_chart
        if "portions" in cols:
            return portions_chart
        if {"source_volume", "sink_volume"} <= cols or "volume" in cols:
            return sourcing_chart
    return None


__all__ = ["assignment_chart", "audit_chart", "coverage_chart", "key_label", "lottery_chart",
           "periods_chart", "plot", "png_bytes", "portions_chart", "sourcing_chart"]
