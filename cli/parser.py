"""The ``fairalloc`` argument parser: one subcommand per capability.

Only the standard library is imported here, so ``fairalloc --help`` answers at once; the
transforms are imported by the subcommand that runs. Defaults, choices and help texts come from
:mod:`fairalloc.transforms.options`, where each capability's options are written once.
"""

from __future__ import annotations

import argparse
from importlib import metadata

from fairalloc.service import settings as service
from fairalloc.transforms.options import (
    ASSIGNMENT,
    COVERAGE,
    LOSS_PARAMETERS,
    PERIODS,
    PORTIONS,
    SOURCING,
    loss_spec,
)

SOURCING_METHODS = SOURCING.choices("method")
ZERO_CAPACITY_POLICIES = SOURCING.choices("on_zero_capacity")
STEP2_STRATEGIES = PERIODS.choices("step2_strategy")
ASSIGN_STRATEGIES = ASSIGNMENT.choices("strategy")
PORTION_METHODS = PORTIONS.choices("method")
PERIOD_TABLES = ("allocation", "accounts", "periods")
COVERAGE_TABLES = ("allocation", "groups", "resources")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-wrapped description and example epilogs as written."""


def loss_option(text: str) -> str | tuple[str, float]:
    """The ``loss`` argument of ``allocate_coverage`` from ``--loss`` text.

    ``quadratic``, ``exp``, ``power:M`` or ``log:EPS`` (names and shapes from
    :func:`fairalloc.transforms.options.loss_spec`); the numeric limits (m > 1, eps > 0) are
    checked by the transform.

    >>> loss_option("quadratic"), loss_option("power:3"), loss_option("log:0.01")
    ('quadratic', ('power', 3.0), ('log', 0.01))
    >>> loss_option("cubic")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: unknown loss 'cubic': use quadratic, exp, power:M or log:EPS
    """
    name, sep, param = text.partition(":")
    name = name.strip().lower()
    if name not in COVERAGE.choices("loss"):
        raise argparse.ArgumentTypeError(
            f"unknown loss {text!r}: use quadratic, exp, power:M or log:EPS")
    value = None
    if name in LOSS_PARAMETERS or sep:
        try:
            value = float(param)
        except ValueError:
            example = "power:3" if name == "power" else "log:0.01"
            raise argparse.ArgumentTypeError(
                f"loss {name!r} needs a number after ':', e.g. {example}") from None
    try:
        return loss_spec(name, value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(":")[0]) from None


def _version() -> str:
    try:
        return metadata.version("fairalloc")
    except metadata.PackageNotFoundError:
        return "unknown"


def _subcommand(subparsers, name: str, summary: str, description: str, example: str,
                common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name, help=summary, description=f"{summary}.\n\n{description}",
        epilog=f"Example:\n{example}", formatter_class=_Formatter, parents=[common])


def _plot_option(p: argparse.ArgumentParser) -> None:
    """``--plot FILE.png``: the capability's chart, the same one Dagster and ``fairalloc.plot``
    show."""
    p.add_argument("--plot", metavar="FILE.png",
                   help="also write the result's chart (PNG) to this file")


def _sourcing(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``fairalloc sourcing``: matches, capacities, demands and the sourcing options."""
    p = _subcommand(
        sub, "sourcing", "Split sink demand over matched sources",
        "Tables: matches (source, sink), source capacity (source, capacity), sink demand\n"
        "(sink, demand), each plus the --by columns. Output, indexed by (*by, source, sink):\n"
        "source_volume and sink_volume (direct) or volume (proportional).",
        "  fairalloc sourcing --matches data/sourcing/matches.parquet \\\n"
        "      --source-capacity data/sourcing/source_capacity.parquet \\\n"
        "      --sink-demand data/sourcing/sink_demand.parquet \\\n"
        "      --by commodity --by year --relative-tolerance 0.1 --output direct.parquet",
        common)
    p.add_argument("--matches", required=True, metavar="PATH", help="table source, sink")
    p.add_argument("--source-capacity", required=True, metavar="PATH",
                   help="table source, capacity")
    p.add_argument("--sink-demand", required=True, metavar="PATH", help="table sink, demand")
    p.add_argument("--method", choices=SOURCING_METHODS, default=SOURCING.method,
                   help="direct: within capacity; proportional: how much each source is "
                        "asked for (default: %(default)s)")
    p.add_argument("--relative-tolerance", type=float, metavar="FLOAT",
                   help="direct only: sink demands may be overstated by up to this fraction, "
                        f"in [0, 1) (default: {SOURCING.relative_tolerance:g})")
    p.add_argument("--redistribute", action="store_true",
                   help="direct only: repeat on what is left until nothing more moves")
    p.add_argument("--on-zero-capacity", choices=ZERO_CAPACITY_POLICIES,
                   help="proportional only: when all of a sink's sources have capacity 0 "
                        f"(default: {SOURCING.on_zero_capacity})")
    p.add_argument("--by", action="append", metavar="COL",
                   help="group column present in all three tables (repeatable)")
    _plot_option(p)
    return p


def _periods(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``fairalloc periods``: requests, accounts, capacities and the period options."""
    p = _subcommand(
        sub, "periods", "Allocate period capacity to accounts by entitlement",
        "Tables: requests (account, period, request), accounts (account, currency),\n"
        "capacities (period, capacity), each plus the --by columns. Output, indexed by\n"
        "(*by, account, period): request, step1, step2, allocation; or with --lottery the\n"
        "whole-unit draw: probability, won.",
        "  fairalloc periods --requests data/periods/requests.parquet \\\n"
        "      --accounts data/periods/accounts.parquet \\\n"
        "      --capacities data/periods/capacities.parquet --by scenario \\\n"
        "      --lottery --seed 7 --output seats.csv",
        common)
    p.add_argument("--requests", required=True, metavar="PATH",
                   help="table account, period, request")
    p.add_argument("--accounts", required=True, metavar="PATH",
                   help="table account, currency (entitlement weight)")
    p.add_argument("--capacities", required=True, metavar="PATH", help="table period, capacity")
    p.add_argument("--by", action="append", metavar="COL",
                   help="group column present in all three tables, e.g. scenario (repeatable); "
                        "each group is allocated on its own")
    p.add_argument("--no-auto-weights", dest="auto_weights", action="store_false",
                   help="weight every period 1 instead of by demand (D_t / min D)")
    p.add_argument("--one-step", dest="two_step", action="store_false",
                   help="skip step 2 (handing out leftover capacity)")
    p.add_argument("--convergence-threshold", type=float,
                   default=PERIODS.convergence_threshold, metavar="FLOAT",
                   help="step 2: a period has leftover capacity above this fraction "
                        "(default: %(default)s)")
    p.add_argument("--demand-gap-threshold", type=float,
                   default=PERIODS.demand_gap_threshold, metavar="FLOAT",
                   help="step 2: an account's unmet demand counts above this amount "
                        "(default: %(default)s)")
    p.add_argument("--max-iterations", type=int, default=PERIODS.max_iterations, metavar="INT",
                   help="step 2: at most this many rounds (default: %(default)s)")
    p.add_argument("--step2-strategy", choices=STEP2_STRATEGIES, default=PERIODS.step2_strategy,
                   help="how each step-2 round is solved (default: %(default)s)")
    p.add_argument("--table", choices=PERIOD_TABLES,
                   help="which result table to output (default: allocation)")
    p.add_argument("--lottery", action="store_true",
                   help="draw whole units (desks, seats) from the allocation and output the draw")
    p.add_argument("--seed", type=int, metavar="INT",
                   help=f"{PERIODS.option('seed').help} (default: {PERIODS.seed})")
    _plot_option(p)
    return p


def _assign(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``fairalloc assign``: preferences, capacities and the assignment options."""
    p = _subcommand(
        sub, "assign", "Assign users to items by ranked preferences",
        "Tables: preferences (user, item, rank; 1 = best), capacities (item, capacity;\n"
        "empty = unlimited), each plus the --by columns. Each user gets at most one item.\n"
        "Output, indexed by (*by, user): item, rank (empty when unassigned).",
        "  fairalloc assign --preferences data/assignment/preferences.parquet \\\n"
        "      --capacities data/assignment/capacities.parquet --by campaign \\\n"
        "      --strategy rank_maximal --seed 3 --output assignment.parquet",
        common)
    p.add_argument("--preferences", required=True, metavar="PATH", help="table user, item, rank")
    p.add_argument("--capacities", required=True, metavar="PATH", help="table item, capacity")
    p.add_argument("--by", action="append", metavar="COL",
                   help="group column present in both tables, e.g. campaign (repeatable); "
                        "each group is assigned on its own")
    p.add_argument("--strategy", choices=ASSIGN_STRATEGIES, default=ASSIGNMENT.strategy,
                   help="social optimum, lexicographic fairness tiers, or the social optimum "
                        "under --constraints (default: %(default)s)")
    p.add_argument("--fill-unlisted", action="store_true",
                   help="also allow unranked items, at cost max rank + 2")
    p.add_argument("--no-unassigned", dest="allow_unassigned", action="store_false",
                   help="fail unless every user can be placed")
    p.add_argument("--unassigned-cost", type=int, default=ASSIGNMENT.unassigned_cost, metavar="INT",
                   help="cost of leaving a user unplaced (default: %(default)s)")
    p.add_argument("--seed", type=int, default=ASSIGNMENT.seed, metavar="INT",
                   help="tie-break seed (default: %(default)s)")
    p.add_argument("--constraints", metavar="JSON",
                   help="milp only: JSON file {\"quotas\": [...], \"together\": [...], "
                        "\"conflicts\": [...]} (see assign_preferences)")
    _plot_option(p)
    return p


def _coverage(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``fairalloc coverage``: groups, eligibility, supply, loss and audit."""
    p = _subcommand(
        sub, "coverage", "Cover weighted populations fairly from scarce resources",
        "Tables: groups (group, population, prior, weight), eligibility (group, resource),\n"
        "supply (resource, supply). Minimises sum(weight * population * loss(coverage)).\n"
        "Output, indexed by (group, resource): amount; or --table groups / resources.",
        "  fairalloc coverage --groups data/coverage/groups.parquet \\\n"
        "      --eligibility data/coverage/eligibility.parquet \\\n"
        "      --supply data/coverage/supply.parquet --loss power:3 \\\n"
        "      --output coverage.parquet --audit audit.csv",
        common)
    p.add_argument("--groups", required=True, metavar="PATH",
                   help="table group, population, prior, weight")
    p.add_argument("--eligibility", required=True, metavar="PATH", help="table group, resource")
    p.add_argument("--supply", required=True, metavar="PATH", help="table resource, supply")
    p.add_argument("--loss", type=loss_option, default=COVERAGE.loss, metavar="LOSS",
                   help="quadratic (1-y)^2, exp e^-y, power:M (1-y)^M with M > 1, or log:EPS "
                        f"-ln(y+EPS) with EPS > 0 (default: {COVERAGE.loss})")
    p.add_argument("--table", choices=COVERAGE_TABLES, default="allocation",
                   help="which result table to output (default: %(default)s)")
    p.add_argument("--audit", metavar="PATH",
                   help="also write the fairness audit (one row per justified complaint)")
    _plot_option(p)
    return p


def _portions(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``fairalloc portions``: ratios, total and method."""
    p = _subcommand(
        sub, "portions", "Apportion a whole number of portions by ratios",
        "Ratios inline as KEY=RATIO,KEY=RATIO (keys are ints when all of them are), or a\n"
        "table (.parquet, .pq, .csv) with columns key, ratio. Output, indexed by key: portions.",
        "  fairalloc portions --ratios 1=3,2=1 --total 8\n"
        "  fairalloc portions --ratios ratios.csv --total 435 --method huntington_hill",
        common)
    p.add_argument("--ratios", required=True, metavar="KEY=RATIO,...|PATH",
                   help="inline ratios or a table with columns key, ratio")
    p.add_argument("--total", required=True, metavar="INT",
                   help="number of portions to hand out (a whole number ≥ 0)")
    p.add_argument("--method", choices=PORTION_METHODS, default=PORTIONS.method,
                   help="apportionment method (default: %(default)s)")
    _plot_option(p)
    return p


def _outputs(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``fairalloc outputs``: where the pipeline's tables are stored."""
    p = sub.add_parser(
        "outputs", help="List the tables the pipeline stored",
        description="List the tables the pipeline stored.\n\nOne line per asset: name, "
                    "partitions (- when unpartitioned), rows, path. Default storage: "
                    "$FAIRALLOC_STORAGE (a folder or fsspec URL, options as JSON in "
                    "$FAIRALLOC_STORAGE_OPTIONS), else $DAGSTER_HOME/storage.",
        epilog="Examples:\n  fairalloc outputs --storage dagster_home/storage\n"
               "  fairalloc outputs --storage s3://bucket/fairalloc",
        formatter_class=_Formatter)
    p.add_argument("--storage", metavar="DIR|URL",
                   help="storage folder or fsspec URL of the IO manager (default: "
                        "$FAIRALLOC_STORAGE, else $DAGSTER_HOME/storage)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="no progress on stderr")
    return p


def _serve(sub, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``fairalloc serve``: the HTTP service (every capability as a JSON endpoint)."""
    p = sub.add_parser(
        "serve", help="Run the HTTP service",
        description="Run the HTTP service.\n\nEvery capability as a JSON endpoint (POST "
                    "/v1/sourcing, /v1/periods, /v1/assignments,\n/v1/coverage, /v1/portions), "
                    "the portions exchange POST /portions/ with its product\ncatalogue "
                    "(/products/), GET /healthz; the OpenAPI page is at /docs. Stop it with "
                    "Ctrl-C.",
        epilog="Example:\n  fairalloc serve --host 127.0.0.1 --port 8000 "
               "--database sqlite:////srv/fairalloc/products.db",
        formatter_class=_Formatter)
    p.add_argument("--host", default=service.HOST,
                   help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=service.PORT, help="port (default: %(default)s)")
    p.add_argument("--database", metavar="URL",
                   help="SQLAlchemy URL of the product catalogue (default: "
                        f"${service.DATABASE_ENV}, else the SQLite file "
                        f"./{service.DEFAULT_DATABASE})")
    p.add_argument("--max-body-bytes", type=int, default=service.MAX_BODY_BYTES, metavar="INT",
                   help="refuse larger request bodies with 413 (default: %(default)s)")
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="log warnings only")
    return p


#: Each subcommand's parser builder, in the order ``--help`` lists them.
SUBCOMMANDS = {
    "sourcing": _sourcing,
    "periods": _periods,
    "assign": _assign,
    "coverage": _coverage,
    "portions": _portions,
    "outputs": _outputs,
    "serve": _serve,
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The main parser and its subcommand parsers by name."""
    parser = argparse.ArgumentParser(
        prog="fairalloc",
        description="Divide scarce, capacity-limited resources among competing claimants.\n"
                    "Inputs and outputs are Parquet (.parquet, .pq) or CSV (.csv) tables; "
                    "without\n--output the result is printed to stdout, progress goes to stderr.",
        epilog="Example:\n  fairalloc portions --ratios 1=3,2=1 --total 8\n\n"
               "Run `fairalloc COMMAND --help` for a command's options.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", metavar="PATH",
                        help="write the result here (.parquet, .pq or .csv); default: stdout")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress on stderr")

    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title="commands")
    parsers = {name: add(sub, common) for name, add in SUBCOMMANDS.items()}
    return parser, parsers


def _check(args: argparse.Namespace, parsers: dict[str, argparse.ArgumentParser]) -> None:
    """Options that only make sense together: a usage error (exit 2) otherwise."""
    p = parsers[args.command]
    if args.command == "sourcing":
        if args.method == "direct" and args.on_zero_capacity is not None:
            p.error("--on-zero-capacity needs --method proportional")
        if args.method == "proportional" and (
                args.relative_tolerance is not None or args.redistribute):
            p.error("--relative-tolerance and --redistribute need --method direct")
    elif args.command == "periods":
        if args.seed is not None and not args.lottery:
            p.error("--seed needs --lottery")
        if args.lottery and args.table not in (None, "allocation"):
            p.error("--lottery outputs the draw; it cannot be combined with --table")
    elif args.command == "assign":
        if args.constraints is not None and args.strategy != "milp":
            p.error("--constraints needs --strategy milp")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``); usage errors exit with status 2."""
    parser, parsers = build_parser()
    args = parser.parse_args(argv)
    _check(args, parsers)
    return args
