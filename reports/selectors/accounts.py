"""Reads for the account page: its committee, touches, intent, deals, NPS, timeline,
stage history and score series (part of ``reports.selectors``, split for size)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from abm_site.db import day_bounds
from accounts.choices import BuyingRole
from accounts.models import Account, Stakeholder
from engagement.choices import ENGAGEMENT_KINDS
from engagement.models import IntentSignal, Touch
from engagement.selectors import intent_surge_q
from funnel.kpis import Period
from funnel.models import AccountSnapshot, AccountStageChange, NpsResponse, Opportunity

from . import _flag, surging_q

# --- account page ---------------------------------------------------------------


def _role_order() -> Case:
    return Case(
        *[When(buying_role=v, then=Value(i)) for i, v in enumerate(BuyingRole.values)],
        default=Value(99),
        output_field=IntegerField(),
    )


def account_stakeholders(account: Account, period: Period) -> QuerySet[Stakeholder]:
    """The buying committee, by role, each marked engaged (an engagement touch in the period)."""
    begin, end = day_bounds(period.start, period.end)
    engaged = Touch.objects.filter(
        stakeholder_id=OuterRef("pk"),
        kind__in=ENGAGEMENT_KINDS,
        occurred_at__gte=begin,
        occurred_at__lt=end,
    )
    return (
        Stakeholder.objects.filter(account=account)
        .annotate(engaged=Exists(engaged), role_order=_role_order())
        .order_by("role_order", "-engaged", "name", "pk")
    )


def account_touches(account: Account, period: Period) -> QuerySet[Touch]:
    """Touches of the account in the period, newest first."""
    begin, end = day_bounds(period.start, period.end)
    return (
        Touch.objects.filter(account=account, occurred_at__gte=begin, occurred_at__lt=end)
        .select_related("stakeholder", "program")
        .order_by("-occurred_at", "-pk")
    )


def account_intent(account: Account, period: Period, weeks: int = 8) -> list[dict[str, Any]]:
    """The account's intent topics of the latest ``weeks`` weeks up to the period's end.

    One row per topic: its weekly scores (newest first) and whether any week surged.
    """
    since = period.end - dt.timedelta(weeks=weeks)
    signals = (
        IntentSignal.objects.filter(account=account, week__gt=since, week__lte=period.end)
        .annotate(
            surge=Case(
                When(intent_surge_q(), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("topic", "-week")
        .values("topic", "week", "score", "surge", "is_competitor_topic")
    )
    topics: dict[str, dict[str, Any]] = {}
    for s in signals:
        topic = topics.setdefault(
            s["topic"],
            {
                "topic": s["topic"],
                "competitor": s["is_competitor_topic"],
                "weeks": [],
                "surge": False,
                "latest": s["score"],
            },
        )
        topic["weeks"].append(s)
        topic["surge"] = topic["surge"] or s["surge"]
    return sorted(topics.values(), key=lambda t: (not t["surge"], -float(t["latest"]), t["topic"]))


def account_opportunities(account: Account) -> QuerySet[Opportunity]:
    return Opportunity.objects.filter(account=account).order_by(
        F("closed_on").desc(nulls_first=True), F("created_on").desc(nulls_last=True), "-pk"
    )


def account_nps(account: Account) -> QuerySet[NpsResponse]:
    return (
        NpsResponse.objects.filter(account=account)
        .select_related("stakeholder")
        .order_by("-responded_on", "-pk")
    )


def _day_start(field: str) -> Cast:
    return Cast(field, output_field=DateTimeField())


def account_timeline_entries(account_id: int) -> QuerySet:
    """One UNION query over the account's touches, opportunities, stage changes and
    NPS responses: rows ``(entry_type, entry_id, at)``, newest first.

    Date-only events sort at the start of their day; an opportunity sorts at
    its close (or creation) date.
    """

    def entries(queryset: QuerySet, kind: str, at) -> QuerySet:
        return (
            queryset.filter(account_id=account_id)
            .order_by()
            .annotate(
                entry_type=Value(kind, output_field=CharField()),
                entry_id=F("id"),
                at=at,
            )
            .values_list("entry_type", "entry_id", "at")
        )

    touches = entries(Touch.objects.all(), "touch", F("occurred_at"))
    opportunities = entries(
        Opportunity.objects.all(),
        "opportunity",
        Coalesce(_day_start("closed_on"), _day_start("created_on"), F("created_at")),
    )
    changes = entries(AccountStageChange.objects.all(), "stage_change", _day_start("changed_on"))
    nps = entries(NpsResponse.objects.all(), "nps_response", _day_start("responded_on"))
    return touches.union(opportunities, changes, nps, all=True).order_by("-at", "-entry_id")


def account_stage_history(account: Account) -> QuerySet[AccountStageChange]:
    return AccountStageChange.objects.filter(account=account).order_by("-changed_on")


def account_scores_date(account_id: int) -> tuple[dt.date, str]:
    """The day an account's score breakdown defaults to: its latest snapshot's, so the
    breakdown explains the scores the pages show, else today (one query)."""
    latest = (
        AccountSnapshot.objects.filter(account_id=account_id)
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    if latest is not None:
        return latest, "latest_snapshot"
    return timezone.localdate(), "today"


def account_snapshot_series(account: Account, period: Period) -> list[dict[str, Any]]:
    """Scores from the account's snapshots, oldest first, from 365 days before the period's end."""
    return list(
        AccountSnapshot.objects.filter(
            account=account,
            date__gt=period.end - dt.timedelta(days=max(period.days, 365)),
            date__lte=period.end,
        )
        .order_by("date")
        .annotate(is_surging=_flag(surging_q()))
        .values(
            "date",
            "stage",
            "engagement_score",
            "relationship_score",
            "research_grade",
            "intent_surge",
            "open_pipeline",
            "last_touch_at",
            "is_target",
            "is_surging",
        )
    )
