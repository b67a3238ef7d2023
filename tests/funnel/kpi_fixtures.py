"""Shared helpers for the KPI engine tests: one period, small builders, result lookups.

Every test builds its own tiny world with the factories and calls the engine only
through its public contract (``funnel.kpis``: ``compute``, ``drilldown``, ``Period``,
``Filters``). The default period is March 2024 (31 days, both ends inclusive).
"""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from funnel.kpis import Filters, Period, compute, drilldown
from tests.factories import (
    AccountFactory,
    IntentSignalFactory,
    OpportunityFactory,
    StakeholderFactory,
    TouchFactory,
)

START = dt.date(2024, 3, 1)
END = dt.date(2024, 3, 31)
MARCH = Period(START, END)
D = dt.date


def day(n: int) -> dt.date:
    """A day of March 2024."""
    return dt.date(2024, 3, n)


def when(d: dt.date, hour: int = 12, minute: int = 0, tz: str | None = None) -> dt.datetime:
    """An aware datetime on ``d`` in ``tz`` (default: the current time zone)."""
    naive = dt.datetime.combine(d, dt.time(hour, minute))
    if tz:
        return naive.replace(tzinfo=ZoneInfo(tz))
    return timezone.make_aware(naive)


def kpis(*ids: str, period: Period = MARCH, filters: Filters | None = None) -> dict[str, dict]:
    """id -> result item for the given KPI ids."""
    result = compute(period, filters or Filters(), ids=list(ids))
    items = {k["id"]: k for k in result["kpis"]}
    assert list(items) == [k["id"] for k in result["kpis"]]
    return items


def kpi(kpi_id: str, period: Period = MARCH, filters: Filters | None = None) -> dict:
    """One result item."""
    return kpis(kpi_id, period=period, filters=filters)[kpi_id]


def value(kpi_id: str, period: Period = MARCH, filters: Filters | None = None):
    """The value of one KPI."""
    return kpi(kpi_id, period=period, filters=filters)["value"]


def drill_ids(kpi_id: str, period: Period = MARCH, filters: Filters | None = None) -> set[int]:
    """Primary keys of the rows behind a count KPI."""
    return set(drilldown(kpi_id, period, filters or Filters()).values_list("pk", flat=True))


def target(**kw):
    """An account always on the target list (unless dates given)."""
    return AccountFactory(is_target=True, **kw)


def non_target(**kw):
    """An account never on the target list (the non_abm cohort)."""
    return AccountFactory(is_target=False, **kw)


def touch(account, kind: str, d: dt.date, hour: int = 12, **kw):
    """One touch of ``account`` at ``hour`` on ``d`` (current time zone)."""
    return TouchFactory(account=account, kind=kind, occurred_at=when(d, hour), **kw)


def touches(account, kind: str, d: dt.date, n: int, **kw) -> list:
    """``n`` touches of one kind at distinct minutes on the same day."""
    return [
        TouchFactory(account=account, kind=kind, occurred_at=when(d, 12, i), **kw) for i in range(n)
    ]


def opp(account, **kw):
    """An opportunity; ``amount`` may be given as int."""
    if "amount" in kw:
        kw["amount"] = Decimal(str(kw["amount"]))
    return OpportunityFactory(account=account, **kw)


def won(account, closed_on: dt.date, amount=1000, created_on=None, **kw):
    """A won opportunity (new_business unless ``type`` given)."""
    kw.setdefault("type", "new_business")
    return opp(
        account,
        status="won",
        closed_on=closed_on,
        created_on=created_on,
        amount=amount,
        **kw,
    )


def lost(account, closed_on: dt.date, amount=1000, created_on=None, **kw):
    kw.setdefault("type", "new_business")
    return opp(
        account, status="lost", closed_on=closed_on, created_on=created_on, amount=amount, **kw
    )


LONG_AGO = dt.date(2023, 6, 1)


def make_customer(closed_on: dt.date = LONG_AGO, **account_kw):
    """An account with a won new_business opportunity closed on ``closed_on``."""
    account = account_kw.pop("account", None)
    if account is None:
        account = target(**account_kw)
    elif account_kw:
        raise TypeError("give account fields to the factory that made `account`")
    won(account, closed_on, amount=1000, created_on=closed_on)
    return account


def strong_contact(account, d: dt.date, meetings: int = 10) -> None:
    """Two-way contact heavy enough to cap the relationship score at 100 on ``d``.

    10 meetings x weight 8 = 80 decayed points > full scale 60, so the score as of
    the end of ``d`` is 100 whatever the exact decay arithmetic; 30 days later the
    same meetings are worth about half (40 -> 66.7 points), a drop of ~33 >= 5.
    """
    person = StakeholderFactory(account=account)
    touches(account, "meeting", d, meetings, stakeholder=person, direction="outbound")


def weekly_signals(account, topic: str, first_week: dt.date, weeks: int, score, **kw) -> None:
    """One intent signal per week (Mondays) with the same score."""
    for i in range(weeks):
        IntentSignalFactory(
            account=account,
            topic=topic,
            week=first_week + dt.timedelta(weeks=i),
            score=Decimal(str(score)),
            **kw,
        )
