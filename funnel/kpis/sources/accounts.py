"""Account-level sources: one row per scoped account with what the account KPIs count.

Touch measures and scores come from one GROUP BY pass over the account's
touches of the window the KPIs read; opportunity, stakeholder and intent
facts are per-account expressions on small tables. Every condition below is
both a count (a KPI's number) and the filter of its drill-down.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Collection
from functools import reduce
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Least, TruncDate
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from abm_site.db import DaysBetween, FloatValue, InShared, PerAccount, day_bounds
from accounts.models import Account, Stakeholder, fit_grade_as_of, tier_as_of
from engagement.choices import ENGAGEMENT_KINDS, WEB_VISIT_KINDS
from engagement.models import Touch
from engagement.selectors import (
    relationship_score,
    research_grade,
    research_window,
    surging_signals,
)
from funnel.choices import OpportunityStatus, OpportunityType
from funnel.models import Opportunity
from funnel.querysets import closed_in_q, created_in_q, won_new_business_q
from funnel.selectors import customer_q, first_won_new_business

from ..base import Figure, Period
from ..context import Context
from ..measures import Source, flagged_totals
from ..scope import period_free, scope_q, slice_q

WON = OpportunityStatus.WON
NB = OpportunityType.NEW_BUSINESS


def _count_subquery(qs: QuerySet, field: str = "pk", distinct: bool = False):
    counted = (
        qs.order_by().values("account_id").annotate(n=Count(field, distinct=distinct)).values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _sum_subquery(qs: QuerySet, field: str):
    summed = qs.order_by().values("account_id").annotate(n=Sum(field)).values("n")
    return Coalesce(Subquery(summed, output_field=IntegerField()), Value(0))


def _min_subquery(qs: QuerySet, expression, output_field):
    first = qs.order_by().values("account_id").annotate(m=Min(expression)).values("m")
    return Subquery(first, output_field=output_field)


def _first_day_subquery(rows: QuerySet, outer: QuerySet) -> Subquery:
    """The first day (``TruncDate``) of ``rows``' ``occurred_at``, read from their first day
    only: the rows before the first instant plus one day (``outer``: the same rows, to the
    account by ``OuterRef(OuterRef("pk"))``). The first instant is a plain aggregate (no
    GROUP BY), which PostgreSQL reads as one index probe (its min/max rewrite), and the day
    is the least day of that day's rows, so a clock set back across midnight in
    ``TIME_ZONE`` still gives the least day (measured: 0.2 ms -> 0.02 ms per account)."""
    first = outer.order_by().annotate(first=Func(F("occurred_at"), function="MIN"))
    bound = ExpressionWrapper(
        Subquery(first.values("first"), output_field=DateTimeField()) + dt.timedelta(days=1),
        output_field=DateTimeField(),
    )
    return _min_subquery(rows.filter(occurred_at__lt=bound), TruncDate("occurred_at"), DateField())


def _first_in_period(rows: QuerySet, field: str, ctx: Context) -> Q:
    """Whether the account's first ``field`` date among ``rows`` lies in the period: the
    test ``first__gte/__lte`` on that date's per-account subquery, as one uncorrelated
    set (PostgreSQL hashes it once) instead of the subquery again for every account."""
    firsts = (
        rows.order_by()
        .values("account_id")
        .annotate(first=Min(field))
        .filter(first__gte=ctx.start, first__lte=ctx.end)
        .values("account_id")
    )
    return Q(pk__in=firsts)


def _in(ids: QuerySet) -> Case:
    """Whether the account's id is among ``ids`` (an uncorrelated subquery, run once)."""
    return Case(
        When(pk__in=ids, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def _in_shared(rows: QuerySet, flag: str | None = None) -> Case:
    """Whether the account is among ``rows``' account ids (narrowed to ``flag``): a set the
    statement computes once however many facts read it (``InShared``)."""
    return Case(
        When(InShared(F("pk"), rows, flag=flag), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


#: Facts read from the touches of the scoring window: they need the join and GROUP BY.
WINDOW_FACTS = frozenset({"engaged_n", "eng_people", "rel_now", "rel_prev", "research"})
#: Facts computed from other facts (a second annotation step), with the facts they read.
DERIVED_FACTS = {"first_eng": {"first_won", "first_opp"}, "touches_to_win": {"first_won"}}


def account_facts(ctx: Context, facts: Collection[str] | None = None) -> QuerySet[Account]:
    """Scoped accounts annotated with what the account-level KPIs count, one row per account.

    ``facts`` names the annotations wanted (every one when None). The engine passes
    the names its measures and conditions refer to, so a request pays only for what
    it reads: an engaged count never joins stakeholders or scans intent signals, and
    without a touch fact there is no join to touches at all. Only the wanted facts'
    expressions are built (the research grade's page patterns are not even read
    otherwise), and without a score only the period's engagement touches are joined,
    not the relationship and research windows' (the period facts' own conditions keep
    exactly those rows). ``targeted`` is always there (the cohorts test it).
    """
    first_step, second_step = _facts(ctx)
    wanted = _wanted(first_step, second_step, facts)
    rows = Account.objects.filter(ctx.scope_q())
    if wanted & WINDOW_FACTS:
        window = _window(ctx, _lowest(ctx, wanted), ctx.end_dt, scores=wanted & SCORE_FACTS)
        rows = rows.annotate(scored_touches=window)
    rows = rows.annotate(**{k: v() for k, v in first_step.items() if k in wanted})
    later = {k: v() for k, v in second_step.items() if k in wanted}
    return rows.annotate(**later) if later else rows


#: Facts that do not depend on the period (first dates ever): one column in a series.
TIMELESS_FACTS = frozenset({"first_opp", "first_won"})


def period_fact(name: str, i: int) -> str:
    """The name of fact ``name`` of the ``i``-th period in ``account_facts_by_period``."""
    return name if name in TIMELESS_FACTS else f"p{i}_{name}"


#: Facts whose windows look back far before the period (the scores): in one pass, every
#: bucket's conditions would test the touches of the longest look-back of all (measured:
#: the whole catalogue over 26 weeks took a third longer in one pass than side by side).
SCORE_FACTS = frozenset({"rel_now", "rel_prev", "research"})


def account_facts_by_period(
    contexts: list[Context], facts: Collection[str]
) -> QuerySet[Account] | None:
    """``account_facts`` of every context at once, one row per account: the facts of the
    ``i``-th context are named ``period_fact(name, i)``.

    The rows are the accounts of the filters that keep the same accounts in every period
    (``period_free``); under a tier or program filter, whose accounts differ by period,
    each context's own scope is the flag ``period_fact(SCOPED, i)`` (its tier's and
    program's accounts a shared set, computed once per statement). One join to the
    touches of the union of their scoring windows serves every period (each window fact
    keeps its own period's touches by its conditions). None when a score is wanted
    (``SCORE_FACTS``): the periods are then best side by side.
    """
    built = [_facts(ctx) for ctx in contexts]
    wanted = _wanted(built[0][0], built[0][1], facts)
    if wanted & SCORE_FACTS:
        return None
    first = contexts[0]
    rows = Account.objects.filter(
        scope_q(period_free(first.filters), first.period, generation=first.generation)
    )
    if first.filters != period_free(first.filters):
        # Only accounts in some context's scope (the flags' own sets): facts of no other.
        rows = rows.filter(reduce(operator.or_, [ctx.scope_q(shared=True) for ctx in contexts]))
        rows = rows.annotate(
            **{period_fact(SCOPED, i): _in_scope(ctx) for i, ctx in enumerate(contexts)}
        )
    if wanted & WINDOW_FACTS:
        lowest = min(min(_bounds(ctx, wanted)) for ctx in contexts)
        highest = max(ctx.end_dt for ctx in contexts)
        # No score here: the engagement kinds alone (the facts' conditions test them too).
        window = _window(contexts[0], lowest, highest, scores=())
        rows = rows.annotate(scored_touches=window)
    for step in (0, 1):  # the second step reads the first's facts
        named: dict[str, Any] = {}
        for i, facts_i in enumerate(built):  # the periods: a bounded list (MAX_BUCKETS)
            for name, expression in facts_i[step].items():
                if name in wanted and (i == 0 or name not in TIMELESS_FACTS):
                    named[period_fact(name, i)] = expression()
        if named:
            rows = rows.annotate(**named)
    return rows


#: A series' flag of the accounts in a period's scope (``account_facts_by_period``).
SCOPED = "scoped"


def _in_scope(ctx: Context) -> Case:
    """Whether the account is in ``ctx``'s scope (its tier then, its programs' touches)."""
    return Case(
        When(ctx.scope_q(shared=True), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def _wanted(first_step: dict, second_step: dict, facts: Collection[str] | None) -> set[str]:
    wanted = set(first_step) | set(second_step) if facts is None else {"targeted", *facts}
    for name, reads in DERIVED_FACTS.items():
        if name in wanted:
            wanted |= reads
    return wanted


def _lowest(ctx: Context, wanted: Collection[str] = WINDOW_FACTS) -> dt.datetime | Least:
    """The first instant the window facts ``wanted`` of ``ctx`` read (the scores look back
    further than the period): the least of the period start and the scores' window starts,
    taken by SQL (``LEAST``), each a parameter of its own. Which of them is the least
    depends on the period's length, while each one is a date of the period some days on
    (``statements``' rules): the statement is the same at every period and is reused;
    PostgreSQL folds the ``LEAST`` of constants while planning (the same plan)."""
    bounds = _bounds(ctx, wanted)
    if len(bounds) == 1:
        return bounds[0]
    return Least(*(Value(bound, output_field=DateTimeField()) for bound in bounds))


def _bounds(ctx: Context, wanted: Collection[str]) -> list[dt.datetime]:
    """The instants the window facts ``wanted`` read from: the period start, and the
    research and relationship windows' starts when those scores are wanted."""
    change_days = int(ctx.params["relationship_change_days"])
    bounds = [ctx.start_dt]
    if "research" in wanted:
        bounds.append(research_window(ctx.end, ctx.params)[0])
    if {"rel_now", "rel_prev"} & set(wanted):
        back = change_days + int(ctx.params["relationship_window_days"])
        bounds.append(ctx.end_dt - dt.timedelta(days=back))
    return bounds


def _window(
    ctx: Context,
    lowest: dt.datetime | Least,
    end: dt.datetime,
    scores: Collection[str] = SCORE_FACTS,
) -> FilteredRelation:
    """The touches window facts read, from ``lowest`` to ``end``: only the rows some
    per-account measure reads. Engagement kinds (counts, people) from ``lowest`` without a
    score, else from the period start; with the ``scores`` named, two-way contact kinds
    (relationship) from ``lowest`` and web visits (research) from the research window's
    start. Ad impressions, mail and intent touches (a third or more of all rows) never
    enter the join, nor the engagement touches before the period that no score reads (an
    eighth of the rows the join kept when every kind ran from ``lowest``)."""
    if not scores:
        kinds = Q(touches__kind__in=sorted(ENGAGEMENT_KINDS))
    else:
        kinds = Q(
            touches__kind__in=sorted(ENGAGEMENT_KINDS), touches__occurred_at__gte=ctx.start_dt
        )
        if {"rel_now", "rel_prev"} & set(scores):
            kinds |= Q(touches__kind__in=sorted(ctx.params["relationship_weights"]))
        if "research" in scores:
            begin = research_window(ctx.end, ctx.params)[0]
            kinds |= Q(touches__kind__in=sorted(WEB_VISIT_KINDS), touches__occurred_at__gte=begin)
    return FilteredRelation(
        "touches",
        condition=Q(touches__occurred_at__gte=lowest, touches__occurred_at__lt=end) & kinds,
    )


def _facts(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """The facts of ``ctx``, in two annotation steps: each fact a function building its
    expression (only the wanted ones are built); they read the touches window as
    ``scored_touches``."""
    change_days = int(ctx.params["relationship_change_days"])
    rel_before = ctx.end - dt.timedelta(days=change_days)
    # Bounded on both sides (the window above bounds them too): a series joins one window
    # for all its buckets and keeps each bucket's touches by this condition.
    engaged_in_period = Q(
        scored_touches__kind__in=ENGAGEMENT_KINDS,
        scored_touches__occurred_at__gte=ctx.start_dt,
        scored_touches__occurred_at__lt=ctx.end_dt,
    )
    eng = Touch.objects.filter(account_id=OuterRef("pk"), kind__in=ENGAGEMENT_KINDS)
    eng_first = Touch.objects.filter(account_id=OuterRef(OuterRef("pk")), kind__in=ENGAGEMENT_KINDS)
    opps = Opportunity.objects.filter(account_id=OuterRef("pk"))
    # The second step's guards: sets computed once, not the first dates' subqueries again
    # for every account (an annotation is inlined wherever another one reads it).
    first_won_in_period = _first_in_period(
        Opportunity.objects.filter(won_new_business_q()), "closed_on", ctx
    )
    first_opp_in_period = _first_in_period(
        Opportunity.objects.filter(type=NB, created_on__isnull=False), "created_on", ctx
    )
    v2 = ctx.generation >= 2

    # Version 2: touch counts sum the touches' quantities (an aggregated row counts as many).
    def engaged_n() -> Any:
        if v2:
            return Sum("scored_touches__quantity", filter=engaged_in_period)
        return Count("scored_touches__id", filter=engaged_in_period)

    def touched_by_win() -> Any:
        by_win = Touch.objects.filter(
            account_id=OuterRef("pk"), occurred_at__date__lte=OuterRef("first_won")
        )
        return _sum_subquery(by_win, "quantity") if v2 else _count_subquery(by_win)

    def surge(flag: str | None) -> Any:
        # One pass over the intent signals serves both (an ``InShared`` set).
        return PerAccount(
            _in_shared(surging_signals(ctx.start, ctx.end, params=ctx.params), flag=flag)
        )

    def closed_won(kind: str) -> Any:
        return PerAccount(
            Exists(opps.filter(closed_in_q(ctx.start, ctx.end, status=WON, type=kind)))
        )

    first_step: dict[str, Any] = {
        "targeted": lambda: PerAccount(ctx.targeted()),
        "engaged_n": engaged_n,
        "eng_people": lambda: Count(
            "scored_touches__stakeholder_id", filter=engaged_in_period, distinct=True
        ),
        "rel_now": lambda: relationship_score(ctx.end, via="scored_touches", params=ctx.params),
        "rel_prev": lambda: relationship_score(rel_before, via="scored_touches", params=ctx.params),
        "research": lambda: research_grade(
            ctx.end, patterns=ctx.patterns, via="scored_touches", params=ctx.params
        ),
        "grade_then": lambda: PerAccount(fit_grade_as_of(ctx.end)),  # the grade history (#15)
        "surge": lambda: surge(None),
        "competitor_surge": lambda: surge("is_competitor_topic"),
        "committee": lambda: PerAccount(
            _count_subquery(
                Stakeholder.objects.filter(account_id=OuterRef("pk")).filter(
                    Q(known_since__isnull=True) | Q(known_since__lte=ctx.end)
                )
            )
        ),
        "opp_in_period": lambda: PerAccount(
            Exists(opps.filter(created_in_q(ctx.start, ctx.end, type=NB)))
        ),
        "first_opp": lambda: PerAccount(
            _min_subquery(opps.filter(type=NB, created_on__isnull=False), "created_on", DateField())
        ),
        "first_won": lambda: PerAccount(first_won_new_business()),
        "won_in_period": lambda: PerAccount(
            _count_subquery(opps.filter(closed_in_q(ctx.start, ctx.end, status=WON, type=NB)))
        ),
        "renewed": lambda: closed_won(OpportunityType.RENEWAL),
        "expanded": lambda: closed_won(OpportunityType.EXPANSION),
    }
    second_step: dict[str, Any] = {
        # Only the few accounts that won or opened their first deal need these.
        "first_eng": lambda: PerAccount(
            Case(
                When(
                    first_won_in_period | first_opp_in_period,
                    then=_first_day_subquery(
                        eng.filter(occurred_at__lt=ctx.end_dt),
                        eng_first.filter(occurred_at__lt=ctx.end_dt),
                    ),
                ),
                default=Value(None),
                output_field=DateField(),
            )
        ),
        "touches_to_win": lambda: PerAccount(
            Case(
                When(first_won_in_period, then=touched_by_win()),
                default=Value(0),
                output_field=IntegerField(),
            )
        ),
    }
    return first_step, second_step


ACCOUNTS = Source(
    "accounts",
    account_facts,
    prefix="",
    drills_to="account",
    fence=True,
    targeted="targeted",
    prunes=True,
    period_rows=account_facts_by_period,
    period_fact=period_fact,
)


# --- conditions: counts of accounts, and the filters of their drill-downs -----------------


@ACCOUNTS.condition
def accounts(ctx: Context) -> Q:
    """Every account of the cohort (with the default cohort: the target list)."""
    return Q()


@ACCOUNTS.condition
def engaged(ctx: Context) -> Q:
    """At least one engagement touch in the period."""
    return Q(engaged_n__gt=0)


@ACCOUNTS.condition
def unengaged(ctx: Context) -> Q:
    """No engagement touch in the period (the unengaged rate's numerator, to list it).
    Version 2 sums touch quantities, which is NULL (not 0) for an account without any."""
    return ~engaged(ctx) | Q(engaged_n__isnull=True)


@ACCOUNTS.condition
def opportunity(ctx: Context) -> Q:
    """A new-business opportunity created in the period."""
    return Q(opp_in_period=True)


@ACCOUNTS.condition
def first_opportunity_after_touch(ctx: Context) -> Q:
    """The first new-business opportunity was created in the period, on or after the
    account's first engagement touch."""
    return Q(first_opp__gte=ctx.start, first_opp__lte=ctx.end) & Q(first_eng__lte=F("first_opp"))


@ACCOUNTS.condition
def won(ctx: Context) -> Q:
    """The first won new-business opportunity closed in the period (a new customer)."""
    return Q(first_won__gte=ctx.start, first_won__lte=ctx.end)


@ACCOUNTS.condition
def won_after_touch(ctx: Context) -> Q:
    """Won (as above) on or after the account's first engagement touch."""
    return won(ctx) & Q(first_eng__lte=F("first_won"))


@ACCOUNTS.condition
def winner(ctx: Context) -> Q:
    """Won at least one new-business opportunity closed in the period."""
    return Q(won_in_period__gt=0)


@ACCOUNTS.condition
def customer(ctx: Context) -> Q:
    """A customer at the end of the period (KPIS.md): won, and not churned by then."""
    return customer_q(ctx.end)


@ACCOUNTS.condition
def churned(ctx: Context) -> Q:
    """Churned in the period."""
    return Q(churned_on__gte=ctx.start, churned_on__lte=ctx.end)


@ACCOUNTS.condition
def renewed(ctx: Context) -> Q:
    """A won renewal opportunity closed in the period."""
    return Q(renewed=True)


@ACCOUNTS.condition
def expansion(ctx: Context) -> Q:
    """A customer with a won expansion opportunity closed in the period."""
    return customer(ctx) & Q(expanded=True)


@ACCOUNTS.condition(whole=True)
def tam(ctx: Context) -> Q:
    """In the total addressable market: ICP fit grade A or B at the period end (the grade
    history), whatever the cohort."""
    return _graded_a_or_b(ctx)


@ACCOUNTS.condition
def engaged_in_tam(ctx: Context) -> Q:
    """Engaged (as above) and in the total addressable market (fit grade A or B)."""
    return engaged(ctx) & _graded_a_or_b(ctx)


def _graded_a_or_b(ctx: Context) -> Q:
    return Q(grade_then__in=("A", "B"))


def _year_start(ctx: Context) -> dt.date:
    return ctx.end - dt.timedelta(days=364)


@ACCOUNTS.condition
def churned_12m(ctx: Context) -> Q:
    """Churned in the 365 days ending with the period, after becoming a customer."""
    return Q(churned_on__gte=_year_start(ctx), churned_on__lte=ctx.end) & Q(
        first_won__lte=F("churned_on")
    )


@ACCOUNTS.condition
def customer_12m(ctx: Context) -> Q:
    """A customer at any time in the 365 days ending with the period."""
    return Q(first_won__lte=ctx.end) & (
        Q(churned_on__isnull=True) | Q(churned_on__gte=_year_start(ctx))
    )


@ACCOUNTS.condition
def customer_at_year_start(ctx: Context) -> Q:
    """A customer at the start of the 365 days ending with the period."""
    return customer_q(_year_start(ctx) - dt.timedelta(days=1))


def _change_points(ctx: Context) -> FloatValue:
    return FloatValue(float(ctx.params["relationship_change_points"]))


@ACCOUNTS.condition
def improving(ctx: Context) -> Q:
    """Relationship score at least ``relationship_change_points`` above its value
    ``relationship_change_days`` earlier."""
    return Q(rel_now__gte=F("rel_prev") + _change_points(ctx))


@ACCOUNTS.condition
def degrading(ctx: Context) -> Q:
    """Relationship score at least ``relationship_change_points`` below its value
    ``relationship_change_days`` earlier."""
    return Q(rel_now__lte=F("rel_prev") - _change_points(ctx))


@ACCOUNTS.condition
def surging(ctx: Context) -> Q:
    """An intent surge for a week in the period."""
    return Q(surge=True)


@ACCOUNTS.condition
def researching(ctx: Context) -> Q:
    """Research grade 2 or 3 at the end of the period."""
    return Q(research__gte=2)


@ACCOUNTS.condition
def at_risk(ctx: Context) -> Q:
    """A customer with a competitor-topic intent surge in the period or a degrading
    relationship."""
    return customer(ctx) & (Q(competitor_surge=True) | degrading(ctx))


def slice_accounts(ctx: Context) -> QuerySet[Account]:
    """Accounts of the filters' tier and owner slice, whatever the program filter: the
    program KPIs count the filter's programs' touches, not accounts a program engaged."""
    return Account.objects.filter(slice_q(ctx.filters, ctx.end))


PROGRAM_ACCOUNTS = Source(
    "program_accounts",
    slice_accounts,
    prefix="",
    drills_to="account",
    group_q=lambda ctx: slice_q(ctx.filters, ctx.end, shared=True),
    period_q=lambda ctx: Q(),  # the slice's accounts: each condition picks its own period
    cohort_once=True,  # each account's ABM flag and groups once: 0.85x of the snapshots' pass
)


def _program_touched(ctx: Context, engagement: bool) -> Q:
    """A touch of a program (of the filter's programs, with one) in the period: one pass over
    the period's program touches, per account, serves both conditions (an ``InShared`` set)."""
    if ctx.series:
        return _program_touched_in_series(ctx, engagement)
    touches = Touch.objects.filter(
        program__isnull=False,
        occurred_at__gte=ctx.start_dt,
        occurred_at__lt=ctx.end_dt,
    )
    if ctx.filters.program:
        touches = touches.filter(program_id__in=ctx.filters.program)
    per_account = (
        touches.order_by()
        .values("account_id")
        .annotate(engagements=Count("pk", filter=Q(kind__in=ENGAGEMENT_KINDS)))
        .annotate(engaged=ExpressionWrapper(Q(engagements__gt=0), output_field=BooleanField()))
        .values("account_id", "engaged")
    )
    return Q(InShared(F("pk"), per_account, flag="engaged" if engagement else None))


def _program_touched_in_series(ctx: Context, engagement: bool) -> Q:
    """``_program_touched`` of a series' bucket: one pass over the program touches of all the
    buckets, each bucket's reached and engaged flags columns of one per-account set (one
    ``InShared`` set for every bucket, not a scan of the touches per bucket)."""
    k = ctx.series.index(ctx.period)
    # Django's own compiled SQL, every value a parameter: nothing user-given.
    compiled = _program_touches_by_bucket(
        ctx.series, ctx.filters.program, timezone.get_current_timezone_name()
    )
    rows = RawSQL(*compiled)  # noqa: S611  # nosec B611 - Django-compiled SQL, values as parameters
    return Q(InShared(F("pk"), rows, flag=f"{'e' if engagement else 'r'}{k}"))


@functools.lru_cache(maxsize=64)
def _program_touches_by_bucket(
    series: tuple[Period, ...], programs: tuple[int, ...], zone: str
) -> tuple[str, tuple[Any, ...]]:
    """The SQL of the per-account set of ``_program_touched_in_series``: compiled once for
    the series' 52 conditions (resolving and compiling its 52 columns once per condition
    took seconds). ``zone``: the days' bounds are local midnights (``day_bounds``)."""
    bounds = [day_bounds(p.start, p.end) for p in series]
    touches = Touch.objects.filter(
        program__isnull=False,
        occurred_at__gte=min(start for start, _ in bounds),
        occurred_at__lt=max(end for _, end in bounds),
    )
    if programs:
        touches = touches.filter(program_id__in=programs)
    flags: dict[str, Any] = {}
    for k, (start, end) in enumerate(bounds):  # the buckets: a bounded list
        during = Q(occurred_at__gte=start, occurred_at__lt=end)
        for name, where in (("r", during), ("e", during & Q(kind__in=ENGAGEMENT_KINDS))):
            flags[f"{name}{k}"] = GreaterThan(Count("pk", filter=where), 0)
    per_account = touches.order_by().values("account_id").annotate(**flags)
    sql, params = per_account.values("account_id", *flags).query.sql_with_params()
    return sql, tuple(params)


@PROGRAM_ACCOUNTS.condition
def program_reached(ctx: Context) -> Q:
    """A touch of any kind of a program (the filter's programs, with one) in the period."""
    return _program_touched(ctx, engagement=False)


@PROGRAM_ACCOUNTS.condition
def program_engaged(ctx: Context) -> Q:
    """An engagement touch of a program (the filter's programs, with one) in the period."""
    return _program_touched(ctx, engagement=True)


# --- sums over accounts --------------------------------------------------------------


@ACCOUNTS.measure
def engaged_people(ctx: Context, cq: Q) -> Sum:
    """Engaged stakeholders (an engagement touch in the period), over engaged accounts."""
    return Sum("eng_people", filter=cq & engaged(ctx))


@ACCOUNTS.measure
def committee(ctx: Context, cq: Q) -> Sum:
    """Known stakeholders, over opportunity accounts."""
    return Sum("committee", filter=cq & opportunity(ctx))


@ACCOUNTS.measure
def first_touch_to_opportunity_days(ctx: Context, cq: Q) -> Sum:
    return Sum(
        DaysBetween(F("first_opp"), F("first_eng")),
        filter=cq & first_opportunity_after_touch(ctx),
    )


@ACCOUNTS.measure
def first_touch_to_win_days(ctx: Context, cq: Q) -> Sum:
    return Sum(DaysBetween(F("first_won"), F("first_eng")), filter=cq & won_after_touch(ctx))


@ACCOUNTS.measure
def touches_to_win(ctx: Context, cq: Q) -> Sum:
    """Touches of any kind on or before the day of the win, over won accounts."""
    return Sum("touches_to_win", filter=cq & won(ctx))


@ACCOUNTS.measure
def winner_opportunities(ctx: Context, cq: Q) -> Sum:
    return Sum("won_in_period", filter=cq & winner(ctx))


@ACCOUNTS.measure
def winner_engagement_touches(ctx: Context, cq: Q) -> Sum:
    return Sum("engaged_n", filter=cq & winner(ctx))


@ACCOUNTS.measure
def engagement_touches(ctx: Context, cq: Q) -> Sum:
    """Engagement touches in the period, over engaged accounts (quantities from version 2)."""
    return Sum("engaged_n", filter=cq & engaged(ctx))


@ACCOUNTS.measure
def relationship_sum(ctx: Context, cq: Q) -> Sum:
    return Sum("rel_now", filter=cq)


@ACCOUNTS.measure
def customer_relationship_sum(ctx: Context, cq: Q) -> Sum:
    return Sum("rel_now", filter=cq & customer(ctx))


# --- accounts by tier ------------------------------------------------------------------------


def _tiers(ctx: Context, cohorts: list[str]) -> dict[str, dict[str, Any]]:
    """Accounts by the tier they had at the end of the period (the tier history), so a
    tier changed today leaves earlier periods' splits as they were."""
    return _tiers_grouped(ctx, None, cohorts)[0]


def _within(union: Context, group: Context, prefix: str) -> Q:
    """A group's rows among the union's: its scope, or every row for the union itself.

    Its sets (a tier's accounts, a program's) are shared: the statement, run inside
    ``shared_sets``, computes each once, not once for each aggregate that reads it (a
    group, cohort and measure each: 48 scans of a program's touches per statement)."""
    return Q() if group.filters == union.filters else group.scope_q(prefix, shared=True)


def _tiers_grouped(
    ctx: Context, groups: list[Context] | None, cohorts: list[str]
) -> list[dict[str, dict[str, Any]]]:
    """``_tiers`` for each of ``groups`` (``ctx``: their union) in one query, a count per
    group and cohort; without groups, for ``ctx`` alone."""
    members = [Q()] if groups is None else [_within(ctx, g, "") for g in groups]
    accounts = Account.objects.filter(ctx.scope_q()).annotate(
        tier_name=tier_as_of(ctx.end, field="tier__name"),
        tier_rank=tier_as_of(ctx.end, field="tier__rank"),
    )
    cohort_qs = {c: ctx.cohort_q(c) for c in cohorts}
    by = ["tier_name", "tier_rank"]
    rows = flagged_totals(accounts, by, members, cohort_qs, {"n": ("COUNT", "*")})
    rows.sort(key=lambda row: (row["tier_rank"] is None, row["tier_rank"] or 0))  # a handful
    results: list[dict[str, dict[str, Any]]] = [
        {c: {"by_tier": {}} for c in cohorts} for _ in members
    ]
    for row in rows:  # one row per tier: a handful
        name = row["tier_name"] or "none"
        for i, result in enumerate(results):
            for c in cohorts:
                if row[f"{i}__{c}__n"]:
                    result[c]["by_tier"][name] = row[f"{i}__{c}__n"]
    return results


TIERS = Source("tiers", runner=_tiers, grouped_runner=_tiers_grouped)
by_tier = TIERS.output("by_tier", "Accounts of the cohort by tier name (untiered: 'none').")


# --- figures: what each listed account contributes to a KPI -------------------------------

RELATIONSHIP_MEAN = Figure("Relationship score", "score", lambda ctx: F("rel_now"), "mean")
COMMITTEE_MEAN = Figure("Known stakeholders", "count", lambda ctx: F("committee"), "mean")
ENGAGED_PEOPLE_MEAN = Figure("Engaged stakeholders", "count", lambda ctx: F("eng_people"), "mean")
TOUCH_TO_OPPORTUNITY_DAYS = Figure(
    "First touch to opportunity",
    "days",
    lambda ctx: DaysBetween(F("first_opp"), F("first_eng")),
    "mean",
)
TOUCH_TO_WIN_DAYS = Figure(
    "First touch to win",
    "days",
    lambda ctx: DaysBetween(F("first_won"), F("first_eng")),
    "mean",
)
TOUCHES_TO_WIN = Figure("Touches to win", "count", lambda ctx: F("touches_to_win"), "mean")
