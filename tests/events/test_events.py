"""The event outbox (issue 17): each event recorded once, with the data that caused it."""

import datetime as dt
import io

import pytest
from django.db import transaction
from django.utils import timezone

from events.choices import EventType
from events.models import Event
from events.services import EventDraft, event_record, events_record
from funnel import recompute
from funnel.history import stage_history_rebuild
from funnel.models import AccountStageChange, RecomputeRun
from ingest.services import csv_import
from tests.conftest import token_client
from tests.factories import (
    AccountFactory,
    IntentSignalFactory,
    OwnerFactory,
    TierFactory,
    TouchFactory,
    at,
)

pytestmark = pytest.mark.django_db


def yesterday() -> dt.date:
    return timezone.localdate() - dt.timedelta(days=1)


def types() -> list[str]:
    return sorted(Event.objects.values_list("type", flat=True))


class TestRecord:
    def test_a_key_is_recorded_once(self):
        assert event_record(EventType.IMPORT_FINISHED, "k1", {"n": 1}) is True
        assert event_record(EventType.IMPORT_FINISHED, "k1", {"n": 2}) is False
        assert Event.objects.get().payload == {"n": 1}  # the first one stays

    def test_a_batch_with_known_and_new_keys_counts_only_the_new(self, django_assert_num_queries):
        event_record(EventType.IMPORT_FINISHED, "a")
        tier, owner = TierFactory(name="Tier 1"), OwnerFactory(name="Olga")
        account = AccountFactory(tier=tier, owner=owner)
        drafts = [
            EventDraft(EventType.IMPORT_FINISHED, "a"),
            EventDraft(EventType.INTENT_SURGE, "b", {"day": "2026-01-01"}, account.pk),
            EventDraft(EventType.INTENT_SURGE, "c", {}, account.pk),
        ]
        # accounts, existing keys, one insert: not one query per event
        with django_assert_num_queries(3):
            assert events_record(drafts) == 2
        event = Event.objects.get(key="b")
        assert event.payload["day"] == "2026-01-01"
        assert event.payload["account"] == {
            "id": account.pk,
            "name": account.name,
            "domain": account.domain,
            "tier_id": tier.pk,
            "tier": "Tier 1",
            "owner_id": owner.pk,
            "owner": "Olga",
            "owner_email": owner.email,
        }

    def test_a_rolled_back_transaction_leaves_no_event(self):
        with pytest.raises(RuntimeError), transaction.atomic():
            event_record(EventType.IMPORT_FINISHED, "gone")
            raise RuntimeError
        assert not Event.objects.exists()


class TestStageChanges:
    def test_a_recent_change_makes_one_event_however_often_it_is_recomputed(self):
        account = AccountFactory()
        day = yesterday()
        TouchFactory(account=account, kind="meeting", occurred_at=at(day - dt.timedelta(days=2)))
        for _ in range(3):  # the nightly run, a marked recompute, a retried chunk
            stage_history_rebuild(account.pk, account.pk, through=day)
        change = AccountStageChange.objects.get(account=account)
        event = Event.objects.get(type=EventType.STAGE_CHANGED)
        assert event.account_id == account.pk
        assert event.payload["from_stage"] == "target" and event.payload["to_stage"] == "engaged"
        assert event.payload["changed_on"] == change.changed_on.isoformat()
        assert event.key == f"stage:{account.pk}:{change.changed_on}:target:engaged"

    def test_old_changes_found_by_a_backfill_make_no_event(self, settings):
        settings.ABM_EVENTS_RECENT_DAYS = 7
        account = AccountFactory()
        old = timezone.localdate() - dt.timedelta(days=8)
        TouchFactory(account=account, kind="meeting", occurred_at=at(old))
        stage_history_rebuild(account.pk, account.pk, through=yesterday())
        assert AccountStageChange.objects.filter(account=account).count() == 1
        assert not Event.objects.exists()

    def test_the_changes_of_a_failed_chunk_and_its_events_roll_back_together(self):
        account = AccountFactory()
        TouchFactory(account=account, kind="meeting", occurred_at=at(yesterday()))
        with pytest.raises(RuntimeError), transaction.atomic():
            stage_history_rebuild(account.pk, account.pk, through=yesterday())
            assert Event.objects.count() == 1
            raise RuntimeError("worker killed")
        assert not AccountStageChange.objects.exists() and not Event.objects.exists()


class TestSignals:
    def test_intent_surge_and_research_spike_start_once(self):
        day = yesterday()
        surging = AccountFactory(needs_recompute=True)
        monday = day - dt.timedelta(days=day.weekday())
        IntentSignalFactory(account=surging, topic="crm", week=monday, provider_surge=True)
        researching = AccountFactory(needs_recompute=True)
        # 5 distinct pages in the last 7 days, none before: ratio 5 / floor 1 >= 4 -> grade 3
        for i in range(5):
            TouchFactory(
                account=researching,
                kind="web_visit",
                url=f"https://example.com/p{i}",
                occurred_at=at(day - dt.timedelta(days=1)),
            )
        assert recompute.marked_compute(day) == 2
        signals = Event.objects.filter(type__in=[EventType.INTENT_SURGE, EventType.RESEARCH_SPIKE])
        assert sorted(signals.values_list("type", "account_id")) == [
            (EventType.INTENT_SURGE, surging.pk),
            (EventType.RESEARCH_SPIKE, researching.pk),
        ]
        assert signals.get(type=EventType.RESEARCH_SPIKE).payload["research_grade"] == 3
        # Recomputed again the same day: nothing new. The next day, still surging: no new start.
        AccountFactory._meta.model.objects.update(needs_recompute=True)
        recompute.marked_compute(day)
        recompute.day_compute(day + dt.timedelta(days=1), kind="backfill")
        assert signals.count() == 2


class TestRecomputeAndImport:
    def test_a_finished_run_and_a_failed_run_each_record_one_event(self):
        AccountFactory()
        run = recompute.day_compute(yesterday())
        recompute.run_finish(run.pk, yesterday())  # a repeated finish records nothing
        finished = Event.objects.get(type=EventType.RECOMPUTE_FINISHED)
        assert finished.payload["run"] == run.pk and finished.payload["accounts"] == 1
        failing, _ = recompute.run_start(timezone.localdate(), kind="nightly")
        recompute.run_fail(failing.pk, "A chunk failed")
        recompute.run_fail(failing.pk, "again")  # already failed: no second event
        failed = Event.objects.get(type=EventType.RECOMPUTE_FAILED)
        assert failed.payload["error"] == "A chunk failed"
        assert RecomputeRun.objects.get(pk=failing.pk).status == "failed"

    def test_an_import_records_its_counts_and_a_dry_run_records_nothing(self):
        csv = b"name,domain\nAcme,acme.example\nGlobex,globex.example\n"
        csv_import("accounts", io.BytesIO(csv), dry_run=True)
        assert not Event.objects.exists()
        report = csv_import("accounts", io.BytesIO(csv))
        assert report.created == 2
        event = Event.objects.get(type=EventType.IMPORT_FINISHED)
        assert event.payload["kind"] == "accounts"
        assert (event.payload["rows_read"], event.payload["created"]) == (2, 2)
        csv_import("accounts", io.BytesIO(csv))  # a second import is a second event
        assert Event.objects.filter(type=EventType.IMPORT_FINISHED).count() == 2


class TestApi:
    def test_list_filters_by_type_and_since_newest_first(self, viewer):
        now = timezone.now()
        event_record(EventType.IMPORT_FINISHED, "old", occurred_at=now - dt.timedelta(days=3))
        event_record(EventType.IMPORT_FINISHED, "new", occurred_at=now - dt.timedelta(hours=1))
        event_record(EventType.RECOMPUTE_FAILED, "fail", occurred_at=now)
        client = token_client(viewer)
        body = client.get("/api/v1/events/").json()
        assert [e["key"] for e in body["results"]] == ["fail", "new", "old"]
        since = (now - dt.timedelta(days=1)).isoformat()
        body = client.get("/api/v1/events/", {"type": "import.finished", "since": since}).json()
        assert [e["key"] for e in body["results"]] == ["new"]
        assert body["count"] == 1
        bad = client.get("/api/v1/events/", {"type": "nope"})
        assert bad.status_code == 400 and "type" in bad.json()
        assert client.post("/api/v1/events/", {}, format="json").status_code in (403, 405)


class TestPage:
    def test_lists_events_with_their_text_and_filters_by_type(
        self, client, viewer, django_assert_max_num_queries
    ):
        account = AccountFactory(name="Acme")
        event_record(
            EventType.STAGE_CHANGED,
            "s1",
            {"changed_on": "2026-03-02", "from_stage": "target", "to_stage": "engaged"},
            account_id=account.pk,
        )
        for n in range(3):
            event_record(EventType.IMPORT_FINISHED, f"i{n}", {"kind": "touches", "rows_read": 1500})
        client.force_login(viewer)
        # The page's queries do not grow with the events shown (account joined, not fetched).
        with django_assert_max_num_queries(12):
            html = client.get("/events/").content.decode()
        assert "Acme moved from target to engaged on 2026-03-02." in html
        assert html.count("Import of touches finished: 1,500 rows") == 3
        only = client.get("/events/", {"type": "account.stage_changed"}).content.decode()
        assert "Acme moved" in only and "Import of touches" not in only
        unknown = client.get("/events/", {"type": "nope"}).content.decode()
        assert "no event type" in unknown and "Acme moved" in unknown

    def test_empty_page_says_what_to_do(self, client, viewer):
        client.force_login(viewer)
        assert "make run" in client.get("/events/").content.decode()


class TestAtRisk:
    def test_a_customer_whose_competitor_surge_begins_is_at_risk_once(self):
        from decimal import Decimal

        from tests.factories import OpportunityFactory

        # The Monday of yesterday's week: in the recent days, and its week's signal is new
        # to the window ending that day (the window ending the day before ends on Sunday).
        day = yesterday() - dt.timedelta(days=yesterday().weekday())
        customer = AccountFactory(name="Loyal")
        OpportunityFactory(
            account=customer,
            status="won",
            amount=Decimal("1000"),
            created_on=dt.date(2020, 1, 1),
            closed_on=dt.date(2020, 2, 1),
        )
        IntentSignalFactory(
            account=customer,
            topic="rival",
            week=day,
            score=Decimal("50"),
            is_competitor_topic=True,
            provider_surge=True,
        )
        prospect = AccountFactory()  # the same surge, not a customer: not at risk
        IntentSignalFactory(
            account=prospect, topic="rival", week=day, is_competitor_topic=True, provider_surge=True
        )
        assert recompute.at_risk_events_record(day) == 1
        assert recompute.at_risk_events_record(day) == 0  # a rerun
        assert recompute.at_risk_events_record(day + dt.timedelta(days=1)) == 0  # still at risk
        event = Event.objects.get(type=EventType.CUSTOMER_AT_RISK)
        assert event.account_id == customer.pk
        assert event.payload["day"] == day.isoformat()

    def test_the_nightly_finish_records_it(self):
        AccountFactory()
        recompute.day_compute(yesterday())  # no customer at risk: no event, and no error
        assert not Event.objects.filter(type=EventType.CUSTOMER_AT_RISK).exists()
