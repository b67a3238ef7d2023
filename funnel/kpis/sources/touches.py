"""Touch-level sources: touches of the period, view-through candidates, web visitors.

A touch count drills into the accounts that have such touches (one account
may have many), so their drill-downs list accounts.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import BooleanField, Case, DecimalField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Cast

from engagement.choices import WEB_VISIT_KINDS, TouchKind
from engagement.models import Touch, Visitor
from engagement.selectors import (
    CONVERSION_KINDS,
    content_touch_q,
    high_value_visit_q,
    view_through_touches,
)

from ..base import Figure
from ..context import Context
from ..measures import Source


def _programs_own(ctx: Context) -> Q:
    """Version 2: under a program filter, touch counts count that program's touches only."""
    if ctx.generation >= 2 and ctx.filters.program:
        return Q(program_id__in=ctx.filters.program)
    return Q()


def period_touches(ctx: Context) -> QuerySet[Touch]:
    """Touches of scoped accounts in the period."""
    return Touch.objects.filter(
        ctx.scope_q("account__"),
        _programs_own(ctx),
        occurred_at__gte=ctx.start_dt,
        occurred_at__lt=ctx.end_dt,
    )


def _group_touches(ctx: Context) -> Q:
    """One group's touches among the union's: (version 2) its programs', and its accounts.

    The program first: a flag's conditions are tested in order, so a touch of another
    program (most, with a flag per program) skips the lookup in the accounts' set."""
    return _programs_own(ctx) & ctx.scope_q("account__")


def _in_period(ctx: Context) -> Q:
    """The touches of ``ctx``'s period among those of a longer one (a series' bucket)."""
    return Q(occurred_at__gte=ctx.start_dt, occurred_at__lt=ctx.end_dt)


TOUCHES = Source(
    "touches",
    period_touches,
    drills_to="account",
    drill_via_accounts=True,
    weight="quantity",
    group_q=_group_touches,
    period_q=_in_period,
    cohort_once=True,
    rolls_up=True,
    roll_columns=("kind", "funnel_position"),
    scoped_periods=False,  # side by side under a tier or program filter (measured faster)
)


def _kind(name: str, kind: str):
    """A condition named ``name`` counting the touches of one kind."""

    def where(ctx: Context) -> Q:
        return Q(kind=kind)

    where.__name__ = where.__qualname__ = name
    where.__doc__ = f"Touches of kind {kind}."
    return TOUCHES.condition(where)


ad_impressions = _kind("ad_impressions", TouchKind.AD_IMPRESSION)
ad_clicks = _kind("ad_clicks", TouchKind.AD_CLICK)
chat_conversations = _kind("chat_conversations", TouchKind.CHAT_CONVERSATION)
emails_sent = _kind("emails_sent", TouchKind.EMAIL_SENT)
email_opens = _kind("email_opens", TouchKind.EMAIL_OPEN)
email_clicks = _kind("email_clicks", TouchKind.EMAIL_CLICK)
email_replies = _kind("email_replies", TouchKind.EMAIL_REPLY)


@TOUCHES.condition
def web_visits(ctx: Context) -> Q:
    """Web visits (each page view of an identified account, high-value pages included)."""
    return Q(kind__in=WEB_VISIT_KINDS)


@TOUCHES.condition
def high_value_page_visits(ctx: Context) -> Q:
    """Visits recorded as high-value, and web visits to a registered high-value URL pattern."""
    return high_value_visit_q(ctx.patterns)


@TOUCHES.condition
def content(ctx: Context) -> Q:
    """Engagement touches on content (with a content asset or a funnel position)."""
    return content_touch_q()


_MINUTES = DecimalField(max_digits=20, decimal_places=2)


def _content_minutes(position: str | None):
    def minutes(ctx: Context, cq: Q) -> Sum:
        # The position first: most rows fail it, and skip the content test.
        where = cq & (Q(funnel_position=position) & content(ctx) if position else content(ctx))
        return Sum(Cast("engagement_minutes", _MINUTES), filter=where)

    minutes.__name__ = f"content_minutes_{position}" if position else "content_minutes"
    minutes.__doc__ = "Engagement minutes on content" + (f" ({position})." if position else ".")
    return TOUCHES.measure(minutes)


content_minutes = _content_minutes(None)
#: Funnel position -> its content minutes measure.
content_minutes_by_position = {p: _content_minutes(p) for p in ("tofu", "mofu", "bofu")}


# --- view-through ---------------------------------------------------------------------


def view_through_candidates(ctx: Context, per_program: bool = False) -> QuerySet[Touch]:
    """Ad, visit and conversion touches of the period and the look-back before it, flagged.

    The flags fold in the period and the kind so that filtering on them keeps
    the look-back rows for the window functions (Django filters other
    conditions before the windows run). Of the look-back, only ads are read (the
    windows' running maxima); its visits and conversions are never judged.
    ``per_program``: each program's touches are a sequence of their own (``_split_view_through``).
    """
    days = int(ctx.params["view_through_days"])
    ads = (TouchKind.AD_IMPRESSION, TouchKind.AD_CLICK)
    touches = Touch.objects.filter(
        ctx.scope_q("account__"),
        _programs_own(ctx),
        Q(kind__in=ads) | Q(occurred_at__gte=ctx.start_dt),
        occurred_at__gte=ctx.start_dt - dt.timedelta(days=days),
        occurred_at__lt=ctx.end_dt,
        kind__in=(*ads, *WEB_VISIT_KINDS, *CONVERSION_KINDS),
    )
    judged = Q(view_through=True, occurred_at__gte=ctx.start_dt)

    def flag(kinds) -> Case:
        return Case(
            When(judged & Q(kind__in=kinds), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )

    per = ("account_id", "program_id") if per_program else ("account_id",)
    return view_through_touches(touches, days, per).annotate(
        view_through_visit=flag(WEB_VISIT_KINDS),
        view_through_conversion=flag(CONVERSION_KINDS),
    )


def _group_view_through(ctx: Context) -> Q | None:
    """One group's accounts; None under version 2's program filter, whose touches are the
    program's own: the look-back windows then run over other rows per group."""
    if _programs_own(ctx):
        return None
    return ctx.scope_q("account__")


def _split_view_through(union: Context, groups: list[Context]) -> QuerySet[Touch] | None:
    """The union's rows where each program's look-back windows run over its own touches
    (partitioned by account and program): under version 2's program filter, when every
    group is one program, each group's rows (``_group_touches``) are then exactly the rows
    its own computation judges, so one statement serves every program. None otherwise (a
    group of several programs, the union's totals: their windows mix programs)."""
    if not all(_programs_own(g) and len(g.filters.program) == 1 for g in groups):
        return None
    return view_through_candidates(union, per_program=True)


VIEW_THROUGH = Source(
    "view_through",
    view_through_candidates,
    group_q=_group_view_through,
    split_rows=_split_view_through,
    split_q=_group_touches,
    drills_to="account",
    drill_via_accounts=True,
    fence=True,
    # Each row's cohort a flag (computed once per row): not the target list tested again in
    # every aggregate, each a hashed subplan probed for every row of the window pass.
    cohort_once=True,
    weight="quantity",
)


@VIEW_THROUGH.condition
def view_through_visits(ctx: Context) -> Q:
    """Web visits after an unclicked ad impression of the look-back window."""
    return Q(view_through_visit=True)


@VIEW_THROUGH.condition
def view_through_conversions(ctx: Context) -> Q:
    """Form fills and downloads after an unclicked ad impression of the look-back window."""
    return Q(view_through_conversion=True)


# --- visitors ---------------------------------------------------------------------------


def period_visitors(ctx: Context) -> QuerySet[Visitor]:
    """Anonymous visitors attributed to scoped accounts, first seen in the period."""
    return Visitor.objects.filter(
        ctx.scope_q("account__"),
        account__isnull=False,
        first_seen_at__gte=ctx.start_dt,
        first_seen_at__lt=ctx.end_dt,
    )


VISITORS = Source(
    "visitors",
    period_visitors,
    period_q=lambda ctx: Q(first_seen_at__gte=ctx.start_dt, first_seen_at__lt=ctx.end_dt),
    drills_to="account",
    drill_via_accounts=True,
    # The ABM flag and each group's once per visitor, not a target-list hash and a group
    # test in each aggregate: the snapshots' visitors statement 23 -> 7 ms at S (#18).
    cohort_once=True,
)


@VISITORS.condition
def visitors_seen(ctx: Context) -> Q:
    return Q()


@VISITORS.condition
def visitors_known(ctx: Context) -> Q:
    """Linked to a known stakeholder by the end of the period. Version 1 also counts a link
    without an identification date; version 2 does not."""
    identified = Q(identified_at__lt=ctx.end_dt)
    if ctx.generation < 2:
        identified |= Q(identified_at__isnull=True)
    return Q(stakeholder__isnull=False) & identified


#: Each listed account's engagement minutes on content (the KPI sums them).
CONTENT_MINUTES = Figure(
    "Content minutes",
    "count",
    lambda ctx: TOUCHES.per_account(ctx, content(ctx), Sum(Cast("engagement_minutes", _MINUTES))),
)
