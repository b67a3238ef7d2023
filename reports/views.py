"""Server-rendered pages: thin adapters that parse the query, call selectors or the KPI
engine, and render a template (or a CSV download of the same table)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from engagement.models import Program
from events.choices import EventType
from events.selectors import event_list, event_text
from funnel.choices import Stage
from funnel.kpis import (
    ATTRIBUTION_MODEL_LABELS,
    ATTRIBUTION_MODELS,
    BUCKETS,
    DENOMINATOR,
    NUMERATOR,
    REGISTRY,
    STAGE_TITLES,
    KpiSpec,
    NoDrilldown,
    Period,
    ProgramCredit,
    SeriesUnavailable,
    attribution_available,
    attribution_version_model,
    compute,
    compute_series,
    drilldown,
    drilldowns_within,
    funnel_slices,
    kpi_series,
    program_attribution,
    program_opportunity_credits,
    sample_basis,
    spec_for,
)
from funnel.selectors import recompute_health, snapshot_restatements
from ingest import selectors as ingest_selectors

from . import selectors, tables
from .context_processors import STAGES
from .forms import (
    ReportQuery,
    report_query,
)
from .selectors import HEADLINE_KPIS

PAGE_SIZE = 50


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def page(
    request: HttpRequest, template: str, rq: ReportQuery | None, context: dict
) -> HttpResponse:
    """Render a report page with the period/filter bar (the navigation comes from
    ``reports.context_processors.navigation``, for every page)."""
    context["rq"] = rq
    return render(request, template, context)


def _kpi_csv(filename: str, items: list[dict], previous: dict | None = None) -> HttpResponse:
    """The KPI items of a page as CSV, with the previous values: a map (the funnel, stage
    velocity, tiers) is one row per part ("engaged_target_accounts.count"), so a
    spreadsheet reads numbers, not JSON in a cell."""
    rows = []
    for item in items:
        before = (previous or {}).get(item["id"], {}).get("value")
        if not isinstance(item.get("value"), dict):
            rows.append(dict(item, part="", previous=before))
            continue
        earlier = dict(_leaves(before)) if isinstance(before, dict) else {}
        for part, value in _leaves(item["value"]):
            rows.append(dict(item, part=part, value=value, previous=earlier.get(part)))
    table = tables.KPI_ITEMS if previous is None else tables.KPI_ITEMS_WITH_PREVIOUS
    return table.csv(filename, rows)


def _leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every non-map value inside a KPI's map value."""
    if not isinstance(value, dict):
        return [(prefix, value)]
    found: list[tuple[str, Any]] = []
    for key, inner in value.items():
        found += _leaves(inner, f"{prefix}.{key}" if prefix else str(key))
    return found


def _period_name(rq: ReportQuery) -> str:
    return f"{rq.period.start:%Y%m%d}-{rq.period.end:%Y%m%d}"


def _note_period(rq: ReportQuery, status: selectors.PeriodStatus) -> selectors.PeriodStatus:
    """Add the page's note for a period starting before the data (the note for one ending
    after today comes with the query, on every page)."""
    if status.before_data:
        rq.messages.append(status.note())
    return status


# --- dashboard ---------------------------------------------------------------------------


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The funnel, each stage's headline KPI against the previous period, surging and at-risk."""
    rq = report_query(request)
    headline = list(HEADLINE_KPIS.values())
    flow = ["funnel_flow"] if rq.definitions.generation >= 2 else []
    current = selectors.kpi_items(
        compute(
            rq.period,
            rq.filters,
            ids=["funnel", *flow, "stage_velocity_days", *headline],
            definitions=rq.definitions,
        )
    )
    lists = selectors.dashboard_lists(rq.period, rq.filters, rq.definitions)
    # A comparison period that starts before the data does is no comparison (its counts
    # are partly empty): say so instead of showing a change such as "+112.4 %".
    before_data = lists.before_data(rq.previous)
    _note_period(rq, selectors.PeriodStatus(rq.period, lists.data_start, timezone.localdate()))
    previous: dict[str, dict] = {}
    if not before_data:
        previous = selectors.kpi_items(
            compute(rq.previous, rq.filters, ids=headline, definitions=rq.definitions)
        )
    if wants_csv(request):
        return _kpi_csv(f"dashboard-{_period_name(rq)}.csv", list(current.values()), previous)
    trend = selectors.card_trend(rq.period, rq.filters, headline, rq.definitions)
    months, month_rows = selectors.month_over_month(
        rq.period.end, rq.filters, headline, rq.definitions
    )
    cards = [
        {
            "stage": n,
            "name": STAGE_TITLES[n],
            "item": current[kpi_id],
            "previous": previous.get(kpi_id),
            "trend": trend.series.get(kpi_id, []),
            "drill": current[kpi_id].get("unit") != "map"
            and spec_for(kpi_id, rq.definitions.generation).drilldown is not None,
        }
        for n, kpi_id in HEADLINE_KPIS.items()
    ]
    return page(
        request,
        "reports/dashboard.html",
        rq,
        {
            "funnel": current["funnel"],
            "flow": current.get("funnel_flow"),
            "velocity": current["stage_velocity_days"],
            "cards": cards,
            "before_data": before_data,
            "data_start": lists.data_start,
            "previous_period": rq.previous,
            "trend": trend,
            "live": trend.slice == selectors.LIVE,
            "months": months,
            "month_rows": month_rows,
            "month_to_date": (rq.period.end + dt.timedelta(days=1)).day != 1,
            "snapshot_day": lists.day,
            "surging": lists.surging,
            "at_risk": lists.at_risk,
            "at_risk_total": lists.at_risk_total,
            "window_days": settings.ABM_SNAPSHOT_WINDOW_DAYS,
        },
    )


# --- stages and drill-downs ------------------------------------------------------------------


KIND_LABELS = {"activity": "Activity", "outcome": "Outcome"}
R_LABELS = {"reputation": "Reputation", "relationship": "Relationship", "revenue": "Revenue"}


@require_GET
def stage_detail(request: HttpRequest, stage: int) -> HttpResponse:
    """Every KPI of one stage, grouped by kind and R, with its parts and trend."""
    if stage not in STAGES:
        raise Http404("Stages are 1 to 6.")
    rq = report_query(request)
    _note_period(rq, selectors.period_status(rq.period))
    ids = selectors.stage_kpi_ids(stage, rq.definitions)
    items = compute(rq.period, rq.filters, ids=ids, definitions=rq.definitions)["kpis"]
    if wants_csv(request):
        return _kpi_csv(f"stage-{stage}-{_period_name(rq)}.csv", items)
    trend = selectors.card_trend(rq.period, rq.filters, ids, rq.definitions)
    groups: dict[tuple[str, str], list[dict]] = {}
    for item in items:
        item = dict(
            item,
            trend=trend.series.get(item["id"], []),
            drill=spec_for(item["id"], rq.definitions.generation).drilldown,
            sides=NUMERATOR in spec_for(item["id"], rq.definitions.generation).drill_parts,
            # A map's line is its total over its parts (selectors.MAP_TOTALS), a count.
            trend_label=f"{item['label']} (total)" if item["unit"] == "map" else item["label"],
            trend_unit="count" if item["unit"] == "map" else item["unit"],
        )
        groups.setdefault((item["kind"], item["r"]), []).append(item)
    ordered = [
        {"kind": KIND_LABELS[k], "r": R_LABELS[r], "items": groups[(k, r)]}
        for k in KIND_LABELS
        for r in R_LABELS
        if (k, r) in groups
    ]
    headline = next((i for i in items if i["id"] == HEADLINE_KPIS[stage]), items[0])
    return page(
        request,
        "reports/stage_detail.html",
        rq,
        {
            "stage": stage,
            "stage_name": STAGE_TITLES[stage],
            "groups": ordered,
            "headline": headline,
            "headline_trend": trend.series.get(headline["id"], []),
            "trend": trend,
            "live": trend.slice == selectors.LIVE,
            "prev_stage": stage - 1 if stage > 1 else None,
            "next_stage": stage + 1 if stage < 6 else None,
            "window_days": settings.ABM_SNAPSHOT_WINDOW_DAYS,
        },
    )


#: Periods up to this many days are shown by week on the KPI page, longer ones by month.
WEEKS_UP_TO_DAYS = 183


def _kpi_query(request: HttpRequest, kpi_id: str) -> tuple[ReportQuery, KpiSpec]:
    """The request's report query and the KPI's spec under its definitions; 404 naming why."""
    if kpi_id not in REGISTRY:
        raise Http404(f"Unknown KPI {kpi_id!r}.")
    rq = report_query(request)
    spec = spec_for(kpi_id, rq.definitions.generation)
    if spec is None:
        raise Http404(f"KPI {kpi_id!r} is not defined in definitions {rq.definitions.name}.")
    return rq, spec


@require_GET
def kpi_detail(request: HttpRequest, kpi_id: str) -> HttpResponse:
    """One KPI: its value against the previous period and its live trend by week or month
    (any filters), the previous period dashed, with the points as a table."""
    rq, spec = _kpi_query(request, kpi_id)
    bucket = request.GET.get("bucket")
    if bucket not in BUCKETS:
        bucket = "week" if rq.period.days <= WEEKS_UP_TO_DAYS else "month"
    status = _note_period(rq, selectors.period_status(rq.period))
    (item,) = compute(rq.period, rq.filters, [kpi_id], rq.definitions)["kpis"]
    # As on the dashboard: no change against a comparison period before the data.
    before_data = selectors.starts_before_data(rq.previous, status.data_start)
    before = None
    if not before_data:
        (before,) = compute(rq.previous, rq.filters, [kpi_id], rq.definitions)["kpis"]
    points: list[dict] = []
    previous: list[dict] = []
    unavailable = ""
    try:
        result = compute_series(
            rq.period, rq.filters, [kpi_id], bucket, rq.definitions, previous=True
        )
    except SeriesUnavailable as exc:
        unavailable = str(exc)
    else:
        points = kpi_series(result, kpi_id)
        previous = kpi_series(result, kpi_id, "previous")
    rows = [
        {
            "from": dt.date.fromisoformat(p["from"]),
            "to": dt.date.fromisoformat(p["to"]),
            "item": {**p, "unit": spec.unit},
            "before": {**b, "unit": spec.unit},
            "before_data": selectors.starts_before_data(
                Period(dt.date.fromisoformat(b["from"]), dt.date.fromisoformat(b["to"])),
                status.data_start,
            ),
        }
        for p, b in zip(points, previous, strict=True)
    ]
    return page(
        request,
        "reports/kpi_detail.html",
        rq,
        {
            "spec": spec,
            "item": item,
            "previous_item": before,
            "before_data": before_data,
            "data_start": status.data_start,
            "previous_period": rq.previous,
            "definition": spec.describe(rq.definitions.params),
            "bucket": bucket,
            "buckets": [("week", "By week"), ("month", "By month")],
            "points": points,
            "previous": previous,
            "rows": rows[::-1],
            "unavailable": unavailable,
            "drill": spec.drilldown is not None,
        },
    )


@require_GET
def kpi_drilldown(request: HttpRequest, kpi_id: str, part: str | None = None) -> HttpResponse:
    """The accounts (or opportunities) behind a count or a sum KPI, or behind one ``part``
    of a map KPI (a funnel stage), 50 a page; a sum's page states the total of the amounts."""
    rq, spec = _kpi_query(request, kpi_id)
    if part is not None and spec.drill_for(part) is None:
        raise Http404(f"KPI {kpi_id!r} has no part {part!r} with a list.")
    try:
        rows = drilldown(kpi_id, rq.period, rq.filters, definitions=rq.definitions, part=part)
    except NoDrilldown:
        return _no_drilldown(request, rq, spec)
    drills_to = spec.drill_for(part).source.drills_to
    figure = spec.figure if part is None else None
    day = None
    if drills_to == "opportunity":
        sort = request.GET.get("sort") or selectors.drills.OPPORTUNITY_DEFAULT
        ordered = selectors.drill_opportunities(rows, sort)
    else:
        sort = request.GET.get("sort") or "name"
        day = selectors.snapshot_date()
        ordered = selectors.drill_accounts(rows, sort, day)
    # One order for the page and its CSV: any column, the figure by its number.
    ids, figures = selectors.drill_ids(ordered, sort)
    table = tables.drill_table(drills_to, figure)
    name = spec.id if part is None else f"{spec.id}-{part}"
    if wants_csv(request):
        return table.csv(
            f"{name}-{_period_name(rq)}.csv",
            selectors.drill_rows(ids, ordered.model, day=day, figures=figures),
        )
    page_obj = selectors.drill_page(
        ids, ordered.model, request.GET.get("page"), PAGE_SIZE, day=day, figures=figures
    )
    listed = None
    if figure is not None and figures is not None:
        listed = {"value": figure.of(figures.values()), "figure": figure}
    return page(
        request,
        "reports/kpi_drilldown.html",
        rq,
        {
            "spec": spec,
            "part": part,
            "part_label": dict(Stage.choices).get(part, part) if part else "",
            "side": part if part in (NUMERATOR, DENOMINATOR) else None,
            "both_sides": NUMERATOR in spec.drill_parts,
            "listed": listed,
            "definition": spec.describe(rq.definitions.params),
            "page": page_obj,
            "table": table.render(page_obj.object_list, rq=rq),
            "opportunities": drills_to == "opportunity",
            "sort": sort,
            "csv_query": rq.with_params(sort=request.GET.get("sort")),
            "pager_extra": urlencode({"sort": request.GET["sort"]})
            if request.GET.get("sort")
            else "",
        },
    )


def _no_drilldown(request: HttpRequest, rq: ReportQuery, spec: KpiSpec) -> HttpResponse:
    """The page of a KPI without a list of its own: a 200 leading to its parts' lists when
    its rows are in parts (a rate's numerator and denominator, the funnel's stages); for a
    KPI the catalogue marks without a population, the product's 404 page saying why and
    naming the lists it is computed from."""
    response = page(
        request,
        "reports/kpi_no_drilldown.html",
        rq,
        {
            "spec": spec,
            "definition": spec.describe(rq.definitions.params),
            "parts": drilldowns_within(spec, rq.definitions.generation),
            "sides": NUMERATOR in spec.drill_parts,
            "denominator_only": DENOMINATOR in spec.drill_parts
            and NUMERATOR not in spec.drill_parts,
            "stages": [
                (part, dict(Stage.choices).get(part, part))
                for part in spec.drill_parts
                if part not in (NUMERATOR, DENOMINATOR)
            ],
        },
    )
    if not spec.drillable:
        response.status_code = 404
    return response


# --- programs and cohorts -------------------------------------------------------------------


@require_GET
def program_list(request: HttpRequest) -> HttpResponse:
    """Per ABM program: spend, engaged / opportunity / won accounts, cost per account, pipeline."""
    rq = report_query(request)
    rows, totals = selectors.program_rows(rq.period, rq.filters, rq.definitions)
    table, extra = tables.PROGRAMS, {}
    if rq.definitions.generation >= 2 and rows and attribution_available():
        table = tables.PROGRAMS_ATTRIBUTED
        extra = _program_attribution(request, rq, rows, totals)
    if wants_csv(request):
        return table.csv(f"programs-{_period_name(rq)}.csv", rows)
    return page(
        request,
        "reports/program_list.html",
        rq,
        {
            "rows": rows,
            "table": table.render(
                rows, foot=_programs_total(rows, totals), rq=rq, model=extra.get("model")
            ),
            "generation": rq.definitions.generation,
            **extra,
        },
    )


def _program_attribution(request: HttpRequest, rq, rows: list[dict], totals: dict) -> dict:
    """Credit every program row with one attribution of the page's slice (one statement),
    add the "no program" row, and make the totals row the sum of all rows: the period's
    pipeline and new revenue won."""
    default = attribution_version_model(rq.definitions.params)
    asked = request.GET.get("model") or default
    model_error = ""
    if asked not in ATTRIBUTION_MODELS:
        model_error = (
            f"Unknown attribution model {asked!r}: showing {ATTRIBUTION_MODEL_LABELS[default]}. "
            f"Pick one of the models above."
        )
        asked = default
    result = program_attribution(rq.period, rq.filters, asked, definitions=rq.definitions)
    for row in rows:
        row["credit"] = result.programs.get(row["program"].pk) or ProgramCredit(row["program"].pk)
    rows.append(
        {
            "program": tables.NoProgram(),
            "kpis": {},
            "spend": None,
            "credit": result.programs.get(None) or ProgramCredit(None),
        }
    )
    whole = ProgramCredit(None)
    for credit in result.programs.values():
        for name in ("pipeline", "revenue", "revenue_pre", "revenue_post"):
            setattr(whole, name, getattr(whole, name) + getattr(credit, name))
    whole.pipeline_opportunities = result.selected.pipeline_opportunities
    totals["credit"] = whole
    totals["roi_revenue"] = result.selected.revenue  # ROI of the programs, not no program
    return {
        "model": asked,
        "model_label": ATTRIBUTION_MODEL_LABELS[asked],
        "model_error": model_error,
        "models": [
            (m, ATTRIBUTION_MODEL_LABELS[m], "?" + rq.with_params(model=m))
            for m in ATTRIBUTION_MODELS
        ],
        "attribution": result,
    }


@require_GET
def program_credits(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """The opportunities behind a program's attributed pipeline or revenue (``pk`` None:
    "no program"), each with its share and credited amount; they add up to the figure on
    the programs page for the same period, filters and model."""
    rq = report_query(request)
    program = get_object_or_404(Program, pk=pk) if pk is not None else tables.NoProgram()
    basis = request.GET.get("basis", "pipeline")
    default = attribution_version_model(rq.definitions.params)
    model = request.GET.get("model") or default
    if basis not in ("pipeline", "revenue") or model not in ATTRIBUTION_MODELS:
        raise Http404(
            f"Choose basis=pipeline or revenue and a model among {', '.join(ATTRIBUTION_MODELS)}."
        )
    if not attribution_available():
        raise Http404("Attribution needs PostgreSQL (DATABASE_URL).")
    credited = program_opportunity_credits(
        rq.period, rq.filters, pk, basis, model, definitions=rq.definitions
    )
    rows = []
    for opportunity, credit in credited:
        opportunity.credit_share, opportunity.credit_amount = credit.share, credit.amount
        opportunity.credit_pre, opportunity.credit_post = credit.pre, credit.post
        rows.append(opportunity)
    if wants_csv(request):
        name = f"credits-{basis}-{pk or 'no-program'}-{_period_name(rq)}.csv"
        return tables.PROGRAM_CREDITS.csv(name, rows)
    return page(
        request,
        "reports/program_credits.html",
        rq,
        {
            "program": program,
            "basis": basis,
            "model_label": ATTRIBUTION_MODEL_LABELS[model],
            "total": sum((c.amount for _, c in credited), Decimal(0)),
            "table": tables.PROGRAM_CREDITS.render(rows, rq=rq),
            "count": len(rows),
        },
    )


def _programs_total(rows: list[dict], totals: dict | None) -> dict | None:
    if totals is None:
        return None
    programs = tuple(r["program"].pk for r in rows if r["program"].pk is not None)
    return {"program": tables.AllPrograms(programs), **totals}


@require_GET
def cohort_list(request: HttpRequest) -> HttpResponse:
    """ABM against non-ABM for the comparison KPIs, and tier against tier."""
    rq = report_query(request)
    comparison = compute(
        rq.period, rq.filters, ids=["cohort_comparison"], definitions=rq.definitions
    )["kpis"][0]
    generation, params = rq.definitions.generation, rq.definitions.params
    metrics = [
        {
            "spec": spec_for(metric, generation),
            "abm": values.get("abm"),
            "non_abm": values.get("non_abm"),
            "abm:basis": comparison.get("basis", {}).get(metric, {}).get("abm"),
            "non_abm:basis": comparison.get("basis", {}).get(metric, {}).get("non_abm"),
        }
        for metric, values in (comparison.get("value") or {}).items()
    ]
    tiers = [(pk, name) for pk, name in rq.tiers if not rq.filters.tier or pk in rq.filters.tier]
    tier_rows = selectors.tier_rows(rq.period, rq.filters, tiers, rq.definitions)
    for m in metrics:
        m["definition"] = m["spec"].describe(params)
    comparison_rows = [dict(m, section="abm_vs_non_abm") for m in metrics]
    tier_metric_rows = [
        {
            "section": "by_tier",
            "spec": spec_for(k, generation),
            **{f"tier:{t['pk']}": t["kpis"][k]["value"] for t in tier_rows},
            **{f"tier:{t['pk']}:basis": sample_basis(t["kpis"][k]) for t in tier_rows},
        }
        for k in selectors.COHORT_TIER_KPIS
    ]
    for row in tier_metric_rows:
        row["definition"] = row["spec"].describe(params)
    by_cohort, by_tier, both = tables.cohort_tables(tiers)
    if wants_csv(request):
        return both.csv(f"cohorts-{_period_name(rq)}.csv", comparison_rows + tier_metric_rows)
    return page(
        request,
        "reports/cohort_list.html",
        rq,
        {
            "comparison": comparison,
            "metrics": metrics,
            "tier_rows": tier_rows,
            "by_cohort": by_cohort.render(comparison_rows, rq=rq),
            "by_tier": by_tier.render(tier_metric_rows, rq=rq),
        },
    )


# --- published snapshots ----------------------------------------------------------------------


@require_GET
def snapshot_list(request: HttpRequest) -> HttpResponse:
    """Published funnel snapshots of a slice and, for one day, every revision and what it
    restated: what the dashboard said for a day when first published, and what it says now."""
    rq = report_query(request)
    slices = [name for name, _ in funnel_slices()]
    slice_name = request.GET.get("slice") or "all"
    if slice_name not in slices:
        rq.messages.append(f"Slice: no slice {slice_name!r}; showing all accounts instead.")
        slice_name = "all"
    days = selectors.published_snapshots(slice_name, rq.definitions)
    context = {
        "slice": slice_name,
        "slices": slices,
        "table": tables.PUBLISHED.render(days, rq=rq, slice=slice_name),
        "days": days,
        "revisions": None,
    }
    day, window = request.GET.get("day"), request.GET.get("window")
    if day:
        try:
            chosen = dt.date.fromisoformat(day)
            window_days = int(window or settings.ABM_SNAPSHOT_WINDOW_DAYS)
        except ValueError:
            rq.messages.append(f"Day: {day!r} is not a date (YYYY-MM-DD); choose a day below.")
        else:
            context.update(
                day=chosen,
                window=window_days,
                revisions=snapshot_restatements(chosen, slice_name, window_days, rq.definitions.pk),
            )
    if wants_csv(request):
        return tables.PUBLISHED.csv(f"snapshots-{slice_name}.csv", days)
    return page(request, "reports/snapshot_list.html", rq, context)


# --- status -------------------------------------------------------------------------------------


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """Recompute runs, data counts and the health of the database, broker and nightly run."""
    from abm_site.views import _check_broker, _check_database

    rq = report_query(request)
    runs = selectors.recompute_runs()
    if wants_csv(request):
        return tables.RUNS.csv("recompute-runs.csv", runs)
    database = _check_database()
    checks = [
        {"name": "Database", **database},
        {"name": "Broker", **_check_broker()},
    ]
    nightly = (
        recompute_health() if database["ok"] else {"ok": False, "message": "database unreachable"}
    )
    return page(
        request,
        "reports/status.html",
        rq,
        {
            "runs": runs,
            "table": tables.RUNS.render(runs, rq=rq),
            "counts": selectors.data_counts() if database["ok"] else [],
            "checks": checks,
            "nightly": nightly,
            "upload_dir": str(ingest_selectors.upload_dir()),
        },
    )


# --- events -------------------------------------------------------------------------------------


@require_GET
def event_page(request: HttpRequest) -> HttpResponse:
    """What happened, newest first: the events webhooks send (issue 17), one type or all."""
    rq = report_query(request)
    chosen = request.GET.get("type", "")
    if chosen and chosen not in EventType.values:
        rq.messages.append(f"Type: no event type {chosen!r}; showing every type.")
        chosen = ""
    events = Paginator(
        event_list([chosen] if chosen else None).select_related("account"), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    rows = [{"event": e, "text": event_text(e)} for e in events.object_list]
    return page(
        request,
        "reports/event_list.html",
        rq,
        {
            "page": events,
            "rows": rows,
            "types": EventType.choices,
            "chosen": chosen,
            "type_extra": urlencode({"type": chosen}) if chosen else "",
            "recent_days": settings.ABM_EVENTS_RECENT_DAYS,
            "hide_filters": True,  # events have no period or slice
        },
    )
