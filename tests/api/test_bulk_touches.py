"""POST /api/v1/touches/bulk/: mixed rows, idempotency, concurrency, the size limit."""

import threading

import pytest
from django.db import connection

from accounts.models import Account
from engagement.models import Touch
from tests.conftest import token_client
from tests.factories import AccountFactory, ProgramFactory, StakeholderFactory

URL = "/api/v1/touches/bulk/"


@pytest.fixture
def people(db):
    acme = AccountFactory(name="Acme", domain="acme.com")
    ada = StakeholderFactory(account=acme, email="ada@acme.com")
    return {"acme": acme, "ada": ada, "program": ProgramFactory()}


def _mixed(people) -> list[dict]:
    acme, ada = people["acme"], people["ada"]
    return [
        # 0: by account id, with an external id
        {
            "account": acme.pk,
            "kind": "web_visit",
            "occurred_at": "2024-03-01T10:00:00Z",
            "source": "web",
            "external_id": "v-1",
            "program": people["program"].pk,
        },
        # 1: by domain (written differently), no external id
        {
            "account_domain": "https://www.ACME.com/",
            "kind": "email_open",
            "occurred_at": "2024-03-02T10:00:00+01:00",
        },
        # 2: by stakeholder e-mail only
        {
            "stakeholder_email": "Ada@acme.com",
            "kind": "meeting",
            "occurred_at": "2024-03-03T09:00:00Z",
            "engagement_minutes": 30,
        },
        # 3: unknown kind
        {"account": acme.pk, "kind": "telepathy", "occurred_at": "2024-03-01T10:00:00Z"},
        # 4: duplicate of 0 within the request
        {
            "account": acme.pk,
            "kind": "web_visit",
            "occurred_at": "2024-03-01T10:00:00Z",
            "source": "web",
            "external_id": "v-1",
        },
        # 5: unknown account
        {"account": 987654321, "kind": "web_visit", "occurred_at": "2024-03-01T10:00:00Z"},
        # 6: a field the API does not know
        {"account": acme.pk, "kind": "web_visit", "occured_at": "2024-03-01T10:00:00Z"},
        # 7: not an object
        "web_visit",
        # 8: bad date-time
        {"account": acme.pk, "kind": "ad_click", "occurred_at": "yesterday-ish"},
        # 9: by stakeholder id
        {"stakeholder": ada.pk, "kind": "call_connected", "occurred_at": "2024-03-04T09:00:00Z"},
    ]


def test_mixed_rows(people, editor_api):
    Account.objects.update(needs_recompute=False)
    response = editor_api.post(URL, _mixed(people), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["accepted"] == 4
    assert body["duplicates"] == 1
    assert body["rejected_count"] == 5
    rejected = {r["index"]: r["errors"] for r in body["rejected"]}
    assert sorted(rejected) == [3, 5, 6, 7, 8]
    assert list(rejected[3]) == ["kind"]
    assert list(rejected[5]) == ["account"]
    assert rejected[6] == {"occured_at": ["Unknown field."]}
    assert list(rejected[7]) == ["non_field_errors"]
    assert list(rejected[8]) == ["occurred_at"]
    touches = Touch.objects.filter(account=people["acme"])
    assert touches.count() == 4
    assert set(touches.values_list("kind", flat=True)) == {
        "web_visit",
        "email_open",
        "meeting",
        "call_connected",
    }
    meeting = touches.get(kind="meeting")
    assert meeting.stakeholder_id == people["ada"].pk
    assert touches.get(kind="web_visit").program_id == people["program"].pk
    assert touches.get(kind="web_visit").source == "web"
    assert touches.get(kind="email_open").source == "api"
    assert Account.objects.get(pk=people["acme"].pk).needs_recompute is True


def test_repeated_request_stores_nothing_new(people, editor_api):
    rows = _mixed(people)
    first = editor_api.post(URL, rows, format="json").json()
    second = editor_api.post(URL, rows, format="json").json()
    assert first["accepted"] == 4
    assert second["accepted"] == 0
    assert second["duplicates"] == 5
    assert second["rejected_count"] == 5
    assert Touch.objects.count() == 4


def test_source_parameter_and_its_validation(people, editor_api):
    row = {"account": people["acme"].pk, "kind": "ad_click", "occurred_at": "2024-03-01"}
    ok = editor_api.post(f"{URL}?source=linkedin", [row], format="json")
    assert ok.json()["accepted"] == 1
    assert Touch.objects.get().source == "linkedin"
    bad = editor_api.post(f"{URL}?source={'x' * 51}", [row], format="json")
    assert bad.status_code == 400
    assert list(bad.json()) == ["source"]


def test_limit_is_413_with_a_json_message(people, editor_api):
    row = {"account": people["acme"].pk, "kind": "ad_click", "occurred_at": "2024-03-01"}
    response = editor_api.post(URL, [row] * 10_001, format="json")
    assert response.status_code == 413
    body = response.json()
    assert body["limit"] == 10_000
    assert "10,000" in body["detail"]
    assert Touch.objects.count() == 0


def test_body_must_be_an_array(people, editor_api):
    response = editor_api.post(URL, {"account": people["acme"].pk}, format="json")
    assert response.status_code == 400
    assert "JSON array" in response.json()["non_field_errors"][0]
    assert editor_api.post(URL, [], format="json").json() == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [],
        "rejected_count": 0,
    }


def test_access(people, api_client, viewer_api, editor_read_api):
    row = {"account": people["acme"].pk, "kind": "ad_click", "occurred_at": "2024-03-01"}
    assert api_client.post(URL, [row], format="json").status_code == 401
    assert viewer_api.post(URL, [row], format="json").status_code == 403
    assert editor_read_api.post(URL, [row], format="json").status_code == 403
    assert Touch.objects.count() == 0


def _in_threads(count: int, user, work) -> list[Exception]:
    """Run ``work(index, client)`` in ``count`` threads released together (each with its own
    API client and database connection); the exceptions they raised."""
    barrier = threading.Barrier(count)
    errors: list[Exception] = []

    def run(index: int) -> None:
        try:
            client = token_client(user, "write")
            barrier.wait(timeout=60)
            work(index, client)
        except Exception as exc:  # returned to the test, which asserts there are none
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return errors


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_identical_requests_store_each_touch_once(editor):
    acme = AccountFactory(domain="acme.com")
    rows = [
        {"account": acme.pk, "kind": "web_visit", "occurred_at": f"2024-03-01T10:{m:02d}:00Z"}
        for m in range(60)
    ] + [
        {
            "account_domain": "acme.com",
            "kind": "email_open",
            "occurred_at": "2024-03-02",
            "external_id": f"e-{i}",
        }
        for i in range(500)
    ]
    results: list = []

    def send(_index: int, client) -> None:
        results.append(client.post(URL, rows, format="json"))

    assert _in_threads(2, editor, send) == []
    assert [r.status_code for r in results] == [200, 200]
    bodies = [r.json() for r in results]
    assert sum(b["accepted"] for b in bodies) == 560
    assert sum(b["duplicates"] for b in bodies) == 560
    assert Touch.objects.count() == 560


def test_extreme_utc_offsets_are_stored_in_utc(people, editor_api):
    rows = [
        {"account": people["acme"].pk, "kind": "ad_click", "occurred_at": "2024-03-01T10:00-23:24"},
        {"account": people["acme"].pk, "kind": "ad_click", "occurred_at": "0001-01-01T00:00+23:00"},
    ]
    body = editor_api.post(URL, rows, format="json").json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert list(body["rejected"][0]["errors"]) == ["occurred_at"]
    stored = Touch.objects.get().occurred_at
    assert stored.isoformat() == "2024-03-02T09:24:00+00:00"


def test_a_kind_that_is_not_text_is_a_rejected_row(people, editor_api):
    """An array or object where a kind belongs is that row's error, not a server error."""
    acme = people["acme"].pk
    rows = [
        {"account": acme, "kind": ["web_visit"], "occurred_at": "2024-03-01"},
        {"account": acme, "kind": {"x": 1}, "occurred_at": "2024-03-01"},
        {"account": acme, "kind": "web_visit", "occurred_at": "2024-03-01"},
    ]
    body = editor_api.post(URL, rows, format="json").json()
    assert (body["accepted"], body["rejected_count"]) == (1, 2)
    assert [list(r["errors"]) for r in body["rejected"]] == [["kind"], ["kind"]]


def test_ids_that_are_digits_only_to_unicode_are_rejected_rows(people, editor_api):
    """'²' is a digit to str.isdigit but not to int(); 5,000 digits exceed int()'s limit."""
    acme = people["acme"].pk
    rows = [
        {"account": "²", "kind": "web_visit", "occurred_at": "2024-03-01"},
        {"account": "9" * 5000, "kind": "web_visit", "occurred_at": "2024-03-01"},
        {
            "account": acme,
            "stakeholder": "1" * 20,
            "kind": "web_visit",
            "occurred_at": "2024-03-01",
        },
        {"account": str(acme), "kind": "web_visit", "occurred_at": "2024-03-01"},
    ]
    response = editor_api.post(URL, rows, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["rejected_count"]) == (1, 3)
    assert [list(r["errors"]) for r in body["rejected"]] == [
        ["account"],
        ["account"],
        ["stakeholder"],
    ]


def test_a_lone_surrogate_is_a_400_and_an_escaped_pair_is_text(people, editor_api):
    """Python reads "\\ud800" as a string no database can store: a 400, not a 500."""
    acme = people["acme"].pk
    row = '{"account": %d, "kind": "web_visit", "occurred_at": "2024-03-01", "channel": "%s"}'
    lone = editor_api.post(
        URL, "[" + row % (acme, "x\\ud800") + "]", content_type="application/json"
    )
    assert lone.status_code == 400, lone.content
    assert "surrogate" in lone.json()["detail"]
    pair = editor_api.post(
        URL, "[" + row % (acme, "\\ud83d\\ude00") + "]", content_type="application/json"
    )
    assert pair.status_code == 200, pair.content
    assert Touch.objects.get().channel == "\U0001f600"


@pytest.mark.django_db(transaction=True)
def test_eight_clients_posting_overlapping_new_keys_get_no_server_error(editor):
    """Shuffled, overlapping batches of new keys: the unique index's deadlocks are retried
    (and, past the retries, a 409 to retry), never a 503 'database unavailable'."""
    import random

    accounts = [AccountFactory(domain=f"a{i}.example") for i in range(20)]
    pool = [
        {
            "account": accounts[i % 20].pk,
            "kind": "email_open",
            "occurred_at": "2024-03-02T10:00:00Z",
            "source": "crm",
            "external_id": f"k-{i}",
        }
        for i in range(1200)
    ]
    statuses: list[int] = []
    bodies: list[dict] = []
    answered: set[str] = set()  # keys of requests answered 200: each must be stored

    def send(seed: int, client) -> None:
        rng = random.Random(seed)
        for _ in range(3):
            rows = rng.sample(pool, 700)
            response = client.post(URL, rows, format="json")
            statuses.append(response.status_code)
            if response.status_code == 200:
                bodies.append(response.json())
                answered.update(r["external_id"] for r in rows)
            else:
                assert response.status_code == 409, response.content
                assert response["Retry-After"]

    assert _in_threads(8, editor, send) == []
    assert len(statuses) == 24
    assert all(status < 500 for status in statuses), statuses
    stored = set(Touch.objects.values_list("external_id", flat=True))
    assert answered <= stored <= {r["external_id"] for r in pool}
    assert Touch.objects.count() == len(stored)
    assert sum(b["accepted"] for b in bodies) == len(stored)
    assert all(b["rejected_count"] == 0 for b in bodies)
    assert all(b["accepted"] + b["duplicates"] == 700 for b in bodies)


def test_implausible_dates_are_rejected_with_the_reason(people, editor_api, settings):
    """0001-01-01 and 9999-12-31 are placeholders, not touches; the bounds are settings."""
    import datetime as dt

    from django.utils import timezone

    acme = people["acme"].pk
    ahead = (timezone.now() + dt.timedelta(days=400)).date().isoformat()
    rows = [
        {"account": acme, "kind": "ad_click", "occurred_at": "1969-12-31T23:59:59Z"},
        {"account": acme, "kind": "ad_click", "occurred_at": "1970-01-01T00:00:00Z"},
        {"account": acme, "kind": "ad_click", "occurred_at": ahead},
        {"account": acme, "kind": "ad_click", "occurred_at": "9999-12-31"},
    ]
    body = editor_api.post(URL, rows, format="json").json()
    assert body["accepted"] == 1
    reasons = {r["index"]: r["errors"]["occurred_at"][0] for r in body["rejected"]}
    assert sorted(reasons) == [0, 2, 3]
    assert reasons[0] == (
        "1969-12-31 is before 1970: not a plausible touch date (ABM_EARLIEST_EVENT_YEAR)"
    )
    assert "more than 366 days ahead" in reasons[2] and "9999-12-31" in reasons[3]
    settings.ABM_MAX_FUTURE_EVENT_DAYS = 500
    assert editor_api.post(URL, [rows[2]], format="json").json()["accepted"] == 1
