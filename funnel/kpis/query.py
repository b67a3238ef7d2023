"""Periods and filters as people and integrations name them, parsed in one place.

The page form, the KPI API's serializer, the ``kpis`` command, the nightly
recompute and the cache warmer all take their defaults and checks from here,
so "the last 90 days" or "tier 7 does not exist" mean the same everywhere.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef
from django.utils import timezone

from .base import Filters, Period

#: The period presets of the pages, in menu order ("custom" takes from/to).
PRESETS: tuple[tuple[str, str], ...] = (
    ("last_30", "Last 30 days"),
    ("last_90", "Last 90 days"),
    ("qtd", "Quarter to date"),
    ("last_quarter", "Last quarter"),
    ("ytd", "Year to date"),
    ("custom", "Custom range"),
)
DEFAULT_PRESET = "last_90"
#: Length of the default period (the API's ``from`` defaults to this many days before ``to``).
DEFAULT_DAYS = 90
#: The longest period accepted (ten years): beyond it a figure means nothing.
MAX_PERIOD_DAYS = 3660
#: Dates outside this range are refused (the engine compares the previous period too).
EARLIEST_DAY = dt.date(1900, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)


def last_complete_day(today: dt.date | None = None) -> dt.date:
    """Yesterday in the deployment's time zone: the last day whose data is complete."""
    return (today or timezone.localdate()) - dt.timedelta(days=1)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def preset_period(preset: str, today: dt.date | None = None) -> Period:
    """The period a preset names, ending yesterday (the last complete day).

    "Last quarter" is the whole calendar quarter before the one yesterday
    falls in; "quarter/year to date" run from the start of yesterday's
    quarter/year to yesterday; anything else is the default (last 90 days).
    """
    yesterday = last_complete_day(today)
    if preset == "last_30":
        return Period(yesterday - dt.timedelta(days=29), yesterday)
    if preset == "qtd":
        return Period(_quarter_start(yesterday), yesterday)
    if preset == "ytd":
        return Period(dt.date(yesterday.year, 1, 1), yesterday)
    if preset == "last_quarter":
        end = _quarter_start(yesterday) - dt.timedelta(days=1)
        return Period(_quarter_start(end), end)
    return Period(yesterday - dt.timedelta(days=DEFAULT_DAYS - 1), yesterday)


def default_period(today: dt.date | None = None) -> Period:
    """The period every surface shows when none is asked for."""
    return preset_period(DEFAULT_PRESET, today)


class PeriodError(ValueError):
    """A period that cannot be used; ``field`` is ``"from"`` or ``"to"``."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def period_between(
    start: dt.date | None,
    end: dt.date | None,
    *,
    labels: tuple[str, str] = ("'from'", "'to'"),
    today: dt.date | None = None,
) -> Period:
    """``[start, end]`` with the defaults filled in; ``PeriodError`` naming the bad end.

    Messages have no final full stop: callers add their own ending.

    A missing ``end`` is yesterday; a missing ``start`` is ``DEFAULT_DAYS`` days
    before ``end``. ``labels`` are the names the caller's users know the two
    ends by (``'from'``, ``--from``, ``From:``), used in the messages.
    """
    end = end or last_complete_day(today)
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    for field, label, day in (("from", labels[0], start), ("to", labels[1], end)):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise PeriodError(field, f"{label} must be between {EARLIEST_DAY} and {LATEST_DAY}")
    if start > end:
        raise PeriodError("from", f"{labels[0]} {start} is after {labels[1]} {end}")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise PeriodError(
            "from", f"the period may be at most {MAX_PERIOD_DAYS} days long ({start} to {end})"
        )
    return Period(start, end)


def filter_choices() -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[tuple[int, str]]]:
    """(tiers, programs, owners) as (id, label) lists: three small queries.

    Owners (``accounts.Owner``: users or CRM people) who own at least one account.
    """
    from accounts.models import Account, Owner, Tier
    from engagement.models import Program

    tiers = list(Tier.objects.order_by("rank").values_list("pk", "name"))
    programs = list(Program.objects.order_by("name").values_list("pk", "name"))
    owners = list(
        Owner.objects.filter(Exists(Account.objects.filter(owner_id=OuterRef("pk"))))
        .order_by("name", "pk")
        .values_list("pk", "name")
    )
    return tiers, programs, owners


def unknown_ids(kind: str, ids: list[int] | tuple[int, ...]) -> list[int]:
    """The ids of ``kind`` (tier, program, owner, list) that name nothing: one query."""
    from accounts.models import AccountList, Owner, Tier
    from engagement.models import Program

    model = {"tier": Tier, "program": Program, "owner": Owner, "list": AccountList}[kind]
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    return [i for i in wanted if i not in found]


def unknown_filter_ids(filters: Filters) -> dict[str, list[int]]:
    """Filter name -> ids in ``filters`` that name nothing (empty when all are known)."""
    kinds = ("tier", "program", "owner")
    missing = {kind: unknown_ids(kind, getattr(filters, kind)) for kind in kinds}
    if filters.list_id is not None:
        missing["list"] = unknown_ids("list", (filters.list_id,))
    return {kind: ids for kind, ids in missing.items() if ids}
