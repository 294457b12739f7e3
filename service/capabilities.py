"""The work behind each ``/v1`` endpoint: JSON bytes in, JSON bytes out, in a worker thread.

Each handler validates the body against its request model (:mod:`fairalloc.service.models`),
turns each list of records into a polars table, calls the same transform as the command line
and the pipeline, and writes the result tables (index levels as leading columns) and the
transform's report as one JSON document. Nothing here decides an allocation: defaults, option
names and every check of amounts and keys belong to :mod:`fairalloc.transforms`.

Examples
--------
>>> import json
>>> out = run("portions", b'{"ratios": [{"key": 1, "ratio": 3}, {"key": 2, "ratio": 1}], '
...                       b'"total": 8}')
>>> json.loads(out)["allocation"]
[{'key': 1, 'portions': 6}, {'key': 2, 'portions': 2}]
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
from pydantic import BaseModel

from fairalloc.schemas import assignment as assignment_tables
from fairalloc.schemas import coverage as coverage_tables
from fairalloc.schemas import periods as period_tables
from fairalloc.schemas import portions as portion_tables
from fairalloc.schemas import sourcing as sourcing_tables
from fairalloc.schemas.tables import Table
from fairalloc.service.models import REQUESTS
from fairalloc.transforms.errors import InputTypeError, ParameterError, translated
from fairalloc.transforms.options import loss_spec

#: Records converted to a table per block (a block holds the interpreter lock ~0.1 s).
BLOCK = 100_000


def table(rows: list[dict[str, Any]], contract: Table, what: str,
          by: list[str] | None = None) -> pl.DataFrame:
    """The records of one input table as a polars frame with the contract's columns.

    Parameters
    ----------
    rows : list of dict
        Validated records.
    contract : fairalloc.schemas.tables.Table
        The table's contract (its column names).
    what : str
        The request field, named in errors.
    by : list of str, optional
        The group columns the records may carry besides the contract's.

    Returns
    -------
    polars.DataFrame
        One row per record; columns in the contract's order, then the ``by`` columns.

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        A record carries a field that is neither a column of the contract nor in ``by``.
    fairalloc.transforms.errors.InputTypeError
        A column mixes strings and numbers.

    Examples
    --------
    >>> from fairalloc.schemas.sourcing import SINK_DEMAND
    >>> table([{"sink": "X", "demand": 3.0}], SINK_DEMAND, "sink_demand").to_dicts()
    [{'sink': 'X', 'demand': 3.0}]
    """
    names = [c.name for c in contract.columns] + [c for c in by or () if c not in contract.columns]
    if not rows:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.Null))
    # arrow infers each column's type strictly ("A" next to 1 is an error, not a string "1");
    # in blocks, so that no single conversion holds the interpreter lock for long
    try:
        blocks = [pl.from_arrow(pa.array(rows[i:i + BLOCK])).struct.unnest()
                  for i in range(0, len(rows), BLOCK)]
    except (pa.ArrowException, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputTypeError(f"{what}: a column mixes strings and numbers ({first})") from None
    kinds: dict[str, set[str]] = {}
    for block in blocks:  # a few blocks, not rows
        for name, dtype in block.schema.items():
            if dtype != pl.Null:
                kinds.setdefault(name, set()).add("number" if dtype.is_numeric() else str(dtype))
    mixed = [name for name, found in kinds.items() if len(found) > 1]
    if mixed:
        raise InputTypeError(f"{what}: column(s) mixing strings and numbers", mixed)
    frame = pl.concat(blocks, how="diagonal_relaxed") if len(blocks) > 1 else blocks[0]
    unknown = [c for c in frame.columns if c not in names]
    if unknown:
        raise ParameterError(f"{what}: unknown field(s) (neither a column of {contract.name} "
                             "nor named in `by`)", unknown)
    return frame.select([c for c in names if c in frame.columns])


def _plain(value: Any) -> Any:
    """A report value as JSON: numpy scalars as Python, non-finite floats as null."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, list | dict | tuple):
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def records_json(result: pd.DataFrame | pd.Series) -> bytes:
    """A result table as a JSON array of records, index levels first (NaN as null).

    Parameters
    ----------
    result : pandas.DataFrame or pandas.Series
        A transform's result with named index levels.

    Returns
    -------
    bytes
        ``[{"level": …, "column": …}, …]``.

    Examples
    --------
    >>> s = pd.Series([6, 2], index=pd.Index([1, 2], name="key"), name="portions")
    >>> records_json(s)
    b'[{"key":1,"portions":6},{"key":2,"portions":2}]'
    """
    frame = result.to_frame() if isinstance(result, pd.Series) else result
    unnamed = all(name is None for name in frame.index.names)
    flat = pl.from_pandas(frame.reset_index(drop=unnamed), nan_to_null=True)
    if flat.height == 0:
        return b"[]"
    return flat.write_json().encode()


def document(tables: Mapping[str, pd.DataFrame | pd.Series], report: Mapping[str, Any]) -> bytes:
    """The response: each result table as records, then the report.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame or pandas.Series
        The result tables by name (``allocation`` first).
    report : mapping
        The transform's report as plain values.

    Returns
    -------
    bytes
        ``{"allocation": [...], …, "report": {...}}`` as JSON.

    Examples
    --------
    >>> document({"allocation": pd.Series([1], name="x")}, {"status": "optimal"})
    b'{"allocation":[{"x":1}],"report":{"status":"optimal"}}'
    """
    parts = [json.dumps(name).encode() + b":" + records_json(t) for name, t in tables.items()]
    parts.append(b'"report":' + json.dumps(_plain(dict(report)), separators=(",", ":"),
                                            allow_nan=False).encode())
    return b"{" + b",".join(parts) + b"}"


def _only_for(body: BaseModel, method: str, names: tuple[str, ...]) -> None:
    """Options set in the body that the chosen method does not use are an error."""
    stray = [n for n in names if n in body.model_fields_set]
    if stray:
        raise ParameterError(f"option(s) not used by {method!r}", stray)


def sourcing(body: Any) -> bytes:
    """``POST /v1/sourcing``: :func:`~fairalloc.transforms.sourcing.direct_sourcing` or
    :func:`~fairalloc.transforms.sourcing.proportional_sourcing`.

    Parameters
    ----------
    body : SourcingRequest
        The validated request.

    Returns
    -------
    bytes
        ``allocation`` (by ``*by, source, sink``: source_volume and sink_volume, or volume) and
        the report.
    """
    from fairalloc.transforms import sourcing as tf

    matches = table(body.matches, sourcing_tables.MATCHES, "matches", body.by)
    capacity = table(body.source_capacity, sourcing_tables.SOURCE_CAPACITY, "source_capacity",
                     body.by)
    demand = table(body.sink_demand, sourcing_tables.SINK_DEMAND, "sink_demand", body.by)
    direct_only = ("relative_tolerance", "redistribute", "run_qa")
    if body.method == "direct":
        _only_for(body, "direct", ("on_zero_capacity",))
        source_volume, sink_volume = tf.direct_sourcing(
            matches, capacity, demand, by=body.by,
            **{name: getattr(body, name) for name in direct_only})
        result = pd.concat([source_volume, sink_volume], axis=1)
        report = source_volume.attrs["report"]
    else:
        _only_for(body, "proportional", direct_only)
        volume = tf.proportional_sourcing(matches, demand, capacity, by=body.by,
                                          on_zero_capacity=body.on_zero_capacity)
        result, report = volume, volume.attrs["report"]
    return document({"allocation": result}, report.to_dict())


def periods(body: Any) -> bytes:
    """``POST /v1/periods``: :func:`~fairalloc.transforms.periods.allocate_periods` (or its
    grouped form with ``by``), then optionally the lottery.

    Parameters
    ----------
    body : PeriodsRequest
        The validated request.

    Returns
    -------
    bytes
        ``allocation``, ``accounts``, ``periods`` (and ``lottery`` when asked) and the report.
    """
    from fairalloc.transforms import periods as tf

    requests = table(body.requests, period_tables.REQUESTS, "requests", body.by)
    accounts = table(body.accounts, period_tables.ACCOUNTS, "accounts", body.by)
    capacities = table(body.capacities, period_tables.CAPACITIES, "capacities", body.by)
    if not body.lottery:
        _only_for(body, "periods without the lottery", ("seed",))
    opts = {name: getattr(body, name) for name in
            ("auto_weights", "two_step", "convergence_threshold", "demand_gap_threshold",
             "max_iterations", "step2_strategy")}
    if body.by:
        res = tf.allocate_period_groups(requests, accounts, capacities, by=body.by, **opts)
    else:
        res = tf.allocate_periods(requests, accounts, capacities, **opts)
    tables = {"allocation": res.allocation, "accounts": res.accounts, "periods": res.periods}
    if body.lottery:
        tables["lottery"] = (
            tf.lottery_groups(res.allocation, capacities, by=body.by, seed=body.seed)
            if body.by else tf.lottery(res, capacities, seed=body.seed))
    return document(tables, res.report.to_dict())


def assignments(body: Any) -> bytes:
    """``POST /v1/assignments``: :func:`~fairalloc.transforms.assignment.assign_preferences`.

    Parameters
    ----------
    body : AssignmentRequest
        The validated request.

    Returns
    -------
    bytes
        ``allocation`` (by ``*by, user``: item and rank, null when unplaced) and the report.
    """
    from fairalloc.transforms.assignment import assign_preferences

    preferences = table(body.preferences, assignment_tables.PREFERENCES, "preferences",
                        body.by)
    capacities = table(body.capacities, assignment_tables.CAPACITIES, "capacities", body.by)
    constraints = None if body.constraints is None else body.constraints.model_dump()
    res = assign_preferences(
        preferences, capacities, strategy=body.strategy, fill_unlisted=body.fill_unlisted,
        allow_unassigned=body.allow_unassigned, unassigned_cost=body.unassigned_cost,
        seed=body.seed, constraints=constraints, by=body.by)
    return document({"allocation": res.allocation}, res.report.to_dict())


def coverage(body: Any) -> bytes:
    """``POST /v1/coverage``: :func:`~fairalloc.transforms.coverage.allocate_coverage`, then
    optionally :func:`~fairalloc.transforms.coverage.audit_fairness`.

    Parameters
    ----------
    body : CoverageRequest
        The validated request.

    Returns
    -------
    bytes
        ``allocation``, ``groups``, ``resources`` (and ``audit`` when asked) and the report.
    """
    from fairalloc.transforms.coverage import allocate_coverage, audit_fairness

    groups = table(body.groups, coverage_tables.GROUPS, "groups")
    eligibility = table(body.eligibility, coverage_tables.ELIGIBILITY, "eligibility")
    supply = table(body.supply, coverage_tables.SUPPLIES, "supply")
    if not body.audit:
        _only_for(body, "coverage without the audit", ("tol",))
    res = allocate_coverage(groups, eligibility, supply,
                            loss=loss_spec(body.loss, body.loss_parameter))
    tables = {"allocation": res.allocation, "groups": res.groups, "resources": res.resources}
    if body.audit:
        tables["audit"] = audit_fairness(groups, res.allocation, eligibility, tol=body.tol)
    return document(tables, res.report.to_dict())


def portions(body: Any) -> bytes:
    """``POST /v1/portions``: :func:`~fairalloc.transforms.portions.apportion`.

    Parameters
    ----------
    body : PortionsRequest
        The validated request.

    Returns
    -------
    bytes
        ``allocation`` (by key: portions) and the report (method, status, unallocated).
    """
    from fairalloc.transforms.portions import apportion

    ratios = table(body.ratios, portion_tables.RATIOS, "ratios")
    result = apportion(ratios, body.total, method=body.method)
    return document({"allocation": result}, dict(result.attrs))


#: Each endpoint's work by name.
HANDLERS: dict[str, Callable[[Any], bytes]] = {
    "sourcing": sourcing, "periods": periods, "assignments": assignments,
    "coverage": coverage, "portions": portions,
}


def run(name: str, raw: bytes) -> bytes:
    """Validate ``raw`` as endpoint ``name``'s body, run the transform, return the response.

    Parameters
    ----------
    name : str
        The endpoint (``"sourcing"``, ``"periods"``, ``"assignments"``, ``"coverage"``,
        ``"portions"``).
    raw : bytes
        The request body (JSON).

    Returns
    -------
    bytes
        The JSON response body.

    Raises
    ------
    pydantic.ValidationError
        A malformed body, an unknown field, a wrong type or an unknown option value.
    fairalloc.transforms.errors.FairallocError
        The transform's error, naming the offending keys.
    """
    body = REQUESTS[name].model_validate_json(raw)
    with translated(name):
        return HANDLERS[name](body)
