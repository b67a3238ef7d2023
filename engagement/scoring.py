"""Account scores, each one SQL expression usable set-based over many accounts.

Every score is a function ``<score>(as_of, account_ref="pk")`` that returns an
expression correlated to an outer queryset through ``OuterRef(account_ref)``:
annotate it onto ``Account`` querysets (``account_ref="pk"``) or onto any
queryset that carries an account id (``account_ref="account_id"``). The KPI
engine, the pages and the nightly snapshots all use these functions, so a
score is defined once. Parameters come from ``params`` (the KPI definitions
version in force; ``settings.ABM_SCORES`` when not given) and are read at
call time, never at import time.

"As of" a date D means as of the end of D in the deployment's time zone.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    ValueRange,
    When,
    Window,
)
from django.db.models.functions import Cast, Coalesce, Greatest, Least
from django.db.models.lookups import GreaterThanOrEqual

from abm_site.db import AgeDays, DaysBetween, FloatValue, LikeAny, day_start

from .choices import ENGAGEMENT_KINDS, WEB_VISIT_KINDS, TouchKind
from .models import HighValuePage, IntentSignal, Touch

#: The parameters a score reads (a definitions version's ``params``); None: the settings.
Params = Mapping[str, Any] | None


def _params(params: Params) -> Mapping[str, Any]:
    return params if params is not None else settings.ABM_SCORES


def _fval(x: float) -> Value:
    return FloatValue(x)


def _as_float(expression) -> Cast:
    return Cast(expression, FloatField())


# --- High-value pages -------------------------------------------------------


def high_value_patterns() -> list[str]:
    """The SQL LIKE patterns of the registered high-value pages (one query)."""
    return [page.like_pattern for page in HighValuePage.objects.only("url_pattern")]


def high_value_visit_q(patterns: list[str], prefix: str = "") -> Q:
    """Touches that are high-value page visits.

    A touch of kind ``high_value_page_visit``, or a web visit whose URL
    matches a registered high-value page pattern (case-insensitive).
    """
    q = Q(**{f"{prefix}kind": TouchKind.HIGH_VALUE_PAGE_VISIT})
    if patterns:
        url_match = LikeAny(F(f"{prefix}url"), patterns)
        q |= Q(**{f"{prefix}kind__in": WEB_VISIT_KINDS}) & Q(url_match)
    return q


# --- Two embeddings of one score ------------------------------------------------
#
# A score is an aggregate over an account's touches. ``via=None`` embeds it as a
# correlated subquery over ``Touch`` (annotate any queryset carrying an account id);
# ``via="<relation>"`` embeds the same aggregate over a touches relation of an
# ``Account`` queryset (``"touches"`` or a ``FilteredRelation`` alias), so that
# one GROUP BY pass scores every account at once. Both come from the same
# ``_aggregate(prefix)`` definition.


def _embed(aggregate_of, window: Q, account_ref: str, via: str | None, output_field, default):
    """``aggregate_of(prefix)`` as a correlated subquery (``via=None``) or over ``via``."""
    if via is not None:
        return Coalesce(aggregate_of(f"{via}__"), default, output_field=output_field)
    rows = (
        Touch.objects.filter(window, account_id=OuterRef(account_ref))
        .order_by()
        .values("account_id")
        .annotate(_score=aggregate_of(""))
        .values("_score")
    )
    return Coalesce(Subquery(rows, output_field=output_field), default, output_field=output_field)


def _window_q(prefix: str, begin: dt.datetime, end: dt.datetime, kinds) -> Q:
    return Q(
        **{
            f"{prefix}occurred_at__gte": begin,
            f"{prefix}occurred_at__lt": end,
            f"{prefix}kind__in": list(kinds),
        }
    )


def _weight(prefix: str, weights: dict[str, float], default: float) -> Case:
    return Case(
        *(When(**{f"{prefix}kind": kind}, then=_fval(w)) for kind, w in weights.items()),
        default=_fval(default),
        output_field=FloatField(),
    )


# --- Relationship score -------------------------------------------------------


#: The relationship score's ceiling: decayed points beyond full scale still make 100.
RELATIONSHIP_CAP = 100.0


def _relationship_terms(as_of: dt.date, params: Params):
    """The relationship score's definition: weights, window, per-touch decay and scale.

    ``relationship_score`` and ``score_breakdowns`` both build from this, so
    the breakdown is the score's own arithmetic grouped by kind.
    """
    params = _params(params)
    weights: dict[str, float] = params["relationship_weights"]
    half_life = float(params["relationship_half_life_days"])
    full_scale = float(params["relationship_full_scale"])
    end = day_start(as_of + dt.timedelta(days=1))
    begin = end - dt.timedelta(days=int(params["relationship_window_days"]))

    def decay(prefix: str) -> Func:
        return Func(
            _fval(0.5),
            AgeDays(Value(end), F(f"{prefix}occurred_at")) / _fval(half_life),
            function="POWER",
            output_field=FloatField(),
        )

    return weights, begin, end, decay, RELATIONSHIP_CAP / full_scale


def relationship_score(
    as_of: dt.date, account_ref: str = "pk", via: str | None = None, params: Params = None
):
    """Relationship score 0–100 of the account as of the end of ``as_of``.

    Two-way contact over the trailing ``relationship_window_days``: each touch
    of a kind in ``relationship_weights`` adds its weight, halved every
    ``relationship_half_life_days`` of age; the decayed points are scaled so
    that ``relationship_full_scale`` points make 100, capped at 100.
    Accounts with no such contact score 0. See ``_embed`` for ``via``.
    """
    weights, begin, end, decay, scale = _relationship_terms(as_of, params)

    def points(prefix: str) -> Sum:
        return Sum(
            _weight(prefix, weights, 0.0) * decay(prefix),
            filter=_window_q(prefix, begin, end, weights),
            output_field=FloatField(),
        )

    raw = _embed(
        points, _window_q("", begin, end, weights), account_ref, via, FloatField(), _fval(0)
    )
    return Least(_fval(RELATIONSHIP_CAP), raw * _fval(scale), output_field=FloatField())


# --- Engagement score -------------------------------------------------------


def _engagement_terms(as_of: dt.date, params: Params):
    """The engagement score's definition: per-kind weight and window (no decay)."""
    params = _params(params)
    weights: dict[str, float] = params["engagement_weights"]
    default = float(params["engagement_default_weight"])
    end = day_start(as_of + dt.timedelta(days=1))
    begin = end - dt.timedelta(days=int(params["engagement_window_days"]))
    return (lambda prefix: _weight(prefix, weights, default)), begin, end


def engagement_score(
    as_of: dt.date, account_ref: str = "pk", via: str | None = None, params: Params = None
):
    """Engagement score: the summed weights of engagement touches in the trailing window.

    Window ``engagement_window_days`` ending with ``as_of``; a kind missing
    from ``engagement_weights`` weighs ``engagement_default_weight``.
    """
    weight, begin, end = _engagement_terms(as_of, params)

    def total(prefix: str) -> Sum:
        return Sum(
            weight(prefix),
            filter=_window_q(prefix, begin, end, ENGAGEMENT_KINDS),
            output_field=FloatField(),
        )

    window = _window_q("", begin, end, ENGAGEMENT_KINDS)
    return _embed(total, window, account_ref, via, FloatField(), _fval(0))


# --- Research grade ("peppers") ------------------------------------------------


def research_window(as_of: dt.date, params: Params = None) -> tuple[dt.datetime, dt.datetime]:
    """The touches the research grade as of ``as_of`` reads: ``[begin, end)``."""
    params = _params(params)
    end = day_start(as_of + dt.timedelta(days=1))
    split = end - dt.timedelta(days=int(params["research_recent_days"]))
    return split - dt.timedelta(weeks=int(params["research_baseline_weeks"])), end


#: The research grade's three measures, in the order the breakdown lists them.
RESEARCH_MEASURES: tuple[tuple[str, str], ...] = (
    ("high_value_visits", "High-value page visits"),
    ("distinct_pages", "Distinct pages"),
    ("engagement_minutes", "Engagement minutes"),
)


def _research_terms(as_of: dt.date, patterns: list[str] | None, params: Params):
    """The research grade's definition: window, the measures' recent and baseline
    aggregates, their weekly ratio and the grading. ``research_grade`` and
    ``score_breakdowns`` both build from this."""
    params = _params(params)
    recent_days = int(params["research_recent_days"])
    weeks = int(params["research_baseline_weeks"])
    thresholds = sorted(float(t) for t in params["research_ratio_thresholds"])
    if patterns is None:
        patterns = high_value_patterns()
    begin, end = research_window(as_of, params)
    split = end - dt.timedelta(days=recent_days)
    per_week = 7.0 / recent_days

    def measures(prefix: str) -> dict[str, tuple]:
        window = _window_q(prefix, begin, end, WEB_VISIT_KINDS)
        recent = window & Q(**{f"{prefix}occurred_at__gte": split})
        base = window & Q(**{f"{prefix}occurred_at__lt": split})
        hv = high_value_visit_q(patterns, prefix)
        page = ~Q(**{f"{prefix}url": ""})
        minutes = f"{prefix}engagement_minutes"
        url = f"{prefix}url"
        pk = f"{prefix}pk" if prefix else "pk"
        return {
            "high_value_visits": (Count(pk, filter=recent & hv), Count(pk, filter=base & hv)),
            "distinct_pages": (
                Count(url, filter=recent & page, distinct=True),
                Count(url, filter=base & page, distinct=True),
            ),
            "engagement_minutes": (
                Coalesce(Sum(minutes, filter=recent), Value(0), output_field=FloatField()),
                Coalesce(Sum(minutes, filter=base), Value(0), output_field=FloatField()),
            ),
        }

    def ratio(recent_value, base_value):
        weekly_base = Greatest(
            _as_float(base_value) / _fval(weeks), _fval(1.0), output_field=FloatField()
        )
        return _as_float(recent_value) * _fval(per_week) / weekly_base

    def grade(strongest) -> Case:
        return Case(
            *(
                When(Q(GreaterThanOrEqual(strongest, _fval(t))), then=Value(len(thresholds) - i))
                for i, t in enumerate(reversed(thresholds))
            ),
            default=Value(0),
            output_field=IntegerField(),
        )

    return begin, end, split, thresholds, measures, ratio, grade


def research_grade(
    as_of: dt.date,
    account_ref: str = "pk",
    patterns: list[str] | None = None,
    via: str | None = None,
    params: Params = None,
):
    """Research grade 0–3 of the account as of the end of ``as_of``.

    Three measures of on-site research (web visits): high-value page visits,
    distinct pages (URLs) and engagement minutes. For each, the last
    ``research_recent_days`` (as a weekly rate) is divided by the weekly mean
    of the ``research_baseline_weeks`` weeks before, floored at 1 (one visit,
    one page, one minute a week) so that a little activity from nothing is
    not a surge. The strongest of the three ratios is graded: one point per
    threshold of ``research_ratio_thresholds`` it reaches. ``patterns`` are the
    high-value LIKE patterns (loaded when not given). See ``_embed`` for ``via``.
    """
    begin, end, _split, _thresholds, measures, ratio, grade = _research_terms(
        as_of, patterns, params
    )

    def grade_of(prefix: str) -> Case:
        ratios = [ratio(r, b) for r, b in measures(prefix).values()]
        return grade(Greatest(*ratios, output_field=FloatField()))

    window = _window_q("", begin, end, WEB_VISIT_KINDS)
    return _embed(grade_of, window, account_ref, via, IntegerField(), Value(0))


# --- Score breakdowns ("how this score is made") ------------------------------------


@dataclass(frozen=True)
class SignalPart:
    """One touch kind's share of a weighted score: ``contribution`` is in score units.

    ``decay`` is the mean decay factor of the kind's touches (1.0: no decay), so
    ``count * weight * decay * scale == contribution`` (``scale`` is 1 for engagement).
    """

    kind: str
    label: str
    count: int
    weight: float
    decay: float
    contribution: float


@dataclass(frozen=True)
class WeightedBreakdown:
    """A weighted score (engagement, relationship) by touch kind, with its window."""

    score: str
    window_start: dt.datetime
    window_end: dt.datetime
    parts: list[SignalPart]
    scale: float
    cap: float | None
    total: float

    @property
    def rounded(self) -> float:
        """The total to the cent, as the snapshots store it (so pages show the same)."""
        return round(self.total, 2)

    @property
    def uncapped(self) -> float:
        """The contributions' sum before the cap (equals ``total`` when not capped)."""
        return sum(p.contribution for p in self.parts)


@dataclass(frozen=True)
class ResearchMeasure:
    """One research measure: recent and baseline amounts and their weekly ratio."""

    measure: str
    label: str
    recent: float
    baseline: float
    ratio: float


@dataclass(frozen=True)
class ResearchBreakdown:
    """The research grade: baseline ``[window_start, split)``, recent ``[split, window_end)``."""

    window_start: dt.datetime
    split: dt.datetime
    window_end: dt.datetime
    measures: list[ResearchMeasure]
    strongest: float
    thresholds: list[float]
    total: int


def high_value_patterns_for(params: Params) -> list[str]:
    """The high-value patterns a definitions version pins, else the registered ones."""
    pinned = _params(params).get("high_value_patterns")
    return list(pinned) if pinned is not None else high_value_patterns()


def _by_kind(account_id: int, begin, end, kinds, weight, decay, scale: float) -> list[SignalPart]:
    """One grouped query: the account's window touches per kind, with the score's own
    per-touch weight and decay expressions."""
    rows = (
        Touch.objects.filter(_window_q("", begin, end, kinds), account_id=account_id)
        .order_by()
        .values("kind")
        .annotate(
            n=Count("pk"),
            w=Max(weight),
            d=Avg(decay),
            c=Sum(weight * decay, output_field=FloatField()) * _fval(scale),
        )
    )
    labels = dict(TouchKind.choices)
    parts = [
        SignalPart(r["kind"], labels.get(r["kind"], r["kind"]), r["n"], r["w"], r["d"], r["c"])
        for r in rows
    ]
    return sorted(parts, key=lambda p: (-p.contribution, p.kind))


def engagement_breakdown(account_id: int, as_of: dt.date, params: Params = None):
    """``engagement_score`` of one account by touch kind (one query)."""
    weight, begin, end = _engagement_terms(as_of, params)
    parts = _by_kind(account_id, begin, end, ENGAGEMENT_KINDS, weight(""), _fval(1.0), 1.0)
    total = sum(p.contribution for p in parts)
    return WeightedBreakdown("engagement_score", begin, end, parts, 1.0, None, total)


def relationship_breakdown(account_id: int, as_of: dt.date, params: Params = None):
    """``relationship_score`` of one account by touch kind (one query); capped at 100."""
    weights, begin, end, decay, scale = _relationship_terms(as_of, params)
    parts = _by_kind(account_id, begin, end, weights, _weight("", weights, 0.0), decay(""), scale)
    total = min(RELATIONSHIP_CAP, sum(p.contribution for p in parts))
    return WeightedBreakdown(
        "relationship_score", begin, end, parts, scale, RELATIONSHIP_CAP, total
    )


def research_breakdown(
    account_id: int, as_of: dt.date, params: Params = None, patterns: list[str] | None = None
) -> ResearchBreakdown:
    """``research_grade`` of one account by measure, graded in the same query (one query)."""
    begin, end, split, thresholds, measures, ratio, grade = _research_terms(as_of, patterns, params)
    aggregates: dict = {}
    for name, (recent, base) in measures("").items():
        aggregates[f"{name}__r"] = recent
        aggregates[f"{name}__b"] = base
    for name, (recent, base) in measures("").items():
        aggregates[f"{name}__x"] = ratio(recent, base)

    def strongest():
        return Greatest(*(ratio(r, b) for r, b in measures("").values()), output_field=FloatField())

    row = Touch.objects.filter(
        _window_q("", begin, end, WEB_VISIT_KINDS), account_id=account_id
    ).aggregate(**aggregates, strongest=strongest(), grade=grade(strongest()))
    rows = [
        ResearchMeasure(
            name,
            label,
            float(row[f"{name}__r"] or 0),
            float(row[f"{name}__b"] or 0),
            float(row[f"{name}__x"] or 0),
        )
        for name, label in RESEARCH_MEASURES
    ]
    return ResearchBreakdown(
        begin, split, end, rows, float(row["strongest"] or 0), thresholds, int(row["grade"] or 0)
    )


def score_breakdowns(account_id: int, as_of: dt.date, params: Params = None) -> dict[str, Any]:
    """Every score of one account as of ``as_of`` with its working: three queries, plus one
    for the high-value patterns when the definitions version does not pin them."""
    return {
        "engagement_score": engagement_breakdown(account_id, as_of, params),
        "relationship_score": relationship_breakdown(account_id, as_of, params),
        "research_grade": research_breakdown(
            account_id, as_of, params, high_value_patterns_for(params)
        ),
    }


# --- Intent surge -------------------------------------------------------------


def intent_surge_q(baseline=None, params: Params = None) -> Q:
    """Condition on ``IntentSignal`` rows: the signal is a surge.

    The provider flagged it, or its score is positive and at least
    ``intent_surge_factor`` times the mean score of the same account and
    topic over the ``intent_baseline_weeks`` weeks before its week (a signal
    with no earlier score for its topic has no baseline and surges only when
    the provider says so).

    ``baseline`` is that mean as an expression: by default a correlated
    subquery per signal (for a few signals, e.g. one account's); over many
    accounts ``surging_accounts`` passes the ``intent_baseline`` window
    instead, which computes the same mean in one pass.
    """
    params = _params(params)
    factor = float(params["intent_surge_factor"])
    if baseline is None:
        days = 7 * int(params["intent_baseline_weeks"])
        rows = (
            IntentSignal.objects.filter(account_id=OuterRef("account_id"), topic=OuterRef("topic"))
            .annotate(_ago=DaysBetween(OuterRef("week"), F("week")))
            .filter(_ago__gte=1, _ago__lte=days)
            .order_by()
            .values("account_id")
            .annotate(mean=Avg(_as_float(F("score"))))
            .values("mean")
        )
        baseline = Subquery(rows, output_field=FloatField())
    return Q(provider_surge=True) | (
        Q(score__gt=0) & Q(GreaterThanOrEqual(_as_float(F("score")), baseline * _fval(factor)))
    )


#: A Monday before any week: signal weeks become whole day numbers for a window frame.
_DAY_ZERO = dt.date(2000, 1, 3)


class _PrecedingRange(ValueRange):
    """``RANGE BETWEEN a PRECEDING AND b PRECEDING`` (Django's frames must reach the current row)."""

    def window_frame_start_end(self, connection, start: int, end: int) -> tuple[str, str]:
        return f"{int(-start)} PRECEDING", f"{int(-end)} PRECEDING"


def intent_baseline(params: Params = None) -> Window:
    """The mean score of the same account and topic over the baseline weeks before each
    signal's week, as a window over signal rows (they must reach that far back)."""
    days = 7 * int(_params(params)["intent_baseline_weeks"])
    day_number = Cast(DaysBetween(F("week"), Value(_DAY_ZERO)), IntegerField())
    return Window(
        Avg(_as_float(F("score"))),
        partition_by=[F("account_id"), F("topic")],
        order_by=day_number.asc(),
        frame=_PrecedingRange(start=-days, end=-1),
    )


def surging_accounts(
    start: dt.date, end: dt.date, competitor_only: bool = False, params: Params = None
) -> QuerySet:
    """The ids of the accounts with an intent surge for a week in ``[start, end]``.

    The set-based form of ``intent_surge`` for many accounts at once: one
    pass over the signals of the period and the baseline weeks before it,
    for ``pk__in`` (PostgreSQL runs it once, not once per account).
    """
    rows = surging_signals(start, end, params)
    if competitor_only:
        rows = rows.filter(is_competitor_topic=True)
    return rows.values("account_id")


def surging_signals(start: dt.date, end: dt.date, params: Params = None) -> QuerySet:
    """The surging signals of weeks in ``[start, end]`` as ``account_id`` and
    ``is_competitor_topic`` rows: one pass that serves both surge sets (every topic, and
    competitor topics only), e.g. as one ``InShared`` set."""
    days = 7 * int(_params(params)["intent_baseline_weeks"])
    judged = Q(week__gte=start) & intent_surge_q(baseline=F("baseline"), params=params)
    flagged = (
        IntentSignal.objects.filter(week__gte=start - dt.timedelta(days=days), week__lte=end)
        .order_by()
        .annotate(baseline=intent_baseline(params))
        .annotate(
            surging=Case(
                When(judged, then=Value(True)), default=Value(False), output_field=BooleanField()
            )
        )
    )
    # The flag folds in the period, so the baseline weeks stay in the window's rows.
    return flagged.filter(surging=True).values("account_id", "is_competitor_topic")


def intent_surge(
    start: dt.date,
    end: dt.date,
    account_ref: str = "pk",
    competitor_only: bool = False,
    params: Params = None,
) -> Exists:
    """Whether the account had an intent surge for a week between ``start`` and ``end``.

    A weekly signal belongs to the period when its week (its Monday) lies in
    ``[start, end]``. ``competitor_only`` keeps competitor topics only.
    """
    signals = IntentSignal.objects.filter(
        account_id=OuterRef(account_ref), week__gte=start, week__lte=end
    )
    if competitor_only:
        signals = signals.filter(is_competitor_topic=True)
    return Exists(signals.filter(intent_surge_q(params=params)))


__all__ = [
    "RELATIONSHIP_CAP",
    "RESEARCH_MEASURES",
    "ResearchBreakdown",
    "ResearchMeasure",
    "SignalPart",
    "WeightedBreakdown",
    "engagement_breakdown",
    "engagement_score",
    "high_value_patterns_for",
    "relationship_breakdown",
    "research_breakdown",
    "score_breakdowns",
    "high_value_patterns",
    "high_value_visit_q",
    "intent_surge",
    "intent_surge_q",
    "intent_baseline",
    "relationship_score",
    "research_grade",
    "research_window",
    "surging_accounts",
    "surging_signals",
]
