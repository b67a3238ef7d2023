"""Reads for the server-rendered pages.

Each selector returns a queryset or plain data whose query count is fixed
whatever the data size; KPIs themselves always come from ``funnel.kpis``.
Per-account scores on lists come from the snapshots the nightly recompute
writes (one join on the snapshot date), never from recomputing scores per
request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    FilteredRelation,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from accounts.models import Account, target_q
from accounts.selectors import list_names
from engagement.models import Program, Touch
from funnel.kpis import (
    Filters,
    Period,
    cached_by_data_version,
    catalogue,
    compute,
    compute_grouped,
    compute_series,
    definitions_resolve,
    drilldown,
    scope_q,
    series_kpis,
    slice_name,
    spec_for,
)
from funnel.models import (
    AccountSnapshot,
    FunnelSnapshot,
    Opportunity,
    RecomputeRun,
)
from funnel.selectors import latest_revisions

#: Date before any data: a join condition that matches no snapshot.
NO_DATE = dt.date(1900, 1, 1)
#: The headline KPI of each stage, shown as a dashboard card.
HEADLINE_KPIS: dict[int, str] = {
    1: "target_accounts",
    2: "engaged_target_accounts",
    3: "opportunity_accounts",
    4: "won_accounts",
    5: "renewal_rate",
    6: "expansion_accounts",
}


# --- snapshots ---------------------------------------------------------------


def snapshot_date() -> dt.date | None:
    """The day whose account snapshots the lists read.

    The last day a full (nightly or backfill) recompute succeeded for, so a
    marked-accounts run that starts a new day with a handful of accounts
    does not empty the lists; without any run, the newest snapshot day.
    """
    return snapshot_stamp()[0]


def snapshot_stamp() -> tuple[dt.date | None, int | None]:
    """``snapshot_date()`` and the last recompute run that succeeded (any kind), in one
    query: the snapshots the lists read change only with a new successful run."""
    found = RecomputeRun.objects.filter(status=RecomputeRun.Status.SUCCEEDED).aggregate(
        day=Max(
            "date",
            filter=Q(kind__in=(RecomputeRun.Kind.NIGHTLY, RecomputeRun.Kind.BACKFILL)),
        ),
        run=Max("pk"),
    )
    day = found["day"]
    if day is None:
        day = AccountSnapshot.objects.aggregate(day=Max("date"))["day"]
    return day, found["run"]


def surging_q(prefix: str = "") -> Q:
    """A surging account (lists, badges, the dashboard): an intent surge in its snapshot, or
    research grade 2-3. Templates read the ``is_surging`` annotation, never this rule."""
    return Q(**{f"{prefix}intent_surge": True}) | Q(**{f"{prefix}research_grade__gte": 2})


def _flag(q: Q) -> Case:
    return Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField())


def with_latest_snapshot(accounts: QuerySet[Account], day: dt.date | None) -> QuerySet[Account]:
    """Annotate accounts with their snapshot of ``day`` (one LEFT JOIN on (date, account))."""
    return accounts.annotate(
        snap=FilteredRelation("snapshots", condition=Q(snapshots__date=day or NO_DATE))
    ).annotate(
        snap_stage=F("snap__stage"),
        engagement_score=F("snap__engagement_score"),
        relationship_score=F("snap__relationship_score"),
        research_grade=F("snap__research_grade"),
        intent_surge=F("snap__intent_surge"),
        open_pipeline=F("snap__open_pipeline"),
        last_touch_at=F("snap__last_touch_at"),
        is_surging=_flag(surging_q("snap__")),
    )


SORTS: dict[str, tuple[str, str]] = {
    "name": ("name", "Account"),
    "tier": ("tier__rank", "Tier"),
    "grade": ("fit_grade", "Fit grade"),
    "engagement": ("engagement_score", "Engagement score"),
    "relationship": ("relationship_score", "Relationship score"),
    "pipeline": ("open_pipeline", "Open pipeline"),
    "last_touch": ("last_touch_at", "Last touch"),
}


def account_list(
    accounts: QuerySet[Account],
    period: Period,
    filters: Filters,
    *,
    stage: str = "",
    surging: bool = False,
    at_risk: bool = False,
    sort: str = "name",
    day: dt.date | None = None,
    definitions: Any = None,
) -> QuerySet[Account]:
    """Accounts with their latest snapshot figures, filtered and sorted for the list page.

    ``accounts`` is already narrowed by the page's FilterSet (search, grade,
    target list). Sorting by a score reads the snapshot column, so the page
    costs the same few queries on 100,000 accounts.
    """
    generation = _generation(definitions)
    qs = with_latest_snapshot(
        accounts.filter(scope_q(filters, period, cohort=True, generation=generation)), day
    )
    qs = qs.select_related("tier", "owner")
    if stage:
        qs = qs.filter(snap_stage=stage)
    if surging:
        qs = qs.filter(is_surging=True)
    if at_risk:
        risky = drilldown(
            "at_risk_customers",
            period,
            Filters(cohort=filters.cohort, list_id=filters.list_id),
            definitions=definitions,
        )
        qs = qs.filter(pk__in=risky.values("pk"))
    descending = sort.startswith("-")
    field, _ = SORTS.get(sort.lstrip("-"), SORTS["name"])
    order = F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    return qs.order_by(order, "pk")


def surging_accounts(
    period: Period,
    filters: Filters,
    day: dt.date | None,
    limit: int = 10,
    definitions: Any = None,
) -> list[Account]:
    """Top accounts by research grade / intent surge in their latest snapshot."""
    scope = scope_q(filters, period, cohort=True, generation=_generation(definitions))
    qs = with_latest_snapshot(Account.objects.filter(scope), day)
    return list(
        qs.filter(is_surging=True)
        .select_related("tier")
        .order_by(
            F("research_grade").desc(nulls_last=True),
            F("engagement_score").desc(nulls_last=True),
            "pk",
        )[:limit]
    )


def at_risk_accounts(
    period: Period, filters: Filters, limit: int = 10, definitions: Any = None
) -> tuple[list, int]:
    """The first accounts of the ``at_risk_customers`` drill-down and how many there are.

    The drill-down runs once (its ids, by name); the first ``limit`` are then read by id.
    """
    ids = list(
        drilldown("at_risk_customers", period, filters, definitions=definitions)
        .order_by("name", "pk")
        .values_list("pk", flat=True)
    )
    by_id = Account.objects.select_related("tier", "owner").in_bulk(ids[:limit])
    return [by_id[pk] for pk in ids[:limit] if pk in by_id], len(ids)


@dataclass
class DashboardLists:
    """The dashboard's account lists: the snapshot day they read, surging and at risk."""

    day: dt.date | None
    surging: list[Account]
    at_risk: list[Account]
    at_risk_total: int
    #: The first day with data (the earliest touch or opportunity); None with no data.
    data_start: dt.date | None = None

    def before_data(self, period: Period) -> bool:
        """Whether ``period`` starts before the data does (a change against it is not one)."""
        return starts_before_data(period, self.data_start)


# --- what a period's figures can be trusted for ------------------------------------------


def starts_before_data(period: Period, first_day: dt.date | None) -> bool:
    """Whether ``period`` starts before the first day with data (or there is no data): its
    counts are partly empty, so a change against it is no change. The one rule for the
    pages, the API and the e-mailed reports."""
    return first_day is None or period.start < first_day


def ends_after_today(period: Period, today: dt.date | None = None) -> bool:
    """Whether ``period`` ends after today: the days after today have no data yet."""
    return period.end > (today or timezone.localdate())


@dataclass(frozen=True)
class PeriodStatus:
    """A period against today and the data: what a reader must know before trusting it."""

    period: Period
    data_start: dt.date | None
    today: dt.date

    @property
    def ends_after_today(self) -> bool:
        return ends_after_today(self.period, self.today)

    @property
    def before_data(self) -> bool:
        return starts_before_data(self.period, self.data_start)

    def note(self) -> str:
        """The sentence the pages show for a period starting before the data ("" if not)."""
        if not self.before_data:
            return ""
        since = (
            f"the first touch or opportunity is on {_day(self.data_start)}"
            if self.data_start
            else "there are no touches or opportunities yet"
        )
        return (
            f"This period starts on {_day(self.period.start)}, before the data does ({since}): "
            "the days before then have no data, so counts and rates cover only part of it."
        )

    def echo(self) -> dict[str, Any]:
        """The API's fields for the period echo."""
        return {
            "ends_after_today": self.ends_after_today,
            "starts_before_data": self.before_data,
            "data_start": self.data_start.isoformat() if self.data_start else None,
        }


def _day(day: dt.date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def first_day() -> dt.date | None:
    """``data_start()`` cached under the data version (it changes only with the data)."""
    return cached_by_data_version("data-start", (), data_start)


def period_status(period: Period, today: dt.date | None = None) -> PeriodStatus:
    """``period`` against today and the first day with data (cached: usually no query
    beyond the data version's)."""
    return PeriodStatus(period, first_day(), today or timezone.localdate())


def data_start() -> dt.date | None:
    """The first day with data: the earliest touch or opportunity creation (one query)."""
    first_touch = Touch.objects.order_by().aggregate(first=Min("occurred_at"))["first"]
    found = Opportunity.objects.order_by().aggregate(first=Min("created_on"))["first"]
    if first_touch is not None:
        touched = timezone.localtime(first_touch).date()
        found = touched if found is None else min(found, touched)
    return found


def dashboard_lists(period: Period, filters: Filters, definitions: Any) -> DashboardLists:
    """The surging and at-risk lists, cached under the data version (as KPI results are).

    Their queries (the snapshot join, the at-risk drill-down) are the heavy part
    of a warm dashboard: 0.65 s at 20,000 accounts. Keyed by the snapshot run
    they read as well, since snapshots are not KPI input.
    """
    day, run = snapshot_stamp()
    rules = definitions if definitions is not None else definitions_resolve()
    scope = (period, filters, rules.pk, rules.generation, day, run)

    def build() -> DashboardLists:
        risky, total = at_risk_accounts(period, filters, definitions=rules)
        surging = surging_accounts(period, filters, day, definitions=rules)
        return DashboardLists(day, surging, risky, total, data_start())

    return cached_by_data_version("dashboard-lists", scope, build)


# --- KPI helpers ----------------------------------------------------------------


def kpi_items(result: dict) -> dict[str, dict]:
    return {item["id"]: item for item in result["kpis"]}


def stage_kpi_ids(stage: int, definitions: Any = None) -> list[str]:
    """The KPIs of ``stage`` in the catalogue of the definitions version."""
    return [spec.id for spec in catalogue(_generation(definitions)) if spec.stage == stage]


def _generation(definitions: Any) -> int:
    return definitions.generation if definitions is not None else definitions_resolve().generation


@dataclass
class Trend:
    """Values of KPIs over snapshot days, for sparklines."""

    slice: str | None
    dates: list[dt.date]
    series: dict[str, list[float | None]]

    @property
    def empty(self) -> bool:
        return len(self.dates) == 0


#: Map KPIs whose card trend is their total over parts (the ``count`` their snapshots store
#: beside the map), and the scalar KPI with that same total, whose live series stands in
#: for it (maps have no live series): the target accounts over all tiers.
MAP_TOTALS: dict[str, str] = {"target_accounts_by_tier": "target_accounts"}


def funnel_trend(
    period: Period, filters: Filters, ids: list[str], definitions: Any = None
) -> Trend:
    """KPI values from the published snapshots of the matching slice, up to the period's end.

    The latest revision of each day, under the definitions version in force
    (or ``definitions``). Window ``ABM_SNAPSHOT_WINDOW_DAYS`` (the nightly
    window); the days shown are those within the period, or within the last
    90 days before its end when the period is shorter. One query.
    """
    name = slice_name(filters)
    if name is None:
        return Trend(None, [], {})
    span = max(period.days, 90)
    rules = definitions if definitions is not None else definitions_resolve()
    rows = latest_revisions(
        FunnelSnapshot.objects.filter(
            slice=name,
            window_days=settings.ABM_SNAPSHOT_WINDOW_DAYS,
            definitions=rules,
            date__gt=period.end - dt.timedelta(days=span),
            date__lte=period.end,
        )
    ).order_by("date")
    dates: list[dt.date] = []
    series: dict[str, list[float | None]] = {i: [] for i in ids}
    for row in rows.values("date", "kpis"):
        items = {k.get("id"): k for k in (row["kpis"] or {}).get("kpis", [])}
        dates.append(row["date"])
        for kpi_id in ids:
            item = items.get(kpi_id, {})
            value = item.get("count" if kpi_id in MAP_TOTALS else "value")
            series[kpi_id].append(value if isinstance(value, int | float) else None)
    return Trend(name, dates, series)


#: A live trend's slice name (a ``Trend`` computed by the engine, not read from snapshots).
LIVE = "live"


def live_trend(
    period: Period, filters: Filters, ids: list[str], definitions: Any = None, bucket: str = "week"
) -> Trend:
    """The KPIs ``ids`` by week over the period (at least 13 weeks), computed live for any
    filters: the trend of cards whose filters have no snapshot slice, or no snapshots yet.

    KPIs without a series (maps, spend and other runner sources) are left out. One
    ``compute_series`` call: one statement per source, cached like ``compute``.
    """
    rules = definitions if definitions is not None else definitions_resolve()
    totals = {MAP_TOTALS[i]: i for i in ids if i in MAP_TOTALS}
    wanted = set(ids) | set(totals)
    shown = [s.id for s in series_kpis(catalogue(rules.generation)) if s.id in wanted]
    if not shown:
        return Trend(LIVE, [], {})
    span = Period(min(period.start, period.end - dt.timedelta(days=13 * 7 - 1)), period.end)
    result = compute_series(span, filters, shown, bucket, rules)
    dates = [dt.date.fromisoformat(p["period"]["to"]) for p in result["points"]]
    series: dict[str, list[float | None]] = {i: [] for i in shown}
    for point in result["points"]:  # the buckets: at most 53
        for item in point["kpis"]:
            value = item.get("value")
            series[item["id"]].append(value if isinstance(value, int | float) else None)
    for total, map_id in totals.items():  # a map's line: the series of its total
        series[map_id] = series[total] if total in ids else series.pop(total)
    return Trend(LIVE, dates, series)


def card_trend(period: Period, filters: Filters, ids: list[str], definitions: Any = None) -> Trend:
    """The published snapshots' trend where the filters' slice has two points or more (the
    record), else the live one."""
    trend = funnel_trend(period, filters, ids, definitions)
    if len(trend.dates) >= 2:
        return trend
    return live_trend(period, filters, ids, definitions)


@dataclass
class MonthRow:
    """One KPI's months: its item (label, unit) and, oldest first, each month's item with
    the month before's (``before``; None for the first month shown)."""

    item: dict[str, Any]
    months: list[dict[str, Any]]


def month_over_month(
    end: dt.date, filters: Filters, ids: list[str], definitions: Any = None, months: int = 6
) -> tuple[list[Period], list[MonthRow]]:
    """The last ``months`` calendar months up to ``end`` (the last one to date) of ``ids``,
    a row per KPI: one ``compute_series`` call."""
    first = end.replace(day=1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    result = compute_series(Period(first, end), filters, ids, "month", definitions)
    periods = [
        Period(dt.date.fromisoformat(p["period"]["from"]), dt.date.fromisoformat(p["period"]["to"]))
        for p in result["points"]
    ]
    # A month to date is not compared with the whole month before it: ten days' counts
    # against thirty-one read as a fall.
    partial = (end + dt.timedelta(days=1)).day != 1
    rows = []
    for i, item in enumerate(result["points"][-1]["kpis"]):  # the KPIs asked for: a handful
        items = [point["kpis"][i] for point in result["points"]]
        cells = [
            {
                "item": it,
                "before": items[j - 1] if j and not (partial and j == len(items) - 1) else None,
            }
            for j, it in enumerate(items)
        ]
        rows.append(MonthRow(item, cells))
    return periods, rows


# --- programs ---------------------------------------------------------------------


def program_names(ids: set[int | None]) -> dict[int, str]:
    """Names of the programs ``ids`` (None, "no program", left out): one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(Program.objects.filter(pk__in=wanted).values_list("pk", "name"))


PROGRAM_KPIS = [
    "engaged_target_accounts",
    "opportunity_accounts",
    "won_accounts",
    "cost_per_engaged_account",
    "cost_per_opportunity_account",
    "cost_per_won_account",
    "influenced_pipeline",
]


def program_rows(
    period: Period, filters: Filters, definitions: Any = None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One row per ABM program (the engine's KPIs with ``Filters(program=(pk,))``), and the
    totals: the same KPIs over all programs at once, so account counts are distinct accounts
    (an account engaged by two programs counts once), not a sum of the rows.

    Queries: one for the programs and one grouped computation for every program and the
    totals at once (``compute_grouped``: one pass per source): the count does not grow
    with the number of programs; ``tests/reports`` pins it.
    """
    programs = list(Program.objects.order_by("name"))
    if not programs:
        return [], None
    scoped = dataclasses.replace(filters, program=())

    def figures(result: dict[str, Any]) -> dict[str, Any]:
        items = kpi_items(result)
        return {"kpis": items, "spend": items["cost_per_engaged_account"].get("numerator")}

    keys = [p.pk for p in programs]
    grouped = compute_grouped(
        period, scoped, "program", keys, PROGRAM_KPIS, definitions, union=True
    )
    rows = [{"program": p, **figures(grouped[p.pk])} for p in programs]
    return rows, figures(grouped[None])


COHORT_TIER_KPIS = [
    "target_accounts",
    "engaged_rate",
    "opportunity_rate",
    "target_account_win_rate",
    "opportunity_win_rate",
    "average_deal_value",
    "sales_cycle_days",
    "new_revenue_won",
    "renewal_rate",
    "expansion_rate",
    "net_promoter_score",
]


def tier_rows(
    period: Period, filters: Filters, tiers: list[tuple[int, str]], definitions: Any = None
) -> list[dict[str, Any]]:
    """One row per tier: the cohort page's KPIs with ``Filters(tier=(pk,))``, all tiers in
    one grouped computation (``compute_grouped``)."""
    grouped = compute_grouped(
        period, filters, "tier", [pk for pk, _ in tiers], COHORT_TIER_KPIS, definitions
    )
    return [{"pk": pk, "name": name, "kpis": kpi_items(grouped[pk])} for pk, name in tiers]


# --- published snapshots ------------------------------------------------------------


def published_snapshots(slice_name: str, definitions: Any, limit: int = 90) -> list[dict]:
    """The days a slice was published under ``definitions``, newest first: how many
    revisions each has, when it was first published and last restated. One query."""
    return list(
        FunnelSnapshot.objects.filter(slice=slice_name, definitions=definitions)
        .values("date", "window_days")
        .annotate(
            revisions=Count("pk"),
            first_at=Min("created_at"),
            last_at=Max("created_at"),
        )
        .order_by("-date", "window_days")[:limit]
    )


# --- status -------------------------------------------------------------------------

#: Above this many rows (PostgreSQL's estimate) a table's count is shown as an estimate.
ESTIMATE_ABOVE = 1_000_000


def table_estimate(model) -> int | None:
    """PostgreSQL's row estimate for the model's table (``pg_class.reltuples``)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


def data_counts() -> list[dict[str, Any]]:
    """Row counts for the status page: a few aggregate queries, touches estimated when huge."""
    today = timezone.localdate()
    accounts = Account.objects.aggregate(
        total=Count("pk"), targets=Count("pk", filter=target_q(today))
    )
    estimate = table_estimate(Touch)
    if estimate is not None and estimate > ESTIMATE_ABOVE:
        touches, about = estimate, True
    else:
        touches, about = Touch.objects.count(), False
    opportunities = Opportunity.objects.aggregate(
        total=Count("pk"),
        open=Count("pk", filter=Q(status="open")),
        pipeline=Sum("amount", filter=Q(status="open")),
    )
    snapshots = AccountSnapshot.objects.aggregate(total=Count("pk"), latest=Max("date"))
    funnel = FunnelSnapshot.objects.aggregate(total=Count("pk"), latest=Max("date"))
    return [
        {"label": "Accounts", "value": accounts["total"], "about": False},
        {"label": "Target accounts (today)", "value": accounts["targets"], "about": False},
        {"label": "Touches", "value": touches, "about": about},
        {"label": "Opportunities", "value": opportunities["total"], "about": False},
        {"label": "Open opportunities", "value": opportunities["open"], "about": False},
        {
            "label": "Account snapshots",
            "value": snapshots["total"],
            "about": False,
            "note": f"latest {snapshots['latest']}" if snapshots["latest"] else "none yet",
        },
        {
            "label": "Funnel snapshots",
            "value": funnel["total"],
            "about": False,
            "note": f"latest {funnel['latest']}" if funnel["latest"] else "none yet",
        },
    ]


def recompute_runs(limit: int = 20) -> list[RecomputeRun]:
    return list(RecomputeRun.objects.order_by("-started_at")[:limit])


# --- list scorecards ----------------------------------------------------------------------

#: The scorecard's rows: each stage's headline count, rate or amount (stages 1-6).
SCORECARD_KPIS: tuple[str, ...] = (
    "target_accounts",
    "engaged_rate",
    "opportunity_rate",
    "opportunity_win_rate",
    "target_account_pipeline",
    "new_revenue_won",
    "renewal_rate",
    "expansion_rate",
)
#: Lists a scorecard sets side by side at most (one KPI computation per list).
SCORECARD_MAX_LISTS = 3
#: ``compare=`` values: one list across the period and the one before it.
SCORECARD_COMPARE = ("previous",)


@dataclass(frozen=True)
class ScorecardColumn:
    """One column of a scorecard: an account list over a period."""

    key: str
    list_id: int
    name: str
    period: Period

    @property
    def label(self) -> str:
        """The list's name; with the dates where the columns compare periods."""
        if self.key.startswith("list_"):
            return self.name
        return f"{self.name} ({self.period.start:%b %-d, %Y} – {self.period.end:%b %-d, %Y})"


def scorecard_columns(
    raw_ids: list[str], compare: str, period: Period
) -> tuple[list[ScorecardColumn], dict[str, list[str]]]:
    """The scorecard's columns from ``list=`` (repeated) and ``compare=``, and the problems
    found, keyed by parameter, each naming the value and how to fix it (one query).

    Up to three lists side by side over ``period``, or one list over ``period`` and the
    period before (``compare=previous``). Bad values are left out; the rest still show."""
    problems: dict[str, list[str]] = {}
    ids: list[int] = []
    for raw in raw_ids:
        try:
            pk = int(raw)
            if pk < 1:
                raise ValueError
        except ValueError:
            problems.setdefault("list", []).append(
                f"List: {raw!r} is not a list id; use the ids of /lists/ (GET /api/v1/lists/)."
            )
            continue
        if pk not in ids:
            ids.append(pk)
    if len(ids) > SCORECARD_MAX_LISTS:
        problems.setdefault("list", []).append(
            f"List: at most {SCORECARD_MAX_LISTS} lists side by side (got {len(ids)}: "
            f"{', '.join(map(str, ids))}); showing the first {SCORECARD_MAX_LISTS}, "
            "remove the others."
        )
        ids = ids[:SCORECARD_MAX_LISTS]
    if compare and compare not in SCORECARD_COMPARE:
        problems.setdefault("compare", []).append(
            f"Compare: {compare!r} is not a comparison; use compare=previous (one list, this "
            "period against the one before) or leave it out."
        )
        compare = ""
    if compare and len(ids) > 1:
        problems.setdefault("compare", []).append(
            f"Compare: compare=previous sets one list against its previous period (got "
            f"{len(ids)} lists); showing the lists side by side instead."
        )
        compare = ""
    names = list_names(ids) if ids else {}
    for pk in ids:
        if pk not in names:
            problems.setdefault("list", []).append(
                f"List: no account list has id {pk} (see /lists/); left out."
            )
    known = [pk for pk in ids if pk in names]
    if compare and known:
        pk = known[0]
        return [
            ScorecardColumn("current", pk, names[pk], period),
            ScorecardColumn("previous", pk, names[pk], period.previous()),
        ], problems
    return [ScorecardColumn(f"list_{pk}", pk, names[pk], period) for pk in known], problems


def list_scorecard(
    columns: list[ScorecardColumn], filters: Filters, definitions: Any = None
) -> list[dict[str, Any]]:
    """The scorecard's rows: per KPI of ``SCORECARD_KPIS``, its spec and the result item
    (value with numerator/denominator or count) under each column's key.

    One ``compute`` per column, with the column's list as the ABM cohort (the bar's cohort
    where it sets one, else ``abm``: each list's own members, also for stages 5-6 whose
    default is every account). Columns are at most three (``SCORECARD_MAX_LISTS``) or two
    (one list over two periods): a bounded number of computations, each of a query count
    constant in data size.
    """
    cohort = filters.cohort or "abm"
    results = {
        c.key: kpi_items(
            compute(
                c.period,
                dataclasses.replace(filters, list_id=c.list_id, cohort=cohort),
                ids=SCORECARD_KPIS,
                definitions=definitions,
            )
        )
        for c in columns
    }
    generation = _generation(definitions)
    return [
        {"spec": spec_for(kpi_id, generation), **{k: items[kpi_id] for k, items in results.items()}}
        for kpi_id in SCORECARD_KPIS
    ]


# The account page's reads, in their own module for size; imported last because they use
# the snapshot helpers above (surging_q, _flag).
from .accounts import account_intent as account_intent  # noqa: E402
from .accounts import account_nps as account_nps  # noqa: E402
from .accounts import account_opportunities as account_opportunities  # noqa: E402
from .accounts import account_scores_date as account_scores_date  # noqa: E402
from .accounts import account_snapshot_series as account_snapshot_series  # noqa: E402
from .accounts import account_stage_history as account_stage_history  # noqa: E402
from .accounts import account_stakeholders as account_stakeholders  # noqa: E402
from .accounts import account_timeline_entries as account_timeline_entries  # noqa: E402
from .accounts import account_touches as account_touches  # noqa: E402

# The drill-down lists' reads (sorting by any column, the figure included), split for size.
from .drills import drill_accounts as drill_accounts  # noqa: E402
from .drills import drill_figures as drill_figures  # noqa: E402
from .drills import drill_ids as drill_ids  # noqa: E402
from .drills import drill_opportunities as drill_opportunities  # noqa: E402
from .drills import drill_page as drill_page  # noqa: E402
from .drills import drill_rows as drill_rows  # noqa: E402
from .drills import with_figures as with_figures  # noqa: E402
