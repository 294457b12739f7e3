"""Each capability's options, written once: name, default, allowed choices and meaning.

The transforms' signatures take their defaults from here, the Dagster run-config classes their
fields (choices become ``Literal`` types, so the launchpad offers them and refuses anything
else), the command line its defaults, choices and help texts. The names of strategies and
methods match the solver registries (a test holds them together). Only the standard library is
imported, so ``fairalloc --help`` stays fast.

Examples
--------
>>> PERIODS.max_iterations
10
>>> ASSIGNMENT.choices("strategy")
('min_cost_flow', 'rank_maximal', 'milp')
>>> PORTIONS.option("method").help
'apportionment method'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fairalloc.transforms.errors import ParameterError


@dataclass(frozen=True)
class Option:
    """One option: its default, its closed set of choices (if any), a one-line meaning and,
    for a number, its bounds (``low`` / ``high``, open or closed; ``whole`` for integers).

    >>> SOURCING.option("relative_tolerance").bounds()
    {'low': 0, 'high': 1, 'low_open': False, 'high_open': True}
    """

    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    whole: bool = False

    def bounds(self) -> dict[str, Any]:
        """The keyword bounds of the number checks.

        Returns
        -------
        dict
            ``low``, ``high`` (and for non-whole numbers ``low_open``, ``high_open``), as
            ``number(name, value, **bounds)`` takes them.
        """
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if not self.whole:
            out.update(low_open=self.low_open, high_open=self.high_open)
        return out


class Vocabulary:
    """The options of one capability; ``vocabulary.name`` is an option's default.

    Parameters
    ----------
    capability : str
        The capability's name.
    **options : Option
        Each option under its name.
    """

    def __init__(self, capability: str, **options: Option):
        self.capability = capability
        self._options = dict(options)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._options[name].default
        except KeyError:
            raise AttributeError(f"{self.capability} has no option {name!r}") from None

    def option(self, name: str) -> Option:
        """The :class:`Option` called ``name``.

        Parameters
        ----------
        name : str
            An option name.

        Returns
        -------
        Option
            Its default, help text and choices.
        """
        return self._options[name]

    def choices(self, name: str) -> tuple[str, ...]:
        """The allowed values of a closed option.

        Parameters
        ----------
        name : str
            An option name.

        Returns
        -------
        tuple of str
            The choices.

        Raises
        ------
        KeyError
            The option is not a closed choice.
        """
        found = self._options[name].choices
        if found is None:
            raise KeyError(f"{self.capability} option {name!r} is not a closed choice")
        return found

    def names(self) -> tuple[str, ...]:
        """Every option name, in declaration order.

        Returns
        -------
        tuple of str
            The names.
        """
        return tuple(self._options)

    def defaults(self, *names: str) -> dict[str, Any]:
        """The defaults of some options.

        Parameters
        ----------
        *names : str
            Option names (all options when none are given).

        Returns
        -------
        dict
            ``{name: default}``.
        """
        return {n: self._options[n].default for n in (names or self._options)}


SOURCING = Vocabulary(
    "sourcing",
    method=Option("direct", "direct: within capacity; proportional: how much each source is "
                            "asked for", ("direct", "proportional")),
    relative_tolerance=Option(0.0, "sink demands may be overstated by up to this fraction, "
                                   "in [0, 1)", low=0, high=1, high_open=True),
    redistribute=Option(False, "repeat on what is left until nothing more moves"),
    run_qa=Option(True, "re-check the final answer strictly (no repair)"),
    on_zero_capacity=Option("even", "when all of a sink's sources have capacity 0: split "
                                    "evenly, give 0, or raise", ("even", "zero", "raise")),
)

PERIODS = Vocabulary(
    "periods",
    auto_weights=Option(True, "weight periods by demand (D_t / min D) instead of 1"),
    two_step=Option(True, "hand out leftover capacity in step 2"),
    convergence_threshold=Option(0.01, "step 2: a period has leftover capacity above this "
                                       "fraction", low=0),
    demand_gap_threshold=Option(0.1, "step 2: an account's unmet demand counts above this "
                                     "amount", low=0),
    max_iterations=Option(10, "step 2: at most this many rounds", low=0, whole=True),
    step2_strategy=Option("max_flow", "how each step-2 round is solved", ("max_flow", "lp")),
    seed=Option(0, "lottery seed, an integer >= 0", low=0, whole=True),
)

ASSIGNMENT = Vocabulary(
    "assignment",
    strategy=Option("min_cost_flow", "social optimum, lexicographic fairness tiers, or the "
                                     "social optimum under side constraints",
                    ("min_cost_flow", "rank_maximal", "milp")),
    fill_unlisted=Option(False, "also allow unranked items, at cost max rank + 2"),
    allow_unassigned=Option(True, "allow users to stay unplaced (else fail unless all fit)"),
    unassigned_cost=Option(10_000, "cost of leaving a user unplaced", low=0, whole=True),
    seed=Option(0, "tie-break seed", low=0, whole=True),
)

COVERAGE = Vocabulary(
    "coverage",
    loss=Option("quadratic", "quadratic (1-y)^2, exp e^-y, power (1-y)^m with m > 1, or log "
                             "-ln(y+eps) with eps > 0", ("quadratic", "power", "log", "exp")),
    tol=Option(1e-9, "fairness audit: relative slack before a complaint counts", low=0),
)

#: The losses that take a parameter: its name and the open lower bound it must exceed.
LOSS_PARAMETERS = {"power": ("m", 1.0), "log": ("eps", 0.0)}


def loss_spec(name: str, parameter: float | None = None) -> str | tuple[str, float | None]:
    """The ``loss`` argument of ``allocate_coverage`` from a name and an optional parameter
    (the command line's ``power:3``, the run config's ``loss`` and ``loss_parameter``).

    The parameter's numeric rule (m > 1, eps > 0) is checked by the transform.

    Parameters
    ----------
    name : str
        One of ``COVERAGE.choices("loss")``.
    parameter : float, optional
        m for ``"power"``, eps for ``"log"``; None for the others.

    Returns
    -------
    str or tuple of (str, float or None)
        ``name`` alone, or ``(name, parameter)`` for the losses that take one.

    Raises
    ------
    fairalloc.transforms.errors.ParameterError
        An unknown name, or a parameter given to a loss that takes none.

    Examples
    --------
    >>> loss_spec("power", 3.0), loss_spec("quadratic")
    (('power', 3.0), 'quadratic')
    >>> loss_spec("exp", 2.0)
    Traceback (most recent call last):
    ...
    fairalloc.transforms.errors.ParameterError: loss 'exp' takes no parameter: 2.0 (1 in all)
    """
    if name not in COVERAGE.choices("loss"):
        raise ParameterError(f"unknown loss (use {', '.join(COVERAGE.choices('loss'))})",
                             [name])
    if name in LOSS_PARAMETERS:
        return (name, parameter)  # a missing parameter is refused by the transform's rule
    if parameter is not None:
        raise ParameterError(f"loss {name!r} takes no parameter", [parameter])
    return name


PORTIONS = Vocabulary(
    "portions",
    method=Option("priority", "apportionment method",
                  ("priority", "hamilton", "jefferson", "webster", "adams", "huntington_hill")),
)

#: The pipeline's run-config total of portions (``apportion`` takes it as a required argument).
PORTIONS_TOTAL = Option(75, "number of whole portions to hand out (a whole number >= 0)",
                        low=0, high=2**50, whole=True)

#: Every capability's vocabulary by name.
VOCABULARIES = {v.capability: v for v in (SOURCING, PERIODS, ASSIGNMENT, COVERAGE, PORTIONS)}
