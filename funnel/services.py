"""Writes of the funnel app: opportunities and NPS responses; the snapshot recompute.

Snapshots, stage changes and recompute runs are written by the recompute only
(``funnel.recompute``); ``day_compute`` and ``marked_compute`` are its entry points
for commands and other apps.
"""

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Count

from accounts.services import account_row_delete, account_row_save

from .definitions import definitions_resolve
from .history import stage_history_rebuild
from .models import FunnelSnapshot, NpsResponse, Opportunity
from .recompute import day_compute, marked_compute
from .snapshots import funnel_snapshots_upsert

__all__ = [
    "day_compute",
    "funnel_history_publish",
    "marked_compute",
    "nps_response_create",
    "nps_response_delete",
    "nps_response_update",
    "opportunity_create",
    "opportunity_delete",
    "opportunity_update",
    "stage_history_rebuild",
]


def opportunity_create(**fields: Any) -> Opportunity:
    return account_row_save(Opportunity(), fields)


def opportunity_update(opportunity: Opportunity, **fields: Any) -> Opportunity:
    return account_row_save(opportunity, fields)


def opportunity_delete(opportunity: Opportunity) -> None:
    account_row_delete(opportunity)


def nps_response_create(**fields: Any) -> NpsResponse:
    return account_row_save(NpsResponse(), fields)


def nps_response_update(response: NpsResponse, **fields: Any) -> NpsResponse:
    return account_row_save(response, fields)


def nps_response_delete(response: NpsResponse) -> None:
    account_row_delete(response)


def funnel_history_publish(
    days: Iterable[dt.date], slices: Iterable[str] = ("all",), reason: str = "history"
) -> int:
    """Publish the catalogue of ``slices`` for each of ``days`` not yet published; rows written.

    Why: a new install (the demo) has one snapshot day, so no KPI card has a trend.
    Each day goes through the nightly publication (``funnel_snapshots_upsert``: same
    window, definitions and revision rules), so the history holds real figures only.
    Days whose slices all have a snapshot (default definitions, nightly window) are
    skipped, so a rerun resumes. One catalogue compute per day and slice: a fixed list
    of days, never of rows; one query finds the days already published.
    """
    only = set(slices)
    days = list(days)
    rules = definitions_resolve()
    published = (
        FunnelSnapshot.objects.filter(
            date__in=days,
            slice__in=only,
            definitions=rules,
            window_days=settings.ABM_SNAPSHOT_WINDOW_DAYS,
        )
        .values("date")
        .annotate(n=Count("slice", distinct=True))
        .filter(n=len(only))
        .values_list("date", flat=True)
    )
    done = set(published)
    return sum(
        funnel_snapshots_upsert(day, reason=reason, only=only) for day in days if day not in done
    )
