"""``Idempotency-Key`` on API creates: a repeated request gets the first answer, work done once.

Every POST of the API (the resources' creates, the bulk touches, the CSV
import) goes through ``abm_site.idempotency.IdempotentCreateMixin``. Keys
belong to a user and last 24 hours; the same key with another request is a
422; concurrent identical requests do the work once (the second waits for the
first and answers what it answered).
"""

import datetime as dt
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone
from drf_spectacular.generators import EndpointEnumerator

from abm_site.idempotency import IdempotentCreateMixin
from abm_site.models import IdempotencyKey
from abm_site.tasks import idempotency_keys_purge
from accounts.api.views import AccountViewSet
from accounts.models import Account, Tier
from engagement.models import Touch
from tests.conftest import postgresql_only, token_client
from tests.factories import AccountFactory

HEADER = "HTTP_IDEMPOTENCY_KEY"


def test_every_api_post_goes_through_the_idempotency_mixin():
    posts = [
        (path, callback)
        for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints()
        if method == "POST"
    ]
    assert len(posts) >= 12
    for path, callback in posts:
        assert issubclass(callback.cls, IdempotentCreateMixin), path


@pytest.mark.django_db
def test_a_repeated_create_returns_the_first_answer_without_a_second_row(editor_api):
    first = editor_api.post(
        "/api/v1/tiers/", {"name": "Gold", "rank": 1}, format="json", **{HEADER: "k-1"}
    )
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    again = editor_api.post(
        "/api/v1/tiers/", {"name": "Gold", "rank": 1}, format="json", **{HEADER: "k-1"}
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Tier.objects.count() == 1
    # Key order and spacing do not make another request.
    third = editor_api.post(
        "/api/v1/tiers/",
        '{"rank": 1,  "name": "Gold"}',
        content_type="application/json",
        **{HEADER: "k-1"},
    )
    assert third.status_code == 201 and third.json() == first.json()


@pytest.mark.django_db
def test_the_same_key_with_another_request_is_a_422_naming_the_problem(editor_api):
    assert (
        editor_api.post(
            "/api/v1/tiers/", {"name": "Gold", "rank": 1}, format="json", **{HEADER: "k-2"}
        ).status_code
        == 201
    )
    for url, body in (
        ("/api/v1/tiers/", {"name": "Silver", "rank": 2}),
        ("/api/v1/accounts/", {"name": "Gold"}),
    ):
        response = editor_api.post(url, body, format="json", **{HEADER: "k-2"})
        assert response.status_code == 422, response.content
        assert "Idempotency-Key" in response.json()["detail"]
        assert "different request" in response.json()["detail"]
    assert Tier.objects.count() == 1 and Account.objects.count() == 0


@pytest.mark.django_db
def test_keys_belong_to_their_user_and_requests_without_a_key_are_unchanged(editor, admin_user):
    editor_api, admin_api = token_client(editor, "write"), token_client(admin_user, "write")
    for client in (editor_api, admin_api):
        response = client.post(
            "/api/v1/accounts/", {"name": "Acme"}, format="json", **{HEADER: "same"}
        )
        assert response.status_code == 201
    assert Account.objects.count() == 2
    # Another token of the same user shares the user's keys.
    other = token_client(editor, "write")
    replay = other.post("/api/v1/accounts/", {"name": "Acme"}, format="json", **{HEADER: "same"})
    assert replay["Idempotent-Replayed"] == "true"
    for _ in range(2):
        assert (
            editor_api.post("/api/v1/accounts/", {"name": "Acme"}, format="json").status_code == 201
        )
    assert Account.objects.count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " ", "x" * 256, "clé"])
def test_a_malformed_key_is_a_400(editor_api, key):
    response = editor_api.post(
        "/api/v1/tiers/", {"name": "Gold", "rank": 1}, format="json", **{HEADER: key}
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert Tier.objects.count() == 0


@pytest.mark.django_db
def test_an_invalid_request_is_not_kept_so_the_corrected_one_can_use_the_key(editor_api):
    bad = editor_api.post("/api/v1/tiers/", {"name": "Gold"}, format="json", **{HEADER: "k-3"})
    assert bad.status_code == 400
    good = editor_api.post(
        "/api/v1/tiers/", {"name": "Gold", "rank": 1}, format="json", **{HEADER: "k-3"}
    )
    assert good.status_code == 201
    assert IdempotencyKey.objects.get().status_code == 201


@pytest.mark.django_db
def test_bulk_touches_replay_the_first_counts(editor_api):
    acme = AccountFactory(domain="acme.com")
    rows = [
        {
            "account": acme.pk,
            "kind": "web_visit",
            "occurred_at": "2024-03-01T10:00:00Z",
            "external_id": "a",
        },
        {"account_domain": "acme.com", "kind": "email_open", "occurred_at": "2024-03-02"},
    ]
    url = "/api/v1/touches/bulk/?source=web"
    first = editor_api.post(url, rows, format="json", **{HEADER: "batch-7"})
    assert first.json()["accepted"] == 2
    again = editor_api.post(url, rows, format="json", **{HEADER: "batch-7"})
    assert again.json() == first.json()  # without the key: accepted 0, duplicates 2
    assert Touch.objects.count() == 2
    other_source = editor_api.post(
        "/api/v1/touches/bulk/?source=crm", rows, format="json", **{HEADER: "batch-7"}
    )
    assert other_source.status_code == 422


@pytest.mark.django_db
def test_the_import_replays_its_first_report(editor_api):
    csv = b"name,domain\nAcme,acme.com\nGlobex,globex.io\n"

    def upload(content: bytes, key: str = "file-1"):
        data = {"file": SimpleUploadedFile("a.csv", content), "kind": "accounts"}
        return editor_api.post("/api/v1/imports/", data, format="multipart", **{HEADER: key})

    first = upload(csv)
    assert (first.status_code, first.json()["created"]) == (200, 2)
    again = upload(csv)
    assert again.json() == first.json()  # without the key: created 0, unchanged 2
    assert again["Idempotent-Replayed"] == "true"
    assert upload(csv.replace(b"Globex", b"Initech")).status_code == 422  # another file
    assert Account.objects.count() == 2


@pytest.mark.django_db
def test_keys_last_24_hours_and_the_beat_task_removes_older_ones(editor_api, settings):
    assert (
        editor_api.post(
            "/api/v1/tiers/", {"name": "Gold", "rank": 1}, format="json", **{HEADER: "old"}
        ).status_code
        == 201
    )
    assert (
        editor_api.post(
            "/api/v1/tiers/", {"name": "Silver", "rank": 2}, format="json", **{HEADER: "new"}
        ).status_code
        == 201
    )
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - dt.timedelta(hours=24, seconds=1)
    )
    # An expired key is a new key: the request is done (and kept) again.
    reused = editor_api.post(
        "/api/v1/tiers/", {"name": "Bronze", "rank": 3}, format="json", **{HEADER: "old"}
    )
    assert reused.status_code == 201 and "Idempotent-Replayed" not in reused
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    entry = settings.CELERY_BEAT_SCHEDULE["abm-site-idempotency-keys-purge"]
    assert entry["task"] == "abm_site.idempotency_keys_purge"
    assert "expires" in entry["options"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_do_the_work_once(editor, monkeypatch):
    """Each pair of identical requests starts together; the create is slowed to overlap them."""
    create = AccountViewSet.create_service

    def slow_create(**fields):
        time.sleep(0.2)
        return create(**fields)

    monkeypatch.setattr(AccountViewSet, "create_service", staticmethod(slow_create))
    answers: dict[str, list] = {}
    errors: list = []

    def send(key: str, barrier: threading.Barrier) -> None:
        try:
            client = token_client(editor, "write")
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/accounts/", {"name": key}, format="json", **{HEADER: key}
            )
            answers.setdefault(key, []).append(response)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    for n in range(5):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=send, args=(f"pair-{n}", barrier)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    for key, responses in answers.items():
        assert [r.status_code for r in responses] == [201, 201], key
        assert responses[0].json() == responses[1].json(), key
        assert sorted(r.get("Idempotent-Replayed", "") for r in responses) == ["", "true"], key
    assert Account.objects.count() == 5
