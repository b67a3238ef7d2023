"""A real Celery worker is SIGKILLed while it delivers webhooks; no event is lost, and the
delivery log records each event as delivered once (issue 17).

Like tests/funnel/test_worker_kill.py: workers are separate processes on Redis and this
test database. The receiver (http.server on loopback) holds its sixth request until the
first worker is dead, so the kill lands mid-delivery (killed between two tasks, kombu
could lose a task popped from Redis but not yet recorded as unacknowledged; see
tests/funnel/test_worker_kill.py). That request reaches the receiver twice (delivery is
at least once; receivers drop duplicates by X-ABM-Event-Id), no other.
"""

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from django.conf import settings
from django.db import connection

from activation.models import WebhookDelivery
from events.choices import EventType
from events.services import event_record
from tests.factories import WebhookSubscriptionFactory
from tests.funnel.test_worker_kill import _kill, _start_worker, _wait

EVENTS = 20

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis") or connection.vendor != "postgresql",
        reason="needs PostgreSQL and Redis",
    ),
]


HELD = 6  # the request held until the first worker is dead


class SlowReceiver(BaseHTTPRequestHandler):
    seen: Counter = Counter()
    lock = threading.Lock()
    holding = threading.Event()  # the held request has arrived
    release = threading.Event()  # the worker is dead: answer it

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.05)
        with self.lock:
            self.seen[self.headers["X-ABM-Event-Id"]] += 1
            held = sum(self.seen.values()) == HELD
        if held:
            self.holding.set()
            self.release.wait(60)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_sigkilled_worker_mid_delivery_loses_no_event(tmp_path):
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    SlowReceiver.seen = Counter()
    SlowReceiver.holding.clear()
    SlowReceiver.release.clear()
    WebhookSubscriptionFactory(
        url=f"http://127.0.0.1:{server.server_address[1]}/hook", event_types=["import.finished"]
    )
    ids = [
        str(e)
        for e in range(EVENTS)
        if event_record(EventType.IMPORT_FINISHED, f"import:kill:{e}", {"n": e})
    ]
    assert len(ids) == EVENTS

    from activation.tasks import webhooks_dispatch

    log = tmp_path / "worker.log"
    first = _start_worker(log)
    try:
        webhooks_dispatch.delay()
        _wait(SlowReceiver.holding.is_set, 60, f"delivery {HELD} to reach the receiver")
        _kill(first)
        SlowReceiver.release.set()
        succeeded = WebhookDelivery.objects.filter(status="succeeded").count()
        assert succeeded < EVENTS, "the worker finished before it was killed"
        second = _start_worker(log)
        try:
            _wait(
                lambda: WebhookDelivery.objects.filter(status="succeeded").count() == EVENTS,
                120,
                "every event to be delivered on the second worker",
            )
        finally:
            _kill(second)
    finally:
        if first.poll() is None:
            _kill(first)
        SlowReceiver.release.set()
        server.shutdown()
        server.server_close()

    per_event = Counter(
        WebhookDelivery.objects.filter(status="succeeded").values_list("event_id", flat=True)
    )
    assert len(per_event) == EVENTS and set(per_event.values()) == {1}, log.read_text()[-3000:]
    assert not WebhookDelivery.objects.exclude(status="succeeded").exists()
    received = {int(k): n for k, n in SlowReceiver.seen.items()}
    assert set(received) == set(per_event)  # every event reached the receiver
    assert sum(received.values()) == EVENTS + 1  # the one in flight at the kill, twice
