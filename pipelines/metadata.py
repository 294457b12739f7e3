"""Validation glue and asset metadata shared by every asset.

A failed pandera validation, of an input or an output, stops the asset with a
:class:`dagster.Failure` whose metadata shows the failing rows (downstream assets then do not
run); every table gets row count, column schema (with each column's meaning and rules from its
table definition in :mod:`fairalloc.schemas`) and a preview as metadata; transform reports
become metadata entries.

What an analyst sees is made readable here, once for every asset: each output's chart
(:mod:`fairalloc.transforms.charts`) as a PNG embedded in Markdown (:func:`chart_metadata`),
a per-group summary as a Dagster table (:func:`summary_metadata` and the per-capability
``*_summary`` builders), numbers rounded for display (:func:`shown`: totals to 6 significant
digits, fractions to 4 decimals, float noise of a share clipped — in the metadata only, never in
the stored data), keys written ``cocoa / 2024 / T020`` and owners and tags per capability
(:func:`ownership`).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pandera.errors
import polars as pl

from fairalloc.schemas.tables import table_of
from fairalloc.transforms.charts import key_label, png_bytes

PREVIEW_ROWS = 10
#: Significant digits of totals and amounts shown as metadata.
TOTAL_DIGITS = 6
#: Decimals of fractions (utilisation, coverage, shares) shown as metadata.
FRACTION_DECIMALS = 4
#: A share within this of a whole number is shown as that number (float noise, display only).
NOISE = 1e-9
#: Rows of a per-group summary table (the largest groups; the table says how many in all).
SUMMARY_ROWS = 50


def shown(value: Any, fraction: bool = False) -> Any:
    """A number as metadata shows it: totals to 6 significant digits, fractions (``fraction``)
    to 4 decimals with float noise around whole numbers clipped; anything else unchanged.

    >>> shown(2588457.2284726724), shown(1.0000000000000075, fraction=True), shown(0.123456, True)
    (2588460.0, 1.0, 0.1235)
    >>> shown(7), shown("x"), shown(float("nan"))
    (7, 'x', nan)
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, float | np.floating):
        return int(value) if isinstance(value, np.integer) else value
    x = float(value)
    if not math.isfinite(x) or x == 0:
        return x
    if fraction:
        whole = round(x)
        return float(whole) if abs(x - whole) <= NOISE else round(x, FRACTION_DECIMALS)
    return float(f"{x:.{TOTAL_DIGITS}g}")


def chart_metadata(figure: Any, name: str = "chart") -> dict[str, Any]:
    """A figure as metadata: a PNG embedded in Markdown as a base64 data URI (Dagster shows
    Markdown metadata with its images in the asset's materialisation).

    >>> from fairalloc.transforms.charts import plot
    >>> from fairalloc.transforms.portions import apportion
    >>> chart_metadata(plot(apportion({"a": 1}, 2)))["chart"].value[:32]
    '![chart](data:image/png;base64,i'
    """
    data = base64.b64encode(png_bytes(figure)).decode("ascii")
    return {name: dg.MetadataValue.md(f"![{name}](data:image/png;base64,{data})")}


def summary_metadata(rows: pd.DataFrame, descriptions: Mapping[str, str],
                     fractions: Sequence[str] = (), total: int | None = None,
                     name: str = "summary") -> dict[str, Any]:
    """A small table (one row per group) as a Dagster table with its schema: each column's
    type and meaning, numbers rounded by :func:`shown`, keys as ``a / b`` text.

    ``rows`` is indexed by the group (any keys); ``fractions`` names its share columns;
    ``total`` is the number of groups when ``rows`` holds only the largest ones.

    >>> rows = pd.DataFrame({"used": [2588457.2284726724], "utilisation": [1.0000000000000075]},
    ...                     index=pd.Index([("cocoa", 2024)]))
    >>> value = summary_metadata(rows, {"used": "Used.", "utilisation": "Used / capacity."},
    ...                          fractions=["utilisation"])["summary"]
    >>> value.records[0].data
    {'group': 'cocoa / 2024', 'used': 2588460.0, 'utilisation': 1.0}
    >>> [c.name for c in value.schema.columns]
    ['group', 'used', 'utilisation']
    """
    columns = [dg.TableColumn("group", "string", description="The group (key parts joined "
                              "by /).")]
    for col in rows.columns:
        kind = rows[col].dtype
        dtype = ("bool" if pd.api.types.is_bool_dtype(kind) else
                 "int" if pd.api.types.is_integer_dtype(kind) else
                 "float" if pd.api.types.is_float_dtype(kind) else "string")
        columns.append(dg.TableColumn(str(col), dtype, description=descriptions.get(col, "")))
    records = []
    for key, values in zip(rows.index, rows.itertuples(index=False), strict=True):
        data: dict[str, Any] = {"group": key_label(key)}
        for col, v in zip(rows.columns, values, strict=True):  # the ≤ 50 shown rows
            v = v.item() if isinstance(v, np.generic) else v
            data[str(col)] = (None if v is None or v is pd.NA or (isinstance(v, float) and
                                                                   math.isnan(v))
                              else shown(v, col in fractions) if not isinstance(v, str)
                              else v)
        records.append(dg.TableRecord(data))
    out: dict[str, Any] = {name: dg.MetadataValue.table(records, dg.TableSchema(columns))}
    if total is not None and total > len(rows):
        out[f"{name} rows"] = dg.MetadataValue.text(f"the {len(rows)} largest of {total:,}")
    return out


def share_metadata(prefix: str, shares: pd.Series) -> dict[str, Any]:
    """One metadata entry per key of ``shares`` (a few periods or resources), named
    ``"<prefix> a / b"``, rounded as a fraction (float noise clipped, display only).

    >>> share_metadata("utilization", pd.Series([1.0000000000000075],
    ...                index=pd.MultiIndex.from_tuples([("large", 1)])))
    {'utilization large / 1': 1.0}
    """
    return {f"{prefix} {key_label(k)}": shown(float(v), fraction=True)
            for k, v in shares.iloc[:SUMMARY_ROWS].items()}


def ownership(capability: str) -> dict[str, Any]:
    """Owners and tags of every asset of a capability (``@dg.asset(**ownership(GROUP))``,
    ``dg.AssetOut(**ownership(GROUP))``).

    >>> ownership("sourcing")
    {'owners': ['team:sourcing'], 'tags': {'capability': 'sourcing'}}
    """
    return {"owners": [f"team:{capability}"], "tags": {"capability": capability}}


def _largest(rows: pd.DataFrame, by: str) -> tuple[pd.DataFrame, int]:
    return rows.sort_values(by, ascending=False, kind="stable").head(SUMMARY_ROWS), len(rows)


def sourcing_summary(table: pd.DataFrame, sink_demand: Any, by: Sequence[str]) -> dict[str, Any]:
    """Per group of a sourcing output: matches, volumes, demand, unmet and fulfilment.

    ``table`` is the stored output (``source_volume`` and ``sink_volume``, or ``volume``),
    ``sink_demand`` the input demand table (columns ``*by``, ``sink``, ``demand``).
    """
    by = list(by)
    sink_col = "sink_volume" if "sink_volume" in table else "volume"
    src_col = "source_volume" if "source_volume" in table else "volume"
    grouped = table.groupby(level=by, sort=True) if by else table.groupby(lambda _: "all")
    rows = pd.DataFrame({"matches": grouped.size(),
                         "source_volume": grouped[src_col].sum(),
                         "sink_volume": grouped[sink_col].sum()})
    demand = pl.from_pandas(sink_demand) if isinstance(sink_demand, pd.DataFrame) \
        else sink_demand
    if by:
        d = demand.group_by(by).agg(pl.col("demand").sum()).to_pandas().set_index(by)["demand"]
    else:
        d = pd.Series({"all": float(demand["demand"].sum())})
    rows["demand"] = d.reindex(rows.index).to_numpy(dtype=float)
    rows["unmet"] = np.maximum(rows["demand"] - rows["sink_volume"], 0.0)
    rows["fulfilment"] = np.divide(rows["sink_volume"], rows["demand"],
                                   out=np.full(len(rows), np.nan), where=rows["demand"] > 0)
    rows, total = _largest(rows, "demand")
    return summary_metadata(rows, {
        "matches": "Matches (source → sink pairs) in the group.",
        "source_volume": "Allocated, in source units.",
        "sink_volume": "Allocated, in sink units.",
        "demand": "Total sink demand of the group.",
        "unmet": "Demand not allocated (sink units).",
        "fulfilment": "Allocated / demand (sink units)."}, ["fulfilment"], total)


def periods_summary(periods: pd.DataFrame, allocation: pd.DataFrame,
                    by: Sequence[str]) -> dict[str, Any]:
    """Per group (e.g. scenario) of a period allocation: accounts, capacity, step-1 and
    step-2 use, utilisation."""
    by = list(by)
    steps = allocation[["step1", "step2"]].groupby(level=by).sum()
    accounts = allocation.index.to_frame(index=False).groupby(by)["account"].nunique()
    capacity = periods.groupby(level=by)[["capacity", "used"]].sum()
    rows = pd.DataFrame({"accounts": accounts, "capacity": capacity["capacity"],
                         "step1": steps["step1"], "step2": steps["step2"],
                         "utilisation": capacity["used"] / capacity["capacity"]})
    rows, total = _largest(rows, "capacity")
    return summary_metadata(rows, {
        "accounts": "Accounts in the group.", "capacity": "Capacity over all periods.",
        "step1": "Allocated in step 1 (entitlements).", "step2": "Allocated in step 2 "
        "(leftovers).", "utilisation": "(step 1 + step 2) / capacity."}, ["utilisation"], total)


def lottery_summary(draw: pd.DataFrame, by: Sequence[str]) -> dict[str, Any]:
    """Per group of a seat lottery: units won against units expected."""
    rows = draw[["won", "probability"]].groupby(level=list(by)).sum()
    rows = pd.DataFrame({"won": rows["won"].astype(np.int64),
                         "expected": rows["probability"].astype(float)})
    rows, total = _largest(rows, "expected")
    return summary_metadata(rows, {"won": "Whole units drawn.",
                                   "expected": "Σ probability: units expected."}, (), total)


def assignment_ranks(allocation: pd.DataFrame) -> dict[str, Any]:
    """Users per choice obtained (1st, 2nd, …, unlisted, none) as a table."""
    rank = allocation["rank"]
    placed = allocation["item"].notna()
    counts = rank.dropna().astype(np.int64).value_counts().sort_index()
    rows = pd.DataFrame({"users": counts.to_numpy(dtype=np.int64)},
                        index=[f"rank {k}" for k in counts.index])
    extra = pd.DataFrame({"users": [int((placed & rank.isna()).sum()), int((~placed).sum())]},
                         index=["unlisted item", "none"])
    rows = pd.concat([rows, extra])
    rows["share"] = rows["users"] / max(len(allocation), 1)
    return summary_metadata(rows, {"users": "Users who obtained it.",
                                   "share": "Share of all users."}, ["share"])


def coverage_summary(groups: pd.DataFrame) -> dict[str, Any]:
    """Per weight class of a coverage result: groups, population, coverage before and after
    (population-weighted), people left uncovered."""
    n = groups["population"]
    frame = pd.DataFrame({"weight": groups["weight"], "groups": 1, "population": n,
                          "before": n * groups["prior"], "after": n * groups["coverage"],
                          "shortfall": groups["shortfall"]})
    rows = frame.groupby("weight").sum()
    rows["before"] /= rows["population"]
    rows["after"] /= rows["population"]
    rows.index = [f"weight {shown(float(w))}" for w in rows.index]
    rows, total = rows.iloc[::-1].head(SUMMARY_ROWS), len(rows)
    return summary_metadata(rows.astype({"groups": np.int64}), {
        "groups": "Groups of that weight.", "population": "People in them.",
        "before": "Coverage before (prior), population-weighted.",
        "after": "Coverage after, population-weighted.",
        "shortfall": "People left uncovered."}, ["before", "after"], total)


def resources_summary(resources: pd.DataFrame) -> dict[str, Any]:
    """Per resource: supply, used, utilisation, scarce, price (the largest supplies)."""
    rows = pd.DataFrame({"supply": resources["supply"], "used": resources["used"],
                         "utilisation": resources["used"] / resources["supply"],
                         "scarce": resources["scarce"].astype(bool),
                         "price": resources["marginal_value"]})
    rows, total = _largest(rows, "supply")
    return summary_metadata(rows, {"supply": "Supply.", "used": "Given out.",
                                   "utilisation": "Used / supply.",
                                   "scarce": "Supply used up.",
                                   "price": "Marginal value (objective per unit)."},
                            ["utilisation"], total)


def audit_summary(audit: pd.DataFrame) -> dict[str, Any]:
    """Justified complaints per resource and definition."""
    if not len(audit):
        rows = pd.DataFrame({"complaints": pd.Series([], dtype=np.int64)})
    else:
        rows = audit.groupby(["resource", "definition"]).size().rename("complaints").to_frame()
    rows, total = _largest(rows, "complaints")
    return summary_metadata(rows, {"complaints": "Justified complaints."}, (), total)


def portions_summary(portions: pd.Series, ratios: Any) -> dict[str, Any]:
    """The keys with the largest quotas: ratio, exact quota, portions."""
    frame = ratios.to_pandas() if isinstance(ratios, pl.DataFrame) else ratios
    r = frame.set_index("key")["ratio"].reindex(portions.index).astype(float)
    total = float(portions.sum()) + float(portions.attrs.get("unallocated", 0))
    quota = r / r.sum() * total if r.sum() > 0 else r * 0.0
    rows = pd.DataFrame({"ratio": r, "quota": quota, "portions": portions.astype(np.int64)})
    rows, n = _largest(rows, "quota")
    return summary_metadata(rows, {"ratio": "Claim of the key.",
                                   "quota": "Exact quota: ratio share × total.",
                                   "portions": "Whole portions given."}, (), n)


def markdown_table(frame: pl.DataFrame | pd.DataFrame, n: int = PREVIEW_ROWS) -> str:
    """The first ``n`` rows as a Markdown table (a pandas index is shown as columns).

    >>> print(markdown_table(pl.DataFrame({"a": [1], "b": ["x"]})))
    | a | b |
    |---|---|
    | 1 | x |
    """
    if isinstance(frame, pd.DataFrame):
        frame = pl.from_pandas(frame.head(n).reset_index())
    head = frame.head(n)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in head.iter_rows()]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v).replace("|", "\\|")


def column_schema(frame: pl.DataFrame | pd.DataFrame, table: Any = None) -> dg.TableSchema:
    """The ``dagster/column_schema`` of ``frame`` (index levels first): each column's stored
    type, and from the table definition (a :class:`fairalloc.schemas.tables.Table` or a pandera
    schema derived from one) its meaning, nullability and rules.

    >>> from fairalloc.schemas.portions import PortionRatios
    >>> col = column_schema(pl.DataFrame({"key": ["a"], "ratio": [1.0]}), PortionRatios).columns[1]
    >>> col.type, col.description, col.constraints.other
    ('Float64', 'Claim of the key relative to the others.', ['finite, ≥ 0'])
    """
    if isinstance(frame, pd.DataFrame):
        flat = frame.reset_index() if frame.index.names != [None] else frame
        types = {str(c): str(t) for c, t in flat.dtypes.items()}
    else:
        types = {c: str(t) for c, t in frame.schema.items()}
    spec = table_of(table)
    columns = []
    for name, dtype in types.items():
        col = spec.column(name) if spec else None
        if col is None:
            columns.append(dg.TableColumn(name=name, type=dtype))
            continue
        unique = spec.repeats == "reject" and len(spec.keys) == 1 and col in spec.keys
        columns.append(dg.TableColumn(
            name=name, type=dtype, description=col.description,
            constraints=dg.TableColumnConstraints(nullable=col.nullable, unique=unique,
                                                  other=col.constraints())))
    return dg.TableSchema(columns=columns)


def table_metadata(frame: pl.DataFrame | pd.DataFrame, table: Any = None) -> dict[str, Any]:
    """Row count, column schema (index levels first; described when ``table`` — a table
    definition or a pandera schema derived from one — is given) and a preview of ``frame``."""
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": column_schema(frame, table),
        "preview": dg.MetadataValue.md(markdown_table(frame)),
    }


def report_metadata(report: Any) -> dict[str, Any]:
    """A transform report's fields as metadata: numbers stay numbers (rounded by
    :func:`shown`), lists of keys become ``a / b`` text, mappings JSON.

    >>> from fairalloc.transforms.sourcing import SourcingReport
    >>> from dataclasses import fields
    >>> r = SourcingReport(**{f.name: 0 for f in fields(SourcingReport) if f.init}
    ...                    | {"status": "optimal", "allocated": 2588457.2284726724,
    ...                       "unmatched_sink_keys": (("cocoa", 2024, "T020"),)})
    >>> meta = report_metadata(r)
    >>> meta["allocated"], meta["unmatched_sink_keys"].value
    (2588460.0, 'cocoa / 2024 / T020')
    """
    out: dict[str, Any] = {}
    for key, value in report.to_dict().items():
        if isinstance(value, bool | str):
            out[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int | float):
            out[key] = shown(value)
        elif isinstance(value, Mapping):
            out[key] = dg.MetadataValue.json({str(k): v for k, v in value.items()})
        else:
            out[key] = dg.MetadataValue.text(
                ", ".join(key_label(tuple(v) if isinstance(v, list) else v) for v in value)
                if value else "—")
    return out


def validate(frame: Any, schema: Any, name: str, log: Any = None) -> Any:
    """Validate ``frame`` (a polars input or a pandas output) with a pandera ``schema`` of the
    matching back-end; on failure stop the asset with a :class:`dagster.Failure` whose
    description (shown in the run log and the terminal) and metadata show the failing rows with
    the rule each broke — never a raw ``SchemaErrors``. ``log`` (the asset's ``context.log``)
    also gets the description as an error.

    >>> from fairalloc.schemas.portions import PortionsOutput
    >>> bad = pd.DataFrame({"portions": [1, -1]}, index=pd.Index(["a", "b"], name="key"))
    >>> try:
    ...     validate(bad, PortionsOutput, "portions")
    ... except dg.Failure as failure:
    ...     print(failure.description)
    portions failed validation (1 failure cases: ['greater_than_or_equal_to(0)'])
    failing rows, with the rule each broke:
    | key | portions | broken rule |
    |---|---|---|
    | b | -1 | portions: greater_than_or_equal_to(0) |
    """
    try:
        return schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        error = failure(frame, exc, name)
        if log is not None:
            log.error(error.description)
        raise error from None


#: Failing rows shown in a failure's description (all of them, up to 50, in its metadata).
DESCRIBED_ROWS = 20


def failure(frame: Any, exc: pandera.errors.SchemaErrors, name: str) -> dg.Failure:
    """The :class:`dagster.Failure` of a lazy pandera validation of ``frame`` that failed:
    failure cases, failing rows (by row number for polars, by index label for pandas) each with
    the rules it broke, and their count, in the description and as metadata."""
    cases = exc.failure_cases
    if isinstance(cases, pd.DataFrame):
        labels = cases["index"].map(lambda v: None if v is None or v != v else str(v)) \
            if "index" in cases.columns else None
        cases = pl.from_pandas(cases.astype(str).assign(
            **({} if labels is None else {"index": labels})))
    metadata: dict[str, Any] = {"failure_cases": dg.MetadataValue.md(markdown_table(cases, 50))}
    checks = sorted(set(cases["check"].cast(pl.String).to_list()))
    description = f"{name} failed validation ({cases.height} failure cases: {checks})"
    failing = _failing_rows(frame, cases)
    if failing is not None and len(failing):
        metadata["failing_rows"] = dg.MetadataValue.md(markdown_table(failing, 50))
        metadata["failing_row_count"] = len(failing)
        more = len(failing) - DESCRIBED_ROWS
        description += ("\nfailing rows, with the rule each broke:\n"
                        + markdown_table(failing, DESCRIBED_ROWS)
                        + (f"\n… and {more} more failing rows" if more > 0 else ""))
    else:
        description += "\n" + markdown_table(cases, DESCRIBED_ROWS)
    return dg.Failure(description=description, metadata=metadata)


def _rules(cases: pl.DataFrame) -> pl.DataFrame:
    """Per failing row (``index``): the rules it broke, as ``column: check`` joined by ``; ``."""
    column = pl.col("column").cast(pl.String) if "column" in cases.columns else pl.lit(None)
    rule = pl.when(column.is_null()).then(pl.col("check").cast(pl.String)).otherwise(
        pl.concat_str([column, pl.col("check").cast(pl.String)], separator=": "))
    return (cases.filter(pl.col("index").is_not_null())
            .with_columns(rule.alias("broken rule"), pl.col("index").cast(pl.String))
            .group_by("index", maintain_order=True)
            .agg(pl.col("broken rule").unique(maintain_order=True).str.join("; ")))


def _failing_rows(frame: Any, cases: pl.DataFrame) -> pl.DataFrame | pd.DataFrame | None:
    if "index" not in cases.columns:
        return None
    rules = dict(_rules(cases).iter_rows())
    if isinstance(frame, pd.DataFrame):
        # pandas reports index labels (tuples for a MultiIndex), written out as text
        text = frame.index.map(str)
        shown = frame[text.isin(set(rules))]
        return shown.assign(**{"broken rule": [rules[t] for t in shown.index.map(str)]})
    rows = cases["index"].drop_nulls().cast(pl.Int64).unique().sort()
    shown = frame.with_row_index("row")[rows.to_numpy()]
    return shown.with_columns(pl.col("row").cast(pl.String).replace_strict(rules)
                              .alias("broken rule"))


def violations_check(violations: pd.DataFrame, shown: int = 20, *, check_name: str | None = None,
                     asset_key: Any = None) -> dg.AssetCheckResult:
    """An asset check result from a violations table (columns rule, key, amount, limit):
    passed when empty; metadata counts the violations per rule and shows the first ones."""
    counts = violations["rule"].value_counts().to_dict() if len(violations) else {}
    preview = violations.head(shown).astype({"key": str}).to_string(index=False)
    return dg.AssetCheckResult(
        passed=violations.empty, check_name=check_name, asset_key=asset_key,
        metadata={"violations": len(violations), **{f"{k} count": v for k, v in counts.items()},
                  "first violations": dg.MetadataValue.text(preview if counts else "none")},
    )


def checked(checks: list[dg.AssetCheckResult], outputs: list[Any]) -> Iterator[Any]:
    """Yield the check results, then — only if every one passed — the outputs: the check
    runs before storage, so a table that fails it is never written over the last good one.

    A failed check is recorded (its result is yielded, failed) and the asset stops with a
    :class:`dagster.Failure` naming the checks and their first violations.
    """
    yield from checks
    failed = [c for c in checks if not c.passed]
    if failed:
        def value(check: dg.AssetCheckResult, name: str) -> Any:
            return getattr(check.metadata.get(name), "value", check.metadata.get(name))

        lines = [f"{c.check_name} on {c.asset_key.to_user_string() if c.asset_key else '?'}: "
                 f"{value(c, 'violations')} violations\n{value(c, 'first violations')}"
                 for c in failed]
        raise dg.Failure(description="check failed before storage; nothing was stored (the "
                                     "last stored table, if any, stays as it was):\n"
                                     + "\n".join(lines))
    yield from outputs
