"""Tier history (#15): a tier changed today leaves earlier periods' tier splits as they were."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, TierChange
from accounts.services import account_update
from funnel.kpis import Period, compute
from tests.conftest import postgresql_only, token_client
from tests.factories import AccountFactory, TierFactory, TouchFactory, at

pytestmark = [pytest.mark.django_db, postgresql_only]


def last_quarter(today: dt.date) -> Period:
    """The calendar quarter before today's."""
    first_this = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    end = first_this - dt.timedelta(days=1)
    return Period(dt.date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end)


def split(period: Period) -> dict:
    return compute(period, ids=["target_accounts_by_tier"])["kpis"][0]["value"]


def test_changing_a_tier_today_leaves_last_quarters_split_unchanged(editor):
    today = timezone.localdate()
    t1, t2 = TierFactory(name="Tier 1", rank=1), TierFactory(name="Tier 2", rank=2)
    a = AccountFactory(tier=t2)
    AccountFactory(tier=t2)
    AccountFactory(tier=t1)
    AccountFactory()  # untiered
    quarter = last_quarter(today)
    before = split(quarter)
    assert before == {"Tier 1": 1, "Tier 2": 2, "none": 1}
    # The case: PATCH one account to tier 1.
    response = token_client(editor, "write").patch(
        f"/api/v1/accounts/{a.pk}/", {"tier": t1.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert split(quarter) == before  # last quarter: as it was
    assert split(Period(today, today)) == {"Tier 1": 2, "Tier 2": 1, "none": 1}
    assert list(TierChange.objects.filter(account=a).values_list("tier_id", "effective_on")) == [
        (t2.pk, None),
        (t1.pk, today),
    ]


def test_several_changes_on_one_day_keep_the_last_and_bulk_updates_are_recorded():
    today = timezone.localdate()
    t1, t2 = TierFactory(name="Tier 1", rank=1), TierFactory(name="Tier 2", rank=2)
    a = AccountFactory()  # no tier at first: no history row
    assert not TierChange.objects.filter(account=a).exists()
    account_update(a, tier=t1)
    account_update(a, tier=t2)
    assert list(TierChange.objects.filter(account=a).values_list("tier_id", "effective_on")) == [
        (t2.pk, today)
    ]
    # Before today the account had no tier.
    assert split(last_quarter(today)) == {"none": 1}
    Account.objects.filter(pk=a.pk).update(tier=None)  # a bulk path: the trigger records it
    assert TierChange.objects.get(account=a, effective_on=today).tier_id is None
    assert split(Period(today, today)) == {"none": 1}


def test_tier_split_query_count_is_constant():
    tier = TierFactory(name="Tier 1", rank=1)
    AccountFactory(tier=tier)
    period = last_quarter(timezone.localdate())
    split(period)  # the first computation marks the definitions version used (once)
    with CaptureQueriesContext(connection) as small:
        split(period)
    for _ in range(10):
        account_update(AccountFactory(tier=tier), tier=None)
    with CaptureQueriesContext(connection) as large:
        assert split(period) == {"Tier 1": 11}
    assert len(large.captured_queries) == len(small.captured_queries)


def test_changing_a_tier_today_leaves_last_quarters_tier_filtered_kpis_unchanged():
    """Tier filters and tier snapshot slices read the tier as of the period end, like the split."""
    from funnel.kpis import Filters, slices_of_accounts

    today = timezone.localdate()
    quarter = last_quarter(today)
    t1, t2 = TierFactory(name="Tier 1", rank=1), TierFactory(name="Tier 2", rank=2)
    a = AccountFactory(tier=t2)
    AccountFactory(tier=t1)
    TouchFactory(account=a, kind="web_visit", occurred_at=at(quarter.end - dt.timedelta(days=3)))
    ids = ["target_accounts", "engaged_target_accounts", "web_visits"]

    def values(period: Period, tier) -> dict:
        result = compute(period, Filters(tier=(tier.pk,)), ids=ids)
        return {i["id"]: i["value"] for i in result["kpis"]}

    # Last quarter: tier 1 is the other account (no visit); tier 2 is `a` with its visit.
    assert values(quarter, t1) == {
        "target_accounts": 1,
        "engaged_target_accounts": 0,
        "web_visits": 0,
    }
    tier2 = {"target_accounts": 1, "engaged_target_accounts": 1, "web_visits": 1}
    assert values(quarter, t2) == tier2
    account_update(a, tier=t1)  # today
    assert values(quarter, t1)["target_accounts"] == 1  # unchanged
    assert values(quarter, t2) == tier2  # unchanged: `a` was tier 2 then
    # Today `a` is tier 1 (its visit is not today: no engagement in a one-day period).
    assert values(Period(today, today), t1)["target_accounts"] == 2
    assert values(Period(today, today), t2)["target_accounts"] == 0
    # A marked recompute of a past day refreshes the tier slice `a` was in on that day.
    assert slices_of_accounts([a.pk], quarter.end) >= {f"tier:{t2.pk}"}
    assert f"tier:{t1.pk}" not in slices_of_accounts([a.pk], quarter.end)
    assert f"tier:{t1.pk}" in slices_of_accounts([a.pk], today)
