"""Per-account snapshots, stage changes and per-slice funnel snapshots.

Each write is one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` built from an
ORM queryset, so the figures are computed by the same score and opportunity
expressions the KPI engine uses, set-based over a range of account ids, and a
rerun converges to identical rows: rows whose values did not change are not
touched at all (not even ``updated_at``).
"""

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
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
    When,
)
from django.db.models.functions import Coalesce, JSONObject
from django.utils import timezone

from abm_site.db import PerAccount, day_start
from accounts.models import Account
from engagement.choices import ENGAGEMENT_KINDS, TouchKind
from engagement.models import Touch
from engagement.selectors import (
    engagement_score,
    high_value_patterns,
    intent_surge,
    relationship_score,
    research_grade,
    research_window,
)

from .choices import OpportunityStatus, OpportunityType, Stage
from .models import AccountSnapshot, AccountStageChange, FunnelSnapshot, Opportunity
from .querysets import open_as_of_q
from .selectors import customer_q, first_won_new_business, targeted_expression

#: Snapshot columns written from the computed queryset, in order.
SNAPSHOT_COLUMNS = AccountSnapshot.FIGURES
#: Days of intent history that make the snapshot's surge flag: this week and last.
SURGE_DAYS = 14


def _won_q(type_: str, day: dt.date) -> Q:
    return Q(type=type_, status=OpportunityStatus.WON, closed_on__lte=day)


def stage_expression(day: dt.date) -> Case:
    """The account's funnel stage at the end of ``day`` (DESIGN.md, KPIS.md).

    Highest stage reached and still held: expanded (a customer with a won
    expansion), retained (a customer with a won renewal), customer, opportunity
    (an open new-business opportunity), engaged (a target account with an
    engagement touch in the trailing engagement window), target (on the target
    list), else none. Needs the ``first_won``, ``targeted_now``, ``engaged_now``,
    ``open_new_business``, ``renewed`` and ``expanded`` annotations of
    ``snapshot_queryset``.
    """
    customer = customer_q(day)
    return Case(
        When(customer & Q(expanded=True), then=Value(Stage.EXPANDED)),
        When(customer & Q(renewed=True), then=Value(Stage.RETAINED)),
        When(customer, then=Value(Stage.CUSTOMER)),
        When(open_new_business=True, then=Value(Stage.OPPORTUNITY)),
        When(Q(targeted_now=True) & Q(engaged_now=True), then=Value(Stage.ENGAGED)),
        When(targeted_now=True, then=Value(Stage.TARGET)),
        default=Value(Stage.NONE),
    )


def snapshot_queryset(day: dt.date, first_id: int, last_id: int, account_ids=None) -> QuerySet:
    """Every snapshot figure of the accounts in ``[first_id, last_id]`` as of ``day``.

    One GROUP BY pass joins each account to its touches of the widest window
    any figure reads (``scored``, a filtered relation); the scores are the
    scoring module's aggregate forms (``via="scored"``), so they are the same
    definitions the KPI engine uses. Opportunity, intent and last-touch facts
    are per-account subqueries on small tables or a single index probe,
    evaluated once per account (``PerAccount``), not once per joined touch.
    """
    params = settings.ABM_SCORES
    end = day_start(day + dt.timedelta(days=1))
    counts_begin = end - dt.timedelta(days=int(params["engagement_window_days"]))
    lowest = min(
        counts_begin,
        end - dt.timedelta(days=int(params["relationship_window_days"])),
        research_window(day)[0],
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
    opportunities = Opportunity.objects.filter(account_id=OuterRef("pk")).order_by()
    pipeline = (
        opportunities.filter(open_as_of_q(day))
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
        .annotate(
            first_won=PerAccount(first_won_new_business()),
            targeted_now=PerAccount(targeted_expression(day)),
            engaged_n=Count("scored__id", filter=engagement),
            open_new_business=PerAccount(
                Exists(opportunities.filter(open_as_of_q(day), type=OpportunityType.NEW_BUSINESS))
            ),
            renewed=PerAccount(Exists(opportunities.filter(_won_q(OpportunityType.RENEWAL, day)))),
            expanded=PerAccount(
                Exists(opportunities.filter(_won_q(OpportunityType.EXPANSION, day)))
            ),
        )
        .annotate(
            engaged_now=Case(When(engaged_n__gt=0, then=Value(True)), default=Value(False)),
        )
        .annotate(
            snap_stage=stage_expression(day),
            snap_engagement=engagement_score(day, via="scored"),
            snap_relationship=relationship_score(day, via="scored"),
            snap_research=research_grade(day, patterns=high_value_patterns(), via="scored"),
            snap_surge=PerAccount(intent_surge(day - dt.timedelta(days=SURGE_DAYS - 1), day)),
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


def _distinct(a: str, b: str) -> str:
    if connection.vendor == "postgresql":
        return f"{a} IS DISTINCT FROM {b}"
    return f"{a} IS NOT {b}"


def account_snapshots_upsert(day: dt.date, first_id: int, last_id: int, account_ids=None) -> int:
    """Write (insert or update) the snapshots of a range of accounts for ``day``; rows written."""
    queryset = snapshot_queryset(day, first_id, last_id, account_ids)
    select_sql, params = queryset.query.sql_with_params()
    table = AccountSnapshot._meta.db_table
    now = timezone.now()
    empty_counts = "'{}'" if connection.vendor == "sqlite" else "'{}'::jsonb"
    counts_expr = f"COALESCE(s.snap_counts, {empty_counts})"
    if connection.vendor == "postgresql":
        counts_expr = f"COALESCE(s.snap_counts::jsonb, {empty_counts})"
    insert_columns = ("created_at", "updated_at", "date", "account_id", *SNAPSHOT_COLUMNS)
    values = (
        "%s, %s, %s, s.pk, s.snap_stage, s.targeted_now, "
        "ROUND(CAST(s.snap_engagement AS NUMERIC), 2), "
        "ROUND(CAST(s.snap_relationship AS NUMERIC), 2), s.snap_research, s.snap_surge, "
        f"{counts_expr}, s.snap_engagement_touches, s.snap_last_touch, s.snap_pipeline"
    )
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in SNAPSHOT_COLUMNS)
    changed = " OR ".join(_distinct(f"{table}.{c}", f"EXCLUDED.{c}") for c in SNAPSHOT_COLUMNS)
    sql = (
        f"INSERT INTO {table} ({', '.join(insert_columns)}) "  # noqa: S608 - compiled ORM SQL
        f"SELECT {values} FROM ({select_sql}) s WHERE true "
        f"ON CONFLICT (date, account_id) DO UPDATE SET {updates}, updated_at = EXCLUDED.updated_at "
        f"WHERE {changed}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (now, now, day, *params))
        return cursor.rowcount


def stage_changes_record(day: dt.date, first_id: int, last_id: int, account_ids=None) -> int:
    """Record a stage change where an account's stage on ``day`` differs from its previous snapshot.

    The day's changes of the range are replaced, so a rerun after a data fix
    also removes a change that no longer holds.
    """
    snapshots = AccountSnapshot.objects.filter(
        date=day, account_id__gte=first_id, account_id__lte=last_id
    )
    if account_ids is not None:
        snapshots = snapshots.filter(account_id__in=account_ids)
    previous = (
        AccountSnapshot.objects.filter(account_id=OuterRef("account_id"), date__lt=day)
        .order_by("-date")
        .values("stage")[:1]
    )
    moved = (
        snapshots.annotate(previous_stage=Subquery(previous))
        .filter(previous_stage__isnull=False)
        .exclude(previous_stage=F("stage"))
        .order_by()
        .values("account_id", "previous_stage", "stage")
    )
    select_sql, params = moved.query.sql_with_params()
    table = AccountStageChange._meta.db_table
    now = timezone.now()
    with transaction.atomic():
        stale = AccountStageChange.objects.filter(
            changed_on=day, account_id__gte=first_id, account_id__lte=last_id
        )
        if account_ids is not None:
            stale = stale.filter(account_id__in=account_ids)
        stale.delete()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (created_at, updated_at, account_id, changed_on, "  # noqa: S608  # nosec B608 - compiled ORM SQL
                f"from_stage, to_stage) SELECT %s, %s, m.account_id, %s, m.previous_stage, m.stage "
                f"FROM ({select_sql}) m",
                (now, now, day, *params),
            )
            return cursor.rowcount


def funnel_snapshots_upsert(day: dt.date, window_days: int | None = None) -> int:
    """The KPI engine's catalogue for the trailing window ending ``day``, per slice."""
    from .kpis import Period, compute, funnel_slices

    window_days = window_days or settings.ABM_SNAPSHOT_WINDOW_DAYS
    period = Period(day - dt.timedelta(days=window_days - 1), day)
    existing = dict(
        FunnelSnapshot.objects.filter(date=day, window_days=window_days).values_list(
            "slice", "kpis"
        )
    )
    changed = []
    for slice_name, filters in funnel_slices():
        result = compute(period, filters)
        if existing.get(slice_name) != result:
            changed.append(
                FunnelSnapshot(date=day, window_days=window_days, slice=slice_name, kpis=result)
            )
    # Only rows whose figures changed are written, so a rerun leaves the others untouched.
    FunnelSnapshot.objects.bulk_create(
        changed,
        update_conflicts=True,
        unique_fields=["date", "window_days", "slice"],
        update_fields=["kpis", "updated_at"],
    )
    return len(changed)
