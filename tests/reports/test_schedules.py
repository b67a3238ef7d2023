"""Scheduled e-mail reports (issue 17), received by a real SMTP server on loopback."""

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from PIL import Image

from abm_site.email_url import parse_email_url
from funnel.kpis import REGISTRY
from reports.models import ReportSchedule
from reports.services import schedule_next_run, schedules_send
from tests.factories import AccountFactory, FunnelSnapshotFactory

pytestmark = pytest.mark.django_db


def aware(*args) -> dt.datetime:
    return timezone.make_aware(dt.datetime(*args))


@pytest.mark.parametrize(
    ("frequency", "after", "expected"),
    [
        # 2026-03-04 is a Wednesday: the next Monday 07:00 is March 9.
        ("weekly", aware(2026, 3, 4, 10, 0), aware(2026, 3, 9, 7, 0)),
        ("weekly", aware(2026, 3, 9, 6, 59), aware(2026, 3, 9, 7, 0)),
        ("weekly", aware(2026, 3, 9, 7, 0), aware(2026, 3, 16, 7, 0)),  # strictly after
        ("daily", aware(2026, 3, 4, 6, 0), aware(2026, 3, 4, 7, 0)),
        ("daily", aware(2026, 3, 4, 8, 0), aware(2026, 3, 5, 7, 0)),
        ("monthly", aware(2026, 1, 15, 8, 0), aware(2026, 2, 1, 7, 0)),
        ("monthly", aware(2026, 12, 2, 8, 0), aware(2027, 1, 1, 7, 0)),
    ],
)
def test_next_run_in_the_time_zone(frequency, after, expected):
    schedule = ReportSchedule(frequency=frequency, weekday=0, send_at=dt.time(7, 0))
    assert schedule_next_run(schedule, after) == expected


def test_recipients_and_stage_are_checked():
    schedule = ReportSchedule(name="x", recipients="a@example.com, nope", stage=9)
    with pytest.raises(ValidationError) as caught:
        schedule.full_clean()
    assert caught.value.message_dict["recipients"] == ["Not e-mail addresses: nope."]
    assert "The stage is 1 to 6" in caught.value.message_dict["stage"][0]


@pytest.fixture
def mail(settings, smtp_server):
    port, inbox = smtp_server
    url = f"smtp://127.0.0.1:{port}?timeout=5"
    for name, value in parse_email_url(url, Path(django_settings.BASE_DIR)).items():
        setattr(settings, name, value)
    return inbox


def test_a_due_weekly_report_arrives_with_its_kpis_and_csv_once(mail):
    AccountFactory.create_batch(3)  # three target accounts
    now = timezone.now()
    schedule = ReportSchedule.objects.create(
        name="Weekly funnel",
        recipients="cmo@example.com, sales@example.com",
        query="period=last_30",
        frequency="weekly",
        next_run_at=now - dt.timedelta(minutes=1),
    )
    assert schedules_send(now) == 1
    assert schedules_send(now) == 0  # moved to next week: sent once
    schedule.refresh_from_db()
    assert schedule.last_sent_at == now and schedule.next_run_at > now
    assert schedule.next_run_at - now <= dt.timedelta(days=7)
    assert len(mail.messages) == 1
    recipients, message = mail.messages[0]
    assert recipients == ["cmo@example.com", "sales@example.com"]
    assert message["Subject"].startswith("[ABM] Weekly funnel: ")
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    label = REGISTRY["target_accounts"].label
    assert label in html and f"- {label}: 3" in text
    parts = list(message.iter_attachments())
    (attachment,) = [p for p in parts if p.get_content_type() == "text/csv"]
    assert attachment.get_filename().startswith("weekly-funnel-")
    # The funnel as an inline image the HTML shows (cid:), a real PNG with the six bars;
    # no snapshots yet, so the trend chart is replaced by a sentence saying when it comes.
    (funnel,) = [p for p in parts if p.get_content_type() == "image/png"]
    cid = funnel["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    with Image.open(io.BytesIO(funnel.get_content())) as png:
        assert png.format == "PNG" and png.size[0] >= 480
    assert "The trend chart appears once two nightly snapshots exist" in html
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert [r["id"] for r in rows] == [
        "target_accounts",
        "engaged_target_accounts",
        "opportunity_accounts",
        "won_accounts",
        "renewal_rate",
        "expansion_accounts",
    ]  # one headline KPI per stage, as on the dashboard
    target = rows[0]
    assert target["value"] == "3" and "previous_value" in target


def test_a_first_tick_only_plans_and_a_stage_report_has_that_stage(mail):
    AccountFactory()
    now = timezone.now()
    schedule = ReportSchedule.objects.create(
        name="Stage 1", recipients="a@example.com", stage=1, frequency="daily"
    )
    assert schedules_send(now) == 0
    schedule.refresh_from_db()
    assert schedule.next_run_at > now
    assert schedules_send(schedule.next_run_at) == 1
    _, message = mail.messages[0]
    assert "Stage 1:" in message.get_body(("plain",)).get_content()


def test_planning_new_schedules_costs_the_same_for_one_or_many(mail, django_assert_num_queries):
    """The first tick plans every new schedule in one statement, not one save each."""
    now = timezone.now()
    for n in (1, 12):
        for i in range(n):
            ReportSchedule.objects.create(name=f"S{n}-{i}", recipients="a@example.com")
        with django_assert_num_queries(3):  # read the unplanned, update them, read the due
            assert schedules_send(now) == 0
    assert not ReportSchedule.objects.filter(next_run_at__isnull=True).exists()


def test_a_bad_query_is_an_error_naming_the_field():
    from reports.services import schedule_report_email

    schedule = ReportSchedule(name="x", recipients="a@example.com", query="period=someday")
    with pytest.raises(ValidationError, match="someday"):
        schedule_report_email(schedule)


def _sent_once(mail, name: str, frequency: str):
    """A report of the last 30 days, due a minute ago, sent by one tick: its message."""
    now = timezone.now()
    ReportSchedule.objects.create(
        name=name,
        recipients="cmo@example.com",
        query="period=last_30",
        frequency=frequency,
        next_run_at=now - dt.timedelta(minutes=1),
    )
    assert schedules_send(now) == 1
    return mail.messages[0][1]


def test_the_report_has_a_trend_chart_from_the_published_snapshots(mail):
    """With nightly snapshots of the slice, the mail carries a trend chart of the headline
    KPIs too (#17: "the funnel and trend charts as inline images")."""
    AccountFactory.create_batch(2)
    today = timezone.localdate()
    for days_ago, targets in ((14, 1), (7, 2), (1, 2)):
        FunnelSnapshotFactory(
            date=today - dt.timedelta(days=days_ago),
            kpis={"kpis": [{"id": "target_accounts", "value": targets}]},
        )
    message = _sent_once(mail, "Trend", "daily")
    html = message.get_body(("html",)).get_content()
    images = [p for p in message.iter_attachments() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for image in images:
        assert f'src="cid:{image["Content-ID"].strip("<>")}"' in html
    assert "The trend chart appears" not in html


def test_a_user_schedules_a_report_on_a_page_and_it_is_sent(mail, client, viewer):
    """Issue #17 item 4: "a user schedules a KPI report" — any signed-in user, from the
    dashboard's "E-mail this view" link; bad input is named and kept; own schedules only."""
    AccountFactory.create_batch(2)
    client.force_login(viewer)
    dashboard = client.get("/?period=last_30").content.decode()
    assert 'href="/schedules/?view=period%3Dlast_30">E-mail this view' in dashboard
    form = client.get("/schedules/?view=period%3Dlast_30").content.decode()
    assert 'value="period=last_30"' in form and "No scheduled report yet" in form
    bad = client.post(
        "/schedules/",
        {
            "name": "Weekly",
            "recipients": "cmo@example.com, nope",
            "query": "period=someday",
            "frequency": "weekly",
            "weekday": "0",
            "send_at": "07:00",
        },
    ).content.decode()
    assert "Not e-mail addresses: nope." in bad and "Period" in bad
    assert 'value="Weekly"' in bad  # what was typed is kept
    assert ReportSchedule.objects.count() == 0
    saved = client.post(
        "/schedules/",
        {
            "name": "Weekly",
            "recipients": "cmo@example.com",
            "query": "period=last_30",
            "frequency": "daily",
            "weekday": "0",
            "send_at": "07:00",
        },
    )
    assert saved.status_code == 302
    schedule = ReportSchedule.objects.get()
    assert schedule.created_by == viewer and schedule.query == "period=last_30"
    now = timezone.now()
    assert schedules_send(now) == 0  # the first tick plans it
    schedule.refresh_from_db()
    assert schedules_send(schedule.next_run_at) == 1
    assert mail.messages[0][0] == ["cmo@example.com"]
    listed = client.get("/schedules/").content.decode()
    assert "Weekly" in listed and "cmo@example.com" in listed


@pytest.mark.parametrize(("data_days_ago", "compared"), [(20, False), (100, True)])
def test_no_comparison_with_a_previous_period_before_the_data(mail, data_days_ago, compared):
    """The last 30 days are compared with the 30 before them (31 to 60 days ago). Data that
    starts 20 days ago leaves that period empty: the mail says there is no comparison (as
    the dashboard does) instead of a change from zero; data from 100 days ago compares."""
    from tests.factories import OpportunityFactory

    AccountFactory.create_batch(3)
    today = timezone.localdate()
    first = today - dt.timedelta(days=data_days_ago)
    OpportunityFactory(created_on=first)
    message = _sent_once(mail, "Monthly", "monthly")
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    note = "no comparison: the previous period ("
    since = f"is before the data (first touch or opportunity on {first:%b %-d, %Y})"
    (attachment,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/csv"]
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    if compared:
        assert note not in text and note not in html and "against" in text
        assert rows[0]["previous_value"] != ""
    else:
        assert note in text and since in text
        assert note in html and since in html
        assert "(previous period:" not in text
        body = html[html.index("<tbody>") : html.index("</tbody>")]
        assert not re.search(r"[+−-]\d+(\.\d)? %", body)  # no change against nothing
        assert body.count("no comparison") == 6
        assert [r["previous_value"] for r in rows] == [""] * 6
