"""The accounts pages: the filterable list and one account's page (split from
``reports.views`` for size)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from accounts.choices import BuyingRole, FitGrade
from accounts.models import Account
from accounts.selectors import AccountFilterSet
from engagement.selectors import score_breakdowns
from funnel.choices import Stage
from funnel.kpis import (
    ATTRIBUTION_MODEL_LABELS,
    account_attribution,
    attribution_available,
    definitions_resolve,
)

from . import selectors, tables
from .forms import (
    AccountListForm,
    ReportQuery,
    report_query,
)
from .views import PAGE_SIZE, _period_name, page, wants_csv

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
    # Search, fit grade and target list go through the FilterSet the API uses (as NetBox's
    # list views do); stage, surging and at risk read the snapshots and the period.
    fs_data = QueryDict(mutable=True)
    for key in ("q", "is_target", "fit_grade"):
        value = options.get(key)
        if value not in ("", None, []):
            fs_data.setlist(key, value if isinstance(value, list) else [value])
    filterset = AccountFilterSet(fs_data, queryset=Account.objects.all())
    accounts = filterset.qs if filterset.is_valid() else Account.objects.all()
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
        definitions=rq.definitions,
    )
    if wants_csv(request):
        return tables.ACCOUNTS.csv(f"accounts-{_period_name(rq)}.csv", qs.iterator(chunk_size=2000))
    page_obj = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    list_params = {k: v for k, v in form.list_params().items() if k != "sort"}
    return page(
        request,
        "reports/account_list.html",
        rq,
        {
            "page": page_obj,
            "table": tables.ACCOUNTS.render(
                page_obj.object_list, rq=rq, sort=sort, list_params=list_params
            ),
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
    breakdowns = None
    if latest is not None:
        # The snapshot's day, under the default version (the one the snapshots are written
        # with), so each table's total is the score shown above it.
        rules = rq.definitions if rq.definitions.is_default else definitions_resolve(None)
        breakdowns = score_breakdowns(account.pk, latest["date"], rules.params)
        stale = [
            label
            for key, label in (
                ("engagement_score", "engagement"),
                ("relationship_score", "relationship"),
            )
            if breakdowns[key].rounded != float(latest[key])
        ]
        if breakdowns["research_grade"].total != latest["research_grade"]:
            stale.append("research")
        breakdowns["stale"] = stale
    return page(
        request,
        "reports/account_detail.html",
        rq,
        {
            "account": account,
            "latest": latest,
            "breakdowns": breakdowns,
            "stage_history": list(selectors.account_stage_history(account)[:100]),
            "roles": roles,
            "stakeholder_count": len(stakeholders),
            "engaged_count": sum(r["engaged"] for r in roles),
            "touches": touches,
            "intent": selectors.account_intent(account, rq.period),
            "opportunities": _with_credits(
                account, list(selectors.account_opportunities(account)[:100]), rq
            ),
            "nps": list(selectors.account_nps(account)[:50]),
            "attribution_model": ATTRIBUTION_MODEL_LABELS.get(
                rq.definitions.params.get("attribution_model", ""), ""
            ),
            "series": series,
            "series_dates": [s["date"] for s in series],
            "engagement_series": [s["engagement_score"] for s in series],
            "relationship_series": [s["relationship_score"] for s in series],
            "research_series": [s["research_grade"] for s in series],
            "pipeline_series": [s["open_pipeline"] for s in series],
        },
    )


def _with_credits(account: Account, opportunities: list, rq: ReportQuery) -> list:
    """The account's opportunities, each with how its amount is credited to programs under
    the definitions version's attribution model (one statement for all; none on SQLite)."""
    if not opportunities or not attribution_available():
        return opportunities
    credits = account_attribution(account.pk, definitions=rq.definitions)
    names = selectors.program_names({c.program_id for cs in credits.values() for c in cs})
    for opportunity in opportunities:
        by_basis: dict[str, list] = {}
        for c in credits.get(opportunity.pk, []):
            by_basis.setdefault(c.basis, []).append(
                {"credit": c, "program": names.get(c.program_id, "No program")}
            )
        opportunity.credits = [{"basis": b, "parts": parts} for b, parts in by_basis.items()]
    return opportunities
