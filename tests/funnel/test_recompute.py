"""Snapshots, stage rules, stage changes, the lock and the nightly schedule."""

import datetime as dt
import os
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from funnel import recompute
from funnel.history import stage_history_rebuild
from funnel.models import AccountSnapshot, AccountStageChange, RecomputeChunk, RecomputeRun
from funnel.snapshots import account_snapshots_upsert
from tests.factories import (
    AccountFactory,
    IntentSignalFactory,
    OpportunityFactory,
    TouchFactory,
    at,
)

pytestmark = pytest.mark.django_db

D = dt.date(2024, 6, 30)


def snapshot_of(account, day=D) -> AccountSnapshot:
    account_snapshots_upsert(day, account.pk, account.pk)
    return AccountSnapshot.objects.get(account=account, date=day)


def customer(**kwargs):
    account = AccountFactory(**kwargs)
    OpportunityFactory(
        account=account, status="won", created_on=dt.date(2024, 1, 1), closed_on=dt.date(2024, 2, 1)
    )
    return account


class TestStageRules:
    def test_not_targeted_and_nothing_else_is_none(self):
        assert snapshot_of(AccountFactory(is_target=False)).stage == "none"

    def test_untargeted_before_the_day_is_none(self):
        account = AccountFactory(
            targeted_on=dt.date(2024, 1, 1), untargeted_on=dt.date(2024, 6, 30)
        )
        assert snapshot_of(account).stage == "none"  # untargeted_on must be after D

    def test_targeted_after_the_day_is_none(self):
        assert snapshot_of(AccountFactory(targeted_on=dt.date(2024, 7, 1))).stage == "none"

    def test_target_account(self):
        snap = snapshot_of(AccountFactory(targeted_on=dt.date(2024, 6, 30)))
        assert (snap.stage, snap.is_target) == ("target", True)

    def test_engaged_needs_an_engagement_touch_in_the_window(self):
        engaged = AccountFactory()
        TouchFactory(account=engaged, kind="web_visit", occurred_at=at(dt.date(2024, 6, 30), 23))
        shown_only = AccountFactory()
        TouchFactory(account=shown_only, kind="ad_impression", occurred_at=at(D))
        too_old = AccountFactory()
        window = settings.ABM_SCORES["engagement_window_days"]
        TouchFactory(account=too_old, kind="meeting", occurred_at=at(D - dt.timedelta(days=window)))
        later = AccountFactory()
        TouchFactory(account=later, kind="meeting", occurred_at=at(D + dt.timedelta(days=1), 0))
        assert snapshot_of(engaged).stage == "engaged"
        assert snapshot_of(shown_only).stage == "target"
        assert snapshot_of(too_old).stage == "target"
        assert snapshot_of(later).stage == "target"

    def test_open_new_business_opportunity(self):
        account = AccountFactory()
        OpportunityFactory(account=account, created_on=dt.date(2024, 6, 1), amount=Decimal("5000"))
        snap = snapshot_of(account)
        assert snap.stage == "opportunity"
        assert snap.open_pipeline == Decimal("5000.00")

    def test_opportunity_closed_after_the_day_was_open_on_it(self):
        account = AccountFactory()
        OpportunityFactory(
            account=account,
            status="lost",
            created_on=dt.date(2024, 6, 1),
            closed_on=dt.date(2024, 7, 15),
        )
        assert snapshot_of(account).stage == "opportunity"
        assert snapshot_of(account, dt.date(2024, 7, 15)).stage == "target"

    def test_customer_retained_expanded(self):
        plain = customer()
        renewed = customer()
        OpportunityFactory(
            account=renewed,
            type="renewal",
            status="won",
            created_on=dt.date(2024, 5, 1),
            closed_on=dt.date(2024, 6, 1),
        )
        expanded = customer()
        OpportunityFactory(
            account=expanded,
            type="renewal",
            status="won",
            created_on=dt.date(2024, 5, 1),
            closed_on=dt.date(2024, 6, 1),
        )
        OpportunityFactory(
            account=expanded,
            type="expansion",
            status="won",
            created_on=dt.date(2024, 5, 1),
            closed_on=dt.date(2024, 6, 2),
        )
        assert snapshot_of(plain).stage == "customer"
        assert snapshot_of(renewed).stage == "retained"
        assert snapshot_of(expanded).stage == "expanded"

    def test_non_target_customer_is_a_customer(self):
        assert snapshot_of(customer(is_target=False)).stage == "customer"

    def test_churned_customer_falls_back(self):
        account = customer(churned_on=dt.date(2024, 6, 1))
        assert snapshot_of(account).stage == "target"
        assert snapshot_of(account, dt.date(2024, 5, 31)).stage == "customer"

    def test_scores_counts_and_surge(self):
        account = AccountFactory()
        for hour in (9, 10, 11):
            TouchFactory(account=account, kind="email_open", occurred_at=at(D, hour))
        TouchFactory(account=account, kind="ad_impression", occurred_at=at(D, 8))
        TouchFactory(account=account, kind="meeting", occurred_at=at(D, 15))
        IntentSignalFactory(
            account=account, topic="crm", week=dt.date(2024, 6, 24), provider_surge=True
        )
        snap = snapshot_of(account)
        assert snap.touch_counts["email_open"] == 3
        assert snap.touch_counts["ad_impression"] == 1
        assert snap.touch_counts["web_visit"] == 0
        assert snap.engagement_touches == 4  # the impression is not engagement
        weights = settings.ABM_SCORES["engagement_weights"]
        assert snap.engagement_score == Decimal(str(3 * weights["email_open"] + weights["meeting"]))
        assert snap.relationship_score > 0
        assert snap.intent_surge is True
        assert snap.last_touch_at == at(D, 15)


class TestStageHistory:
    """The stage history comes from events, on the day they happened (issue 15)."""

    def test_a_change_on_the_day_of_the_event_not_of_the_snapshot(self):
        account = AccountFactory()  # on the target list since 2000
        TouchFactory(account=account, kind="meeting", occurred_at=at(dt.date(2024, 6, 2)))
        # Recomputed weeks later, the change still lands on June 2.
        assert stage_history_rebuild(account.pk, account.pk, through=dt.date(2024, 6, 30)) == 1
        change = AccountStageChange.objects.get(account=account)
        assert (change.from_stage, change.to_stage, change.changed_on) == (
            "target",
            "engaged",
            dt.date(2024, 6, 2),
        )

    def test_the_engagement_window_ends_the_engaged_stage_on_its_last_day(self):
        account = AccountFactory()
        TouchFactory(account=account, kind="meeting", occurred_at=at(dt.date(2024, 6, 2)))
        TouchFactory(account=account, kind="web_visit", occurred_at=at(dt.date(2024, 6, 20)))
        window = settings.ABM_SCORES["engagement_window_days"]
        stage_history_rebuild(account.pk, account.pk, through=dt.date(2024, 12, 31))
        changes = list(
            AccountStageChange.objects.order_by("changed_on").values_list(
                "changed_on", "from_stage", "to_stage"
            )
        )
        # Engaged from the first touch; back to target the day the window after the last
        # touch (June 20 + 90 days) no longer holds any engagement touch.
        assert changes == [
            (dt.date(2024, 6, 2), "target", "engaged"),
            (dt.date(2024, 6, 20) + dt.timedelta(days=window), "engaged", "target"),
        ]

    def test_no_change_when_nothing_happened(self):
        account = AccountFactory()
        assert stage_history_rebuild(account.pk, account.pk, through=dt.date(2024, 6, 1)) == 0
        TouchFactory(account=account, kind="ad_impression", occurred_at=at(dt.date(2024, 5, 2)))
        assert stage_history_rebuild(account.pk, account.pk, through=dt.date(2024, 6, 1)) == 0
        assert not AccountStageChange.objects.exists()

    def test_rerun_after_a_data_fix_removes_a_change_that_no_longer_holds(self):
        account = AccountFactory()
        touch = TouchFactory(account=account, kind="meeting", occurred_at=at(dt.date(2024, 6, 2)))
        stage_history_rebuild(account.pk, account.pk, through=dt.date(2024, 6, 30))
        touch.delete()
        assert stage_history_rebuild(account.pk, account.pk, through=dt.date(2024, 6, 30)) == 1
        assert not AccountStageChange.objects.exists()

    def test_any_schedule_or_order_gives_the_same_history(self):
        accounts = [AccountFactory() for _ in range(3)]
        for i, a in enumerate(accounts):
            TouchFactory(account=a, kind="meeting", occurred_at=at(dt.date(2024, 3, 1 + i)))
            OpportunityFactory(
                account=a,
                created_on=dt.date(2024, 3, 10 + i),
                status="won" if i else "open",
                closed_on=dt.date(2024, 4, 1) if i else None,
            )
        lo, hi = accounts[0].pk, accounts[-1].pk

        def table():
            return sorted(
                AccountStageChange.objects.values_list(
                    "account_id", "changed_on", "from_stage", "to_stage"
                )
            )

        end = dt.date(2024, 9, 30)
        stage_history_rebuild(lo, hi, through=end)
        nightly = table()
        days = [end - dt.timedelta(days=d) for d in range(0, 214)]
        for step, order in ((1, 1), (7, 1), (14, 1), (7, -1)):
            AccountStageChange.objects.all().delete()
            for day in days[::step][::order]:
                stage_history_rebuild(lo, hi, through=day)
            stage_history_rebuild(lo, hi, through=end)
            assert table() == nightly, (step, order)
        assert len(nightly) >= 6


def _rows():
    snaps = list(AccountSnapshot.objects.order_by("date", "account_id").values())
    changes = list(AccountStageChange.objects.order_by("changed_on", "account_id").values())
    return snaps, changes


class TestRecomputeRuns:
    def test_rerun_leaves_every_row_identical(self, settings):
        settings.ABM_RECOMPUTE_CHUNK_SIZE = 2
        accounts = AccountFactory.create_batch(5)
        TouchFactory(account=accounts[0], kind="meeting", occurred_at=at(D))
        OpportunityFactory(account=accounts[1], created_on=dt.date(2024, 6, 1))
        run = recompute.day_compute(D)
        assert run.status == "succeeded"
        assert run.accounts == 5
        assert RecomputeChunk.objects.filter(run=run).count() == 3
        before = _rows()
        assert len(before[0]) == 5
        recompute.day_compute(D)
        assert _rows() == before  # updated_at included: unchanged rows are not rewritten

    def test_funnel_snapshots_equal_the_kpi_engine(self):
        from funnel.definitions import definitions_resolve
        from funnel.kpis import Filters, Period, compute, slice_kpi_ids
        from funnel.models import FunnelSnapshot

        AccountFactory.create_batch(3)
        recompute.day_compute(D)
        window = settings.ABM_SNAPSHOT_WINDOW_DAYS
        snap = FunnelSnapshot.objects.get(date=D, window_days=window, slice="all")
        # The "all" slice names no list: the lift KPIs (they need one) are left out.
        ids = slice_kpi_ids(Filters(), definitions_resolve(None).generation)
        expected = compute(Period(D - dt.timedelta(days=window - 1), D), Filters(), ids)
        assert snap.kpis == expected
        assert FunnelSnapshot.objects.filter(date=D, slice="cohort:abm").exists()

    def test_the_lock_prevents_a_second_concurrent_run(self):
        AccountFactory()
        run, chunks = recompute.run_start(D)
        assert run is not None and chunks
        assert recompute.run_start(D) == (None, [])
        assert recompute.day_compute(D) is not None  # another kind is its own lock
        for lo, hi in chunks:
            recompute.chunk_compute(run.pk, D, lo, hi)
        recompute.run_finish(run.pk, D)
        assert recompute.run_start(D)[0] is not None  # released once finished

    def test_stale_runs_are_resumed_with_their_open_chunks(self, settings):
        settings.ABM_RECOMPUTE_CHUNK_SIZE = 1
        a, b = AccountFactory.create_batch(2)
        run, chunks = recompute.run_start(D)
        recompute.chunk_compute(run.pk, D, *chunks[0])
        RecomputeRun.objects.filter(pk=run.pk).update(
            updated_at=timezone.now() - dt.timedelta(hours=1)
        )
        assert recompute.stale_runs(idle_seconds=60) == [(run.pk, D, [chunks[1]])]
        assert recompute.run_finish(run.pk, D) == 0  # an open chunk: not finished yet
        recompute.chunk_compute(run.pk, D, *chunks[1])
        recompute.run_finish(run.pk, D)
        assert RecomputeRun.objects.get(pk=run.pk).status == "succeeded"

    def test_the_last_chunk_finishes_the_run_and_a_repeated_chunk_never_finishes_it_early(
        self, settings
    ):
        from funnel.models import FunnelSnapshot

        settings.ABM_RECOMPUTE_CHUNK_SIZE = 1
        AccountFactory.create_batch(2)
        run, chunks = recompute.run_start(D)
        recompute.chunk_compute(run.pk, D, *chunks[0])
        recompute.chunk_compute(run.pk, D, *chunks[0])  # redelivered after a worker died
        assert recompute.run_chunks_open(run.pk) == 1
        assert recompute.run_finish(run.pk, D) == 0
        assert RecomputeRun.objects.get(pk=run.pk).status == "running"
        recompute.chunk_compute(run.pk, D, *chunks[1])
        assert recompute.run_chunks_open(run.pk) == 0
        assert recompute.run_finish(run.pk, D) > 0
        revisions = FunnelSnapshot.objects.filter(date=D).count()
        assert recompute.run_finish(run.pk, D) == 0  # a second finish writes nothing
        assert FunnelSnapshot.objects.filter(date=D).count() == revisions
        assert RecomputeRun.objects.get(pk=run.pk).status == "succeeded"

    def test_marked_accounts_are_recomputed_and_unmarked(self):
        marked = AccountFactory(needs_recompute=True)
        other = AccountFactory()
        assert recompute.marked_compute(D) == 1
        assert AccountSnapshot.objects.filter(date=D, account=marked).exists()
        assert not AccountSnapshot.objects.filter(account=other).exists()
        marked.refresh_from_db()
        assert marked.needs_recompute is False


class TestCommandAndSchedule:
    def test_backfill_range_builds_history(self):
        account = AccountFactory()
        TouchFactory(account=account, kind="meeting", occurred_at=at(dt.date(2024, 6, 3)))
        call_command("recompute", "--from", "2024-06-01", "--to", "2024-06-05")
        assert AccountSnapshot.objects.filter(account=account).count() == 5
        change = AccountStageChange.objects.get(account=account)
        assert (change.changed_on, change.to_stage) == (dt.date(2024, 6, 3), "engaged")

    @pytest.mark.parametrize(
        "args, message",
        [
            (["--date", "2024-02-30"], "is not a date"),
            (["--from", "2024-06-05", "--to", "2024-06-01"], "is after"),
            (["--from", "2024-06-05"], "go together"),
            (["--date", "2024-06-05", "--from", "2024-06-01"], "not both"),
        ],
    )
    def test_bad_arguments_say_what_to_fix(self, args, message):
        with pytest.raises(CommandError, match=message):
            call_command("recompute", *args)

    def test_the_kpi_cache_warmer_is_scheduled_only_where_there_is_a_cache(self):
        """On SQLite (make run's default) beat logged "the KPI cache needs PostgreSQL"
        every minute (#19): the entry exists only on PostgreSQL."""
        import subprocess
        import sys

        probe = (
            "import django; django.setup(); from django.conf import settings; "
            "print('reports-warm-kpi-cache' in settings.CELERY_BEAT_SCHEDULE)"
        )
        found = {}
        for name, url in (("sqlite", "sqlite:///:memory:"), ("postgres", _pg_url())):
            env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "abm_site.settings"}
            out = subprocess.run(
                [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
            )
            found[name] = out.stdout.strip()
        assert found == {"sqlite": "False", "postgres": "True"}

    def test_beat_schedule_runs_nightly_with_expiry(self):
        schedule = settings.CELERY_BEAT_SCHEDULE
        nightly = schedule["funnel-recompute-nightly"]
        assert nightly["task"] == "funnel.recompute_nightly"
        assert nightly["schedule"].hour == {settings.ABM_NIGHTLY_HOUR}
        assert all("expires" in entry["options"] for entry in schedule.values())
        from abm_site.celery import app

        app.loader.import_default_modules()
        assert {e["task"] for e in schedule.values()} <= set(app.tasks)


def _pg_url() -> str:
    return "postgres://postgres@127.0.0.1:5432/unused"  # settings only: never connected


def test_a_fresh_install_is_waiting_for_its_first_nightly_run_not_failing(client, settings):
    """Right after ``make run`` (the demo's snapshots computed, no nightly run yet) the
    status says when the first nightly run is due instead of turning red (#19); two days
    on without one, or after a failed nightly run, it is a problem."""
    settings.ABM_NIGHTLY_HOUR = 3
    waiting = client.get("/healthz").json()["checks"]["nightly_recompute"]
    assert waiting["ok"] is True and waiting["waiting"] is True
    assert waiting["message"] == (
        f"Waiting for the first nightly run (daily at 03:15, {settings.TIME_ZONE})."
    )
    run = RecomputeRun.objects.create(
        date=timezone.localdate(), kind="backfill", status="succeeded", started_at=timezone.now()
    )
    assert client.get("/healthz").json()["checks"]["nightly_recompute"]["waiting"] is True
    RecomputeRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - dt.timedelta(days=3))
    late = client.get("/healthz").json()["checks"]["nightly_recompute"]
    assert late["ok"] is False and "waiting" not in late
    RecomputeRun.objects.filter(pk=run.pk).update(started_at=timezone.now())
    RecomputeRun.objects.create(
        date=timezone.localdate(), kind="nightly", status="failed", started_at=timezone.now()
    )
    failed = client.get("/healthz").json()["checks"]["nightly_recompute"]
    assert failed == {
        "ok": False,
        "last_success": None,
        "message": "No nightly recompute has succeeded yet.",
    }


def test_healthz_reports_the_last_successful_nightly_run(client):
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    RecomputeRun.objects.create(
        date=yesterday,
        kind="nightly",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    nightly = client.get("/healthz").json()["checks"]["nightly_recompute"]
    assert nightly == {
        "ok": True,
        "last_success": yesterday.isoformat(),
        "days_ago": 1,
        "finished_at": nightly["finished_at"],
    }


def test_a_marked_recompute_brings_the_trends_last_point_to_the_headline():
    """Item 6 of #15: the marked recompute after an import republishes the latest funnel
    snapshot of every slice its accounts count in, so the sparkline's last point equals the
    headline; a slice none of them is in keeps its one revision."""
    from funnel.kpis import Filters, Period, compute
    from funnel.models import FunnelSnapshot
    from reports.selectors import funnel_trend
    from tests.factories import TierFactory

    t1, t2 = TierFactory(name="Tier 1", rank=1), TierFactory(name="Tier 2", rank=2)
    AccountFactory.create_batch(2, tier=t1)
    AccountFactory(tier=t2)
    recompute.day_compute(D)
    window = settings.ABM_SNAPSHOT_WINDOW_DAYS
    period = Period(D - dt.timedelta(days=window - 1), D)
    # An import adds an engaged tier-1 account and marks it.
    added = AccountFactory(tier=t1, needs_recompute=True)
    TouchFactory(account=added, kind="meeting", occurred_at=at(D))
    ids = ["target_accounts", "engaged_target_accounts"]

    def last_point(filters: Filters) -> dict:
        trend = funnel_trend(period, filters, ids)
        assert trend.dates[-1] == D
        return {i: trend.series[i][-1] for i in ids}

    def headline(filters: Filters) -> dict:
        return {k["id"]: k["value"] for k in compute(period, filters, ids=ids)["kpis"]}

    assert last_point(Filters()) == {"target_accounts": 3, "engaged_target_accounts": 0}
    assert headline(Filters()) == {"target_accounts": 4, "engaged_target_accounts": 1}
    assert recompute.marked_compute(D) == 1
    for filters in (Filters(), Filters(tier=(t1.pk,)), Filters(cohort="abm")):
        assert last_point(filters) == headline(filters), filters
    assert last_point(Filters(tier=(t1.pk,))) == {
        "target_accounts": 3,
        "engaged_target_accounts": 1,
    }
    untouched = FunnelSnapshot.objects.filter(date=D, slice=f"tier:{t2.pk}")
    assert untouched.count() == 1
    reason = FunnelSnapshot.objects.get(date=D, slice="all", revision=2).reason
    assert reason.startswith("marked recompute")
