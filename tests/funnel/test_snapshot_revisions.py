"""Published funnel snapshots keep their history: a recompute of a past day that finds other
figures writes a new revision (when and why), never overwrites; pages and the API read the
latest revision by default and can show the first and what each restated."""

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel import recompute
from funnel.definitions import definitions_resolve
from funnel.models import FunnelSnapshot
from funnel.snapshots import funnel_snapshots_upsert
from tests.factories import AccountFactory, TierFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2024, 3, 31)
WINDOW = 30
URL = "/api/v1/funnel-snapshots/"
#: No tier or program exists in these worlds: the slices are all and the three cohorts.
SLICES = ["all", "cohort:abm", "cohort:all", "cohort:non_abm"]
#: What adding a target account (no touch, deal or fit grade) changes in the "all" slice
#: (stages 1-4 read the abm cohort): the count, its split by tier and the funnel's first stage.
#: Rates stay 0 (0 of 1, 0 of 2) and means of 0 stay 0, so they are not restated.
RESTATED = ["target_accounts", "target_accounts_by_tier", "funnel"]


def kpi_value(snapshot: FunnelSnapshot, kpi_id: str):
    return next(k["value"] for k in snapshot.kpis["kpis"] if k["id"] == kpi_id)


def revisions(slice_name: str = "all", definitions: str = "v2") -> list[FunnelSnapshot]:
    return list(
        FunnelSnapshot.objects.filter(
            date=DAY, slice=slice_name, definitions=definitions_resolve(definitions)
        ).order_by("revision")
    )


@pytest.fixture
def restated():
    """Day 31 March published with 1 target account, then restated with 2."""
    AccountFactory()
    assert funnel_snapshots_upsert(DAY, WINDOW, reason="nightly recompute") == 4
    AccountFactory()
    assert funnel_snapshots_upsert(DAY, WINDOW, reason="backfill") == 3  # not cohort:non_abm
    return {s: revisions(s) for s in SLICES}


# --- the recompute -------------------------------------------------------------------------


def test_a_recompute_with_equal_figures_writes_nothing():
    AccountFactory()
    assert funnel_snapshots_upsert(DAY, WINDOW) == 4  # all + three cohorts, revision 1
    before = list(FunnelSnapshot.objects.order_by("pk").values())

    assert funnel_snapshots_upsert(DAY, WINDOW, reason="rerun") == 0

    assert list(FunnelSnapshot.objects.order_by("pk").values()) == before  # not even touched
    assert [r.reason for r in revisions()] == ["recompute: first publication"]


def test_changed_figures_keep_the_earlier_revision_and_add_one_saying_why(restated):
    first, second = restated["all"]

    assert (first.revision, second.revision) == (1, 2)
    assert first.reason == "nightly recompute: first publication"
    assert second.reason == f"backfill: {len(RESTATED)} KPIs changed"
    assert kpi_value(first, "target_accounts") == 1  # as first published, kept
    assert kpi_value(second, "target_accounts") == 2
    assert second.created_at >= first.created_at
    assert [r.revision for r in restated["cohort:non_abm"]] == [1]  # its figures did not change
    assert [r.revision for r in restated["cohort:abm"]] == [1, 2]


def test_a_third_recompute_restates_the_latest_not_the_first(restated):
    AccountFactory(fit_grade="A")  # also in the addressable market

    assert funnel_snapshots_upsert(DAY, WINDOW, reason="fix") == 4  # now non_abm's TAM too

    assert [r.revision for r in revisions()] == [1, 2, 3]
    assert kpi_value(revisions()[2], "target_accounts") == 3
    assert [r.revision for r in revisions("cohort:non_abm")] == [1, 2]


def test_each_definitions_version_has_its_own_revisions(restated):
    assert funnel_snapshots_upsert(DAY, WINDOW, definitions="v1") == 4
    v1 = revisions(definitions="v1")
    assert [(r.revision, r.reason) for r in v1] == [(1, "recompute: first publication")]
    assert v1[0].kpis["definitions"]["name"] == "v1"
    assert [r.revision for r in revisions()] == [1, 2]  # v2's history is untouched


def test_recomputing_a_past_day_through_the_run_keeps_history():
    AccountFactory()
    window = settings.ABM_SNAPSHOT_WINDOW_DAYS
    assert recompute.day_compute(DAY, kind="nightly").status == "succeeded"
    assert recompute.day_compute(DAY, kind="backfill").status == "succeeded"  # nothing new
    AccountFactory()
    assert recompute.day_compute(DAY, kind="backfill").status == "succeeded"

    rows = FunnelSnapshot.objects.filter(date=DAY, window_days=window, slice="all")
    history = [
        (r.revision, r.reason, kpi_value(r, "target_accounts")) for r in rows.order_by("revision")
    ]
    assert history == [
        (1, "nightly recompute: first publication", 1),
        (2, f"backfill recompute: {len(RESTATED)} KPIs changed", 2),
    ]


# --- the API --------------------------------------------------------------------------------


def _rows(client, params: dict) -> list[dict]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_api_reads_the_latest_revision_by_default(viewer_api, restated):
    latest = _rows(viewer_api, {"slice": "all"})
    assert [(r["revision"], r["definitions"]) for r in latest] == [(2, "v2")]
    assert latest[0]["reason"] == f"backfill: {len(RESTATED)} KPIs changed"
    assert next(k for k in latest[0]["kpis"]["kpis"] if k["id"] == "target_accounts")["value"] == 2
    everything = _rows(viewer_api, {"date_after": "2024-03-31", "date_before": "2024-03-31"})
    assert sorted((r["slice"], r["revision"]) for r in everything) == [
        ("all", 2),
        ("cohort:abm", 2),
        ("cohort:all", 2),
        ("cohort:non_abm", 1),  # latest of a slice that was never restated
    ]
    assert _rows(viewer_api, {"slice": "all", "revision": "latest"}) == latest


def test_the_api_shows_the_first_a_numbered_or_every_revision(viewer_api, restated):
    first = _rows(viewer_api, {"slice": "all", "revision": "first"})
    assert [r["revision"] for r in first] == [1]
    assert next(k for k in first[0]["kpis"]["kpis"] if k["id"] == "target_accounts")["value"] == 1
    assert [r["revision"] for r in _rows(viewer_api, {"slice": "all", "revision": "2"})] == [2]
    every = _rows(viewer_api, {"slice": "all", "revision": "all"})
    assert sorted(r["revision"] for r in every) == [1, 2]
    assert len(_rows(viewer_api, {"revision": "all"})) == 7  # 4 first + 3 restated


@pytest.mark.parametrize("bad", ["newest", "0", "1.5", "99999"])
def test_the_api_refuses_a_bad_revision_naming_the_parameter(viewer_api, restated, bad):
    response = viewer_api.get(URL, {"revision": bad})
    assert response.status_code == 400
    assert "revision" in response.json()


def test_the_api_filters_by_definitions_version(viewer_api, restated):
    funnel_snapshots_upsert(DAY, WINDOW, definitions="v1")
    v1 = _rows(viewer_api, {"definitions": "v1"})
    assert {(r["definitions"], r["revision"]) for r in v1} == {("v1", 1)}
    assert len(v1) == 4
    unknown = viewer_api.get(URL, {"definitions": "v9"})
    assert unknown.status_code == 400
    assert "v9" in str(unknown.json()["definitions"])


def test_the_revisions_endpoint_shows_the_restatement(viewer_api, restated):
    first, second = restated["all"]

    for snapshot in (first, second):  # any revision leads to the whole history
        response = viewer_api.get(f"{URL}{snapshot.pk}/revisions/")
        assert response.status_code == 200
        history = response.json()
        assert [(h["revision"], h["reason"]) for h in history] == [
            (1, "nightly recompute: first publication"),
            (2, f"backfill: {len(RESTATED)} KPIs changed"),
        ]
        assert history[0]["changes"] == []
        changes = {c["id"]: c for c in history[1]["changes"]}
        assert sorted(changes) == sorted(RESTATED)
        assert changes["target_accounts"] == {
            "id": "target_accounts",
            "label": "Target accounts",
            "unit": "count",
            "from": 1,
            "to": 2,
        }
        assert changes["target_accounts_by_tier"]["from"] == {"none": 1}
        assert changes["target_accounts_by_tier"]["to"] == {"none": 2}
    untouched = restated["cohort:non_abm"][0]
    only = viewer_api.get(f"{URL}{untouched.pk}/revisions/").json()
    assert [(h["revision"], h["changes"]) for h in only] == [(1, [])]


def test_snapshot_reads_need_a_signed_in_caller(api_client, restated):
    assert api_client.get(URL).status_code in (401, 403)
    assert api_client.get(f"{URL}{restated['all'][0].pk}/revisions/").status_code in (401, 403)


@pytest.mark.parametrize("revision", ["all", "latest", "first"])
def test_the_list_query_count_does_not_grow_with_revisions(viewer_api, restated, revision):
    _rows(viewer_api, {})  # the token's first use of the day records itself: one UPDATE
    with CaptureQueriesContext(connection) as few:
        _rows(viewer_api, {"revision": revision})
    TierFactory()  # a new slice, and more restatements of every day
    for extra in range(3):
        AccountFactory(fit_grade="AB"[extra % 2])
        funnel_snapshots_upsert(DAY, WINDOW, reason=f"fix {extra}")
    with CaptureQueriesContext(connection) as many:
        rows = _rows(viewer_api, {"revision": revision})
    assert len(rows) > {"all": 7, "latest": 4, "first": 4}[revision]  # the tier slice's too
    assert len(many) == len(few)


# --- the page ---------------------------------------------------------------------------------


def test_the_snapshots_page_shows_first_and_current_with_the_change(client, viewer, restated):
    client.force_login(viewer)

    page = client.get("/snapshots/", {"slice": "all", "day": "2024-03-31", "window": WINDOW})

    assert page.status_code == 200
    html = page.content.decode()
    assert "Revision 1</strong> (as first published)" in html
    assert "Revision 2</strong> (current)" in html
    assert f"backfill: {len(RESTATED)} KPIs changed" in html
    assert "Target accounts" in html
