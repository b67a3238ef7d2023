"""Account list pages: the lists, one list's members, and the list scorecard."""

from __future__ import annotations

import copy

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import AccountList, Holdout
from accounts.selectors import list_intervals, lists_with_counts
from engagement.selectors import holdout_contamination, holdout_contamination_counts
from funnel.kpis import (
    LIFT_IDS,
    Filters,
    UnknownKpi,
    compute,
    format_money,
    format_ratio,
    holdout_lift,
)

from . import selectors, tables
from .forms import (
    report_query,
)
from .views import _period_name, page, wants_csv

# --- account lists ------------------------------------------------------------------------------

#: Members shown on a list's page; the API pages through all of them.
LIST_MEMBERS_SHOWN = 500


@require_GET
def list_index(request: HttpRequest) -> HttpResponse:
    """Every account list with its members at the period end and today (one query)."""
    rq = report_query(request)
    today = timezone.localdate()
    lists = list(lists_with_counts(rq.period.end, today))
    return page(request, "reports/list_index.html", rq, {"lists": lists, "today": today})


@require_GET
def list_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One list: its members at the period end with their intervals, and a link to its KPIs."""
    rq = report_query(request)
    account_list = get_object_or_404(AccountList.objects.select_related("owner"), pk=pk)
    rows = list(list_intervals(pk, rq.period.end)[: LIST_MEMBERS_SHOWN + 1])
    holdout = Holdout.objects.filter(list_id=pk).first()
    return page(
        request,
        "reports/list_detail.html",
        rq,
        {
            "account_list": account_list,
            "rows": rows[:LIST_MEMBERS_SHOWN],
            "more": len(rows) > LIST_MEMBERS_SHOWN,
            "shown": LIST_MEMBERS_SHOWN,
            "kpi_query": rq.with_params(list=str(pk)),
            "scorecard_query": rq.with_params(list=str(pk), compare="previous"),
            "holdout": holdout,
            "contamination": holdout and holdout_contamination_counts(holdout),
        },
    )


#: Contaminating touches listed on the lift page (newest first); the count covers all.
CONTAMINATION_SHOWN = 100


def _signed(value: float | None, unit: str) -> str | None:
    """A difference with its sign: percentage points for rates, money for amounts."""
    if value is None:
        return None
    if unit == "ratio":
        return f"{value * 100:+,.1f} pp"
    text = format_money(abs(value))
    return f"{'−' if value < 0 else '+'}{text}"


def lift_rows(result: dict) -> list[dict]:
    """The lift KPIs formatted for the page: each group's value and basis, the difference,
    the relative difference and the interval (all numbers come from ``funnel.kpis.lift``)."""
    rows = []
    for k in result["kpis"]:
        unit, ci = k["unit"], k["ci95"]
        fmt = format_ratio if unit == "ratio" else format_money

        def basis(group: dict, unit: str = unit) -> str:
            if unit == "ratio":
                return f"{group['numerator']:,} of {group['n']:,}"
            return f"{format_money(group['total'])} over {group['n']:,}"

        rows.append(
            {
                "id": k["id"],
                "label": k["label"],
                "definition": k["definition"],
                "treated": fmt(k["treated"]["value"]),
                "treated_basis": basis(k["treated"]),
                "held_out": fmt(k["held_out"]["value"]),
                "held_out_basis": basis(k["held_out"]),
                "difference": _signed(k["difference"], unit),
                "relative": None
                if k["relative_difference"] is None
                else f"{k['relative_difference'] * 100:+,.1f} %",
                "ci": None
                if ci is None
                else f"{_signed(ci['low'], unit)} to {_signed(ci['high'], unit)}",
                "method": None if ci is None else ci["method"],
                "warning": k["warning"],
                "significant": ci is not None and (ci["low"] > 0 or ci["high"] < 0),
            }
        )
    return rows


@require_GET
def list_lift(request: HttpRequest, pk: int) -> HttpResponse:
    """A list's lift: treated against held-out accounts over the period, with 95 % intervals,
    and the contamination of the control group (four queries whatever the list's size)."""
    rq = report_query(request)
    account_list = get_object_or_404(AccountList, pk=pk)
    if wants_csv(request):
        # The catalogue's lift KPIs for this list, as the KPI API gives them (null, with the
        # reason, without a holdout); under version 1 the page says why there are none.
        try:
            items = compute(rq.period, Filters(list_id=pk), LIFT_IDS, rq.definitions)["kpis"]
        except UnknownKpi:
            pass
        else:
            return tables.LIFT_ITEMS.csv(f"lift-list-{pk}-{_period_name(rq)}.csv", items)
    holdout = Holdout.objects.filter(list_id=pk).first()
    context: dict = {"account_list": account_list, "holdout": holdout, "rows": []}
    if holdout is not None:
        try:
            result = holdout_lift(holdout, rq.period, rq.definitions)
        except UnknownKpi as exc:
            rq.messages.append(f"{exc} Pick version 2 or later in the bar.")
        else:
            context["rows"] = lift_rows(result)
            context["groups"] = result["holdout"]
        touches = holdout_contamination(holdout).select_related("account", "program")
        context["contaminated"] = list(touches.order_by("-occurred_at")[:CONTAMINATION_SHOWN])
        context["contamination"] = holdout_contamination_counts(holdout)
        context["shown"] = CONTAMINATION_SHOWN
    return page(request, "reports/list_lift.html", rq, context)


@require_GET
def list_compare(request: HttpRequest) -> HttpResponse:
    """The list scorecard: up to three lists side by side (``?list=1&list=2``), or one list
    against its previous period (``?list=1&compare=previous``), on each stage's headline KPI
    with the counts behind it. One KPI computation per column (at most three)."""
    raw_ids = request.GET.getlist("list")
    compare = request.GET.get("compare", "").strip()
    # ``list`` is the bar's one-list filter elsewhere; here it names the compared lists.
    bar = copy.copy(request)
    bar.GET = request.GET.copy()
    bar.GET.pop("list", None)
    rq = report_query(bar)
    rq.extra += [("list", raw) for raw in raw_ids]
    columns, problems = selectors.scorecard_columns(raw_ids, compare, rq.period)
    for found in problems.values():
        rq.messages.extend(found)
    rows = selectors.list_scorecard(columns, rq.filters, rq.definitions) if columns else []
    table = tables.scorecard_table(columns, rq.query)
    if wants_csv(request):
        return table.csv(f"list-scorecard-{_period_name(rq)}.csv", rows)
    return page(
        request,
        "reports/list_compare.html",
        rq,
        {
            "columns": columns,
            "scorecard": table.render(rows, rq=rq),
            "lists": list(lists_with_counts(rq.period.end)),
            "chosen": {c.list_id for c in columns},
            "previous": bool(columns) and columns[0].key == "current",
            "max_lists": selectors.SCORECARD_MAX_LISTS,
            "csv_query": request.GET.urlencode(),
        },
    )
