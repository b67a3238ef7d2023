"""Issue 17's "done when": a bulk ingest that moves a tier-1 account to a new stage leads,
after the marked recompute, to exactly one signed webhook delivery per matching
subscription and one alert e-mail per subscribed user."""

import datetime as dt

import pytest
from django.utils import timezone

from activation import tasks
from events.models import Event
from funnel import recompute
from tests.activation.test_alerts import mail  # noqa: F401 - the SMTP fixture
from tests.activation.test_webhooks import eager, receiver  # noqa: F401 - the HTTP fixtures
from tests.conftest import token_client
from tests.factories import (
    AccountFactory,
    AlertSubscriptionFactory,
    OwnerFactory,
    TierFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_bulk_ingest_then_marked_recompute_signals_once(receiver, mail, editor):  # noqa: F811
    tier1, tier2 = TierFactory(name="Tier 1"), TierFactory(name="Tier 2")
    seller = UserFactory(email="sam@example.com")
    account = AccountFactory(name="Acme", tier=tier1, owner=OwnerFactory(user=seller))
    AccountFactory(tier=tier2)
    receiver.subscribe("/tier1", event_types=["account.stage_changed"], tier=tier1)
    receiver.subscribe("/all", event_types=["account.stage_changed"])
    receiver.subscribe("/tier2", event_types=["account.stage_changed"], tier=tier2)
    AlertSubscriptionFactory(user=seller, my_accounts=True)
    AlertSubscriptionFactory(user=UserFactory(email="meg@example.com"), tier=tier1)
    AlertSubscriptionFactory(user=UserFactory(email="oli@example.com"), tier=tier2)

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    touch = {
        "account": account.pk,
        "kind": "meeting",
        "occurred_at": f"{yesterday}T10:00:00Z",
        "source": "crm",
        "external_id": "m-1",
    }
    api = token_client(editor, scope="write")
    assert api.post("/api/v1/touches/bulk/", [touch], format="json").json()["accepted"] == 1
    assert recompute.marked_compute(yesterday) == 1
    # The ingest is resent and the recompute runs again: nothing new happens.
    assert api.post("/api/v1/touches/bulk/", [touch], format="json").json()["duplicates"] == 1
    recompute.marked_compute(yesterday)
    tasks.webhooks_dispatch()
    tasks.webhooks_dispatch()

    assert Event.objects.filter(type="account.stage_changed").count() == 1
    assert sorted(r["path"] for r in receiver.received) == ["/all", "/tier1"]
    assert all(r["valid"] for r in receiver.received)
    assert sorted(r[0][0] for r in mail.messages) == ["meg@example.com", "sam@example.com"]
