"""Per-account snapshots, stage changes and per-slice funnel snapshots.

Each write is one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` built from an
ORM queryset, so the figures are computed by the same score and opportunity
expressions the KPI engine uses, set-based over a range of account ids, and a
rerun converges to identical rows: rows whose values did not change are not
touched at all (not even ``updated_at``).
"""

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from abm_site.db import PerAccount, day_start
from accounts.models import Account
from engagement.choices import ENGAGEMENT_KINDS, TouchKind
from engagement.models import Touch
from engagement.selectors import (
    engagement_score,
    high_value_patterns_for,
    intent_surge,
    relationship_score,
    research_grade,
    research_window,
)
from events.choices import EventType
from events.services import EventDraft, events_record

from .definitions import definitions_mark_used, definitions_resolve
from .models import (
    AccountSnapshot,
    DefinitionsVersion,
    FunnelSnapshot,
    Opportunity,
)
from .querysets import open_as_of_q
from .selectors import latest_revisions, restated_kpis
from .stages import flag, stage_expression, stage_facts

#: Snapshot columns written from the computed queryset, in order.
SNAPSHOT_COLUMNS = AccountSnapshot.FIGURES
#: Days of intent history that make the snapshot's surge flag: this week and last.
SURGE_DAYS = 14


def snapshot_queryset(
    day: dt.date, first_id: int, last_id: int, account_ids=None, params=None
) -> QuerySet:
    """Every snapshot figure of the accounts in ``[first_id, last_id]`` as of ``day``.

    One GROUP BY pass joins each account to its touches of the widest window
    any figure reads (``scored``, a filtered relation); the scores are the
    scoring module's aggregate forms (``via="scored"``), so they are the same
    definitions the KPI engine uses. Opportunity, intent and last-touch facts
    are per-account subqueries on small tables or a single index probe,
    evaluated once per account (``PerAccount``), not once per joined touch.
    ``params``: the default definitions version's when not given.
    """
    params = params if params is not None else definitions_resolve().params
    end = day_start(day + dt.timedelta(days=1))
    counts_begin = end - dt.timedelta(days=int(params["engagement_window_days"]))
    lowest = min(
        counts_begin,
        end - dt.timedelta(days=int(params["relationship_window_days"])),
        research_window(day, params)[0],
    )
    accounts = Account.objects.filter(pk__gte=first_id, pk__lte=last_id)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=account_ids)
    in_counts = Q(scored__occurred_at__gte=counts_begin)
    engagement = in_counts & Q(scored__kind__in=ENGAGEMENT_KINDS)
    last_touch = (
        Touch.objects.filter(account_id=OuterRef("pk"), occurred_at__lt=end)
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    pipeline = (
        Opportunity.objects.filter(account_id=OuterRef("pk"))
        .order_by()
        .filter(open_as_of_q(day))
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    money = DecimalField(max_digits=16, decimal_places=2)
    return (
        accounts.annotate(
            scored=FilteredRelation(
                "touches",
                condition=Q(touches__occurred_at__gte=lowest, touches__occurred_at__lt=end),
            )
        )
        .annotate(engaged_n=Count("scored__id", filter=engagement))
        .annotate(**stage_facts(day, params, engaged_now=flag(Q(engaged_n__gt=0))))
        .annotate(
            snap_stage=stage_expression(day),
            snap_engagement=engagement_score(day, via="scored", params=params),
            snap_relationship=relationship_score(day, via="scored", params=params),
            snap_research=research_grade(
                day, patterns=_patterns(params), via="scored", params=params
            ),
            snap_surge=PerAccount(
                intent_surge(day - dt.timedelta(days=SURGE_DAYS - 1), day, params=params)
            ),
            snap_counts=JSONObject(
                **{
                    k: Count("scored__id", filter=in_counts & Q(scored__kind=k))
                    for k in TouchKind.values
                }
            ),
            snap_engagement_touches=F("engaged_n"),
            snap_last_touch=PerAccount(Subquery(last_touch)),
            snap_pipeline=PerAccount(
                Coalesce(Subquery(pipeline, output_field=money), Value(0), output_field=money)
            ),
        )
        .order_by()
        .values(
            "pk",
            "snap_stage",
            "targeted_now",
            "snap_engagement",
            "snap_relationship",
            "snap_research",
            "snap_surge",
            "snap_counts",
            "snap_engagement_touches",
            "snap_last_touch",
            "snap_pipeline",
        )
    )


def _patterns(params) -> list[str]:
    return high_value_patterns_for(params)


def _distinct(a: str, b: str) -> str:
    if connection.vendor == "postgresql":
        return f"{a} IS DISTINCT FROM {b}"
    return f"{a} IS NOT {b}"


def account_snapshots_upsert(day: dt.date, first_id: int, last_id: int, account_ids=None) -> int:
    """Write (insert or update) the snapshots of a range of accounts for ``day``; rows written.

    Under the default definitions version, which each row records (and which is marked used:
    a version that made a published score is never edited).
    """
    rules = definitions_resolve()
    definitions_mark_used(rules)
    queryset = snapshot_queryset(day, first_id, last_id, account_ids, params=rules.params)
    select_sql, params = queryset.query.sql_with_params()
    table = AccountSnapshot._meta.db_table
    now = timezone.now()
    empty_counts = "'{}'" if connection.vendor == "sqlite" else "'{}'::jsonb"
    counts_expr = f"COALESCE(s.snap_counts, {empty_counts})"
    if connection.vendor == "postgresql":
        counts_expr = f"COALESCE(s.snap_counts::jsonb, {empty_counts})"
    written_columns = (*SNAPSHOT_COLUMNS, "definitions_id")
    insert_columns = ("created_at", "updated_at", "date", "account_id", *written_columns)
    values = (
        "%s, %s, %s, s.pk, s.snap_stage, s.targeted_now, "
        "ROUND(CAST(s.snap_engagement AS NUMERIC), 2), "
        "ROUND(CAST(s.snap_relationship AS NUMERIC), 2), s.snap_research, s.snap_surge, "
        f"{counts_expr}, s.snap_engagement_touches, s.snap_last_touch, s.snap_pipeline, %s"
    )
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in written_columns)
    changed = " OR ".join(_distinct(f"{table}.{c}", f"EXCLUDED.{c}") for c in written_columns)
    sql = (
        f"INSERT INTO {table} ({', '.join(insert_columns)}) "  # noqa: S608 - compiled ORM SQL
        f"SELECT {values} FROM ({select_sql}) s WHERE true "
        f"ON CONFLICT (date, account_id) DO UPDATE SET {updates}, updated_at = EXCLUDED.updated_at "
        f"WHERE {changed}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (now, now, day, rules.pk, *params))
        written = cursor.rowcount
    signal_events_record(day, first_id, last_id, account_ids)
    return written


def signal_events_record(day: dt.date, first_id: int, last_id: int, account_ids=None) -> int:
    """Events for the accounts whose snapshot of ``day`` starts an intent surge or a research
    spike (grade 2 or 3) that their snapshot of the day before did not have.

    In the caller's transaction, right after the snapshots are written; keyed by account
    and day, so recomputing the day again records nothing new. Days older than
    ``ABM_EVENTS_RECENT_DAYS`` (a backfill) make no events. One query to find them.
    """
    if day < timezone.localdate() - dt.timedelta(days=settings.ABM_EVENTS_RECENT_DAYS):
        return 0
    snapshots = AccountSnapshot.objects.filter(
        date=day, account_id__gte=first_id, account_id__lte=last_id
    )
    if account_ids is not None:
        snapshots = snapshots.filter(account_id__in=account_ids)
    before = AccountSnapshot.objects.filter(
        account_id=OuterRef("account_id"), date=day - dt.timedelta(days=1)
    )
    starts = (
        snapshots.annotate(
            was_surging=Exists(before.filter(intent_surge=True)),
            was_researching=Exists(before.filter(research_grade__gte=2)),
        )
        .filter(
            Q(intent_surge=True, was_surging=False)
            | Q(research_grade__gte=2, was_researching=False)
        )
        .values_list(
            "account_id", "intent_surge", "was_surging", "research_grade", "was_researching"
        )
    )
    drafts = []
    occurred = day_start(day)
    for account_id, surge, was_surging, grade, was_researching in starts:
        if surge and not was_surging:
            drafts.append(
                EventDraft(
                    EventType.INTENT_SURGE,
                    f"intent_surge:{account_id}:{day}",
                    {"day": day.isoformat()},
                    account_id,
                    occurred,
                )
            )
        if grade >= 2 and not was_researching:
            drafts.append(
                EventDraft(
                    EventType.RESEARCH_SPIKE,
                    f"research_spike:{account_id}:{day}",
                    {"day": day.isoformat(), "research_grade": grade},
                    account_id,
                    occurred,
                )
            )
    return events_record(drafts)


def funnel_snapshots_upsert(
    day: dt.date,
    window_days: int | None = None,
    reason: str = "recompute",
    definitions: DefinitionsVersion | int | str | None = None,
    only: set[str] | None = None,
) -> int:
    """Publish the catalogue for the trailing window ending ``day``, per slice; rows written.

    Under the default definitions version unless given. History is kept: a slice
    whose figures equal its latest revision is left alone, a slice seen for the
    first time gets revision 1, and different figures get the next revision with
    ``reason`` and how many KPIs changed; no revision is ever overwritten.
    ``only`` restricts the slices (a marked recompute refreshes the ones its accounts
    belong to).
    """
    from .kpis import Period

    rules = definitions_resolve(definitions)
    window_days = window_days or settings.ABM_SNAPSHOT_WINDOW_DAYS
    period = Period(day - dt.timedelta(days=window_days - 1), day)
    latest = {
        row.slice: row
        for row in latest_revisions(
            FunnelSnapshot.objects.filter(date=day, window_days=window_days, definitions=rules)
        )
    }
    added = []
    for slice_name, result in _slice_results(period, rules, only).items():
        previous = latest.get(slice_name)
        if previous is not None and previous.kpis == result:
            continue
        if previous is None:
            revision, why = 1, f"{reason}: first publication"
        else:
            changed = len(restated_kpis(previous.kpis, result))
            revision = previous.revision + 1
            why = f"{reason}: {changed} KPI{'s' if changed != 1 else ''} changed"
        added.append(
            FunnelSnapshot(
                date=day,
                window_days=window_days,
                slice=slice_name,
                definitions=rules,
                revision=revision,
                reason=why[:200],
                kpis=result,
            )
        )
    # A concurrent run that published the same revision first wins; nothing is overwritten.
    FunnelSnapshot.objects.bulk_create(added, ignore_conflicts=True)
    return len(added)


def _slice_results(
    period: Any, rules: DefinitionsVersion, only: set[str] | None
) -> dict[str, dict[str, Any]]:
    """Slice name -> the catalogue for that slice, in ``funnel_slices`` order, every slice in
    one grouped computation (``compute_slices``: each source's rows read once for all, the
    cohorts, the tiers and the programs, each a flag of them; version 2's view-through and
    spend once more for the programs, whose windows and spend are their own). A slice
    without a list leaves out the KPIs that need one (the lift KPIs: null there), so its
    figures hold no placeholders."""
    from .kpis import Filters, compute_slices, funnel_slices, slice_kpi_ids

    slices = [(n, f) for n, f in funnel_slices() if only is None or n in only]
    # No slice has a list: the same KPIs for every one.
    ids = slice_kpi_ids(Filters(), rules.generation)
    computed = compute_slices(period, [f for _, f in slices], ids=ids, definitions=rules)
    return {name: result for (name, _), result in zip(slices, computed, strict=True)}
