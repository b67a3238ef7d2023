"""Reads of the engagement app: touch conditions and the account scores.

Other apps reach engagement through this module: the scores of
``engagement.scoring`` are re-exported here, next to the touch conditions
the KPI engine and the pages share.
"""

import datetime as dt

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Q,
    Value,
    ValueRange,
    When,
    Window,
)
from django.db.models.query import QuerySet

from abm_site.db import day_start
from accounts.models import Holdout, HoldoutAssignment

from .choices import ENGAGEMENT_KINDS, TouchKind
from .models import Touch
from .scoring import (
    engagement_score,
    high_value_patterns,
    high_value_patterns_for,
    high_value_visit_q,
    intent_surge,
    intent_surge_q,
    relationship_score,
    research_grade,
    research_window,
    score_breakdowns,
    surging_accounts,
    surging_signals,
)

#: Kinds that convert after a view-through (KPIS.md ``view_through_conversions``).
CONVERSION_KINDS: tuple[str, ...] = (TouchKind.FORM_FILL, TouchKind.CONTENT_DOWNLOAD)


def engagement_touch_q(prefix: str = "") -> Q:
    """Touches that count as engagement (the one flag in ``engagement.choices``)."""
    return Q(**{f"{prefix}kind__in": ENGAGEMENT_KINDS})


def holdout_contamination(holdout: Holdout) -> QuerySet[Touch]:
    """Touches of a program on accounts the holdout holds out, from the day it was drawn:
    programs must not target a control group, so each of these contaminates the lift."""
    held = HoldoutAssignment.objects.filter(holdout=holdout, held_out=True)
    return Touch.objects.filter(
        program__isnull=False,
        account_id__in=held.values("account_id"),
        occurred_at__gte=day_start(holdout.drawn_on),
    )


def holdout_contamination_counts(holdout: Holdout) -> dict[str, int]:
    """How many contaminating touches, and how many held-out accounts they reach (one query)."""
    return holdout_contamination(holdout).aggregate(
        touches=Count("pk"), accounts=Count("account_id", distinct=True)
    )


def content_touch_q() -> Q:
    """Engagement touches on content: with a content asset or a funnel position."""
    return engagement_touch_q() & (~Q(asset="") | ~Q(funnel_position=""))


def view_through_touches(
    touches: QuerySet[Touch], days: int, per: tuple[str, ...] = ("account_id",)
) -> QuerySet[Touch]:
    """``touches`` annotated with ``view_through``: the touch follows an unclicked ad impression.

    The account saw an ad impression in the ``days`` days before the touch
    (``[touch - days, touch)``) and clicked no ad from that impression up to
    and including the touch: the latest earlier impression is recent enough
    and no click came at or after it. Computed with window functions over
    each account's touches in one pass, so ``touches`` must reach ``days``
    back before the first touch that is judged (the caller filters after).

    Only non-impression touches are judged. Ordering each account's touches
    by time and then impressions last makes one running frame exact for
    them: its peers are the other non-impression touches of the same instant
    (so a click at the very instant counts as before the touch) while
    impressions of that instant sort after (so they are not "before"). A
    running frame is also linear, where excluding peers made PostgreSQL
    re-aggregate the whole frame for every row. ``per``: the columns whose touches
    make one sequence (an account's; an account's per program, for many programs' own
    touches at once).
    """
    is_impression = Case(
        When(kind=TouchKind.AD_IMPRESSION, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )

    def running_max(kind: str) -> Window:
        return Window(
            Max(Case(When(kind=kind, then=F("occurred_at")), output_field=DateTimeField())),
            partition_by=[F(column) for column in per],
            order_by=[F("occurred_at").asc(), is_impression.asc()],
            frame=ValueRange(start=None, end=0),
        )

    return touches.annotate(
        last_impression=running_max(TouchKind.AD_IMPRESSION),
        last_click=running_max(TouchKind.AD_CLICK),
    ).annotate(
        view_through=Case(
            When(
                ~Q(kind=TouchKind.AD_IMPRESSION)
                & Q(
                    last_impression__gte=ExpressionWrapper(
                        F("occurred_at") - Value(dt.timedelta(days=days)),
                        output_field=DateTimeField(),
                    )
                )
                & (Q(last_click__isnull=True) | Q(last_click__lt=F("last_impression"))),
                then=Value(True),
            ),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


__all__ = [
    "CONVERSION_KINDS",
    "content_touch_q",
    "holdout_contamination",
    "holdout_contamination_counts",
    "engagement_score",
    "engagement_touch_q",
    "high_value_patterns",
    "high_value_patterns_for",
    "high_value_visit_q",
    "intent_surge",
    "intent_surge_q",
    "relationship_score",
    "research_grade",
    "research_window",
    "score_breakdowns",
    "surging_accounts",
    "surging_signals",
    "view_through_touches",
]
