"""Request bodies of the HTTP service, derived from the table contracts and the option vocabularies.

Nothing here is written twice: a table's records take their column names, JSON types and
descriptions from its :class:`~fairalloc.schemas.tables.Table` definition, and a request's
options their names, defaults, allowed choices (``Literal``) and descriptions from
:mod:`fairalloc.transforms.options`. The amount rules (≥ 0, finite, …) are described but left to
the transform, whose errors name the offending keys (a row number would not).

Records are ``TypedDict`` classes rather than models: pydantic validates a list of a million of
them straight from JSON bytes in about a second, several times faster than model instances.

Examples
--------
>>> from fairalloc.schemas.portions import RATIOS
>>> sorted(records(RATIOS).__annotations__)
['key', 'ratio']
>>> SourcingRequest.model_fields["method"].default
'direct'
>>> PortionsRequest.model_validate_json(b'{"ratios": [{"key": 1, "ratio": 3}], "total": 8}').method
'priority'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    create_model,
)
from typing_extensions import TypedDict

from fairalloc.schemas import assignment as assignment_tables
from fairalloc.schemas import coverage as coverage_tables
from fairalloc.schemas import periods as period_tables
from fairalloc.schemas import portions as portion_tables
from fairalloc.schemas import sourcing as sourcing_tables
from fairalloc.schemas.tables import KEY, Column, Table
from fairalloc.transforms.options import (
    ASSIGNMENT,
    COVERAGE,
    LOSS_PARAMETERS,
    PERIODS,
    PORTIONS,
    SOURCING,
    Vocabulary,
)

#: A key: a string or an integer (never a bool or a float).
Key = StrictStr | StrictInt
#: An amount: a JSON number (NaN and infinity are let through to the transform, which names
#: the keys that carry them).
Number = Annotated[float, Strict()]

_JSON_TYPES: dict[Any, Any] = {KEY: Key, float: Number, int: StrictInt, "int64": StrictInt,
                               "Int64": StrictInt, str: StrictStr, bool: StrictBool}


def _column_type(column: Column) -> Any:
    """The JSON type of a column's values, with its meaning and rule as the description."""
    kind = _JSON_TYPES[column.dtype]
    if column.isin:
        kind = Literal[column.isin]  # type: ignore[valid-type]
    words = [column.description] + ([column.rule.text] if column.rule else [])
    described = Annotated[kind, Field(description=" ".join(words))]
    return NotRequired[described | None] if column.nullable else described


def records(table: Table, extra: bool = False) -> type:
    """The record type of one row of ``table``: one field per column, keys str or int.

    Parameters
    ----------
    table : fairalloc.schemas.tables.Table
        The table contract.
    extra : bool, default False
        Whether a record may carry further fields (the group columns named by ``by``, which
        the request handler then checks); otherwise an unknown field is a validation error.

    Returns
    -------
    type
        A ``TypedDict`` named after the table, for pydantic.

    Examples
    --------
    >>> from pydantic import TypeAdapter
    >>> from fairalloc.schemas.sourcing import SINK_DEMAND
    >>> TypeAdapter(records(SINK_DEMAND)).validate_python({"sink": "X", "demand": 300})
    {'sink': 'X', 'demand': 300.0}
    """
    fields = {c.name: _column_type(c) for c in table.columns}
    name = "".join(part.capitalize() for part in table.name.split("_")) + "Record"
    record = TypedDict(name, fields)  # type: ignore[operator]
    record.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        extra="allow" if extra else "forbid", title=name)
    record.__doc__ = table.description
    return record


def _rows(table: Table, what: str, extra: bool = False) -> Any:
    """A required list-of-records field for ``table``."""
    columns = ", ".join(c.name for c in table.columns)
    more = " (plus the `by` columns)" if extra else ""
    return (list[records(table, extra)],  # type: ignore[valid-type]
            Field(description=f"{what}: {table.description} Records with {columns}{more}."))


def _option_type(vocabulary: Vocabulary, name: str) -> Any:
    """The JSON type of an option: its choices as a ``Literal``, else its default's type."""
    option = vocabulary.option(name)
    if option.choices is not None:
        return Literal[option.choices]  # type: ignore[valid-type]
    return {bool: StrictBool, int: StrictInt, float: Number}[type(option.default)]


def options(vocabulary: Vocabulary, *names: str) -> dict[str, Any]:
    """Request fields for the named options (all of them when none are named).

    Parameters
    ----------
    vocabulary : fairalloc.transforms.options.Vocabulary
        A capability's options.
    *names : str
        The options to take.

    Returns
    -------
    dict
        ``name -> (type, Field)`` with the option's default and meaning, for ``create_model``.

    Examples
    --------
    >>> kind, field = options(PORTIONS)["method"]
    >>> kind.__args__[:2], field.default
    (('priority', 'hamilton'), 'priority')
    """
    out = {}
    for name in names or vocabulary.names():
        opt = vocabulary.option(name)
        out[name] = (_option_type(vocabulary, name), Field(default=opt.default,
                                                           description=opt.help))
    return out


_FORBID = ConfigDict(extra="forbid")
_BY = (list[StrictStr] | None,
       Field(default=None, description="Group columns present in every input table; each group "
                                       "is allocated on its own and leads the output keys."))


def _model(name: str, doc: str, **fields: Any) -> type[BaseModel]:
    model = create_model(name, __config__=_FORBID, __doc__=doc, **fields)
    return model


SourcingRequest = _model(
    "SourcingRequest",
    "Sourcing (SPEC §1): sink demand split over matched sources, direct or proportional. "
    "relative_tolerance, redistribute and run_qa apply to method direct, on_zero_capacity to "
    "proportional.",
    matches=_rows(sourcing_tables.MATCHES, "matches", extra=True),
    source_capacity=_rows(sourcing_tables.SOURCE_CAPACITY, "source capacity", extra=True),
    sink_demand=_rows(sourcing_tables.SINK_DEMAND, "sink demand", extra=True),
    by=_BY,
    **options(SOURCING),
)

PeriodsRequest = _model(
    "PeriodsRequest",
    "Multi-period allocation with entitlements (SPEC §2), optionally the whole-unit lottery.",
    requests=_rows(period_tables.REQUESTS, "requests", extra=True),
    accounts=_rows(period_tables.ACCOUNTS, "accounts", extra=True),
    capacities=_rows(period_tables.CAPACITIES, "capacities", extra=True),
    by=_BY,
    lottery=(StrictBool, Field(default=False, description="Also draw whole units (desks, "
                                                          "seats) from the allocation.")),
    **options(PERIODS),
)


class Quota(BaseModel):
    """At most ``max`` of these users on these items."""

    model_config = _FORBID
    users: list[Key]
    items: list[Key]
    max: StrictInt


class Conflict(BaseModel):
    """The group of users may not occupy both items."""

    model_config = _FORBID
    users: list[Key]
    items: list[Key]


class Constraints(BaseModel):
    """Side constraints of ``strategy="milp"``."""

    model_config = _FORBID
    quotas: list[Quota] = Field(default_factory=list)
    together: list[list[Key]] = Field(default_factory=list,
                                      description="Users placed on one item, or all unplaced.")
    conflicts: list[Conflict] = Field(default_factory=list)


AssignmentRequest = _model(
    "AssignmentRequest",
    "Ranked-preference assignment (SPEC §3): each user at most one item.",
    preferences=_rows(assignment_tables.PREFERENCES, "preferences", extra=True),
    capacities=_rows(assignment_tables.CAPACITIES, "capacities", extra=True),
    by=_BY,
    constraints=(Constraints | None, Field(default=None, description="strategy milp only "
                                                                     "(not with by).")),
    **options(ASSIGNMENT),
)

_PARAMETERS = ", ".join(f"{loss}: {p} > {low:g}" for loss, (p, low) in LOSS_PARAMETERS.items())

CoverageRequest = _model(
    "CoverageRequest",
    "Fair coverage of populations (SPEC §4), optionally with the fairness audit.",
    groups=_rows(coverage_tables.GROUPS, "groups"),
    eligibility=_rows(coverage_tables.ELIGIBILITY, "eligibility"),
    supply=_rows(coverage_tables.SUPPLIES, "supply"),
    loss_parameter=(Number | None, Field(default=None, description=f"The loss's parameter "
                                                                   f"({_PARAMETERS}).")),
    audit=(StrictBool, Field(default=False, description="Also run the fairness audit on the "
                                                        "allocation (one row per complaint).")),
    **options(COVERAGE),
)

PortionsRequest = _model(
    "PortionsRequest",
    "Integer portions by ratio (SPEC §5).",
    ratios=_rows(portion_tables.RATIOS, "ratios"),
    total=(StrictInt, Field(description="Whole portions to hand out (≥ 0).")),
    **options(PORTIONS),
)


class Distribution(BaseModel):
    """The seed-compatible portions body: ``{"distribution": {"portions": N, "<id>": ratio}}``."""

    model_config = _FORBID
    distribution: dict[str, StrictInt] = Field(
        description='"portions": the whole number of portions to hand out; every other key a '
                    "product id, its value the product's integer ratio (≥ 0).",
        examples=[{"portions": 8, "1": 3, "2": 1}])


class ProductIn(BaseModel):
    """A product: ``name`` up to 100 characters; ``id`` chosen by the catalogue when absent."""

    model_config = _FORBID
    id: StrictInt | None = Field(default=None, ge=1)
    name: str = Field(min_length=1, max_length=100)


class ProductName(BaseModel):
    """A product's new name (up to 100 characters)."""

    model_config = _FORBID
    name: str = Field(min_length=1, max_length=100)


#: Every capability's request body by endpoint name.
REQUESTS: dict[str, type[BaseModel]] = {
    "sourcing": SourcingRequest, "periods": PeriodsRequest, "assignments": AssignmentRequest,
    "coverage": CoverageRequest, "portions": PortionsRequest,
}
