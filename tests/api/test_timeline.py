"""GET /api/v1/accounts/{id}/timeline/: every event of an account, newest first, paginated."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories as f
from tests.factories import at

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    account = f.AccountFactory()
    f.TouchFactory(account=account, kind="meeting", occurred_at=at(dt.date(2024, 3, 5), 15))
    f.TouchFactory(account=account, kind="web_visit", occurred_at=at(dt.date(2024, 1, 2)))
    f.OpportunityFactory(
        account=account,
        name="Big",
        status="won",
        created_on=dt.date(2024, 2, 1),
        closed_on=dt.date(2024, 3, 20),
    )
    f.AccountStageChangeFactory(account=account, changed_on=dt.date(2024, 3, 6))
    f.NpsResponseFactory(account=account, score=9, responded_on=dt.date(2024, 2, 10))
    f.TouchFactory(occurred_at=at(dt.date(2024, 3, 1)))  # another account's
    return account


def test_merged_newest_first(account, viewer_api):
    response = viewer_api.get(f"/api/v1/accounts/{account.pk}/timeline/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 5
    assert [(e["type"], e["occurred_at"][:10]) for e in body["results"]] == [
        ("opportunity", "2024-03-20"),
        ("stage_change", "2024-03-06"),
        ("touch", "2024-03-05"),
        ("nps_response", "2024-02-10"),
        ("touch", "2024-01-02"),
    ]
    first = body["results"][0]
    assert first["object"]["name"] == "Big"
    assert first["summary"] == "New business opportunity Big (Won)"
    assert body["results"][2]["object"]["kind"] == "meeting"
    assert body["results"][3]["summary"] == "NPS 9"


def test_paginated(account, viewer_api):
    page2 = viewer_api.get(f"/api/v1/accounts/{account.pk}/timeline/", {"page_size": 2, "page": 2})
    body = page2.json()
    assert body["count"] == 5
    assert [e["type"] for e in body["results"]] == ["touch", "nps_response"]
    assert body["next"] is not None and body["previous"] is not None


def test_query_count_is_fixed(account, viewer_api):
    url = f"/api/v1/accounts/{account.pk}/timeline/"

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_api.get(url, {"page_size": 1000}).status_code == 200
        return len(ctx.captured_queries)

    queries()
    small = queries()
    for day in range(1, 20):
        f.TouchFactory(account=account, occurred_at=at(dt.date(2023, 5, day)))
        f.NpsResponseFactory(account=account, responded_on=dt.date(2023, 6, day))
        f.OpportunityFactory(account=account)
    assert queries() == small
    # token with its user and role (one query), the report statement timeout (sent each
    # request inside the test's transaction), account, COUNT, page, then one per entry type
    assert small == 9


def test_unknown_account_and_access(account, viewer_api, api_client, editor_api):
    assert viewer_api.get("/api/v1/accounts/99999999/timeline/").status_code == 404
    assert api_client.get(f"/api/v1/accounts/{account.pk}/timeline/").status_code == 401
    assert editor_api.post(f"/api/v1/accounts/{account.pk}/timeline/").status_code == 405
