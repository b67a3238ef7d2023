"""Exact stage history: every change of an account's funnel stage, on the day it happened.

An account's stage is a step function of its events: joining or leaving the
target list, engagement touches (and the end of the engagement window after
the last of them), opportunities opening and closing, the first win, churn,
renewals and expansions. The history is computed from those events, not by
comparing sampled snapshots, so it is the same whatever the snapshot
schedule, backfill step or order; rerunning anything changes nothing.

Set-based, per range of account ids: the days on which a stage *may* change
(checkpoints) are derived from the events in a few queries; the stage at the
end of each checkpoint day comes from the one statement of the stage rules
(``funnel.stages``) evaluated over all checkpoints at once; a window over
each account's checkpoints keeps the days the stage differs from the day
before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Count,
    DateField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, Lag, Lead, TruncDate
from django.utils import timezone

from abm_site.db import day_start
from accounts.models import Account, ListMembership
from engagement.choices import ENGAGEMENT_KINDS
from engagement.models import Touch
from events.choices import EventType
from events.services import EventDraft, events_record

from .choices import OpportunityType, Stage
from .definitions import definitions_resolve
from .models import AccountStageChange, Opportunity, StageCheckpoint
from .stages import stage_expression, stage_facts


def _scopes(first_id: int, last_id: int, account_ids: Iterable[int] | None) -> tuple[Q, Q]:
    """The range as a condition on rows that carry an account, and on accounts."""
    rows = Q(account_id__gte=first_id, account_id__lte=last_id)
    accounts = Q(pk__gte=first_id, pk__lte=last_id)
    if account_ids is not None:
        ids = list(account_ids)
        rows &= Q(account_id__in=ids)
        accounts &= Q(pk__in=ids)
    return rows, accounts


def _engagement_islands(scope: Q, window: int) -> list[QuerySet]:
    """Days engagement may start or stop: the first day of each run of engagement days less
    than ``window`` apart, and ``window`` days after the last day of each run."""
    days = (
        Touch.objects.filter(scope, kind__in=ENGAGEMENT_KINDS)
        .annotate(day=TruncDate("occurred_at"))
        .values("account_id", "day")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_account = {"partition_by": [F("account_id")], "order_by": F("day").asc()}
    gap = ExpressionWrapper(F("day") - dt.timedelta(days=window), output_field=DateField())
    later = ExpressionWrapper(F("day") + dt.timedelta(days=window), output_field=DateField())
    starts = (
        days.annotate(previous=Window(Lag("day"), **by_account))
        .filter(Q(previous__isnull=True) | Q(previous__lte=gap))
        .values(a=F("account_id"), d=F("day"))
    )
    ends = (
        days.annotate(following=Window(Lead("day"), **by_account))
        .filter(Q(following__isnull=True) | Q(following__gte=later))
        .values(a=F("account_id"), d=later)
    )
    return [starts, ends]


def _checkpoint_sources(rows: Q, accounts: Q, params: Mapping[str, Any]) -> list[QuerySet]:
    """Querysets of ``(a, d)`` = (account id, day): every day a stage rule's input changes."""
    own = Account.objects.filter(accounts)
    opportunities = Opportunity.objects.filter(rows)
    intervals = ListMembership.objects.filter(rows, list__is_target=True)
    return [
        own.values(a=F("pk"), d=F("targeted_on")),
        own.values(a=F("pk"), d=F("untargeted_on")),
        # Every interval of the target list, not only the current one (re-targeting).
        intervals.values(a=F("account_id"), d=F("joined_on")),
        intervals.values(a=F("account_id"), d=F("left_on")),
        own.values(a=F("pk"), d=F("churned_on")),
        opportunities.filter(type=OpportunityType.NEW_BUSINESS).values(
            a=F("account_id"), d=F("created_on")
        ),
        opportunities.values(a=F("account_id"), d=F("closed_on")),
        *_engagement_islands(rows, int(params["engagement_window_days"])),
    ]


def _day_before(day) -> ExpressionWrapper:
    return ExpressionWrapper(day - dt.timedelta(days=1), output_field=DateField())


def _fill_checkpoints(sources: list[QuerySet], scope: Q, through: dt.date) -> None:
    table = StageCheckpoint._meta.db_table
    with connection.cursor() as cursor:
        for source in sources:  # a fixed handful of event kinds, not data rows
            sql, params = source.query.sql_with_params()
            cursor.execute(
                f"INSERT INTO {table} (account_id, day, baseline) "  # noqa: S608  # nosec B608 - compiled ORM SQL
                f"SELECT DISTINCT s.a, s.d, %s FROM ({sql}) s "
                "WHERE s.d IS NOT NULL AND s.d <= %s ON CONFLICT DO NOTHING",
                (False, *params, through),
            )
        firsts = (
            StageCheckpoint.objects.filter(scope)
            .values("account_id")
            .annotate(first=Min("day"))
            .values(
                a=F("account_id"),
                d=ExpressionWrapper(F("first") - dt.timedelta(days=1), output_field=DateField()),
            )
        )
        sql, params = firsts.query.sql_with_params()
        cursor.execute(
            f"INSERT INTO {table} (account_id, day, baseline) "  # noqa: S608  # nosec B608 - compiled ORM SQL
            f"SELECT s.a, s.d, %s FROM ({sql}) s",
            (True, *params),
        )


def stage_changes_computed(
    scope: Q, params: Mapping[str, Any]
) -> list[tuple[int, dt.date, str, str]]:
    """``(account_id, day, from_stage, to_stage)`` at every checkpoint of ``scope`` where the
    stage at the end of the day differs from the checkpoint before (the first real
    checkpoint is compared with the baseline, the day before it)."""
    checkpoints = StageCheckpoint.objects.filter(scope)
    staged = (
        checkpoints.annotate(
            **stage_facts("day", params, account_ref="account_id", prefix="account__")
        )
        .annotate(stage=stage_expression("day"))
        .annotate(
            previous=Coalesce(
                Window(Lag("stage"), partition_by=[F("account_id")], order_by=F("day").asc()),
                Value(Stage.NONE),
            )
        )
        .filter(~Q(stage=F("previous")))
        .order_by("account_id", "day")
        .values_list("account_id", "day", "previous", "stage", "baseline")
    )
    # The baseline row only sets where each account starts; it is not a change.
    return [row[:4] for row in staged if not row[4]]


def stage_history_rebuild(
    first_id: int,
    last_id: int,
    through: dt.date,
    account_ids: Iterable[int] | None = None,
    params: Mapping[str, Any] | None = None,
) -> int:
    """Make the recorded stage changes of a range of accounts, up to ``through``, equal the
    history their events give; changes after ``through`` are left alone.

    Rows that already hold are not touched (not even ``updated_at``); changes that
    no longer hold are deleted, missing ones inserted. Returns the rows written or
    deleted. A constant number of queries whatever the range's size.
    """
    params = params if params is not None else definitions_resolve().params
    scope, accounts = _scopes(first_id, last_id, account_ids)
    with transaction.atomic():
        StageCheckpoint.objects.filter(scope).delete()
        _fill_checkpoints(_checkpoint_sources(scope, accounts, params), scope, through)
        wanted = {
            (account_id, day): (frm, to)
            for account_id, day, frm, to in stage_changes_computed(scope, params)
        }
        StageCheckpoint.objects.filter(scope).delete()
        existing = {
            (account_id, day): (pk, frm, to)
            for pk, account_id, day, frm, to in AccountStageChange.objects.filter(
                scope, changed_on__lte=through
            ).values_list("pk", "account_id", "changed_on", "from_stage", "to_stage")
        }
        obsolete = [pk for key, (pk, frm, to) in existing.items() if wanted.get(key) != (frm, to)]
        AccountStageChange.objects.filter(pk__in=obsolete).delete()
        new = [
            AccountStageChange(account_id=account_id, changed_on=day, from_stage=frm, to_stage=to)
            for (account_id, day), (frm, to) in wanted.items()
            if existing.get((account_id, day), (None, None, None))[1:] != (frm, to)
        ]
        AccountStageChange.objects.bulk_create(new, batch_size=5000)
        stage_change_events_record(new, through)
    return len(obsolete) + len(new)


def stage_change_events_record(changes: list[AccountStageChange], through: dt.date) -> int:
    """Record an ``account.stage_changed`` event for each new change dated in the last
    ``ABM_EVENTS_RECENT_DAYS`` days (up to ``through``), in the caller's transaction.

    Older changes (a backfill, a first recompute over years of history) are history,
    not news, so they make no event. The key is the account, day and stages: a rerun
    that deletes and re-inserts the same change records nothing new.
    """
    first_day = timezone.localdate() - dt.timedelta(days=settings.ABM_EVENTS_RECENT_DAYS)
    return events_record(
        EventDraft(
            type=EventType.STAGE_CHANGED,
            key=f"stage:{c.account_id}:{c.changed_on}:{c.from_stage}:{c.to_stage}",
            account_id=c.account_id,
            occurred_at=day_start(c.changed_on),
            payload={
                "changed_on": c.changed_on.isoformat(),
                "from_stage": c.from_stage,
                "to_stage": c.to_stage,
            },
        )
        for c in changes
        if first_day <= c.changed_on <= through
    )
