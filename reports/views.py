"""Server-rendered pages: thin adapters over selectors."""

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render

from accounts.filtersets import AccountFilterSet
from accounts.models import Account


def dashboard(request):
    """The funnel dashboard; until it exists the account list is the home page."""
    return redirect("reports:account_list")


def account_list(request):
    """Target and other accounts, searchable and filterable, 50 a page."""
    filterset = AccountFilterSet(
        request.GET or None,
        queryset=Account.objects.select_related("tier", "owner").order_by("name", "id"),
    )
    queryset = filterset.qs if filterset.is_bound else filterset.queryset
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reports/account_list.html",
        {"page": page, "filterset": filterset, "query": query.urlencode()},
    )


def account_detail(request, pk: int):
    account = get_object_or_404(Account.objects.select_related("tier", "owner"), pk=pk)
    stakeholders = account.stakeholders.order_by("buying_role", "name")
    return render(
        request,
        "reports/account_detail.html",
        {"account": account, "stakeholders": stakeholders},
    )
