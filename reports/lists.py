"""Account list pages: the lists, one list's members, and the list scorecard."""

from __future__ import annotations

import copy

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import AccountList
from accounts.selectors import list_intervals, lists_with_counts

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
        },
    )


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
