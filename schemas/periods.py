"""pandera contracts for multi-period allocation tables (SPEC §2), per ``scenario``, derived
from one definition per table.

The rules are the transforms' (:mod:`fairalloc.transforms.periods`): str or int keys; amounts
finite and ≥ 0; a key repeated with the same value collapses, with another value it is rejected.

>>> import polars as pl
>>> from fairalloc.schemas.periods import PeriodCapacities
>>> PeriodCapacities.validate(pl.DataFrame({"scenario": ["s"], "period": [1],
...                                         "capacity": [3.0]})).height
1
"""

from __future__ import annotations

from fairalloc.schemas.tables import AMOUNT, SHARE, Column, Table, key, models

#: The group column of the pipeline's sample data.
BY = ("scenario",)

SCENARIO = key("scenario", "The scenario: each is allocated on its own.")
ACCOUNT = key("account", "The account holding currency and making requests.")
PERIOD = key("period", "The period whose capacity is shared.")

CURRENCY = Column("currency", float, "Entitlement weight of the account.", AMOUNT)
REQUEST = Column("request", float, "What the account asks for in the period.", AMOUNT)
CAPACITY = Column("capacity", float, "What the period can give out.", AMOUNT)

ACCOUNTS = Table("accounts", "Currency (entitlement weight) per account.", keys=(ACCOUNT,),
                 values=(CURRENCY,))
REQUESTS = Table("period_requests", "Request per account and period.", keys=(ACCOUNT, PERIOD),
                 values=(REQUEST,))
CAPACITIES = Table("period_capacities", "Capacity per period.", keys=(PERIOD,),
                   values=(CAPACITY,))

ALLOCATION = Table(
    "period_allocation", "Allocation per account and period.", keys=(SCENARIO, ACCOUNT, PERIOD),
    values=(REQUEST,
            Column("step1", float, "Allocated by step 1 (proportional: λ × request).", AMOUNT),
            Column("step2", float, "Allocated by step 2 (leftover capacity).", AMOUNT),
            Column("allocation", float, "Allocated in all: step1 + step2.", AMOUNT)))
PERIODS = Table(
    "period_summary", "Use, utilisation and price per period.", keys=(SCENARIO, PERIOD),
    values=(CAPACITY,
            Column("weight", float, "Weight of the period (its demand relative to the "
                   "least-demanded period by default).", AMOUNT),
            Column("used", float, "Capacity allocated.", AMOUNT),
            Column("utilization", float, "used / capacity.", AMOUNT),
            Column("price", float, "Step-1 shadow price of the period's capacity.", AMOUNT)))
ACCOUNTS_OUT = Table(
    "period_accounts", "λ, caps and binding reason per account.", keys=(SCENARIO, ACCOUNT),
    values=(CURRENCY,
            Column("entitlement_share", float, "currency / total currency.", AMOUNT),
            Column("lambda", float, "Step-1 fulfilment: the share of every request met.",
                   AMOUNT),
            Column("u_cap", float, "Upper bound of lambda set by the entitlement.", AMOUNT),
            Column("weighted_request", float, "Σ over periods of weight × request.", AMOUNT),
            Column("weighted_allocated", float, "Σ over periods of weight × allocation.",
                   AMOUNT),
            Column("binding", str, "What stopped the account getting more.",
                   isin=("entitlement", "capacity", "full"))))
LOTTERY = Table(
    "seat_lottery", "Whole seats drawn from the fractional allocation.",
    keys=(SCENARIO, ACCOUNT, PERIOD),
    values=(Column("probability", float, "Chance of a seat: min(1, allocation).", SHARE),
            Column("won", int, "1 when the account won a seat in the period.", isin=(0, 1))))

# The pandera models, derived on first use (importing the definitions loads no pandera).
__getattr__ = models(globals(), {
    # Currency per (scenario, account).
    "Accounts": ACCOUNTS.grouped(SCENARIO).polars,
    # Request per (scenario, account, period).
    "PeriodRequests": REQUESTS.grouped(SCENARIO).polars,
    # Capacity per (scenario, period).
    "PeriodCapacities": CAPACITIES.grouped(SCENARIO).polars,
    # ``period_allocation``: indexed by (scenario, account, period).
    "AllocationOutput": ALLOCATION.pandas,
    # ``period_summary``: indexed by (scenario, period).
    "PeriodsOutput": PERIODS.pandas,
    # ``period_accounts``: indexed by (scenario, account).
    "AccountsOutput": ACCOUNTS_OUT.pandas,
    # ``seat_lottery``: indexed by (scenario, account, period).
    "LotteryOutput": LOTTERY.pandas,
})

