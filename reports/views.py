"""Server-rendered pages: thin adapters that parse the query, call selectors or the KPI
engine, and render a template (or a CSV download of the same table)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods

from abm_site import access
from abm_site.exports import csv_response
from accounts.choices import BuyingRole, FitGrade
from accounts.models import Account
from accounts.selectors import AccountFilterSet
from funnel.choices import Stage
from funnel.kpis import REGISTRY, NoDrilldown, compute, drilldown
from funnel.selectors import recompute_health
from ingest import selectors as ingest_selectors
from ingest import services as ingest_services

from . import selectors
from .forms import AccountListForm, ReportQuery, RunForm, UploadForm, report_query
from .selectors import HEADLINE_KPIS, STAGE_NAMES

PAGE_SIZE = 50
STAGES = range(1, 7)


def wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def page(
    request: HttpRequest, template: str, rq: ReportQuery | None, context: dict
) -> HttpResponse:
    """Render a report page with the period/filter bar and the navigation."""
    context.update(
        {
            "rq": rq,
            "stage_nav": [(n, STAGE_NAMES[n]) for n in STAGES],
            "can_import": access.allows(access.EDITOR, request.user),
        }
    )
    return render(request, template, context)


def _kpi_csv(filename: str, items: list[dict], previous: dict | None = None) -> HttpResponse:
    header = [
        "id",
        "stage",
        "label",
        "unit",
        "cohort",
        "value",
        "numerator",
        "denominator",
        "count",
        "total",
    ]
    if previous is not None:
        header.append("previous_value")
    rows = []
    for item in items:
        value = item.get("value")
        if isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        row = [
            item["id"],
            item["stage"],
            item["label"],
            item["unit"],
            item["cohort"],
            value,
            item.get("numerator"),
            item.get("denominator"),
            item.get("count"),
            item.get("total"),
        ]
        if previous is not None:
            prev = previous.get(item["id"], {}).get("value")
            row.append(json.dumps(prev, sort_keys=True) if isinstance(prev, dict) else prev)
        rows.append(row)
    return csv_response(filename, header, rows)


def _period_name(rq: ReportQuery) -> str:
    return f"{rq.period.start:%Y%m%d}-{rq.period.end:%Y%m%d}"


# --- dashboard ---------------------------------------------------------------------------


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The funnel, each stage's headline KPI against the previous period, surging and at-risk."""
    rq = report_query(request)
    headline = list(HEADLINE_KPIS.values())
    current = selectors.kpi_items(
        compute(rq.period, rq.filters, ids=["funnel", "stage_velocity_days", *headline])
    )
    previous = selectors.kpi_items(compute(rq.previous, rq.filters, ids=headline))
    if wants_csv(request):
        return _kpi_csv(f"dashboard-{_period_name(rq)}.csv", list(current.values()), previous)
    trend = selectors.funnel_trend(rq.period, rq.filters, headline)
    day = selectors.snapshot_date()
    at_risk, at_risk_total = selectors.at_risk_accounts(rq.period, rq.filters)
    cards = [
        {
            "stage": n,
            "name": STAGE_NAMES[n],
            "item": current[kpi_id],
            "previous": previous[kpi_id],
            "trend": trend.series.get(kpi_id, []),
            "drill": REGISTRY[kpi_id].drilldown is not None,
        }
        for n, kpi_id in HEADLINE_KPIS.items()
    ]
    return page(
        request,
        "reports/dashboard.html",
        rq,
        {
            "funnel": current["funnel"],
            "velocity": current["stage_velocity_days"],
            "cards": cards,
            "trend": trend,
            "snapshot_day": day,
            "surging": selectors.surging_accounts(rq.period, rq.filters, day),
            "at_risk": at_risk,
            "at_risk_total": at_risk_total,
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
    ids = selectors.stage_kpi_ids(stage)
    items = compute(rq.period, rq.filters, ids=ids)["kpis"]
    if wants_csv(request):
        return _kpi_csv(f"stage-{stage}-{_period_name(rq)}.csv", items)
    trend = selectors.funnel_trend(rq.period, rq.filters, ids)
    groups: dict[tuple[str, str], list[dict]] = {}
    for item in items:
        item = dict(
            item, trend=trend.series.get(item["id"], []), drill=REGISTRY[item["id"]].drilldown
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
            "stage_name": STAGE_NAMES[stage],
            "groups": ordered,
            "headline": headline,
            "headline_trend": trend.series.get(headline["id"], []),
            "trend": trend,
            "prev_stage": stage - 1 if stage > 1 else None,
            "next_stage": stage + 1 if stage < 6 else None,
            "window_days": settings.ABM_SNAPSHOT_WINDOW_DAYS,
        },
    )


@require_GET
def kpi_drilldown(request: HttpRequest, kpi_id: str) -> HttpResponse:
    """The accounts (or opportunities) behind a count KPI, 50 a page."""
    spec = REGISTRY.get(kpi_id)
    if spec is None:
        raise Http404(f"Unknown KPI {kpi_id!r}.")
    rq = report_query(request)
    try:
        rows = drilldown(kpi_id, rq.period, rq.filters)
    except NoDrilldown:
        raise Http404(f"{spec.label} has no list of accounts behind it.") from None
    if spec.drilldown == "opportunity":
        rows = rows.select_related("account").order_by("-closed_on", "-created_on", "pk")
    else:
        rows = rows.select_related("tier", "owner").order_by("name", "pk")
    if wants_csv(request):
        return _drill_csv(spec, rows, rq)
    page_obj = selectors.drill_page(rows, request.GET.get("page"), PAGE_SIZE)
    return page(
        request,
        "reports/kpi_drilldown.html",
        rq,
        {"spec": spec, "page": page_obj, "opportunities": spec.drilldown == "opportunity"},
    )


def _drill_csv(spec, rows, rq: ReportQuery) -> HttpResponse:
    name = f"{spec.id}-{_period_name(rq)}.csv"
    if spec.drilldown == "opportunity":
        header = [
            "opportunity_id",
            "name",
            "account_id",
            "account",
            "type",
            "status",
            "amount",
            "created_on",
            "closed_on",
        ]
        data = (
            (
                o.pk,
                o.name,
                o.account_id,
                o.account.name,
                o.type,
                o.status,
                o.amount,
                o.created_on,
                o.closed_on,
            )
            for o in rows.iterator(chunk_size=2000)
        )
    else:
        header = ["account_id", "name", "domain", "tier", "fit_grade", "owner"]
        data = (
            (
                a.pk,
                a.name,
                a.domain,
                a.tier.name if a.tier else "",
                a.fit_grade,
                a.owner.name if a.owner else "",
            )
            for a in rows.iterator(chunk_size=2000)
        )
    return csv_response(name, header, data)


# --- accounts ---------------------------------------------------------------------------------


@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    """Accounts, searchable, filterable and sortable on their latest snapshot, 50 a page."""
    rq = report_query(request)
    form = AccountListForm(request.GET)
    form.is_valid()
    options = form.cleaned_data
    for name, errs in form.errors.items():
        rq.messages.append(f"{form.fields[name].label}: {' '.join(errs)}; filter ignored.")
    # Search, fit grade and target list go through the FilterSet the API uses.
    fs_data = {k: v for k, v in options.items() if k in ("q", "is_target") and v not in ("", None)}
    filterset = AccountFilterSet(fs_data, queryset=Account.objects.all())
    grades = options.get("fit_grade") or []
    accounts = filterset.qs if filterset.is_valid() else Account.objects.all()
    if grades:
        accounts = accounts.filter(fit_grade__in=grades)
    day = selectors.snapshot_date()
    sort = options.get("sort") or "name"
    qs = selectors.account_list(
        accounts,
        rq.period,
        rq.filters,
        stage=options.get("stage") or "",
        surging=bool(options.get("surging")),
        at_risk=bool(options.get("at_risk")),
        sort=sort,
        day=day,
    )
    if wants_csv(request):
        header = [
            "account_id",
            "name",
            "domain",
            "tier",
            "fit_grade",
            "owner",
            "stage",
            "engagement_score",
            "relationship_score",
            "research_grade",
            "intent_surge",
            "open_pipeline",
            "last_touch_at",
        ]
        rows = (
            (
                a.pk,
                a.name,
                a.domain,
                a.tier.name if a.tier else "",
                a.fit_grade,
                a.owner.name if a.owner else "",
                a.snap_stage,
                a.engagement_score,
                a.relationship_score,
                a.research_grade,
                a.intent_surge,
                a.open_pipeline,
                a.last_touch_at,
            )
            for a in qs.iterator(chunk_size=2000)
        )
        return csv_response(f"accounts-{_period_name(rq)}.csv", header, rows)
    page_obj = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    list_params = {k: v for k, v in form.list_params().items() if k != "sort"}
    return page(
        request,
        "reports/account_list.html",
        rq,
        {
            "page": page_obj,
            "form": form,
            "sort": sort,
            "list_params": list_params,
            "list_query": rq.with_params(**form.list_params()),
            "list_extra": urlencode(form.list_params(), doseq=True),
            "snapshot_day": day,
            "stages": Stage.choices,
            "grades": FitGrade.choices,
        },
    )


@require_GET
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One account: stage history, buying committee, touches, intent, deals, NPS, trends."""
    rq = report_query(request)
    account = get_object_or_404(Account.objects.select_related("tier", "owner"), pk=pk)
    touches = Paginator(selectors.account_touches(account, rq.period), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    series = selectors.account_snapshot_series(account, rq.period)
    stakeholders = list(selectors.account_stakeholders(account, rq.period)[:500])
    roles = []
    labels = dict(BuyingRole.choices)
    for s in stakeholders:
        if not roles or roles[-1]["role"] != s.buying_role:
            roles.append(
                {
                    "role": s.buying_role,
                    "label": labels.get(s.buying_role, s.buying_role),
                    "people": [],
                    "engaged": 0,
                }
            )
        roles[-1]["people"].append(s)
        roles[-1]["engaged"] += int(s.engaged)
    latest = series[-1] if series else None
    return page(
        request,
        "reports/account_detail.html",
        rq,
        {
            "account": account,
            "latest": latest,
            "stage_history": list(selectors.account_stage_history(account)[:100]),
            "roles": roles,
            "stakeholder_count": len(stakeholders),
            "engaged_count": sum(r["engaged"] for r in roles),
            "touches": touches,
            "intent": selectors.account_intent(account, rq.period),
            "opportunities": list(selectors.account_opportunities(account)[:100]),
            "nps": list(selectors.account_nps(account)[:50]),
            "series": series,
            "series_dates": [s["date"] for s in series],
            "engagement_series": [s["engagement_score"] for s in series],
            "relationship_series": [s["relationship_score"] for s in series],
            "research_series": [s["research_grade"] for s in series],
            "pipeline_series": [s["open_pipeline"] for s in series],
        },
    )


# --- programs and cohorts -------------------------------------------------------------------


@require_GET
def program_list(request: HttpRequest) -> HttpResponse:
    """Per ABM program: spend, engaged / opportunity / won accounts, cost per account, pipeline."""
    rq = report_query(request)
    rows = selectors.program_rows(rq.period, rq.filters)
    if wants_csv(request):
        header = [
            "program_id",
            "program",
            "type",
            "spend",
            "engaged_accounts",
            "opportunity_accounts",
            "won_accounts",
            "cost_per_engaged_account",
            "cost_per_opportunity_account",
            "cost_per_won_account",
            "influenced_pipeline",
        ]
        data = [
            [r["program"].pk, r["program"].name, r["program"].program_type, r["spend"]]
            + [r["kpis"][k]["value"] for k in selectors.PROGRAM_KPIS]
            for r in rows
        ]
        return csv_response(f"programs-{_period_name(rq)}.csv", header, data)
    return page(request, "reports/program_list.html", rq, {"rows": rows})


@require_GET
def cohort_list(request: HttpRequest) -> HttpResponse:
    """ABM against non-ABM for the comparison KPIs, and tier against tier."""
    rq = report_query(request)
    comparison = compute(rq.period, rq.filters, ids=["cohort_comparison"])["kpis"][0]
    metrics = [
        {"spec": REGISTRY[metric], "abm": values.get("abm"), "non_abm": values.get("non_abm")}
        for metric, values in (comparison.get("value") or {}).items()
    ]
    tiers = [(pk, name) for pk, name in rq.tiers if not rq.filters.tier or pk in rq.filters.tier]
    tier_rows = selectors.tier_rows(rq.period, rq.filters, tiers)
    if wants_csv(request):
        header = ["section", "metric", "label", "unit", "abm", "non_abm"] + [n for _, n in tiers]
        data = [
            [
                "abm_vs_non_abm",
                m["spec"].id,
                m["spec"].label,
                m["spec"].unit,
                m["abm"],
                m["non_abm"],
            ]
            + [""] * len(tiers)
            for m in metrics
        ]
        data += [
            ["by_tier", k, REGISTRY[k].label, REGISTRY[k].unit, "", ""]
            + [t["kpis"][k]["value"] for t in tier_rows]
            for k in selectors.COHORT_TIER_KPIS
        ]
        return csv_response(f"cohorts-{_period_name(rq)}.csv", header, data)
    tier_table = [
        {"spec": REGISTRY[k], "items": [t["kpis"][k] for t in tier_rows]}
        for k in selectors.COHORT_TIER_KPIS
    ]
    return page(
        request,
        "reports/cohort_list.html",
        rq,
        {
            "comparison": comparison,
            "metrics": metrics,
            "tier_rows": tier_rows,
            "tier_table": tier_table,
        },
    )


# --- imports ------------------------------------------------------------------------------------


def _require_editor(request: HttpRequest) -> None:
    if not access.allows(access.EDITOR, request.user):
        raise PermissionDenied("Only editors and admins may import data.")


@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """Upload a CSV, preview it as a dry run, run it, and read the report."""
    _require_editor(request)
    rq = report_query(request)
    context: dict = {
        "kinds": ingest_selectors.kind_choices(),
        "mappings": ingest_selectors.mapping_choices(),
        "hide_filters": True,  # an import has no period; the links still carry it
    }
    if request.method == "GET":
        context["form"] = UploadForm()
        return page(request, "reports/import.html", rq, context)
    if request.POST.get("action") == "run":
        run_form = RunForm(request.POST)
        if not run_form.is_valid():
            context["form"] = UploadForm()
            context["run_errors"] = [e for errs in run_form.errors.values() for e in errs]
            return page(request, "reports/import.html", rq, context)
        result = ingest_services.import_run(run_form.cleaned_data["token"])
        context.update(result)
        return page(request, "reports/import_report.html", rq, context)
    form = UploadForm(request.POST, request.FILES)
    context["form"] = form
    if not form.is_valid():
        return page(request, "reports/import.html", rq, context)
    context.update(ingest_services.import_preview(form.cleaned_data))
    return page(request, "reports/import.html", rq, context)


@require_GET
def import_rejected_csv(request: HttpRequest) -> HttpResponse:
    """The rejected rows of a finished import (line, column, reason, the row) as CSV."""
    _require_editor(request)
    try:
        header, rows, name = ingest_services.rejected_rows(request.GET.get("token", ""))
    except ingest_services.ImportTokenError as exc:
        raise Http404(str(exc)) from None
    return csv_response(f"rejected-{Path(name).stem}.csv", header, rows)


# --- status -------------------------------------------------------------------------------------


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """Recompute runs, data counts and the health of the database, broker and nightly run."""
    from abm_site.views import _check_broker, _check_database

    rq = report_query(request)
    runs = selectors.recompute_runs()
    if wants_csv(request):
        header = [
            "date",
            "kind",
            "status",
            "started_at",
            "finished_at",
            "duration_seconds",
            "accounts",
            "error",
        ]
        data = [
            [
                r.date,
                r.kind,
                r.status,
                r.started_at,
                r.finished_at,
                (r.finished_at - r.started_at).total_seconds() if r.finished_at else None,
                r.accounts,
                r.error,
            ]
            for r in runs
        ]
        return csv_response("recompute-runs.csv", header, data)
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
            "counts": selectors.data_counts() if database["ok"] else [],
            "checks": checks,
            "nightly": nightly,
            "upload_dir": str(ingest_selectors.upload_dir()),
        },
    )
