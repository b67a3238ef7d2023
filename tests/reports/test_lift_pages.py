"""The lift page and API of a list's holdout (#20 item 4), and contamination shown (item 3)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import HoldoutAssignment
from accounts.selectors import target_list
from accounts.services import holdout_draw
from tests.conftest import postgresql_only, token_client
from tests.factories import (
    AccountFactory,
    AccountListFactory,
    OpportunityFactory,
    ProgramFactory,
    TouchFactory,
    at,
)

pytestmark = [pytest.mark.django_db, postgresql_only]

D = dt.date
PERIOD = "from=2024-07-01&to=2024-09-30"
#: The lift page and API each read the holdout, compute every lift KPI in one grouped
#: statement and count the contamination in one; the page also lists the contaminating
#: touches (one query) and reads the session, the user and the filter bar's choices.
#: The API's token, user and groups come in one query (the warm path); the page reads the
#: user's groups once (the role is kept on the request's user, #18).
PAGE_QUERIES, API_QUERIES = 13, 6


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def experiment(n: int = 40, program_touches: int = 1):
    """``n`` target accounts, half held out; every treated account engaged with an
    opportunity of 500, no held-out one; ``program_touches`` program touches on held-out
    accounts after the draw."""
    AccountFactory.create_batch(n)
    holdout = holdout_draw(target_list(), "0.5", "page", D(2024, 6, 1))
    rows = HoldoutAssignment.objects.filter(holdout=holdout).order_by("account_id")
    treated = list(rows.filter(held_out=False).values_list("account_id", flat=True))
    held = list(rows.filter(held_out=True).values_list("account_id", flat=True))
    for pk in treated:
        TouchFactory(account_id=pk, occurred_at=at(D(2024, 8, 1)))
        OpportunityFactory(account_id=pk, amount=Decimal(500), created_on=D(2024, 8, 2))
    program = ProgramFactory(name="Spring ads")
    for i in range(program_touches):
        TouchFactory(
            account_id=held[i % len(held)],
            program=program,
            kind="ad_impression",
            occurred_at=at(D(2024, 7, 1 + i)),
        )
    return holdout, treated, held


def test_the_lift_page_shows_each_kpi_and_the_contamination(viewer_client):
    holdout, treated, held = experiment()
    response = viewer_client.get(f"/lists/{target_list().pk}/lift/?{PERIOD}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Engaged rate lift" in html and "Revenue per account lift" in html
    assert "100.0 %" in html and "0.0 %" in html  # treated and held-out engaged rates
    assert "+100.0 pp" in html  # the difference in percentage points
    assert "20 of 20" in html and "0 of 20" in html
    assert "newcombe" in html and "welch" in html
    assert "Fewer than 30 accounts in a group (20 treated, 20 held out)" in html
    assert "Spring ads" in html  # the contaminating touch is listed
    assert "held-out account since the draw" in html
    detail = viewer_client.get(f"/lists/{target_list().pk}/?{PERIOD}").content.decode()
    assert "1 contaminating program touch on 1 held-out account" in detail
    assert f"/lists/{target_list().pk}/lift/" in detail


def test_a_list_without_holdout_says_how_to_draw_one(viewer_client):
    other = AccountListFactory(name="No control")
    html = viewer_client.get(f"/lists/{other.pk}/lift/").content.decode()
    assert "has no holdout" in html
    assert f"holdout_draw --list {other.pk}" in html
    assert viewer_client.get("/lists/999999/lift/").status_code == 404


def test_the_lift_page_under_version_1_says_the_kpis_are_newer(viewer_client, definitions_v1):
    experiment()
    html = viewer_client.get(f"/lists/{target_list().pk}/lift/?{PERIOD}").content.decode()
    assert "not defined in definitions generation 1" in html


def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_lift_page_and_api_cost_the_same_queries_for_any_size(viewer_client, viewer):
    holdout, _, _ = experiment(20, 2)
    url = f"/lists/{target_list().pk}/lift/?{PERIOD}"
    api = token_client(viewer)
    api_url = f"/api/v1/lists/{target_list().pk}/lift/?{PERIOD}"
    page_queries(viewer_client, url)  # the first computation under a version marks it used
    small = page_queries(viewer_client, url)
    api.get(api_url)  # the first request of a token records its use
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(api_url).status_code == 200
    api_small = len(ctx.captured_queries)
    AccountFactory.create_batch(60)
    holdout_draw(target_list(), "0.5", "page", D(2024, 6, 1), replace=True)
    program = ProgramFactory()
    for pk in HoldoutAssignment.objects.filter(held_out=True).values_list("account_id", flat=True):
        TouchFactory(account_id=pk, program=program, occurred_at=at(D(2024, 7, 2)))
    assert page_queries(viewer_client, url) == small
    with CaptureQueriesContext(connection) as ctx:
        assert api.get(api_url).status_code == 200
    assert len(ctx.captured_queries) == api_small
    assert (small, api_small) == (PAGE_QUERIES, API_QUERIES)


def test_the_api_returns_the_lift_with_intervals(viewer):
    holdout, treated, held = experiment(80, 3)
    api = token_client(viewer)
    body = api.get(f"/api/v1/lists/{target_list().pk}/lift/?{PERIOD}").json()
    assert body["holdout"]["seed"] == "page" and body["holdout"]["held_out"] == 40
    assert body["definitions"]["generation"] == 2
    assert body["contamination"] == {"touches": 3, "accounts": 3}
    kpis = {k["id"]: k for k in body["kpis"]}
    engaged = kpis["lift_engaged_rate"]
    assert engaged["treated"] == {"n": 40, "numerator": 40, "value": 1.0}
    assert engaged["difference"] == 1.0
    assert engaged["warning"].startswith("Fewer than 5 accounts with (or without)")  # all or none
    assert engaged["relative_difference"] is None  # held-out rate 0
    assert engaged["ci95"]["method"] == "newcombe" and engaged["ci95"]["low"] > 0.8
    pipeline = kpis["lift_pipeline_per_account"]
    assert pipeline["treated"] == {"n": 40, "total": 20000.0, "value": 500.0}
    assert pipeline["ci95"] == {"low": 500.0, "high": 500.0, "method": "welch"}  # no spread


def test_the_api_errors_name_the_problem(viewer, definitions_v1):
    api = token_client(viewer)
    other = AccountListFactory()
    response = api.get(f"/api/v1/lists/{other.pk}/lift/")
    assert response.status_code == 404
    assert "has no holdout" in response.json()["detail"]
    experiment(4, 0)
    response = api.get(f"/api/v1/lists/{target_list().pk}/lift/?{PERIOD}")
    assert response.status_code == 400
    assert "generation 1" in response.json()["definitions"][0]
    response = api.get(f"/api/v1/lists/{target_list().pk}/lift/?from=2024-09-01&to=2024-08-01")
    assert response.status_code == 400


def test_anonymous_users_get_no_lift(client):
    assert client.get("/lists/1/lift/").status_code in (302, 403)
