"""The account list pages: /lists/ and /lists/<id>/, and ``list=`` in the pages' query (#15)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccountList, ListMembership
from accounts.selectors import target_list
from tests.conftest import postgresql_only
from tests.factories import AccountFactory, AccountListFactory

pytestmark = [pytest.mark.django_db, postgresql_only]
MARCH = "from=2024-03-01&to=2024-03-31"
D = dt.date


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    client.get("/status/")  # the session's first request writes its timestamps
    return client


def html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_index_lists_member_counts_and_says_how_to_add_lists(viewer_client):
    AccountFactory(targeted_on=D(2024, 1, 1))
    AccountFactory(targeted_on=D(2024, 4, 1))  # joins after March
    page = html(viewer_client.get(f"/lists/?{MARCH}"))
    assert "Target accounts" in page and "(target list)" in page
    assert '<td class="num">1</td>' in page  # one member on Mar 31
    assert "Only the target list exists so far." in page
    assert "/admin/accounts/accountlist/add/" in page
    target = target_list().pk
    assert f"/?{MARCH.replace('&', '&amp;')}&amp;list={target}" in page  # the KPIs link


def test_index_query_count_does_not_grow(viewer_client):
    AccountListFactory()
    with CaptureQueriesContext(connection) as small:
        html(viewer_client.get(f"/lists/?{MARCH}"))
    for i in range(10):
        named = AccountListFactory()
        ListMembership.objects.create(
            account=AccountFactory(), list=named, joined_on=D(2024, 1, i + 1)
        )
    with CaptureQueriesContext(connection) as large:
        page = html(viewer_client.get(f"/lists/?{MARCH}"))
    assert "Only the target list" not in page
    assert len(large.captured_queries) == len(small.captured_queries)


def test_detail_shows_members_on_the_period_end_with_their_intervals(viewer_client):
    a = AccountFactory(name="Alpha")
    b = AccountFactory(name="Beta")
    named = AccountList.objects.create(name="Product X")
    ListMembership.objects.create(account=a, list=named, joined_on=D(2024, 2, 1))
    ListMembership.objects.create(
        account=b, list=named, joined_on=D(2024, 1, 1), left_on=D(2024, 3, 15)
    )
    page = html(viewer_client.get(f"/lists/{named.pk}/?{MARCH}"))
    assert "Members on Mar 31, 2024" in page
    assert "Alpha" in page and "2024-02-01" in page
    assert "Beta" not in page  # left on Mar 15
    earlier = html(viewer_client.get(f"/lists/{named.pk}/?from=2024-03-01&to=2024-03-10"))
    assert "Beta" in earlier and "2024-03-15" in earlier
    empty = html(viewer_client.get(f"/lists/{named.pk}/?from=2023-01-01&to=2023-01-31"))
    assert "No account is on this list on Jan 31, 2023." in empty
    assert f"POST /api/v1/lists/{named.pk}/members/" in empty
    assert viewer_client.get("/lists/999999/").status_code == 404


def test_dashboard_takes_list_and_names_it(viewer_client):
    AccountFactory()
    target = target_list()
    page = html(viewer_client.get(f"/?{MARCH}&list={target.pk}"))
    assert "List: Target accounts" in page
    unknown = html(viewer_client.get(f"/?{MARCH}&list=999999"))
    assert "List: no account list has id 999999" in unknown


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/lists/")
    assert response.status_code == 302 and "/login/" in response["Location"]
