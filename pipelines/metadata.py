"""Validation glue and asset metadata shared by every asset.

A failed pandera validation, of an input or an output, stops the asset with a
:class:`dagster.Failure` whose metadata shows the failing rows (downstream assets then do not
run); every table gets row count, column schema (with each column's meaning and rules from its
table definition in :mod:`fairalloc.schemas`) and a preview as metadata; transform reports
become metadata entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd
import pandera.errors
import polars as pl

from fairalloc.schemas.tables import table_of

PREVIEW_ROWS = 10


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
    """A transform report's fields as metadata (numbers stay numbers, lists become text)."""
    out: dict[str, Any] = {}
    for key, value in report.to_dict().items():
        if isinstance(value, bool | str):
            out[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int | float):
            out[key] = value
        else:
            out[key] = dg.MetadataValue.text(", ".join(map(str, value)) if value else "—")
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
