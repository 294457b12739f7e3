"""What each ``fairalloc`` subcommand does: read the tables, call the transform, emit.

Every handler checks its output paths before reading anything, imports its transform only
when it runs (so ``--help`` stays fast), and leaves error reporting to :func:`fairalloc.cli.main`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from fairalloc.cli.io import (
    FORMATS,
    CLIError,
    Progress,
    check_output,
    check_plot,
    emit,
    first_line,
    read_table,
    require_columns,
    write_plot,
)
from fairalloc.transforms.errors import DuplicateKeyError
from fairalloc.transforms.options import PERIODS, SOURCING

#: The options of each command that name input files.
INPUT_OPTIONS = ("matches", "source_capacity", "sink_demand", "requests", "accounts",
                 "capacities", "preferences", "constraints", "groups", "eligibility", "supply",
                 "ratios")


def _inputs(args: argparse.Namespace) -> list[str]:
    """The input paths a command was given (inline ``--ratios`` are not paths)."""
    paths = {name: getattr(args, name, None) for name in INPUT_OPTIONS}
    if paths["ratios"] is not None and _is_inline(paths["ratios"]):
        paths["ratios"] = None
    return [p for p in paths.values() if p is not None]


def _plot_path(args: argparse.Namespace, *outputs: str | None) -> Path | None:
    """The checked ``--plot`` path: a .png that is none of the inputs and outputs."""
    return check_plot(getattr(args, "plot", None), inputs=[*_inputs(args), *outputs])


@contextmanager
def _suggest_by(args: argparse.Namespace, tables: dict[str, Any], known: set[str]):
    """Turn a repeated key into advice when the tables share columns that would tell the
    repeats apart: allocate per group with ``--by`` those columns."""
    try:
        yield
    except DuplicateKeyError as exc:
        if args.by:
            raise
        frames = list(tables.values())
        shared = [c for c in frames[0].columns if c not in known
                  and all(c in f.columns for f in frames[1:])]
        if not shared:
            raise
        flags = " ".join(f"--by {c}" for c in shared)
        raise CLIError(f"{first_line(exc)}; the tables share the column(s) "
                       f"{', '.join(shared)}, which may tell these keys apart: allocate each "
                       f"group on its own with {flags}") from exc


def sourcing(args: argparse.Namespace, progress: Progress) -> None:
    """``fairalloc sourcing``: direct (within capacity) or proportional sourcing."""
    output = check_output(args.output, inputs=_inputs(args))
    plot = _plot_path(args, args.output)
    matches = read_table(args.matches, "matches", progress)
    capacity = read_table(args.source_capacity, "source capacity", progress)
    demand = read_table(args.sink_demand, "sink demand", progress)
    from fairalloc.transforms import sourcing as tf

    progress.say(f"{args.method} sourcing…")
    with _suggest_by(args, {"matches": matches, "capacity": capacity, "demand": demand},
                     {"source", "sink", "capacity", "demand"}):
        result, table, report = _sourcing(args, tf, matches, capacity, demand)
    progress.say(f"allocated {report.allocated:.6g} of demand {report.total_demand:.6g} "
                 f"(unallocated {report.unallocated_demand:.6g}, "
                 f"{report.unmatched_sinks:,} unmatched sink(s))")
    emit(table, output, progress)
    if plot is not None:
        from fairalloc.transforms.charts import sourcing_chart

        write_plot(sourcing_chart(result, demand, capacity), plot, progress)


def _sourcing(args: argparse.Namespace, tf: Any, matches: Any, capacity: Any, demand: Any):
    """Run the sourcing method of ``args``: the result, its table and its report."""
    if args.method == "direct":
        tol = (SOURCING.relative_tolerance if args.relative_tolerance is None
               else args.relative_tolerance)
        result = tf.direct_sourcing(
            matches, capacity, demand, relative_tolerance=tol,
            redistribute=args.redistribute, by=args.by)
        return result, pd.concat(result, axis=1), result[0].attrs["report"]
    policy = args.on_zero_capacity or SOURCING.on_zero_capacity
    volume = tf.proportional_sourcing(matches, demand, capacity, on_zero_capacity=policy,
                                      by=args.by)
    return volume, volume.to_frame(), volume.attrs["report"]


def periods(args: argparse.Namespace, progress: Progress) -> None:
    """``fairalloc periods``: entitlement allocation over periods, optionally a lottery."""
    output = check_output(args.output, inputs=_inputs(args))
    plot = _plot_path(args, args.output)
    requests = read_table(args.requests, "requests", progress)
    accounts = read_table(args.accounts, "accounts", progress)
    capacities = read_table(args.capacities, "capacities", progress)
    from fairalloc.transforms import periods as tf

    options: dict[str, Any] = {
        "auto_weights": args.auto_weights, "two_step": args.two_step,
        "convergence_threshold": args.convergence_threshold,
        "demand_gap_threshold": args.demand_gap_threshold,
        "max_iterations": args.max_iterations, "step2_strategy": args.step2_strategy,
    }
    progress.say("allocating periods…")
    with _suggest_by(args, {"requests": requests, "accounts": accounts,
                            "capacities": capacities},
                     {"account", "period", "request", "currency", "capacity"}):
        if args.by:
            res = tf.allocate_period_groups(requests, accounts, capacities, by=args.by,
                                            **options)
        else:
            res = tf.allocate_periods(requests, accounts, capacities, **options)
    report = res.report
    progress.say(f"allocated {report.allocated:.6g} of capacity {report.total_capacity:.6g} "
                 f"(request {report.total_request:.6g}), "
                 f"{report.iterations} step-2 iteration(s)")
    if args.lottery:
        seed = PERIODS.seed if args.seed is None else args.seed
        progress.say(f"drawing the lottery (seed {seed})…")
        if args.by:
            table = tf.lottery_groups(res.allocation, capacities, by=args.by, seed=seed)
        else:
            table = tf.lottery(res, capacities, seed=seed)
        progress.say(f"{int(table['won'].sum()):,} unit(s) won, "
                     f"{table['probability'].sum():.6g} expected")
    else:
        table = getattr(res, args.table or "allocation")
    emit(table, output, progress)
    if plot is not None:
        from fairalloc.transforms.charts import lottery_chart, periods_chart

        write_plot(lottery_chart(table) if args.lottery else periods_chart(res), plot,
                   progress)


def assign(args: argparse.Namespace, progress: Progress) -> None:
    """``fairalloc assign``: ranked-preference assignment."""
    output = check_output(args.output, inputs=_inputs(args))
    plot = _plot_path(args, args.output)
    constraints = _read_json(args.constraints) if args.constraints is not None else None
    preferences = read_table(args.preferences, "preferences", progress)
    capacities = read_table(args.capacities, "capacities", progress)
    from fairalloc.transforms.assignment import assign_preferences

    progress.say(f"assigning ({args.strategy})…")
    with _suggest_by(args, {"preferences": preferences, "capacities": capacities},
                     {"user", "item", "rank", "capacity"}):
        res = assign_preferences(
            preferences, capacities, strategy=args.strategy, fill_unlisted=args.fill_unlisted,
            allow_unassigned=args.allow_unassigned, unassigned_cost=args.unassigned_cost,
            seed=args.seed, constraints=constraints, by=args.by)
    report = res.report
    progress.say(f"{report.assigned:,} of {report.users:,} user(s) assigned: rank cost "
                 f"{report.rank_cost:,}; {report.unassigned:,} unassigned × "
                 f"{args.unassigned_cost:,} = {report.unassigned_penalty:,} penalty "
                 f"(objective {report.total_cost:,})")
    emit(res.allocation, output, progress)
    if plot is not None:
        from fairalloc.transforms.charts import assignment_chart

        write_plot(assignment_chart(res, capacities), plot, progress)


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CLIError(f"constraints {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CLIError(f"constraints {path}: not valid JSON ({exc})") from None


def coverage(args: argparse.Namespace, progress: Progress) -> None:
    """``fairalloc coverage``: fair coverage, optionally with the fairness audit."""
    output = check_output(args.output, inputs=_inputs(args))
    audit_path = check_output(args.audit, "audit", inputs=_inputs(args))
    if output is not None and audit_path is not None and output.resolve() == audit_path.resolve():
        raise CLIError(f"--output and --audit name the same file {output}")
    plot = _plot_path(args, args.output, args.audit)
    groups = read_table(args.groups, "groups", progress)
    eligibility = read_table(args.eligibility, "eligibility", progress)
    supply = read_table(args.supply, "supply", progress)
    from fairalloc.transforms.coverage import allocate_coverage, audit_fairness

    progress.say("allocating coverage…")
    res = allocate_coverage(groups, eligibility, supply, loss=args.loss)
    progress.say(f"objective {res.objective:.6g}, "
                 f"{res.report.scarce_resources} scarce resource(s), "
                 f"lowest coverage {res.groups['coverage'].min():.6g}")
    audit = None
    if audit_path is not None:
        audit = audit_fairness(groups, res.allocation, eligibility)
        progress.say(f"audit: {len(audit):,} justified complaint(s)")
        emit(audit, audit_path, progress)
    emit(getattr(res, args.table), output, progress)
    if plot is not None:
        from fairalloc.transforms.charts import coverage_chart

        write_plot(coverage_chart(res, audit), plot, progress)


def parse_ratios(text: str) -> dict[int | str, float]:
    """Inline ``--ratios``: ``KEY=RATIO`` items separated by commas.

    Keys become ints when every key is a whole number, else they stay strings; ratios are
    floats (their sign and finiteness are checked by the transform).

    >>> parse_ratios("1=3,2=1")
    {1: 3.0, 2: 1.0}
    >>> parse_ratios("north=2.5, south=1")
    {'north': 2.5, 'south': 1.0}
    >>> parse_ratios("1=3,2")
    Traceback (most recent call last):
    ...
    fairalloc.cli.io.CLIError: --ratios: malformed item '2' (expected KEY=RATIO, e.g. 1=3,2=1)
    """
    keys: list[str] = []
    ratios: list[float] = []
    for item in text.split(","):  # the items of one argument, not data rows
        key, sep, value = (part.strip() for part in item.partition("="))
        if not (sep and key and value):
            raise CLIError(f"--ratios: malformed item {item.strip()!r} "
                           "(expected KEY=RATIO, e.g. 1=3,2=1)")
        try:
            ratios.append(float(value))
        except ValueError:
            raise CLIError(f"--ratios: ratio {value!r} of key {key!r} is not a number") from None
        keys.append(key)
    typed: list[int | str] = list(keys)
    if all(re.fullmatch(r"[+-]?\d+", k) for k in keys):
        typed = [int(k) for k in keys]
    if len(set(typed)) != len(typed):
        twice = sorted({str(k) for k in typed if typed.count(k) > 1})
        raise CLIError(f"--ratios: key(s) given more than once: {', '.join(twice)}")
    return dict(zip(typed, ratios, strict=True))


def _is_inline(text: str) -> bool:
    """Inline ratios contain ``=`` and do not end in a table extension."""
    return "=" in text and Path(text).suffix.lower() not in FORMATS


def _whole_number(text: str) -> int:
    """``--total``: a whole number (bad text is bad input, reported in one line).

    >>> _whole_number("8")
    8
    >>> _whole_number("8.5")
    Traceback (most recent call last):
    ...
    fairalloc.cli.io.CLIError: --total: '8.5' is not a whole number
    """
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"--total: {text!r} is not a whole number") from None


def portions(args: argparse.Namespace, progress: Progress) -> None:
    """``fairalloc portions``: whole portions in proportion to ratios."""
    output = check_output(args.output, inputs=_inputs(args))
    plot = _plot_path(args, args.output)
    total = _whole_number(args.total)
    if _is_inline(args.ratios):
        ratios: Any = parse_ratios(args.ratios)
    else:
        table = read_table(args.ratios, "ratios", progress)
        ratios = require_columns(table, ["key", "ratio"], f"ratios {args.ratios}")
    from fairalloc.transforms.portions import apportion

    result = apportion(ratios, total, method=args.method)
    unallocated = int(result.attrs.get("unallocated", 0))
    progress.say(f"{args.method}: {int(result.sum()):,} of {total:,} portion(s) handed "
                 f"out to {len(result):,} key(s), {unallocated:,} unallocated")
    emit(result, output, progress)
    if plot is not None:
        from fairalloc.transforms.charts import portions_chart

        write_plot(portions_chart(result, ratios), plot, progress)


def outputs(args: argparse.Namespace, progress: Progress) -> None:
    """``fairalloc outputs``: the tables the pipeline stored, with partitions, rows and paths."""
    from fairalloc.pipelines.outputs import describe_outputs

    text = describe_outputs(args.storage)
    if text is None:
        from fairalloc.pipelines.outputs import storage_location

        raise CLIError(f"no outputs under {storage_location(args.storage)}: materialise the "
                       "assets first (make run)")
    sys.stdout.write(text)


def serve(args: argparse.Namespace, progress: Progress) -> None:
    """``fairalloc serve``: the HTTP service, until Ctrl-C or SIGTERM."""
    if args.max_body_bytes < 0:
        raise CLIError(f"--max-body-bytes: {args.max_body_bytes} is negative")
    from fairalloc.service import serve as run_service

    run_service(host=args.host, port=args.port, database_url=args.database,
                max_body_bytes=args.max_body_bytes,
                log_level="warning" if args.quiet else "info")


COMMANDS: dict[str, Callable[[argparse.Namespace, Progress], None]] = {
    "sourcing": sourcing,
    "periods": periods,
    "assign": assign,
    "coverage": coverage,
    "portions": portions,
    "outputs": outputs,
    "serve": serve,
}
