"""Webhooks against a real HTTP receiver on loopback (issue 17).

The receiver checks every request's signature as the README tells receivers to,
counts deliveries per path and can fail the first N requests of a path.
Celery runs the tasks eagerly, so a retry runs at once (its backoff is skipped).
"""

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from abm_site.celery import app as celery_app
from activation import services, tasks
from activation.models import WebhookDelivery, WebhookSubscription
from events.choices import EventType
from events.models import Event
from events.services import event_record
from funnel.history import stage_history_rebuild
from tests.conftest import token_client
from tests.factories import (
    AccountFactory,
    TierFactory,
    TouchFactory,
    WebhookSubscriptionFactory,
    at,
)

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on 127.0.0.1 that verifies X-ABM-Signature with the path's secret."""

    def __init__(self):
        self.secrets: dict[str, str] = {}
        self.fail_first: dict[str, int] = {}
        self.received: list[dict] = []  # every request, verified or not
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-ABM-Timestamp"]
                secret = receiver.secrets.get(self.path, "")
                expected = hmac.new(
                    secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256
                ).hexdigest()
                valid = hmac.compare_digest(expected, self.headers["X-ABM-Signature"])
                fresh = abs(time.time() - int(stamp)) < 300
                with receiver.lock:
                    n = sum(1 for r in receiver.received if r["path"] == self.path)
                    failing = n < receiver.fail_first.get(self.path, 0)
                    receiver.received.append(
                        {
                            "path": self.path,
                            "valid": valid and fresh,
                            "body": json.loads(body),
                            "event_id": self.headers["X-ABM-Event-Id"],
                            "ok": not failing,
                        }
                    )
                self.send_response(500 if failing else (200 if valid else 401))
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def subscribe(self, path: str, **kwargs) -> WebhookSubscription:
        subscription = WebhookSubscriptionFactory(url=self.url(path), **kwargs)
        self.secrets[path] = subscription.secret
        return subscription

    def ok(self, path: str) -> list[dict]:
        return [r for r in self.received if r["path"] == path and r["ok"]]


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(autouse=True)
def eager(settings):
    settings.ABM_WEBHOOKS_ALLOW_PRIVATE = True  # the receiver is on loopback
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def stage_change_of_tier(tier) -> int:
    """A tier account becomes engaged two days ago, through the recompute's own path."""
    account = AccountFactory(tier=tier)
    day = timezone.localdate() - dt.timedelta(days=1)
    TouchFactory(account=account, kind="meeting", occurred_at=at(day - dt.timedelta(days=1)))
    stage_history_rebuild(account.pk, account.pk, through=day)
    return account.pk


def test_one_signed_delivery_per_matching_subscription(receiver):
    tier1, tier2 = TierFactory(name="Tier 1"), TierFactory(name="Tier 2")
    receiver.subscribe("/tier1", event_types=["account.stage_changed"], tier=tier1)
    receiver.subscribe("/all", event_types=["account.stage_changed", "import.finished"])
    receiver.subscribe("/tier2", event_types=["account.stage_changed"], tier=tier2)
    receiver.subscribe("/imports", event_types=["import.finished"])
    receiver.subscribe("/off", event_types=["account.stage_changed"], active=False)
    account_id = stage_change_of_tier(tier1)
    event = Event.objects.get(type=EventType.STAGE_CHANGED)

    assert tasks.webhooks_dispatch() == 2
    assert tasks.webhooks_dispatch() == 0  # the event is dispatched once
    stage_history_rebuild(account_id, account_id, through=timezone.localdate())  # a rerun
    assert tasks.webhooks_dispatch() == 0

    assert sorted(r["path"] for r in receiver.received) == ["/all", "/tier1"]
    assert all(r["valid"] for r in receiver.received)
    body = receiver.received[0]["body"]
    assert body["id"] == event.pk and body["type"] == "account.stage_changed"
    assert body["account"]["id"] == account_id and body["account"]["tier"] == "Tier 1"
    assert body["data"]["from_stage"] == "target" and body["data"]["to_stage"] == "engaged"
    log = WebhookDelivery.objects.all()
    assert [(d.status, d.response_code, d.attempt) for d in log] == [("succeeded", 200, 1)] * 2
    assert all(d.duration_ms is not None for d in log)


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt(receiver):
    subscription = receiver.subscribe("/flaky", event_types=["import.finished"])
    receiver.fail_first["/flaky"] = 3
    event_record(EventType.IMPORT_FINISHED, "import:1", {"kind": "accounts"})
    tasks.webhooks_dispatch()
    attempts = list(
        WebhookDelivery.objects.order_by("attempt").values_list(
            "attempt", "status", "response_code"
        )
    )
    assert attempts == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "failed", 500),
        (4, "succeeded", 200),
    ]
    assert len(receiver.received) == 4 and len(receiver.ok("/flaky")) == 1
    assert {r["event_id"] for r in receiver.received} == {str(Event.objects.get().pk)}
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0 and subscription.active


def test_a_run_of_failures_disables_the_subscription_with_an_event(receiver, settings):
    settings.ABM_WEBHOOK_DISABLE_AFTER = 3
    subscription = receiver.subscribe("/down", event_types=["import.finished"])
    receiver.fail_first["/down"] = 100
    event_record(EventType.IMPORT_FINISHED, "import:1")
    tasks.webhooks_dispatch()
    subscription.refresh_from_db()
    assert not subscription.active and subscription.consecutive_failures == 3
    assert "3 failed deliveries" in subscription.disabled_reason
    assert WebhookDelivery.objects.count() == 3  # no attempt after disabling
    disabled = Event.objects.get(type=EventType.WEBHOOK_DISABLED)
    assert disabled.payload["subscription"] == subscription.pk
    assert "HTTP 500" in disabled.payload["last_error"]


def test_retries_stop_after_the_maximum_attempts(receiver, settings):
    settings.ABM_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.subscribe("/down", event_types=["import.finished"])
    receiver.fail_first["/down"] = 100
    event_record(EventType.IMPORT_FINISHED, "import:1")
    tasks.webhooks_dispatch()
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["failed"] * 2


def test_slack_format_sends_a_text(receiver):
    receiver.subscribe("/slack", event_types=["import.finished"], payload_format="slack")
    event_record(
        EventType.IMPORT_FINISHED,
        "import:1",
        {
            "kind": "touches",
            "rows_read": 12000,
            "created": 11990,
            "updated": 0,
            "rejected_count": 10,
        },
    )
    tasks.webhooks_dispatch()
    assert receiver.received[0]["body"] == {
        "text": "Import of touches finished: 12,000 rows, 11,990 created, 0 updated, 10 rejected."
    }


def test_private_targets_are_refused_when_saving_and_when_delivering(
    receiver, settings, admin_user
):
    settings.ABM_WEBHOOKS_ALLOW_PRIVATE = False
    client = token_client(admin_user, scope="write")
    answer = client.post(
        "/api/v1/webhook-subscriptions/",
        {"name": "local", "url": "http://127.0.0.1/", "event_types": ["import.finished"]},
        format="json",
    )
    assert answer.status_code == 400
    assert (
        "127.0.0.1 resolves to 127.0.0.1, a private, loopback or link-local address"
        in (answer.json()["url"][0])
    )
    assert "ABM_WEBHOOKS_ALLOW_PRIVATE" in answer.json()["url"][0]
    # Saved while allowed (or a public name that now resolves to loopback): refused at delivery.
    receiver.subscribe("/rebound", event_types=["import.finished"])
    event_record(EventType.IMPORT_FINISHED, "import:1")
    tasks.webhooks_dispatch()
    assert receiver.received == []
    first = WebhookDelivery.objects.order_by("attempt").first()
    assert first.status == "failed" and first.error.startswith("Refused: 127.0.0.1 resolves to")


def test_api_is_for_admins_and_redeliver_sends_again(receiver, viewer, editor, admin_user):
    assert token_client(viewer).get("/api/v1/webhook-subscriptions/").status_code == 403
    assert token_client(editor, scope="write").get("/api/v1/webhook-deliveries/").status_code == 403
    client = token_client(admin_user, scope="write")
    created = client.post(
        "/api/v1/webhook-subscriptions/",
        {"name": "ops", "url": receiver.url("/ops"), "event_types": ["recompute.failed"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    receiver.secrets["/ops"] = created.json()["secret"]
    assert len(created.json()["secret"]) == 64
    bad = client.post(
        "/api/v1/webhook-subscriptions/",
        {"name": "x", "url": receiver.url("/x"), "event_types": ["nope"]},
        format="json",
    )
    assert bad.status_code == 400 and "Unknown event types nope" in bad.json()["event_types"][0]
    event_record(EventType.RECOMPUTE_FAILED, "recompute:1:failed", {"day": "2026-01-01"})
    tasks.webhooks_dispatch()
    delivery = client.get("/api/v1/webhook-deliveries/").json()["results"][0]
    again = client.post(f"/api/v1/webhook-deliveries/{delivery['id']}/redeliver/")
    assert again.status_code == 202 and again.json()["attempt"] == 2
    assert len(receiver.ok("/ops")) == 2 and all(r["valid"] for r in receiver.received)


def test_backoff_is_full_jitter_under_an_exponential_ceiling(settings):
    settings.ABM_WEBHOOK_BACKOFF_SECONDS = 30
    settings.ABM_WEBHOOK_BACKOFF_MAX_SECONDS = 600
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (5, 480), (6, 600), (9, 600)]:
        waits = [services.backoff_seconds(attempt) for _ in range(200)]
        assert all(0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # spread over the range, not fixed


def test_the_post_goes_to_the_checked_address_not_a_new_lookup():
    """DNS rebinding between the check and the connection: the delivery connects to the
    address ``target_check`` approved, keeping the URL's host in the Host header. Here the
    host name does not resolve at all (``.invalid``), so only a pinned connection arrives."""
    import http.server
    import threading

    from activation.delivery import post

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append(self.headers["Host"])
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        url = f"http://hooks.example.invalid:{port}/in"
        assert post(url, b"{}", {}, timeout=5).ok is False  # resolving the name fails
        outcome = post(url, b"{}", {}, timeout=5, address="127.0.0.1")
        assert outcome.ok and outcome.response_code == 204
        assert seen == [f"hooks.example.invalid:{port}"]
    finally:
        server.shutdown()
