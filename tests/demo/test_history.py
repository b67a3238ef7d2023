"""The demo's KPI history (issue #19 item 5): weekly snapshots published by the real
snapshot code, so every KPI card of the default dashboard has a trend on first run."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from funnel.kpis import Filters, Period, compute, slice_kpi_ids
from funnel.models import FunnelSnapshot
from reports.selectors import funnel_trend

END = dt.date(2026, 6, 30)
SMALL = ["--accounts", "40", "--touches", "2000", "--end-date", END.isoformat()]


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *SMALL, "--recompute", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def all_slice_days() -> list[dt.date]:
    return sorted(FunnelSnapshot.objects.filter(slice="all").values_list("date", flat=True))


@pytest.mark.django_db
def test_history_weeks_are_the_published_catalogue_of_each_week(settings):
    out = seed("--history-weeks", "2")
    weeks = [END - dt.timedelta(days=14), END - dt.timedelta(days=7), END]
    assert all_slice_days() == weeks
    assert "2 weekly snapshots of all accounts" in out
    window = settings.ABM_SNAPSHOT_WINDOW_DAYS
    for day in weeks[:2]:
        row = FunnelSnapshot.objects.get(slice="all", date=day)
        assert row.window_days == window
        assert row.revision == 1
        assert row.reason == "demo history: first publication"
        # The same figures the engine gives for that week's nightly window: no made-up numbers.
        # (Snapshot slices without a list leave out the lift KPIs: they need a holdout.)
        ids = slice_kpi_ids(Filters(), 2)
        assert row.kpis == compute(Period(day - dt.timedelta(days=window - 1), day), Filters(), ids)
    # Other slices are published for the last day only (one catalogue per slice and week
    # would take minutes on SQLite).
    assert not FunnelSnapshot.objects.filter(date__lt=END).exclude(slice="all").exists()


@pytest.mark.django_db
def test_every_kpi_of_the_default_dashboard_has_a_trend():
    seed("--history-weeks", "3")
    period = Period(END - dt.timedelta(days=89), END)
    result = compute(period, Filters())
    ids = [item["id"] for item in result["kpis"]]
    trend = funnel_trend(period, Filters(), ids)
    assert len(trend.dates) == 4
    numeric = [i["id"] for i in result["kpis"] if isinstance(i.get("value"), int | float)]
    assert numeric
    for kpi_id in numeric:  # a sparkline needs two points (a mean of no deals is None)
        assert sum(v is not None for v in trend.series[kpi_id]) >= 2, kpi_id


@pytest.mark.django_db
def test_demo_history_command_resumes_and_skips_published_weeks():
    seed("--history-weeks", "1")
    out = StringIO()
    call_command("demo_history", "--weeks", "3", stdout=out)
    assert "Published 2 weekly KPI snapshot(s) of all accounts before 2026-06-30" in out.getvalue()
    assert all_slice_days() == [END - dt.timedelta(weeks=k) for k in (3, 2, 1, 0)]
    out = StringIO()
    call_command("demo_history", "--weeks", "3", stdout=out)
    assert "Published 0 weekly" in out.getvalue()
    assert FunnelSnapshot.objects.filter(slice="all").count() == 4
