"""touch_bulk_create: the bulk path shared by CSV import and the REST bulk endpoint."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import Account
from engagement.models import Touch
from engagement.services import touch_bulk_create
from tests.factories import AccountFactory, ProgramFactory, StakeholderFactory


@pytest.fixture
def acme(db):
    account = AccountFactory(name="Acme", domain="acme.example", needs_recompute=False)
    StakeholderFactory(account=account, email="ann@acme.example")
    return account


def test_accepts_rejects_and_marks_accounts(acme):
    other = AccountFactory(domain="other.example", needs_recompute=False)
    ProgramFactory(name="Launch")
    ann = acme.stakeholders.get()
    rows = [
        {"account_id": acme.id, "kind": "web_visit", "occurred_at": "2024-05-01T10:00:00Z"},
        {
            "account_domain": "https://www.ACME.example/x",
            "kind": "Email open",
            "occurred_at": "2024-05-01",
            "external_id": "e-1",
            "program": "launch",
        },
        {
            "stakeholder_email": "ANN@acme.example",
            "kind": "meeting",
            "occurred_at": "2024-05-02T09:00:00+02:00",
            "cost": "12.5",
        },
        {"account_id": 999999, "kind": "web_visit", "occurred_at": "2024-05-01"},
        {"account_domain": "acme.example", "kind": "teleport", "occurred_at": "2024-05-01"},
        {"account_domain": "acme.example", "kind": "meeting", "occurred_at": "2024-02-30"},
        {
            "account_domain": "acme.example",
            "kind": "meeting",
            "occurred_at": "2024-05-01",
            "cost": "-3",
        },
        {"kind": "meeting", "occurred_at": "2024-05-01"},
        {
            "account_id": other.id,
            "stakeholder_id": ann.id,
            "kind": "meeting",
            "occurred_at": "2024-05-01",
        },
        {
            "account_domain": "acme.example",
            "kind": "meeting",
            "occurred_at": "2024-05-01",
            "program": "Nope",
        },
    ]
    result = touch_bulk_create(rows, source="api")
    assert (result.accepted, result.duplicates) == (3, 0)
    assert [(r.index, r.field) for r in result.rejected] == [
        (3, "account_id"),
        (4, "kind"),
        (5, "occurred_at"),
        (6, "cost"),
        (7, "account_id"),
        (8, "stakeholder_id"),
        (9, "program"),
    ]
    assert "no account has id 999999" in result.rejected[0].reason
    assert Touch.objects.filter(account=acme).count() == 3
    meeting = Touch.objects.get(kind="meeting")
    assert (meeting.stakeholder, meeting.cost) == (ann, Decimal("12.50"))
    assert Touch.objects.get(external_id="e-1").program.name == "Launch"
    assert Touch.objects.get(kind="web_visit").external_id.startswith("sha256:")
    assert result.accounts_marked == 1
    assert list(Account.objects.filter(needs_recompute=True)) == [acme]


def test_duplicates_in_the_same_and_a_later_request(acme):
    rows = [
        {
            "account_id": acme.id,
            "kind": "ad_click",
            "occurred_at": "2024-05-01T10:00:00Z",
            "external_id": "x-1",
        },
        {
            "account_id": acme.id,
            "kind": "ad_click",
            "occurred_at": "2024-05-01T10:00:00Z",
            "external_id": "x-1",
        },
        {"account_id": acme.id, "kind": "ad_click", "occurred_at": "2024-05-01T11:00:00Z"},
    ]
    first = touch_bulk_create(rows, source="ads")
    assert (first.accepted, first.duplicates, first.rejected) == (2, 1, [])
    second = touch_bulk_create(rows, source="ads")
    assert (second.accepted, second.duplicates) == (0, 3)
    # The same external id from another source is another touch.
    third = touch_bulk_create(rows[:1], source="crm")
    assert third.accepted == 1
    assert Touch.objects.count() == 3


def test_all_rejected_writes_nothing(acme):
    result = touch_bulk_create([{"kind": "web_visit"}, "not a dict"], source="api")
    assert result.accepted == 0
    assert [(r.index, r.field) for r in result.rejected] == [(0, "occurred_at"), (1, "")]
    assert not Touch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_racing_requests_store_each_touch_once():
    if connection.vendor != "postgresql":
        pytest.skip("the race is about PostgreSQL's ON CONFLICT")
    account = AccountFactory(domain="race.example")
    rows = [
        {
            "account_id": account.id,
            "kind": "web_visit",
            "occurred_at": f"2024-05-01T10:{i // 60:02d}:{i % 60:02d}Z",
            "external_id": f"r-{i}",
        }
        for i in range(2000)
    ]
    results = []
    barrier = threading.Barrier(2)

    def send():
        try:
            barrier.wait()
            results.append(touch_bulk_create(rows, source="race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((r.accepted + r.duplicates) for r in results) == [2000, 2000]
    assert sum(r.accepted for r in results) == 2000
    assert Touch.objects.filter(source="race").count() == 2000
