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
from tests.factories import AccountFactory, TierFactory

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
