"""Alerts for people (issue 17): e-mails received by a real SMTP server on loopback."""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from abm_site.celery import app as celery_app
from abm_site.email_url import parse_email_url
from activation import tasks
from activation.models import AlertItem
from events.choices import EventType
from events.services import event_record
from funnel.history import stage_history_rebuild
from tests.factories import (
    AccountFactory,
    AlertSubscriptionFactory,
    OwnerFactory,
    TierFactory,
    TouchFactory,
    UserFactory,
    at,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def mail(settings, smtp_server):
    port, inbox = smtp_server
    for name, value in parse_email_url(
        f"smtp://127.0.0.1:{port}?timeout=5", Path(django_settings.BASE_DIR)
    ).items():
        setattr(settings, name, value)
    settings.DEFAULT_FROM_EMAIL = "ABM <abm@example.com>"
    celery_app.conf.task_always_eager = True
    yield inbox
    celery_app.conf.task_always_eager = False


def test_a_tier1_stage_change_mails_each_subscribed_person_once(mail):
    tier1, tier2 = TierFactory(name="Tier 1"), TierFactory(name="Tier 2")
    seller = UserFactory(username="sam", email="sam@example.com")
    manager = UserFactory(username="meg", email="meg@example.com")
    other = UserFactory(username="oli", email="oli@example.com")
    colleague = UserFactory(username="cat", email="cat@example.com")
    account = AccountFactory(name="Acme", tier=tier1, owner=OwnerFactory(user=seller))
    # Sam: his own accounts, at once. Meg: tier 1, daily. Oli: tier 2 only. Cat: her accounts.
    AlertSubscriptionFactory(user=seller, my_accounts=True)
    AlertSubscriptionFactory(user=manager, tier=tier1, frequency="daily")
    AlertSubscriptionFactory(user=other, tier=tier2)
    AlertSubscriptionFactory(user=colleague, my_accounts=True)
    day = timezone.localdate() - dt.timedelta(days=1)
    TouchFactory(account=account, kind="meeting", occurred_at=at(day))
    stage_history_rebuild(account.pk, account.pk, through=day)

    tasks.webhooks_dispatch()
    tasks.webhooks_dispatch()  # nothing new: no second mail
    assert [m[0] for m in mail.messages] == [["sam@example.com"]]
    recipients, message = mail.messages[0]
    assert message["From"] == "ABM <abm@example.com>"
    assert message["Subject"].startswith("[ABM] Acme (Tier 1) moved from target to engaged")
    assert "Acme (Tier 1) moved from target to engaged" in message.get_content()

    assert tasks.alerts_digest() == 1
    assert tasks.alerts_digest() == 0  # each item goes out once
    recipients, digest = mail.messages[1]
    assert recipients == ["meg@example.com"]
    assert digest["Subject"] == "[ABM] Daily digest: 1 event"
    assert "Acme (Tier 1) moved from target to engaged" in digest.get_content()
    assert len(mail.messages) == 2
    assert not AlertItem.objects.filter(sent_at__isnull=True).exists()


def test_a_digest_lists_every_event_of_the_day_in_one_mail(mail):
    user = UserFactory(email="ops@example.com")
    AlertSubscriptionFactory(
        user=user, event_types=["import.finished", "recompute.failed"], frequency="daily"
    )
    AlertSubscriptionFactory(user=UserFactory(email=""), event_types=["import.finished"])
    for n in range(3):
        event_record(EventType.IMPORT_FINISHED, f"i{n}", {"kind": "touches", "rows_read": n})
    event_record(EventType.RECOMPUTE_FAILED, "f", {"day": "2026-01-01", "error": "disk full"})
    event_record(EventType.RECOMPUTE_FINISHED, "ok", {"day": "2026-01-01"})  # not subscribed
    tasks.webhooks_dispatch()
    assert mail.messages == []  # the user without an address gets nothing, and it is logged
    no_address = AlertItem.objects.filter(subscription__user__email="")
    assert {i.error for i in no_address} == {
        "The user has no e-mail address; add one in the admin."
    }
    assert tasks.alerts_digest() == 1
    recipients, digest = mail.messages[0]
    assert digest["Subject"] == "[ABM] Daily digest: 4 events"
    body = digest.get_content()
    assert body.count("Import of touches finished") == 3
    assert "Recompute of 2026-01-01 failed: disk full" in body
    assert "Recompute of 2026-01-01 finished" not in body


def test_unknown_event_types_are_refused(db):
    from django.core.exceptions import ValidationError

    alert = AlertSubscriptionFactory.build(user=UserFactory(), event_types=["account.nope"])
    with pytest.raises(ValidationError, match="Unknown event types account.nope"):
        alert.full_clean()


def test_a_person_adds_and_deletes_their_own_alerts_on_the_page(client, viewer, editor):
    tier = TierFactory(name="1")
    client.force_login(viewer)
    empty = client.get("/alerts/").content.decode()
    assert "You have no alert yet" in empty
    bad = client.post("/alerts/", {"frequency": "daily"}).content.decode()
    assert "Events: This field is required." in bad
    saved = client.post(
        "/alerts/",
        {
            "event_types": ["account.stage_changed", "account.intent_surge"],
            "tier": tier.pk,
            "my_accounts": "on",
            "frequency": "daily",
        },
    )
    assert saved.status_code == 302
    alert = viewer.alert_subscriptions.get()
    assert (alert.event_types, alert.tier, alert.my_accounts, alert.frequency) == (
        ["account.stage_changed", "account.intent_surge"],
        tier,
        True,
        "daily",
    )
    html = client.get("/alerts/").content.decode()
    assert "Account stage change, Intent surge" in html and "Daily digest" in html
    # Another user cannot delete it.
    client.force_login(editor)
    client.post("/alerts/", {"delete": str(alert.pk)})
    assert viewer.alert_subscriptions.exists()
    client.force_login(viewer)
    client.post("/alerts/", {"delete": str(alert.pk)})
    assert not viewer.alert_subscriptions.exists()
