"""Writes of the reports app: sending scheduled e-mail reports."""

import datetime as dt
import logging
import uuid
from email.mime.image import MIMEImage
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils import timezone

from funnel.kpis import REGISTRY, STAGE_TITLES, compute

from . import charts, selectors, tables
from .forms import report_query
from .models import ReportSchedule

__all__ = ["schedule_next_run", "schedule_report_email", "schedules_send"]

logger = logging.getLogger(__name__)


def schedule_next_run(schedule: ReportSchedule, after: dt.datetime) -> dt.datetime:
    """The first send time strictly after ``after``, at ``send_at`` in ``TIME_ZONE``: every day,
    on ``weekday`` every week, or on the 1st of every month."""
    zone = timezone.get_current_timezone()
    day = timezone.localtime(after, zone).date()
    for _ in range(400):  # at most a little over a year of candidate days
        if _sends_on(schedule, day):
            moment = timezone.make_aware(dt.datetime.combine(day, schedule.send_at), zone)
            if moment > after:
                return moment
        day += dt.timedelta(days=1)
    raise ValueError(f"Schedule {schedule.pk} never sends")  # unreachable with valid fields


def _sends_on(schedule: ReportSchedule, day: dt.date) -> bool:
    if schedule.frequency == ReportSchedule.Frequency.WEEKLY:
        return day.weekday() == schedule.weekday
    if schedule.frequency == ReportSchedule.Frequency.MONTHLY:
        return day.day == 1
    return True


class _Query:
    """What ``report_query`` reads of a request: its GET parameters."""

    def __init__(self, query: str):
        self.GET = QueryDict(query)


def schedule_report_email(schedule: ReportSchedule, today: dt.date | None = None):
    """The e-mail of a scheduled report: the KPIs of its period against the previous period
    (HTML and plain text), and the same table as a CSV attachment.

    The period and filters are parsed by the pages' parser; the KPIs come from the engine
    the pages use, and the CSV from the dashboard's export table.
    """
    rq = report_query(_Query(schedule.query), today=today)
    if rq.messages:
        raise ValidationError({"query": rq.messages})
    if schedule.stage:
        ids = selectors.stage_kpi_ids(schedule.stage, rq.definitions)
        title = f"Stage {schedule.stage}: {STAGE_TITLES[schedule.stage]}"
    else:
        ids = list(selectors.HEADLINE_KPIS.values())
        title = "Headline KPIs"
    current = selectors.kpi_items(
        compute(rq.period, rq.filters, ids=ids, definitions=rq.definitions)
    )
    # As on the dashboard: a comparison period that starts before the data is no comparison
    # (its counts are partly empty), so it is not computed and the mail says why.
    data_start = selectors.first_day()
    before_data = selectors.starts_before_data(rq.previous, data_start)
    previous: dict[str, dict] = {}
    if not before_data:
        previous = selectors.kpi_items(
            compute(rq.previous, rq.filters, ids=ids, definitions=rq.definitions)
        )
    rows = [{"item": current[i], "previous": previous.get(i)} for i in ids if i in current]
    images = _report_charts(rq)
    context = {
        "schedule": schedule,
        "rq": rq,
        "title": title,
        "rows": rows,
        "before_data": before_data,
        "data_start": data_start,
        "charts": {name: cid for name, (cid, _png) in images.items()},
    }
    subject = f"[ABM] {schedule.name}: {rq.period.start:%b %-d} – {rq.period.end:%b %-d, %Y}"
    mail = EmailMultiAlternatives(
        subject,
        render_to_string("reports/email/scheduled_report.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        schedule.recipient_list(),
    )
    mail.attach_alternative(
        render_to_string("reports/email/scheduled_report.html", context), "text/html"
    )
    mail.mixed_subtype = "related"  # the HTML shows the charts by Content-ID
    for name, (cid, png) in images.items():
        image = MIMEImage(png, "png")
        image.add_header("Content-ID", f"<{cid}>")
        image.add_header("Content-Disposition", "inline", filename=f"{name}.png")
        mail.attach(image)
    items = [dict(r["item"], previous=(r["previous"] or {}).get("value")) for r in rows]
    csv = tables.KPI_ITEMS_WITH_PREVIOUS.csv("report.csv", items)
    mail.attach(
        f"{schedule.name.replace(' ', '-').lower()}-{rq.period.start:%Y%m%d}-{rq.period.end:%Y%m%d}.csv",
        b"".join(csv.streaming_content),
        "text/csv",
    )
    return mail


def _report_charts(rq: Any) -> dict[str, tuple[str, bytes]]:
    """The report's images, name -> (Content-ID, PNG): the funnel of the period, and the
    headline KPIs' trend from the published snapshots when there are two points or more."""
    funnel = compute(rq.period, rq.filters, ids=["funnel"], definitions=rq.definitions)
    stages = (funnel["kpis"][0].get("value") or {}).get("stages", {})
    labels = [(stage.replace("_", " ").capitalize(), n) for stage, n in stages.items()]
    images = {"funnel": (f"funnel-{uuid.uuid4().hex}@abm", charts.funnel_png(labels))}
    shown = ["target_accounts", "engaged_target_accounts", "opportunity_accounts"]
    trend = selectors.funnel_trend(rq.period, rq.filters, shown, rq.definitions)
    if len(trend.dates) >= 2:
        series = {str(REGISTRY[i].label): trend.series[i] for i in shown}
        images["trend"] = (f"trend-{uuid.uuid4().hex}@abm", charts.trend_png(trend.dates, series))
    return images


def schedules_send(now: dt.datetime | None = None) -> int:
    """Send every active schedule that is due, and move it to its next time; mails sent.

    Each schedule is locked while it is sent (a second beat tick skips it) and its next
    time is saved with the send, so a schedule is sent once per due time. A first run
    (no next time yet) only plans it. A failing schedule is logged and retried next tick.
    """
    now = now or timezone.now()
    unplanned = list(ReportSchedule.objects.filter(active=True, next_run_at__isnull=True))
    for schedule in unplanned:  # in memory; saved in one statement below
        schedule.next_run_at = schedule_next_run(schedule, now)
    ReportSchedule.objects.bulk_update(unplanned, ["next_run_at"])
    due = list(
        ReportSchedule.objects.filter(active=True, next_run_at__lte=now).values_list(
            "pk", flat=True
        )
    )
    sent = 0
    for pk in due:  # each due schedule is its own report and transaction
        with transaction.atomic():
            schedule = (
                ReportSchedule.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, active=True, next_run_at__lte=now)
                .first()
            )
            if schedule is None:
                continue
            schedule_report_email(schedule, today=timezone.localdate(now)).send()
            schedule.last_sent_at = now
            schedule.next_run_at = schedule_next_run(schedule, now)
            schedule.save(update_fields=["last_sent_at", "next_run_at"])
            sent += 1
    return sent
