"""Validation glue and asset metadata shared by every asset.

A failed pandera validation stops the asset with a :class:`dagster.Failure` whose metadata
shows the failing rows (downstream assets then do not run); every table gets row count, column
schema and a preview as metadata; transform reports become metadata entries.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd
import pandera.errors
import polars as pl

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


def table_metadata(frame: pl.DataFrame | pd.DataFrame) -> dict[str, Any]:
    """Row count, column schema (index levels first) and a preview of ``frame``."""
    if isinstance(frame, pd.DataFrame):
        flat = frame.reset_index() if frame.index.names != [None] else frame
        types = {str(c): str(t) for c, t in flat.dtypes.items()}
    else:
        types = {c: str(t) for c, t in frame.schema.items()}
    schema = dg.TableSchema(columns=[dg.TableColumn(name=c, type=t) for c, t in types.items()])
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": schema,
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


def validate(frame: pl.DataFrame, model: Any, name: str) -> pl.DataFrame:
    """Validate ``frame`` with a pandera polars ``model``; stop the run showing failing rows."""
    try:
        return model.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        raise _failure(frame, cases, name) from None


def _failure(frame: pl.DataFrame, cases: pl.DataFrame, name: str) -> dg.Failure:
    rows = cases["index"].drop_nulls().unique().sort() if "index" in cases.columns else None
    metadata: dict[str, Any] = {"failure_cases": dg.MetadataValue.md(markdown_table(cases, 50))}
    if rows is not None and rows.len():
        failing = frame.with_row_index("row")[rows.to_numpy()]
        metadata["failing_rows"] = dg.MetadataValue.md(markdown_table(failing, 50))
        metadata["failing_row_count"] = int(rows.len())
    checks = sorted(set(cases["check"].cast(pl.String).to_list()))
    return dg.Failure(
        description=f"{name} failed validation ({cases.height} failure cases: {checks})",
        metadata=metadata,
    )


def violations_check(violations: pd.DataFrame, shown: int = 20) -> dg.AssetCheckResult:
    """An asset check result from a violations table (columns rule, key, amount, limit):
    passed when empty; metadata counts the violations per rule and shows the first ones."""
    counts = violations["rule"].value_counts().to_dict() if len(violations) else {}
    preview = violations.head(shown).astype({"key": str}).to_string(index=False)
    return dg.AssetCheckResult(
        passed=violations.empty,
        metadata={"violations": len(violations), **{f"{k} count": v for k, v in counts.items()},
                  "first violations": dg.MetadataValue.text(preview if counts else "none")},
    )
