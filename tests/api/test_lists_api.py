"""``/api/v1/lists/``: named account lists and their membership intervals (#15)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccountList, ListMembership
from accounts.selectors import list_members, target_list
from tests.conftest import postgresql_only, token_client
from tests.factories import AccountFactory, TierFactory

pytestmark = [pytest.mark.django_db, postgresql_only]
D = dt.date


def test_list_index_counts_members_today_in_one_query(editor):
    today = timezone.localdate()
    a, b = AccountFactory(), AccountFactory()
    AccountFactory(untargeted_on=today)  # left today: not a member today
    named = AccountList.objects.create(name="Product X")
    ListMembership.objects.create(account=a, list=named, joined_on=today - dt.timedelta(days=3))
    ListMembership.objects.create(account=b, list=named, joined_on=today + dt.timedelta(days=3))
    client = token_client(editor)
    response = client.get("/api/v1/lists/")
    assert response.status_code == 200
    rows = {r["name"]: r for r in response.json()["results"]}
    assert rows["Target accounts"]["is_target"] is True
    assert rows["Target accounts"]["members_today"] == 2  # a and b; the third left today
    assert rows["Product X"]["members_today"] == 1  # b joins in three days
    AccountList.objects.bulk_create(AccountList(name=f"L{i}") for i in range(20))
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/v1/lists/").status_code == 200
    # auth token + user groups + count + page (+ statement timeout): constant in the lists
    assert len(captured.captured_queries) <= 6


def test_static_list_members_add_and_remove_with_dates(editor):
    a, b = AccountFactory(), AccountFactory()
    client = token_client(editor, "write")
    created = client.post("/api/v1/lists/", {"name": "Campaign Q3", "tags": ["q3"]}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    url = f"/api/v1/lists/{pk}/members/"
    r = client.post(url, {"add": [a.pk, b.pk], "on": "2024-07-01"}, format="json")
    assert r.json() == {"joined": 2, "left": 0}
    r = client.post(url, {"add": [a.pk], "on": "2024-07-05"}, format="json")
    assert r.json() == {"joined": 0, "left": 0}  # already on it
    r = client.post(url, {"remove": [b.pk], "on": "2024-08-01"}, format="json")
    assert r.json() == {"joined": 0, "left": 1}
    r = client.post(url, {"add": [b.pk], "on": "2024-09-01"}, format="json")
    assert r.json() == {"joined": 1, "left": 0}
    # b: [Jul 1, Aug 1) and [Sep 1, …); a: [Jul 1, …).
    assert set(list_members(pk, D(2024, 6, 30))) == set()
    assert set(list_members(pk, D(2024, 7, 31))) == {a, b}
    assert set(list_members(pk, D(2024, 8, 15))) == {a}
    assert set(list_members(pk, D(2024, 9, 1))) == {a, b}
    rows = client.get(url, {"on": "2024-08-15"}).json()["results"]
    assert [(r["account"], r["joined_on"], r["left_on"]) for r in rows] == [
        (a.pk, "2024-07-01", None)
    ]
    assert client.get(url).json()["count"] == 3  # every interval, the closed one too


def test_member_writes_refused_where_they_do_not_apply(editor, viewer):
    a = AccountFactory()
    client = token_client(editor, "write")
    target = target_list()
    r = client.post(f"/api/v1/lists/{target.pk}/members/", {"add": [a.pk]}, format="json")
    assert r.status_code == 400
    assert "is_target, targeted_on and untargeted_on" in r.json()["add"][0]
    assert client.delete(f"/api/v1/lists/{target.pk}/").status_code == 400
    named = AccountList.objects.create(name="X")
    r = client.post(f"/api/v1/lists/{named.pk}/members/", {"add": [999_999]}, format="json")
    assert r.status_code == 400 and "999999" in r.json()["add"][0]
    r = token_client(viewer, "write").post(
        f"/api/v1/lists/{named.pk}/members/", {"add": [a.pk]}, format="json"
    )
    assert r.status_code == 403


def test_dynamic_list_takes_its_members_from_criteria(editor):
    today = timezone.localdate()
    tier = TierFactory(name="Tier 1", rank=1)
    big = AccountFactory(tier=tier, employees=5000, country="Germany")
    AccountFactory(tier=tier, employees=50, country="Germany")  # too small
    AccountFactory(employees=5000, country="germany")  # no tier
    client = token_client(editor, "write")
    body = {
        "name": "Big German tier 1",
        "kind": "dynamic",
        "criteria": {"tier": [tier.pk], "employees_min": 1000, "country": ["GERMANY"]},
    }
    r = client.post("/api/v1/lists/", body, format="json")
    assert r.status_code == 201, r.content
    pk = r.json()["id"]
    assert set(list_members(pk, today)) == {big}
    r = client.post(f"/api/v1/lists/{pk}/members/", {"add": [big.pk]}, format="json")
    assert r.status_code == 400 and "criteria" in r.json()["add"][0]
    bad = client.post(
        "/api/v1/lists/",
        {"name": "Bad", "kind": "dynamic", "criteria": {"colour": ["red"]}},
        format="json",
    )
    assert bad.status_code == 400
    assert "Unknown criterion 'colour'" in bad.json()["criteria"][0]


def test_kpi_api_takes_list(editor):
    AccountFactory()
    client = token_client(editor)
    target = target_list().pk
    params = {"from": "2024-01-01", "to": "2024-03-31", "id": "target_accounts"}
    plain = client.get("/api/v1/kpis/", params).json()
    listed = client.get("/api/v1/kpis/", {**params, "list": target}).json()
    assert listed["filters"]["list"] == target
    assert listed["kpis"][0]["value"] == plain["kpis"][0]["value"] == 1
    r = client.get("/api/v1/kpis/", {**params, "list": 999_999})
    assert r.status_code == 400 and r.json() == {"list": ["Unknown list id: 999999."]}
