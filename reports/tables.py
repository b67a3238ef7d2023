"""One column declaration per table, for its page and its CSV export (as NetBox's tables).

A page lists its ``Column``\\ s once: the CSV writes each column's raw value
under its ``name``; the page shows its ``label`` and the value formatted by
its ``unit`` (or its own ``html``), linked where ``href`` says. The template
partial ``partials/table.html`` renders any ``Table``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from abm_site.exports import csv_response
from funnel.choices import stage_name
from funnel.kpis import format_count, wilson_interval

from .templatetags.report_tags import dash, duration, format_unit, kpi_value, qs

#: Units a column's value is shown in; the KPI units plus plain text and dates.
UNITS = ("text", "count", "money", "score", "ratio", "days", "date", "datetime", "choice")


@dataclass(frozen=True)
class Column:
    """One column: its CSV name, page label, value, and how the page shows it."""

    name: str
    label: str
    value: Callable[[Any], Any]
    unit: str = "text"
    href: Callable[[Any, dict], str | None] | None = None
    html: Callable[[Any, dict], str] | None = None
    sort: str | None = None
    page: bool = True
    csv: bool = True

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"Column {self.name!r}: unknown unit {self.unit!r}")

    @property
    def numeric(self) -> bool:
        return self.unit in ("count", "money", "score", "ratio", "days")

    @property
    def ascending_first(self) -> bool:
        """Whether a first click on the heading sorts A to Z (text) rather than the largest
        or newest first (numbers, dates)."""
        return not self.numeric and self.unit not in ("date", "datetime")

    def shown(self, row: Any, context: dict, decimals: int | None = None) -> SafeString | str:
        """The cell as the page shows it (a count with ``decimals``: its column's precision)."""
        if self.html is not None:
            return self.html(row, context)
        value = self.value(row)
        if self.unit == "count" and decimals is not None and value not in (None, ""):
            text: Any = format_count(value, decimals)
        elif self.unit in ("count", "money", "score", "ratio", "days"):
            text = format_unit(value, self.unit)
        elif value is None or value == "":
            text = dash("empty")
        elif self.unit in ("date", "datetime"):
            text = format_html(
                '<time datetime="{}">{}</time>', value.isoformat(), _when(value, self.unit)
            )
        else:
            text = str(value)
        href = self.href(row, context) if self.href else None
        return format_html('<a href="{}">{}</a>', href, text) if href else text


@dataclass(frozen=True)
class Cell:
    html: SafeString | str
    numeric: bool
    header: bool = False
    #: A numeric cell's raw value, for sorting in the browser (``static/js/sort.js``);
    #: empty where there is none (no data sorts last).
    sort: str = ""


def _fractional(value: Any) -> bool:
    """Whether a count has a fractional part (a mean of counts, minutes)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number != int(number)


def _sort_key(column: Column, row: Any) -> str:
    if not column.numeric:
        return ""
    try:
        value = column.value(row)
    except (AttributeError, KeyError, TypeError):  # a row without this figure ("no program")
        return ""
    return "" if value is None or isinstance(value, dict) else str(value)


@dataclass
class Table:
    """Columns, and the rows of one page rendered for ``partials/table.html``."""

    columns: Sequence[Column]
    headers: list[Column] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    row_class: Callable[[Any], str] | None = None
    classes: list[str] = field(default_factory=list)
    foot: list[Cell] = field(default_factory=list)

    def render(self, rows: Iterable[Any], foot: Any = None, **context: Any) -> Table:
        """A copy holding ``rows`` as page cells (the first column as the row's header), and
        ``foot`` (a totals row) under them."""
        shown = [c for c in self.columns if c.page]
        table = Table(self.columns, headers=shown, row_class=self.row_class)
        rows = list(rows)
        # One precision per count column: whole numbers, or one decimal for every cell
        # once one is fractional (never "103", "93.50" and "263.5" in one column).
        decimals = {
            c.name: 1 if any(_fractional(c.value(r)) for r in rows) else 0
            for c in shown
            if c.unit == "count" and c.html is None
        }

        def cells(row: Any) -> list[Cell]:
            return [
                Cell(
                    c.shown(row, context, decimals.get(c.name)),
                    c.numeric,
                    header=i == 0,
                    sort=_sort_key(c, row),
                )
                for i, c in enumerate(shown)
            ]

        for row in rows:
            table.rows.append(cells(row))
            table.classes.append(self.row_class(row) if self.row_class else "")
        table.foot = cells(foot) if foot is not None else []
        return table

    @property
    def body(self) -> list[tuple[str, list[Cell]]]:
        return list(zip(self.classes, self.rows, strict=True))

    def csv(self, filename: str, rows: Iterable[Any]) -> HttpResponse:
        """The CSV export of ``rows``: every CSV column's raw value, streamed."""
        columns = [c for c in self.columns if c.csv]
        data = ([_csv_value(c.value(row)) for c in columns] for row in rows)
        return csv_response(filename, [c.name for c in columns], data)


def _when(value: dt.date, unit: str) -> str:
    """A date (or the local date of a moment), or a moment to the second, as the pages show it."""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.strftime("%Y-%m-%d %H:%M:%S" if unit == "datetime" else "%Y-%m-%d")
    return value.isoformat()


def _csv_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


# --- the pages' tables ------------------------------------------------------------------------


def _account_url(pk: int, context: dict) -> str:
    return reverse("reports:account_detail", args=[pk]) + qs(context["rq"])


def _name_cell(a: Any, context: dict) -> SafeString:
    """The account's name linked to its page, a surging badge, and its domain."""
    badge = (
        format_html(
            ' <span class="badge hot" title="intent surge or research grade {}/3">surging</span>',
            a.research_grade,
        )
        if getattr(a, "is_surging", False)
        else ""
    )
    return format_html(
        '<a href="{}">{}</a>{}<br><span class="muted small">{}</span>',
        _account_url(a.pk, context),
        a.name,
        badge,
        a.domain or "",
    )


def _owner(owner: Any) -> str:
    """The owner's name (an owner record: a CRM person, maybe a user)."""
    return owner.name if owner else ""


ACCOUNTS = Table(
    [
        Column("account_id", "Id", lambda a: a.pk, page=False),
        Column("name", "Account", lambda a: a.name, html=_name_cell, sort="name"),
        Column("domain", "Domain", lambda a: a.domain, page=False),
        Column("tier", "Tier", lambda a: a.tier.name if a.tier else "", sort="tier"),
        Column("fit_grade", "Fit", lambda a: a.fit_grade, sort="grade"),
        Column("owner", "Owner", lambda a: _owner(a.owner)),
        Column("stage", "Stage", lambda a: stage_name(a.snap_stage)),
        Column(
            "engagement_score",
            "Engagement",
            lambda a: a.engagement_score,
            "score",
            sort="engagement",
        ),
        Column(
            "relationship_score",
            "Relationship",
            lambda a: a.relationship_score,
            "score",
            sort="relationship",
        ),
        Column("research_grade", "Research", lambda a: a.research_grade, "count", page=False),
        Column("intent_surge", "Intent surge", lambda a: a.intent_surge, page=False),
        Column(
            "open_pipeline", "Open pipeline", lambda a: a.open_pipeline, "money", sort="pipeline"
        ),
        Column("last_touch_at", "Last touch", lambda a: a.last_touch_at, "date", sort="last_touch"),
    ]
)

DRILL_ACCOUNTS = Table(
    [
        Column("account_id", "Id", lambda a: a.pk, page=False),
        Column(
            "name",
            "Account",
            lambda a: a.name,
            href=lambda a, c: _account_url(a.pk, c),
            sort="name",
        ),
        Column("domain", "Domain", lambda a: a.domain, sort="domain"),
        Column("tier", "Tier", lambda a: a.tier.name if a.tier else "", sort="tier"),
        Column("fit_grade", "Fit", lambda a: a.fit_grade, sort="grade"),
        Column("owner", "Owner", lambda a: _owner(a.owner), sort="owner"),
        Column("stage", "Stage", lambda a: stage_name(a.snap_stage), sort="stage"),
        Column(
            "engagement_score",
            "Engagement",
            lambda a: a.engagement_score,
            "score",
            sort="engagement",
        ),
        Column(
            "relationship_score",
            "Relationship",
            lambda a: a.relationship_score,
            "score",
            sort="relationship",
        ),
    ]
)


def _cycle_days(o) -> int | None:
    """Days from creation to close (the sales cycle's row), blank while open or undated."""
    if o.closed_on is None or o.created_on is None:
        return None
    return (o.closed_on - o.created_on).days


DRILL_OPPORTUNITIES = Table(
    [
        Column("opportunity_id", "Id", lambda o: o.pk, page=False),
        Column("name", "Opportunity", lambda o: o.name, sort="name"),
        Column("account_id", "Account id", lambda o: o.account_id, page=False),
        Column(
            "account",
            "Account",
            lambda o: o.account.name,
            href=lambda o, c: _account_url(o.account_id, c),
            sort="account",
        ),
        Column(
            "type", "Type", lambda o: o.type, html=lambda o, c: o.get_type_display(), sort="type"
        ),
        Column(
            "status",
            "Status",
            lambda o: o.status,
            html=lambda o, c: o.get_status_display(),
            sort="status",
        ),
        Column("amount", "Amount", lambda o: o.amount, "money", sort="amount"),
        Column("created_on", "Created", lambda o: o.created_on, "date", sort="created"),
        Column("closed_on", "Closed", lambda o: o.closed_on, "date", sort="closed"),
        Column("cycle_days", "Sales cycle", _cycle_days, "days", sort="cycle"),
    ]
)


def drill_table(drills_to: str | None, figure: Any = None) -> Table:
    """The drill-down table of accounts or opportunities, with a column for what each row
    contributes to the KPI (``figure``: touches, minutes, days, a score) unless a column
    of the table already shows it (an opportunity's amount or cycle days)."""
    table = DRILL_OPPORTUNITIES if drills_to == "opportunity" else DRILL_ACCOUNTS
    if figure is None or any(c.label == figure.label for c in table.columns):
        return table
    unit = "count" if figure.unit == "map" else figure.unit
    column = Column(
        "contribution", figure.label, lambda r: getattr(r, "figure", None), unit, sort="figure"
    )
    return Table([*table.columns, column])


PROGRAM_CREDITS = Table(
    [  # one unpaginated list in the server's order: no sort links
        *(replace(c, sort=None) for c in DRILL_OPPORTUNITIES.columns),
        Column("share", "Share", lambda r: r.credit_share, "ratio"),
        Column("credited", "Credited", lambda r: r.credit_amount, "money"),
        Column("credited_pre", "Before creation", lambda r: r.credit_pre, "money"),
        Column("credited_post", "After creation", lambda r: r.credit_post, "money"),
    ]
)


@dataclass(frozen=True)
class AllPrograms:
    """The programs page's totals row stands in a program's place: every program at once."""

    pk: tuple[int, ...]
    name: str = "All programs (distinct accounts)"
    program_type: str = ""

    def get_program_type_display(self) -> str:
        return ""


@dataclass(frozen=True)
class NoProgram:
    """The programs page's "no program" row: opportunities with no program touch in their
    attribution window."""

    pk: None = None
    name: str = "No program"
    program_type: str = ""

    def get_program_type_display(self) -> str:
        return ""


def _program_link(r: dict, context: dict, kpi_id: str | None = None) -> str | None:
    if r["program"].pk is None:
        return None
    base = (
        reverse("reports:kpi_drilldown", args=[kpi_id]) if kpi_id else reverse("reports:dashboard")
    )
    return base + qs(context["rq"], program=r["program"].pk)


def _program_kpi(kpi_id: str, label: str, drill: bool = False, name: str = "") -> Column:
    def shown(r: dict, context: dict) -> SafeString:
        if kpi_id not in r["kpis"]:  # the "no program" row
            return dash("not a program")
        text = kpi_value(r["kpis"][kpi_id])
        return (
            format_html('<a href="{}">{}</a>', _program_link(r, context, kpi_id), text)
            if drill
            else text
        )

    def value(r: dict) -> Any:
        item = r["kpis"].get(kpi_id)
        return item["value"] if item else None

    return Column(name or kpi_id, label, value, "count", html=shown)


def _credit(attribute: str) -> Callable[[dict], Any]:
    return lambda r: getattr(r["credit"], attribute)


def _ratio(numerator: Any, denominator: Any) -> Decimal | None:
    return Decimal(str(numerator or 0)) / Decimal(str(denominator)) if denominator else None


def _roi(r: dict) -> Any:
    """Attributed revenue / the row's spend (None without spend)."""
    spend = r.get("spend")
    return _ratio(r.get("roi_revenue", r["credit"].revenue), spend)


def _cost_per_opportunity(r: dict) -> Any:
    spend, n = r.get("spend"), r["credit"].pipeline_opportunities
    return _ratio(spend, n) if spend else None


def _credit_link(basis: str) -> Callable[[dict, dict], str | None]:
    """The drill-down of a program row's attributed figure (not of the totals row)."""

    def href(r: dict, context: dict) -> str | None:
        program = r["program"]
        if isinstance(program, AllPrograms):
            return None
        name = "reports:program_credits" if program.pk else "reports:no_program_credits"
        url = reverse(name, args=[program.pk] if program.pk else [])
        return url + qs(context["rq"], basis=basis, model=context.get("model"))

    return href


#: Attribution columns (definitions version 2): one attribution of the page's slice.
ATTRIBUTION_COLUMNS = [
    Column(
        "attributed_pipeline",
        "Attributed pipeline",
        _credit("pipeline"),
        "money",
        href=_credit_link("pipeline"),
    ),
    Column(
        "attributed_revenue",
        "Attributed revenue",
        _credit("revenue"),
        "money",
        href=_credit_link("revenue"),
    ),
    Column("attributed_revenue_pre", "Revenue pre-opp.", _credit("revenue_pre"), "money"),
    Column("attributed_revenue_post", "Revenue post-opp.", _credit("revenue_post"), "money"),
    Column("attribution_roi", "ROI", _roi, "ratio"),
    Column(
        "cost_per_attributed_opportunity", "Cost per attr. opp.", _cost_per_opportunity, "money"
    ),
    Column(
        "attributed_opportunities",
        "Attributed opps",
        _credit("pipeline_opportunities"),
        "count",
        page=False,
    ),
]


PROGRAMS = Table(
    [
        Column("program_id", "Id", lambda r: r["program"].pk, page=False),
        Column(
            "program",
            "Program",
            lambda r: r["program"].name,
            href=lambda r, c: _program_link(r, c),
        ),
        Column(
            "type",
            "Type",
            lambda r: r["program"].program_type,
            html=lambda r, c: r["program"].get_program_type_display() or "—",
        ),
        Column("spend", "Spend", lambda r: r["spend"], "money"),
        _program_kpi(
            "engaged_target_accounts", "Engaged accounts", drill=True, name="engaged_accounts"
        ),
        _program_kpi("opportunity_accounts", "Opportunity accounts", drill=True),
        _program_kpi("won_accounts", "Won accounts", drill=True),
        _program_kpi("cost_per_engaged_account", "Cost per engaged"),
        _program_kpi("cost_per_opportunity_account", "Cost per opportunity"),
        _program_kpi("cost_per_won_account", "Cost per won"),
        _program_kpi("influenced_pipeline", "Influenced pipeline"),
    ]
)

#: The programs page under definitions version 2: the same columns and the attribution.
PROGRAMS_ATTRIBUTED = Table(
    [*PROGRAMS.columns, *ATTRIBUTION_COLUMNS],
    # "No program" stays under the programs when the table is sorted in the browser.
    row_class=lambda r: "pinned" if isinstance(r["program"], NoProgram) else "",
)

RUNS = Table(
    [
        Column("date", "Date", lambda r: r.date, "date"),
        Column("kind", "Kind", lambda r: r.kind, html=lambda r, c: r.get_kind_display()),
        Column("status", "Status", lambda r: r.status, html=lambda r, c: r.get_status_display()),
        Column("started_at", "Started", lambda r: r.started_at, "datetime"),
        Column("finished_at", "Finished", lambda r: r.finished_at, "datetime"),
        Column(
            "duration_seconds",
            "Duration",
            lambda r: (r.finished_at - r.started_at).total_seconds() if r.finished_at else None,
            "count",
            html=lambda r, c: duration(r),
        ),
        Column("accounts", "Accounts", lambda r: r.accounts, "count"),
        Column(
            "error",
            "Error",
            lambda r: r.error,
            html=lambda r, c: Truncator(r.error).chars(200) if r.error else "—",
        ),
    ],
    row_class=lambda r: "bad" if r.status == "failed" else "",
)


def _definition(spec: Any) -> SafeString:
    return format_html(
        '<span class="def" tabindex="0" title="{}">{}<span class="tip" role="tooltip">{}</span></span>',
        spec.definition,
        spec.label,
        spec.definition,
    )


KPI_LABEL = Column(
    "label", "KPI", lambda r: r["spec"].label, html=lambda r, c: _definition(r["spec"])
)


#: Below this many rows (deals, opportunities, responses) a value is marked a small sample.
MIN_SAMPLE = 30


def _with_sample(value: Any, unit: str, basis: dict | None) -> SafeString | str:
    """A cohort value with the sample it rests on: n, a 95 % Wilson interval for a rate,
    and a marker under ``MIN_SAMPLE``, so one deal is not read as a difference."""
    shown = format_unit(value, unit)
    if not basis or unit == "count":  # a count is its own sample size
        return shown
    n = basis.get("n") or 0
    note = format_html('<span class="sample muted small">n = {}</span>', f"{n:,}")
    if unit == "ratio" and "numerator" in basis and n:
        low, high = wilson_interval(basis["numerator"], n)
        note += format_html(
            ' <span class="ci muted small" title="95 % Wilson interval">{}–{}</span>',
            format_unit(low, "ratio"),
            format_unit(high, "ratio"),
        )
    if 0 < n < MIN_SAMPLE:
        note += format_html(
            ' <span class="badge hot" title="Fewer than {} rows: read with care">small</span>',
            MIN_SAMPLE,
        )
    return format_html("{} {}", shown, note)


def _by_unit(key: str, label: str, name: str = "") -> Column:
    return Column(
        name or key,
        label,
        lambda r: r.get(key),
        "count",
        html=lambda r, c: _with_sample(r.get(key), r["spec"].unit, r.get(f"{key}:basis")),
    )


def _sample_size(key: str, name: str) -> Column:
    """The CSV's n beside each cohort value."""
    return Column(
        f"{name}_n", f"{name} n", lambda r: (r.get(f"{key}:basis") or {}).get("n"), page=False
    )


def cohort_tables(tiers: list[tuple[int, str]]) -> tuple[Table, Table, Table]:
    """The cohorts page: ABM against non-ABM, tier against tier, and both as one CSV.

    Rows are dicts: ``spec`` (the KPI), ``abm`` / ``non_abm`` or ``tier:<id>`` values.
    """
    dashboard = reverse("reports:dashboard")
    section = Column("section", "Section", lambda r: r["section"], page=False)
    metric = Column("metric", "Metric", lambda r: r["spec"].id, page=False)
    unit = Column("unit", "Unit", lambda r: r["spec"].unit, page=False)
    abm = _by_unit("abm", "ABM (target list)")
    non_abm = _by_unit("non_abm", "Non-ABM")
    tier_columns = [
        _by_unit(
            f"tier:{pk}", format_html('<a href="{}?tier={}">{}</a>', dashboard, pk, name), name
        )
        for pk, name in tiers
    ]
    sizes = [_sample_size("abm", "abm"), _sample_size("non_abm", "non_abm")]
    sizes += [_sample_size(f"tier:{pk}", f"tier:{name}") for pk, name in tiers]
    return (
        Table([KPI_LABEL, abm, non_abm]),
        Table([KPI_LABEL, *tier_columns]),
        Table([section, metric, KPI_LABEL, unit, abm, non_abm, *tier_columns, *sizes]),
    )


KPI_ITEMS = Table(
    [
        Column(name, name, lambda item, key=name: item.get(key))
        for name in (
            "id",
            "stage",
            "label",
            "unit",
            "cohort",
            "part",
            "value",
            "numerator",
            "denominator",
            "count",
            "total",
        )
    ]
)


def _group_part(group: str, key: str) -> Callable[[dict], Any]:
    return lambda item: (item.get(group) or {}).get(key)


def _ci_part(key: str) -> Callable[[dict], Any]:
    return lambda item: (item.get("ci95") or {}).get(key)


#: The lift page's CSV: each lift KPI of ``compute()`` with both groups and its interval.
LIFT_ITEMS = Table(
    [
        *(Column(name, name, lambda item, key=name: item.get(key)) for name in ("id", "label")),
        Column("unit", "unit", lambda item: item.get("unit")),
        *(
            Column(f"{group}_{key}", f"{group}_{key}", _group_part(group, key))
            for group in ("treated", "held_out")
            for key in ("n", "numerator", "total", "value")
        ),
        Column("difference", "difference", lambda item: item.get("difference")),
        Column("relative_difference", "relative", lambda item: item.get("relative_difference")),
        *(Column(f"ci95_{key}", f"ci95_{key}", _ci_part(key)) for key in ("low", "high", "method")),
        Column("warning", "warning", lambda item: item.get("warning")),
        Column("reason", "reason", lambda item: item.get("reason")),
    ]
)
KPI_ITEMS_WITH_PREVIOUS = Table(
    [*KPI_ITEMS.columns, Column("previous_value", "Previous", lambda item: item.get("previous"))]
)


def _revisions_link(row: dict, context: dict) -> str:
    return reverse("reports:snapshot_list") + qs(
        context["rq"],
        slice=context["slice"],
        day=row["date"].isoformat(),
        window=row["window_days"],
    )


PUBLISHED = Table(
    [
        Column("date", "Day", lambda r: r["date"], "date", href=_revisions_link),
        Column("window_days", "Window (days)", lambda r: r["window_days"], "count"),
        Column("revisions", "Revisions", lambda r: r["revisions"], "count"),
        Column("first_published", "First published", lambda r: r["first_at"], "datetime"),
        Column("last_published", "Last revised", lambda r: r["last_at"], "datetime"),
    ],
    row_class=lambda r: "restated" if r["revisions"] > 1 else "",
)


def _scorecard_cell(item: dict | None, unit: str) -> SafeString | str:
    """A scorecard value with the counts behind it: a rate's numerator / denominator, a sum's
    rows."""
    if item is None:
        return dash("empty")
    shown = format_unit(item.get("value"), unit)
    if "denominator" in item:
        behind = f"{format_unit(item['numerator'], 'count')} / {format_unit(item['denominator'], 'count')}"
    elif unit != "count" and "count" in item:
        behind = f"{format_unit(item['count'], 'count')} rows"
    else:
        return shown
    return format_html('{}<br><span class="muted small behind">{}</span>', shown, behind)


def scorecard_table(columns: Sequence[Any], query: str = "") -> Table:
    """The list scorecard: a KPI per row, a list (or period) per column. The page shows each
    value over its counts; the CSV has value, numerator and denominator (or count) per column.

    ``columns`` are ``reports.selectors.ScorecardColumn``\\ s (``key``, ``label``, ``list_id``);
    each header links to its list's page with ``query`` (the page's period and filters).
    """
    shown: list[Column] = []
    for c in columns:
        href = reverse("reports:list_detail", args=[c.list_id]) + (f"?{query}" if query else "")
        shown.append(
            Column(
                c.key,
                format_html('<a href="{}">{}</a>', href, c.label),
                lambda r, k=c.key: r[k].get("value"),
                "count",
                html=lambda r, ctx, k=c.key: _scorecard_cell(r.get(k), r["spec"].unit),
            )
        )
    counts = [
        Column(
            f"{c.key}_{part}", f"{c.key} {part}", lambda r, k=c.key, p=part: r[k].get(p), page=False
        )
        for c in columns
        for part in ("numerator", "denominator", "count")
    ]
    metric = Column("metric", "Metric", lambda r: r["spec"].id, page=False)
    unit = Column("unit", "Unit", lambda r: r["spec"].unit, page=False)
    stage = Column("stage", "Stage", lambda r: r["spec"].stage, page=False)
    return Table([KPI_LABEL, stage, metric, unit, *shown, *counts])
