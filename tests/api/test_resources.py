"""Every REST resource: list, retrieve, create, update, delete, access, pinned query counts."""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Tier
from tests import factories as f


@dataclass
class Resource:
    name: str
    make: Callable[[], object]  # one row, with whatever it hangs off
    payload: Callable[[], dict]  # a valid create body (creates the rows it points to)
    patch: dict  # a valid partial update
    writable: bool = True
    marks_account: bool = False  # writes flag the account for recompute
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"/api/v1/{self.name}/"

    def __str__(self) -> str:
        return self.name


def _account_id() -> int:
    return f.AccountFactory().pk


def _program_with_tier():
    program = f.ProgramFactory()
    program.target_tiers.set([f.TierFactory()])
    return program


def _stakeholder_payload() -> dict:
    account = f.AccountFactory()
    return {"account": account.pk, "name": "Ada", "email": "ADA@Example.com"}


def _touch_payload() -> dict:
    stakeholder = f.StakeholderFactory()
    return {
        "account": stakeholder.account_id,
        "stakeholder": stakeholder.pk,
        "kind": "meeting",
        "occurred_at": "2024-02-01T10:00:00Z",
        "engagement_minutes": "30.00",
        "source": "crm",
        "external_id": "m-1",
    }


RESOURCES = [
    Resource(
        "accounts",
        lambda: f.AccountFactory(),
        lambda: {"name": "Acme", "domain": "https://www.ACME.com/about", "is_target": True},
        {"industry": "Retail"},
    ),
    Resource(
        "tiers",
        lambda: f.TierFactory(),
        lambda: {"name": "Strategic", "rank": 99},
        {"name": "Renamed"},
    ),
    Resource(
        "stakeholders",
        lambda: f.StakeholderFactory(),
        _stakeholder_payload,
        {"title": "CFO"},
        marks_account=True,
    ),
    Resource(
        "programs",
        lambda: _program_with_tier(),
        lambda: {"name": "Q1 ABM", "budget": "5000.00", "target_tiers": [f.TierFactory().pk]},
        {"budget": "7500.00"},
    ),
    Resource(
        "spend",
        lambda: f.SpendFactory(),
        lambda: {"program": f.ProgramFactory().pk, "spent_on": "2024-01-31", "amount": "12.50"},
        {"amount": "13.00"},
    ),
    Resource(
        "touches",
        lambda: f.TouchFactory(stakeholder=f.StakeholderFactory()),
        _touch_payload,
        {"kind": "call_connected"},
        marks_account=True,
    ),
    Resource(
        "visitors",
        lambda: f.VisitorFactory(account=f.AccountFactory()),
        lambda: {
            "anonymous_id": "cookie-1",
            "account": _account_id(),
            "first_seen_at": "2024-01-01T00:00:00Z",
        },
        {"identified_at": "2024-01-05T00:00:00Z"},
    ),
    Resource(
        "intent-signals",
        lambda: f.IntentSignalFactory(),
        lambda: {"account": _account_id(), "topic": "crm", "score": "55.5", "week": "2024-01-08"},
        {"score": "60.00"},
        marks_account=True,
    ),
    Resource(
        "opportunities",
        lambda: f.OpportunityFactory(),
        lambda: {"account": _account_id(), "name": "Deal", "amount": "1000", "status": "open"},
        {"amount": "2500.00"},
        marks_account=True,
    ),
    Resource(
        "nps-responses",
        lambda: f.NpsResponseFactory(),
        lambda: {"account": _account_id(), "score": 9, "responded_on": "2024-03-01"},
        {"score": 3},
        marks_account=True,
    ),
    Resource(
        "stage-changes",
        lambda: f.AccountStageChangeFactory(),
        dict,
        {},
        writable=False,
    ),
    Resource(
        "account-snapshots",
        lambda: f.AccountSnapshotFactory(),
        dict,
        {},
        writable=False,
    ),
    Resource(
        "funnel-snapshots",
        lambda: f.FunnelSnapshotFactory(slice=f"tier:{f.TierFactory().pk}"),
        dict,
        {},
        writable=False,
    ),
]
WRITABLE = [r for r in RESOURCES if r.writable]
READ_ONLY = [r for r in RESOURCES if not r.writable]
by_name = pytest.mark.parametrize("resource", RESOURCES, ids=str)


def _list_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 1000})
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.mark.django_db
@by_name
def test_list_and_retrieve(resource, viewer_api):
    rows = [resource.make() for _ in range(3)]
    response = viewer_api.get(resource.url)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [r["id"] for r in body["results"]] == sorted(r.pk for r in rows)
    one = viewer_api.get(f"{resource.url}{rows[1].pk}/")
    assert one.status_code == 200
    assert one.json()["id"] == rows[1].pk
    assert viewer_api.get(f"{resource.url}999999999/").status_code == 404


@pytest.mark.django_db
@by_name
def test_list_query_count_is_fixed(resource, viewer_api, django_assert_num_queries):
    """A list costs the same number of queries for 2 rows as for 12 (no N+1)."""
    for _ in range(2):
        resource.make()
    _list_queries(viewer_api, resource.url)  # warm up: the token's last-used stamp
    small = _list_queries(viewer_api, resource.url)
    for _ in range(10):
        resource.make()
    # token with its user and role groups (one query), COUNT, page (+ one prefetch for
    # programs' tiers)
    expected = 4 if resource.name == "programs" else 3
    assert small == expected
    with django_assert_num_queries(expected):
        response = viewer_api.get(resource.url, {"page_size": 1000})
    assert response.json()["count"] == 12


@pytest.mark.django_db
@pytest.mark.parametrize("resource", RESOURCES, ids=str)
def test_anonymous_gets_401(resource, api_client):
    assert api_client.get(resource.url).status_code == 401
    assert api_client.post(resource.url, {}, format="json").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("resource", WRITABLE, ids=str)
def test_create_update_delete(resource, editor_api):
    payload = resource.payload()
    created = editor_api.post(resource.url, payload, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    detail = f"{resource.url}{pk}/"
    updated = editor_api.patch(detail, resource.patch, format="json")
    assert updated.status_code == 200, updated.content
    for key, value in resource.patch.items():
        assert updated.json()[key] == value
    assert editor_api.get(detail).json() == updated.json()
    full = {k: v for k, v in editor_api.get(detail).json().items() if v is not None}
    assert editor_api.put(detail, full, format="json").status_code == 200
    assert editor_api.delete(detail).status_code == 204
    assert editor_api.get(detail).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("resource", [r for r in WRITABLE if r.marks_account], ids=str)
def test_writes_mark_the_account_for_recompute(resource, editor_api):
    payload = resource.payload()
    Account.objects.update(needs_recompute=False)
    created = editor_api.post(resource.url, payload, format="json")
    assert created.status_code == 201, created.content
    account = Account.objects.get(pk=created.json()["account"])
    assert account.needs_recompute is True

    Account.objects.update(needs_recompute=False)
    other = f.AccountFactory()
    detail = f"{resource.url}{created.json()['id']}/"
    body = {"account": other.pk}
    if "stakeholder" in created.json():
        body["stakeholder"] = None  # the old stakeholder belongs to the old account
    moved = editor_api.patch(detail, body, format="json")
    assert moved.status_code == 200, moved.content
    flagged = set(Account.objects.filter(needs_recompute=True).values_list("pk", flat=True))
    assert flagged == {account.pk, other.pk}

    Account.objects.update(needs_recompute=False)
    assert editor_api.delete(detail).status_code == 204
    flagged = set(Account.objects.filter(needs_recompute=True).values_list("pk", flat=True))
    assert flagged == {other.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("resource", WRITABLE, ids=str)
@pytest.mark.parametrize(
    "client_fixture,message",
    [
        ("viewer_write_api", "editor"),
        ("viewer_api", "read-only"),
        ("editor_read_api", "read-only"),
    ],
)
def test_writes_denied_without_write_role_and_scope(resource, client_fixture, message, request):
    client = request.getfixturevalue(client_fixture)
    row = resource.make()
    payload = resource.payload()
    created = client.post(resource.url, payload, format="json")
    assert created.status_code == 403
    assert message in created.json()["detail"]
    detail = f"{resource.url}{row.pk}/"
    assert client.patch(detail, resource.patch, format="json").status_code == 403
    assert client.delete(detail).status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("resource", READ_ONLY, ids=str)
def test_computed_resources_reject_writes(resource, editor_api):
    row = resource.make()
    assert editor_api.post(resource.url, {}, format="json").status_code == 405
    detail = f"{resource.url}{row.pk}/"
    assert editor_api.put(detail, {}, format="json").status_code == 405
    assert editor_api.patch(detail, {}, format="json").status_code == 405
    assert editor_api.delete(detail).status_code == 405
    assert type(row).objects.filter(pk=row.pk).exists()


@pytest.mark.django_db
def test_admin_token_writes(admin_api):
    response = admin_api.post("/api/v1/tiers/", {"name": "T", "rank": 7}, format="json")
    assert response.status_code == 201


@pytest.mark.django_db
def test_session_authentication_reads(client, viewer):
    f.AccountFactory()
    client.force_login(viewer)
    response = client.get("/api/v1/accounts/")
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.django_db
def test_page_size_is_capped_at_1000(viewer_api):
    Tier.objects.bulk_create(Tier(name=f"t{i}", rank=i + 1) for i in range(1001))
    response = viewer_api.get("/api/v1/tiers/", {"page_size": 5000})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1001
    assert len(body["results"]) == 1000
    assert body["next"] is not None


def test_resources_cover_the_brief():
    names = {r.name for r in RESOURCES}
    assert names == {
        "accounts",
        "tiers",
        "stakeholders",
        "programs",
        "spend",
        "touches",
        "visitors",
        "intent-signals",
        "opportunities",
        "nps-responses",
        "stage-changes",
        "account-snapshots",
        "funnel-snapshots",
    }
