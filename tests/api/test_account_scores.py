"""GET /api/v1/accounts/{id}/scores/: every score of an account with its working (issue 20).

The fixture and the hand-computed figures are those of tests/engagement/test_score_breakdown.py.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from funnel.definitions import definitions_derive, definitions_resolve
from tests import factories as f
from tests.engagement.test_score_breakdown import D, make_account

pytestmark = pytest.mark.django_db


def url(account) -> str:
    return f"/api/v1/accounts/{account.pk}/scores/"


def test_scores_with_their_parts(viewer_api):
    account = make_account()
    response = viewer_api.get(url(account), {"date": "2024-03-31"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["date"] == "2024-03-31" and body["date_source"] == "query"
    assert body["definitions"]["id"] == definitions_resolve().pk
    engagement = body["scores"]["engagement_score"]
    assert engagement["total"] == pytest.approx(49.5)
    assert engagement["cap"] is None
    assert engagement["window"]["start"].startswith("2024-01-02T00:00:00")
    assert engagement["window"]["end"].startswith("2024-04-01T00:00:00")
    assert engagement["parts"][0] == {
        "kind": "form_fill",
        "label": "Form fill",
        "count": 2,
        "weight": 8.0,
        "decay": 1.0,
        "contribution": 16.0,
    }
    assert sum(p["contribution"] for p in engagement["parts"]) == pytest.approx(49.5)
    relationship = body["scores"]["relationship_score"]
    assert relationship["total"] == pytest.approx(5.5 * 100 / 60)
    assert relationship["cap"] == 100.0
    assert {p["kind"]: p["decay"] for p in relationship["parts"]} == {
        "meeting": pytest.approx(0.5),
        "email_reply": pytest.approx(0.25),
    }
    research = body["scores"]["research_grade"]
    assert research["total"] == 2
    assert research["strongest"] == pytest.approx(3.0)
    assert research["window"]["split"].startswith("2024-03-25T00:00:00")
    assert [m["measure"] for m in research["measures"]] == [
        "high_value_visits",
        "distinct_pages",
        "engagement_minutes",
    ]


def test_default_date_is_the_latest_snapshot_else_today(viewer_api):
    account = make_account()
    body = viewer_api.get(url(account)).json()
    assert body["date_source"] == "today"
    assert body["date"] == timezone.localdate().isoformat()
    assert body["scores"]["engagement_score"]["total"] == 0  # 2024 touches are long gone
    f.AccountSnapshotFactory(account=account, date=dt.date(2024, 3, 1))
    f.AccountSnapshotFactory(account=account, date=D)
    body = viewer_api.get(url(account)).json()
    assert (body["date"], body["date_source"]) == ("2024-03-31", "latest_snapshot")
    assert body["scores"]["engagement_score"]["total"] == pytest.approx(49.5)


def test_definitions_version_is_used(viewer_api):
    account = make_account()
    base = definitions_resolve()
    weights = {**base.params["engagement_weights"], "form_fill": 20.0}
    version = definitions_derive(base, name="heavy-forms", params={"engagement_weights": weights})
    body = viewer_api.get(url(account), {"date": "2024-03-31", "definitions": version.name}).json()
    assert body["definitions"]["name"] == "heavy-forms"
    assert body["scores"]["engagement_score"]["total"] == pytest.approx(49.5 + 2 * 12)


def test_bad_parameters_name_the_field(viewer_api):
    account = f.AccountFactory()
    response = viewer_api.get(url(account), {"date": "31/03/2024"})
    assert response.status_code == 400
    assert "date" in response.json()
    response = viewer_api.get(url(account), {"definitions": "no-such-version"})
    assert response.status_code == 400
    assert "definitions" in response.json()


def test_unknown_account_and_access(viewer_api, api_client, editor_api):
    account = f.AccountFactory()
    assert viewer_api.get("/api/v1/accounts/99999999/scores/").status_code == 404
    assert api_client.get(url(account)).status_code == 401
    assert editor_api.post(url(account)).status_code == 405


def test_query_count_is_fixed(viewer_api):
    account = make_account()

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_api.get(url(account), {"date": "2024-03-31"}).status_code == 200
        return len(ctx.captured_queries)

    queries()
    small = queries()
    for day in range(1, 20):
        f.TouchFactory(account=account, kind="meeting", occurred_at=f.at(dt.date(2024, 3, day)))
        f.TouchFactory(account=account, kind="ad_click", occurred_at=f.at(dt.date(2024, 3, day)))
    assert queries() == small
    # token with its user and role (one query), the report statement timeout, account,
    # definitions version, high-value patterns, then one query per score
    assert small == 8
