"""The aggregate queries the KPIs read: one query per source, whatever the data size.

A *source* is one set-based query (an ``aggregate()`` with conditional
``Count``/``Sum``/``Avg`` and correlated subqueries) that returns many named
measures at once, for every cohort the requested KPIs need. The engine runs a
source at most once per ``compute()``; KPI functions only pick measures and do
arithmetic. The per-account annotations used here are also the drill-down
querysets, so a count and the rows behind it share one definition.
"""

import datetime as dt
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    BooleanField,
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, Coalesce, RowNumber, TruncDate

from abm_site.db import DaysBetween, FloatValue, PerAccount, PercentileCont, day_bounds
from accounts.models import Account, Stakeholder
from engagement.choices import (
    ACQUISITION_CATEGORIES,
    ENGAGEMENT_KINDS,
    WEB_VISIT_KINDS,
    SpendCategory,
    TouchKind,
)
from engagement.models import Spend, Touch, Visitor
from engagement.selectors import (
    CONVERSION_KINDS,
    content_touch_q,
    high_value_patterns,
    high_value_visit_q,
    relationship_score,
    research_grade,
    research_window,
    surging_accounts,
    view_through_touches,
)
from funnel.choices import Cohort, OpportunityStatus, OpportunityType
from funnel.models import AccountStageChange, NpsResponse, Opportunity
from funnel.querysets import closed_in_q, created_in_q, open_as_of_q
from funnel.selectors import cohort_q, customer_q, first_won_new_business, targeted_expression

from .base import Filters, Period

WON = OpportunityStatus.WON
LOST = OpportunityStatus.LOST
NB = OpportunityType.NEW_BUSINESS


def _count_subquery(qs: QuerySet, field: str = "pk", distinct: bool = False):
    counted = (
        qs.order_by().values("account_id").annotate(n=Count(field, distinct=distinct)).values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _min_subquery(qs: QuerySet, expression, output_field):
    first = qs.order_by().values("account_id").annotate(m=Min(expression)).values("m")
    return Subquery(first, output_field=output_field)


def _in(ids: QuerySet) -> Case:
    """Whether the account's id is among ``ids`` (an uncorrelated subquery, run once)."""
    return Case(
        When(pk__in=ids, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def _money(value) -> Decimal:
    return Decimal(value or 0)


class Context:
    """One ``compute()``: the period, the filters, and the sources run so far."""

    def __init__(self, period: Period, filters: Filters, cohorts: dict[str, set[str]]):
        self.period = period
        self.filters = filters
        self.cohorts = cohorts
        self.start, self.end = period.start, period.end
        self.start_dt, self.end_dt = day_bounds(period.start, period.end)
        self.params = settings.ABM_SCORES
        self._results: dict[str, dict[str, Any]] = {}

    # --- scope --------------------------------------------------------------

    def scope_q(self, prefix: str = "") -> Q:
        """Tier, owner and program filters on accounts (through ``prefix``)."""
        q = Q()
        if self.filters.tier:
            q &= Q(**{f"{prefix}tier_id__in": self.filters.tier})
        if self.filters.owner:
            q &= Q(**{f"{prefix}owner_id__in": self.filters.owner})
        if self.filters.program:
            touched = Touch.objects.filter(
                program_id__in=self.filters.program, occurred_at__lt=self.end_dt
            ).values("account_id")
            q &= Q(**{f"{prefix}pk__in": touched})
        return q

    def cohort_q(self, cohort: str, prefix: str = "") -> Q:
        return cohort_q(cohort, self.end, prefix)

    @cached_property
    def patterns(self) -> list[str]:
        return high_value_patterns()

    # --- running sources ----------------------------------------------------

    def get(self, source: str, cohort: str) -> dict[str, Any]:
        """The measures of ``source`` for ``cohort`` (runs the source on first use)."""
        if source not in self._results:
            cohorts = sorted(self.cohorts.get(source) or {cohort})
            self._results[source] = SOURCES[source](self, cohorts)
        return self._results[source][cohort]


#: Slicing the per-row queryset makes Django aggregate over it as a subquery with a
#: LIMIT, which PostgreSQL never flattens: each row's correlated subqueries then run
#: once, instead of once per aggregate that reads them.
_FENCE = 10**15


def _by_cohort(
    ctx: Context,
    cohorts: list[str],
    measures,
    prefix: str,
    queryset: QuerySet,
    fence: bool = False,
    narrow: bool = True,
    targeted: str | None = None,
    whole: tuple[str, ...] = (),
):
    """Run one ``aggregate()`` of ``measures(cohort_q)`` for every cohort, split by cohort.

    ``fence`` for querysets whose annotations are subqueries (see ``_FENCE``).
    With a single cohort the rows are filtered to it up front (fewer rows, no
    per-aggregate condition); ``narrow=False`` for sources with a measure that
    deliberately ignores the cohort. Rows are whole accounts either way, so
    per-account window functions see the same partitions.

    ``targeted`` names a boolean annotation of the rows (the account is
    targeted): the cohorts test it instead of the targeting dates, and when
    abm and non_abm are both computed, all is their sum rather than a third
    set of aggregates. Every measure must then be a count or a sum; those in
    ``whole`` ignore the cohort and are copied, not summed.
    """
    if targeted:
        conditions = {
            Cohort.ABM: Q(**{targeted: True}),
            Cohort.NON_ABM: Q(**{targeted: False}),
            Cohort.ALL: Q(),
        }
        conditions = {c: conditions[c] for c in cohorts}
    else:
        conditions = {cohort: ctx.cohort_q(cohort, prefix) for cohort in cohorts}
    derived = bool(targeted) and {Cohort.ABM, Cohort.NON_ABM, Cohort.ALL} <= set(cohorts)
    computed = [c for c in cohorts if not (derived and c == Cohort.ALL)]
    if narrow and len(cohorts) == 1:
        queryset = queryset.filter(conditions[cohorts[0]])
        conditions[cohorts[0]] = Q()
    if fence:
        # No model ordering inside the fence: it would sort every row for nothing.
        queryset = queryset.order_by()[:_FENCE]
    aggregates = {}
    for cohort in computed:
        for name, aggregate in measures(conditions[cohort]).items():
            aggregates[f"{cohort}__{name}"] = aggregate
    row = queryset.aggregate(**aggregates) if aggregates else {}
    result: dict[str, dict[str, Any]] = {c: {} for c in cohorts}
    for key, value in row.items():
        cohort, name = key.split("__", 1)
        result[cohort][name] = value
    if derived:
        abm, non_abm = result[Cohort.ABM], result[Cohort.NON_ABM]
        result[Cohort.ALL] = {
            name: abm[name] if name in whole else _plus(abm[name], non_abm[name]) for name in abm
        }
    return result


def _plus(a, b):
    """``a + b`` where a missing (NULL) sum counts as nothing, and two stay missing."""
    if a is None:
        return b
    return a if b is None else a + b


# --- accounts -----------------------------------------------------------------


def account_facts(ctx: Context) -> QuerySet[Account]:
    """Scoped accounts annotated with what the account-level KPIs count, one row per account.

    Touch measures and scores come from one GROUP BY pass over the account's
    touches of the window the KPIs read (``scored_touches``); opportunity,
    stakeholder and intent facts are correlated subqueries on small tables.
    The aggregate over these rows and a drill-down filter on them share it.
    """
    change_days = int(ctx.params["relationship_change_days"])
    rel_before = ctx.end - dt.timedelta(days=change_days)
    lowest = min(
        ctx.start_dt,
        research_window(ctx.end)[0],
        ctx.end_dt - dt.timedelta(days=change_days + int(ctx.params["relationship_window_days"])),
    )
    # Only the kinds some per-account measure reads: engagement (counts, people), two-way
    # contact (relationship) and web visits (research). Ad impressions, mail and intent
    # touches (a third or more of all rows) never enter the join.
    scored_kinds = sorted(
        {*ENGAGEMENT_KINDS, *ctx.params["relationship_weights"], *WEB_VISIT_KINDS}
    )
    window = FilteredRelation(
        "touches",
        condition=Q(
            touches__occurred_at__gte=lowest,
            touches__occurred_at__lt=ctx.end_dt,
            touches__kind__in=scored_kinds,
        ),
    )
    engaged_in_period = Q(
        scored_touches__kind__in=ENGAGEMENT_KINDS, scored_touches__occurred_at__gte=ctx.start_dt
    )
    eng = Touch.objects.filter(account_id=OuterRef("pk"), kind__in=ENGAGEMENT_KINDS)
    opps = Opportunity.objects.filter(account_id=OuterRef("pk"))
    won_nb_period = opps.filter(closed_in_q(ctx.start, ctx.end, status=WON, type=NB))
    first_won_in_period = Q(first_won__gte=ctx.start, first_won__lte=ctx.end)
    first_opp_in_period = Q(first_opp__gte=ctx.start, first_opp__lte=ctx.end)
    return (
        Account.objects.filter(ctx.scope_q())
        .annotate(scored_touches=window)
        .annotate(
            targeted=PerAccount(targeted_expression(ctx.end)),
            engaged_n=Count("scored_touches__id", filter=engaged_in_period),
            eng_people=Count(
                "scored_touches__stakeholder_id", filter=engaged_in_period, distinct=True
            ),
            rel_now=relationship_score(ctx.end, via="scored_touches"),
            rel_prev=relationship_score(rel_before, via="scored_touches"),
            research=research_grade(ctx.end, patterns=ctx.patterns, via="scored_touches"),
            surge=PerAccount(_in(surging_accounts(ctx.start, ctx.end))),
            competitor_surge=PerAccount(
                _in(surging_accounts(ctx.start, ctx.end, competitor_only=True))
            ),
            committee=PerAccount(
                _count_subquery(
                    Stakeholder.objects.filter(account_id=OuterRef("pk")).filter(
                        Q(known_since__isnull=True) | Q(known_since__lte=ctx.end)
                    )
                )
            ),
            opp_in_period=PerAccount(
                Exists(opps.filter(created_in_q(ctx.start, ctx.end, type=NB)))
            ),
            first_opp=PerAccount(
                _min_subquery(
                    opps.filter(type=NB, created_on__isnull=False), "created_on", DateField()
                )
            ),
            first_won=PerAccount(first_won_new_business()),
            won_in_period=PerAccount(_count_subquery(won_nb_period)),
            renewed=PerAccount(
                Exists(
                    opps.filter(
                        closed_in_q(ctx.start, ctx.end, status=WON, type=OpportunityType.RENEWAL)
                    )
                )
            ),
            expanded=PerAccount(
                Exists(
                    opps.filter(
                        closed_in_q(ctx.start, ctx.end, status=WON, type=OpportunityType.EXPANSION)
                    )
                )
            ),
        )
        .annotate(
            # Only the few accounts that won or opened their first deal need these.
            first_eng=PerAccount(
                Case(
                    When(
                        first_won_in_period | first_opp_in_period,
                        then=_min_subquery(
                            eng.filter(occurred_at__lt=ctx.end_dt),
                            TruncDate("occurred_at"),
                            DateField(),
                        ),
                    ),
                    default=Value(None),
                    output_field=DateField(),
                )
            ),
            touches_to_win=PerAccount(
                Case(
                    When(
                        first_won_in_period,
                        then=_count_subquery(
                            Touch.objects.filter(
                                account_id=OuterRef("pk"),
                                occurred_at__date__lte=OuterRef("first_won"),
                            )
                        ),
                    ),
                    default=Value(0),
                    output_field=IntegerField(),
                )
            ),
        )
    )


def account_conditions(ctx: Context) -> dict[str, Q]:
    """Named conditions on ``account_facts`` rows: the account-level definitions."""
    year_start = ctx.end - dt.timedelta(days=364)
    points = float(ctx.params["relationship_change_points"])
    degrading = Q(rel_now__lte=F("rel_prev") - FloatValue(points))
    customer = customer_q(ctx.end)
    return {
        "accounts": Q(),
        "engaged": Q(engaged_n__gt=0),
        "opportunity": Q(opp_in_period=True),
        "first_opp_in_period": Q(first_opp__gte=ctx.start, first_opp__lte=ctx.end)
        & Q(first_eng__lte=F("first_opp")),
        "won": Q(first_won__gte=ctx.start, first_won__lte=ctx.end),
        "won_after_touch": Q(first_won__gte=ctx.start, first_won__lte=ctx.end)
        & Q(first_eng__lte=F("first_won")),
        "winner": Q(won_in_period__gt=0),
        "customer": customer,
        "churned": Q(churned_on__gte=ctx.start, churned_on__lte=ctx.end),
        "renewed": Q(renewed=True),
        "expansion": customer & Q(expanded=True),
        "tam": Q(fit_grade__in=("A", "B")),
        "churned_12m": Q(churned_on__gte=year_start, churned_on__lte=ctx.end)
        & Q(first_won__lte=F("churned_on")),
        "customer_12m": Q(first_won__lte=ctx.end)
        & (Q(churned_on__isnull=True) | Q(churned_on__gte=year_start)),
        "improving": Q(rel_now__gte=F("rel_prev") + FloatValue(points)),
        "degrading": degrading,
        "surging": Q(surge=True),
        "researching": Q(research__gte=2),
        "at_risk": customer & (Q(competitor_surge=True) | degrading),
    }


_NOT_COUNTED = ("first_opp_in_period", "won_after_touch", "tam")


def _accounts_source(ctx: Context, cohorts: list[str]):
    cond = account_conditions(ctx)

    def measures(cq: Q) -> dict[str, Aggregate]:
        counts = {
            name: Count("pk", filter=cq & condition)
            for name, condition in cond.items()
            if name not in _NOT_COUNTED
        }
        return {
            **counts,
            "tam": Count("pk", filter=cond["tam"]),
            "eng_people": Sum("eng_people", filter=cq & cond["engaged"]),
            "committee": Sum("committee", filter=cq & cond["opportunity"]),
            "ftto_n": Count("pk", filter=cq & cond["first_opp_in_period"]),
            "ftto_sum": Sum(
                DaysBetween(F("first_opp"), F("first_eng")),
                filter=cq & cond["first_opp_in_period"],
            ),
            "deal_n": Count("pk", filter=cq & cond["won_after_touch"]),
            "deal_sum": Sum(
                DaysBetween(F("first_won"), F("first_eng")), filter=cq & cond["won_after_touch"]
            ),
            "touches_to_win": Sum("touches_to_win", filter=cq & cond["won"]),
            "winner_opps": Sum("won_in_period", filter=cq & cond["winner"]),
            "winner_touches": Sum("engaged_n", filter=cq & cond["winner"]),
            "rel_sum": Sum("rel_now", filter=cq),
            "customer_rel_sum": Sum("rel_now", filter=cq & cond["customer"]),
        }

    # ``tam`` counts every scoped account whatever the cohort.
    return _by_cohort(
        ctx,
        cohorts,
        measures,
        "",
        account_facts(ctx),
        fence=True,
        narrow=False,
        targeted="targeted",
        whole=("tam",),
    )


def _tiers_source(ctx: Context, cohorts: list[str]):
    rows = (
        Account.objects.filter(ctx.scope_q())
        .values("tier__name", "tier__rank")
        .annotate(**{c: Count("pk", filter=ctx.cohort_q(c)) for c in cohorts})
        .order_by(F("tier__rank").asc(nulls_last=True))
    )
    result: dict[str, dict[str, Any]] = {c: {"by_tier": {}} for c in cohorts}
    for row in rows:  # one row per tier: a handful
        name = row["tier__name"] or "none"
        for c in cohorts:
            if row[c]:
                result[c]["by_tier"][name] = row[c]
    return result


# --- touches ------------------------------------------------------------------


def touch_conditions(ctx: Context) -> dict[str, Q]:
    """Named conditions on touches of the period (for counts and drill-downs)."""
    return {
        "ad_impressions": Q(kind=TouchKind.AD_IMPRESSION),
        "ad_clicks": Q(kind=TouchKind.AD_CLICK),
        "web_visits": Q(kind__in=WEB_VISIT_KINDS),
        "high_value_page_visits": high_value_visit_q(ctx.patterns),
        "chat_conversations": Q(kind=TouchKind.CHAT_CONVERSATION),
        "emails_sent": Q(kind=TouchKind.EMAIL_SENT),
        "email_opens": Q(kind=TouchKind.EMAIL_OPEN),
        "email_clicks": Q(kind=TouchKind.EMAIL_CLICK),
        "email_replies": Q(kind=TouchKind.EMAIL_REPLY),
        "content": content_touch_q(),
    }


def view_through_conditions(ctx: Context) -> dict[str, Q]:
    """Named conditions on ``view_through_candidates`` rows."""
    return {
        "view_through_visits": Q(view_through_visit=True),
        "view_through_conversions": Q(view_through_conversion=True),
    }


def view_through_candidates(ctx: Context) -> QuerySet:
    """Ad, visit and conversion touches of the period and the look-back before it, flagged.

    The flags fold in the period and the kind so that filtering on them keeps
    the look-back rows for the window functions (Django filters other
    conditions before the windows run).
    """
    days = int(ctx.params["view_through_days"])
    touches = Touch.objects.filter(
        ctx.scope_q("account__"),
        occurred_at__gte=ctx.start_dt - dt.timedelta(days=days),
        occurred_at__lt=ctx.end_dt,
        kind__in=(TouchKind.AD_IMPRESSION, TouchKind.AD_CLICK, *WEB_VISIT_KINDS, *CONVERSION_KINDS),
    )
    judged = Q(view_through=True, occurred_at__gte=ctx.start_dt)

    def flag(kinds) -> Case:
        return Case(
            When(judged & Q(kind__in=kinds), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )

    return view_through_touches(touches, days).annotate(
        view_through_visit=flag(WEB_VISIT_KINDS),
        view_through_conversion=flag(CONVERSION_KINDS),
    )


def _view_through_source(ctx: Context, cohorts: list[str]):
    cond = view_through_conditions(ctx)

    def measures(cq: Q) -> dict[str, Aggregate]:
        return {name: Count("pk", filter=cq & condition) for name, condition in cond.items()}

    return _by_cohort(ctx, cohorts, measures, "account__", view_through_candidates(ctx), fence=True)


def period_touches(ctx: Context) -> QuerySet:
    return Touch.objects.filter(
        ctx.scope_q("account__"), occurred_at__gte=ctx.start_dt, occurred_at__lt=ctx.end_dt
    )


def _touches_source(ctx: Context, cohorts: list[str]):
    cond = touch_conditions(ctx)
    minutes = Cast("engagement_minutes", DecimalField(max_digits=20, decimal_places=2))

    def measures(cq: Q) -> dict[str, Aggregate]:
        out: dict[str, Aggregate] = {
            name: Count("pk", filter=cq & condition) for name, condition in cond.items()
        }
        out["minutes"] = Sum(minutes, filter=cq & cond["content"])
        for position in ("tofu", "mofu", "bofu"):
            out[f"minutes_{position}"] = Sum(
                minutes, filter=cq & cond["content"] & Q(funnel_position=position)
            )
        return out

    return _by_cohort(ctx, cohorts, measures, "account__", period_touches(ctx))


# --- visitors -----------------------------------------------------------------


def _visitors_source(ctx: Context, cohorts: list[str]):
    visitors = Visitor.objects.filter(
        ctx.scope_q("account__"),
        account__isnull=False,
        first_seen_at__gte=ctx.start_dt,
        first_seen_at__lt=ctx.end_dt,
    )
    known = Q(stakeholder__isnull=False) & (
        Q(identified_at__isnull=True) | Q(identified_at__lt=ctx.end_dt)
    )

    def measures(cq: Q) -> dict[str, Aggregate]:
        return {"seen": Count("pk", filter=cq), "known": Count("pk", filter=cq & known)}

    return _by_cohort(ctx, cohorts, measures, "account__", visitors)


# --- opportunities --------------------------------------------------------------


def opportunity_conditions(ctx: Context) -> dict[str, Q]:
    """Named conditions on opportunities (for counts, sums and drill-downs)."""
    s, e = ctx.start, ctx.end
    influence_days = int(ctx.params["influence_days"])
    grace = int(ctx.params["renewal_grace_days"])
    touched_before = (
        Touch.objects.filter(
            account_id=OuterRef("account_id"),
            kind__in=ENGAGEMENT_KINDS,
            occurred_at__gte=ctx.start_dt - dt.timedelta(days=influence_days + 1),
            occurred_at__lt=ctx.end_dt + dt.timedelta(days=1),
        )
        .annotate(_ago=DaysBetween(OuterRef("created_on"), TruncDate("occurred_at")))
        .filter(_ago__gte=0, _ago__lte=influence_days)
    )
    renewal = (
        Opportunity.objects.filter(
            account_id=OuterRef("account_id"),
            type=OpportunityType.RENEWAL,
            status=WON,
            closed_on__gte=OuterRef("closed_on"),
        )
        .exclude(pk=OuterRef("pk"))
        .annotate(_late=DaysBetween(F("closed_on"), OuterRef("contract_end")))
        .filter(_late__lte=grace)
    )
    due = Q(status=WON, contract_end__gte=s, contract_end__lte=e)
    won_any = closed_in_q(s, e, status=WON)
    return {
        "won_nb": closed_in_q(s, e, status=WON, type=NB),
        "lost_nb": closed_in_q(s, e, status=LOST, type=NB),
        "won_nb_dated": closed_in_q(s, e, status=WON, type=NB) & Q(created_on__isnull=False),
        "open": open_as_of_q(e),
        "open_nb": open_as_of_q(e) & Q(type=NB),
        "influenced": created_in_q(s, e) & Q(Exists(touched_before)),
        "renewals_due": due,
        "renewed": due & Q(Exists(renewal)),
        "won_expansion": closed_in_q(s, e, status=WON, type=OpportunityType.EXPANSION),
        "won_any": won_any,
        "won_to_date": Q(status=WON, closed_on__lte=e),
    }


def _annual_value():
    return Cast(F("amount"), FloatField()) * Value(12.0) / Cast(F("term_months"), FloatField())


def _cycle_days():
    return DaysBetween(F("closed_on"), F("created_on"))


def _opportunities_source(ctx: Context, cohorts: list[str]):
    cond = opportunity_conditions(ctx)
    postgres = connection.vendor == "postgresql"

    def measures(cq: Q) -> dict[str, Aggregate]:
        out: dict[str, Aggregate] = {
            f"{name}_n": Count("pk", filter=cq & condition) for name, condition in cond.items()
        }
        for name in ("won_nb", "open_nb", "influenced", "won_expansion", "won_any"):
            out[f"{name}_amount"] = Sum("amount", filter=cq & cond[name])
        out["cycle_sum"] = Sum(_cycle_days(), filter=cq & cond["won_nb_dated"])
        out["acv_sum"] = Sum(_annual_value(), filter=cq & cond["won_any"])
        out["acv_to_date_sum"] = Sum(_annual_value(), filter=cq & cond["won_to_date"])
        if postgres:
            out["cycle_median"] = PercentileCont(_cycle_days(), filter=cq & cond["won_nb_dated"])
        return out

    result = _by_cohort(
        ctx, cohorts, measures, "account__", Opportunity.objects.filter(ctx.scope_q("account__"))
    )
    if not postgres:
        for cohort in cohorts:
            result[cohort]["cycle_median"] = _median_fallback(ctx, cohort, cond["won_nb_dated"])
    return result


def _median_fallback(ctx: Context, cohort: str, condition: Q) -> float | None:
    """Median sales cycle without ``percentile_cont``: the middle row(s) by row number.

    One query: window functions number the rows in order and count them; only
    the one or two middle rows come back.
    """
    rows = (
        Opportunity.objects.filter(ctx.scope_q("account__"), ctx.cohort_q(cohort, "account__"))
        .filter(condition)
        .annotate(
            days=_cycle_days(),
            rn=Window(RowNumber(), order_by=[F("days").asc(), F("pk").asc()]),
            total=Window(Count("pk")),
        )
        .filter(rn__gte=(F("total") + 1) / 2, rn__lte=(F("total") + 2) / 2)
        .values_list("days", flat=True)
    )
    middle = list(rows)
    return sum(middle) / len(middle) if middle else None


# --- NPS, spend, stage changes -----------------------------------------------------


def _nps_source(ctx: Context, cohorts: list[str]):
    responses = NpsResponse.objects.filter(
        ctx.scope_q("account__"), responded_on__gte=ctx.start, responded_on__lte=ctx.end
    )

    def measures(cq: Q) -> dict[str, Aggregate]:
        return {
            "responses": Count("pk", filter=cq),
            "promoters": Count("pk", filter=cq & Q(score__gte=9)),
            "detractors": Count("pk", filter=cq & Q(score__lte=6)),
        }

    return _by_cohort(ctx, cohorts, measures, "account__", responses)


def _spend_source(ctx: Context, cohorts: list[str]):
    """Spend is not per account: tier, owner and cohort leave it whole; program restricts it."""
    spend = Spend.objects.filter(spent_on__gte=ctx.start, spent_on__lte=ctx.end)
    if ctx.filters.program:
        spend = spend.filter(program_id__in=ctx.filters.program)
    acquisition = Q(category__in=ACQUISITION_CATEGORIES)
    row = spend.aggregate(
        abm=Sum("amount", filter=acquisition & Q(program__isnull=False)),
        acquisition=Sum("amount", filter=acquisition),
        retention=Sum(
            "amount", filter=Q(category__in=(SpendCategory.ONBOARDING, SpendCategory.SUPPORT))
        ),
    )
    values = {name: _money(value) for name, value in row.items()}
    return dict.fromkeys(cohorts, values)


def _stage_changes_source(ctx: Context, cohorts: list[str]):
    previous = (
        AccountStageChange.objects.filter(
            account_id=OuterRef("account_id"), changed_on__lt=OuterRef("changed_on")
        )
        .order_by()
        .values("account_id")
        .annotate(last=Max("changed_on"))
        .values("last")
    )
    changes = (
        AccountStageChange.objects.filter(
            ctx.scope_q("account__"), changed_on__gte=ctx.start, changed_on__lte=ctx.end
        )
        .annotate(entered_on=Subquery(previous, output_field=DateField()))
        .filter(entered_on__isnull=False)
    )
    days = DaysBetween(F("changed_on"), F("entered_on"))
    annotations = {}
    for c in cohorts:
        cq = ctx.cohort_q(c, "account__")
        annotations[f"{c}__sum"] = Sum(days, filter=cq)
        annotations[f"{c}__n"] = Count("pk", filter=cq)
    rows = changes.values("from_stage").annotate(**annotations).order_by()
    result: dict[str, dict[str, Any]] = {c: {"stages": {}} for c in cohorts}
    for row in rows:  # one row per stage: a handful
        for c in cohorts:
            if row[f"{c}__n"]:
                result[c]["stages"][row["from_stage"]] = (row[f"{c}__sum"], row[f"{c}__n"])
    return result


SOURCES = {
    "accounts": _accounts_source,
    "tiers": _tiers_source,
    "touches": _touches_source,
    "view_through": _view_through_source,
    "visitors": _visitors_source,
    "opportunities": _opportunities_source,
    "nps": _nps_source,
    "spend": _spend_source,
    "stage_changes": _stage_changes_source,
}

__all__ = [
    "SOURCES",
    "Context",
    "account_conditions",
    "account_facts",
    "opportunity_conditions",
    "period_touches",
    "touch_conditions",
    "view_through_candidates",
    "view_through_conditions",
]
