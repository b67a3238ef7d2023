"""Multi-touch attribution: each opportunity's amount credited to the programs that touched it.

Which opportunities: exactly those of the pipeline and revenue KPIs of the same period,
filters and cohort (the conditions ``created_new_business`` and ``won_new_business`` of
``sources.opportunities``), so programs + "no program" add up to them to the cent.

Which touches: engagement touches that name a program, on the opportunity's account,
whose local day lies in the ``attribution_lookback_days`` days before the anchor or on the
anchor day itself. The anchor is the creation day (pipeline) or the close-won day
(revenue). A touch row counts as ``quantity`` touches. Touches at the same instant share
a position: a tie for "first touch" splits the first-touch credit between them, by
quantity.

Models (the share of an opportunity each touch earns; shares of an opportunity sum to 1):

- ``first`` / ``last``: all of it to the touches at the first / last instant.
- ``linear``: in proportion to quantity.
- ``time_decay``: quantity x 0.5 ** (age in days / ``attribution_half_life_days``), the age
  counted in whole local days to the anchor (a touch on the anchor day has weight 1).
- ``u_shaped``: 40 % the first instant, 40 % the last, 20 % spread over the touches at
  other instants; the shares of positions that do not exist are spread over the others
  in proportion (one instant: 100 %; two: 50/50; no middle touches: 50/50).
- ``w_shaped``: 30 % the first instant, 30 % the last instant on or before the creation
  day, 30 % the last instant before close (revenue only), 10 % over the rest. Milestones
  that coincide count once and missing ones drop out, the rest renormalised the same way:
  weights 3 per distinct milestone instant and 1 for all other touches together. So the
  pipeline (no close milestone) gives first/last 3/7 each and 1/7 to the middle; one
  instant gets 100 %, two 50/50; a won deal with no touch before creation (or no known
  creation day) has milestones first and last only.

Rounding: credits are whole cents. Each program gets the floor of its exact share of the
amount in cents; the cents left over go one each to the largest remainders, ties to the
lowest program id (100.00 over three equal programs: 33.34, 33.33, 33.33, the cent to the
lowest id). So each opportunity's credits sum exactly to its amount.

An opportunity with no program touch in its window is credited whole to "no program"
(``program_id`` None). Influence is also split pre/post opportunity: the part of each
revenue credit earned by touches on or before the creation day ("pre") and after it
("post"); pipeline credit is all "pre".

One SQL statement per model computes every opportunity of both bases (window functions;
no loop over opportunities).
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet

from abm_site.db import flag_column
from engagement.choices import ENGAGEMENT_KINDS
from funnel.choices import Cohort
from funnel.definitions import ATTRIBUTION_MODEL_LABELS, ATTRIBUTION_MODELS
from funnel.models import Opportunity

from .base import Filters, Period
from .context import Context
from .measures import Source
from .sources.opportunities import created_new_business, scoped_opportunities, won_new_business

#: The attribution models, in the order pickers list them.
MODELS: tuple[str, ...] = ATTRIBUTION_MODELS
MODEL_LABELS: dict[str, str] = ATTRIBUTION_MODEL_LABELS
#: The model of a definitions version without one (and of the shipped versions): W-shaped
#: credits the touches that opened the conversation, created the opportunity and closed it.
DEFAULT_MODEL = "w_shaped"
BASES = ("pipeline", "revenue")


def version_model(params: dict[str, Any]) -> str:
    """The attribution model a definitions version's ``params`` name (``DEFAULT_MODEL``
    where they name none): what the engine, the pages, the API and the warmer default to,
    so a page and the warmer's cached credits agree on it."""
    return params.get("attribution_model", DEFAULT_MODEL)


class UnknownModel(ValueError):
    """An attribution model name that is not one of ``MODELS``."""

    def __init__(self, model: Any):
        super().__init__(f"Unknown attribution model {model!r}; use one of {', '.join(MODELS)}.")
        self.model = model


class AttributionUnavailable(RuntimeError):
    """Attribution is one PostgreSQL statement; the embedded SQLite database cannot run it."""

    def __init__(self) -> None:
        super().__init__(
            "Attribution needs PostgreSQL: set DATABASE_URL to a PostgreSQL database "
            "(the embedded SQLite database has no window-function form of it)."
        )


def available() -> bool:
    """Whether this database can attribute (PostgreSQL)."""
    return connection.vendor == "postgresql"


def unavailable_result() -> dict[str, Any]:
    """An attributed KPI's result where the database cannot attribute (SQLite): unknown,
    with the reason, so no page shows a return of 0 or "n = 0" that was never computed."""
    return {"value": None, "reason": str(AttributionUnavailable())}


def check_model(model: Any) -> str:
    """``model`` if it is one of ``MODELS``; ``UnknownModel`` otherwise."""
    if model not in MODELS:
        raise UnknownModel(model)
    return str(model)


#: Weight of each touch before normalising, by model. Columns of ``marked``: q (quantity),
#: age (days to the anchor), at (occurred_at), first_at, last_at, made_at (last instant on
#: or before creation), q_at (quantity at the touch's instant), q_rest (quantity of the
#: touches at no milestone instant), rest (the touch is at no milestone instant).
_WEIGHTS = {
    "first": "CASE WHEN at = first_at THEN q / q_at ELSE 0 END",
    "last": "CASE WHEN at = last_at THEN q / q_at ELSE 0 END",
    "linear": "q",
    # Double precision for the power (numeric POWER is several times slower); the shares
    # and cents after it are numeric.
    "time_decay": "q * CAST(POWER(0.5::float8, age::float8 / %(half_life)s::float8) AS numeric)",
    "u_shaped": "CASE WHEN at = first_at OR at = last_at THEN 4 * q / q_at ELSE 2 * q / q_rest END",
    "w_shaped": "CASE WHEN NOT rest THEN 3 * q / q_at ELSE q / q_rest END",
}
#: Milestone instants of a touch's opportunity, by model (what is not "rest").
_MILESTONES = {
    "u_shaped": "at = first_at OR at = last_at",
    "w_shaped": "at = first_at OR at IS NOT DISTINCT FROM made_at OR (basis = 'revenue' AND at = last_at)",
}

_SQL = """
WITH {prelude}opps AS (
    SELECT 'pipeline' AS basis, p.id, p.account_id, p.amount, p.created_on,
           p.created_on AS anchor{pipeline_flags}
    FROM ({pipeline}) p
    UNION ALL
    SELECT 'revenue', r.id, r.account_id, r.amount, r.created_on, r.closed_on{revenue_flags}
    FROM ({revenue}) r
), touched AS (
    SELECT o.basis, o.id AS opp_id, t.program_id, t.occurred_at AS at,
           CAST(t.quantity AS numeric) AS q, o.anchor - d.local_day AS age,
           (o.created_on IS NOT NULL AND d.local_day <= o.created_on) AS pre
    FROM opps o
    JOIN engagement_touch t ON t.account_id = o.account_id
    CROSS JOIN LATERAL (SELECT CAST(t.occurred_at AT TIME ZONE %(tz)s AS date) AS local_day) d
    WHERE t.program_id IS NOT NULL AND t.kind = ANY(%(kinds)s)
      AND t.occurred_at >= CAST(o.anchor - %(lookback)s - 1 AS timestamp) AT TIME ZONE 'UTC'
      AND t.occurred_at < CAST(o.anchor + 2 AS timestamp) AT TIME ZONE 'UTC'
      AND d.local_day >= o.anchor - %(lookback)s AND d.local_day <= o.anchor
), instants AS (
    SELECT *,
           MIN(at) OVER opp AS first_at,
           MAX(at) OVER opp AS last_at,
           MAX(at) FILTER (WHERE pre) OVER opp AS made_at,
           SUM(q) OVER (PARTITION BY basis, opp_id, at) AS q_at
    FROM touched
    WINDOW opp AS (PARTITION BY basis, opp_id)
), marked AS (
    SELECT *, SUM(CASE WHEN rest THEN q ELSE 0 END) OVER (PARTITION BY basis, opp_id) AS q_rest
    FROM (SELECT *, NOT ({milestones}) AS rest FROM instants) i
), weighted AS (
    SELECT basis, opp_id, program_id, pre, CAST({weight} AS numeric) AS w FROM marked
), shares AS (
    SELECT basis, opp_id, program_id, pre, w / SUM(w) OVER (PARTITION BY basis, opp_id) AS s
    FROM weighted
), per_program AS (
    SELECT basis, opp_id, program_id, SUM(s) AS share,
           COALESCE(SUM(s) FILTER (WHERE pre), 0) AS pre_share
    FROM shares GROUP BY basis, opp_id, program_id HAVING SUM(s) > 0
), floors AS (
    SELECT pp.*, ROUND(o.amount * 100) AS cents,
           FLOOR(ROUND(ROUND(o.amount * 100) * pp.share, 9)) AS base,
           ROUND(ROUND(o.amount * 100) * pp.share, 9)
             - FLOOR(ROUND(ROUND(o.amount * 100) * pp.share, 9)) AS remainder
    FROM per_program pp JOIN opps o ON o.basis = pp.basis AND o.id = pp.opp_id
), credited AS (
    SELECT basis, opp_id, program_id, share, pre_share,
           base + CASE WHEN ROW_NUMBER() OVER (
               PARTITION BY basis, opp_id ORDER BY remainder DESC, program_id
           ) <= cents - SUM(base) OVER (PARTITION BY basis, opp_id) THEN 1 ELSE 0 END AS c
    FROM floors
), credits AS (
    SELECT basis, opp_id, program_id, share, c,
           CASE WHEN share > 0 THEN ROUND(c * pre_share / share) ELSE 0 END AS pre_c
    FROM credited
    UNION ALL
    SELECT o.basis, o.id, NULL, 1, ROUND(o.amount * 100),
           CASE WHEN o.basis = 'pipeline' THEN ROUND(o.amount * 100) ELSE 0 END
    FROM opps o
    WHERE NOT EXISTS (SELECT 1 FROM per_program pp WHERE pp.basis = o.basis AND pp.opp_id = o.id)
)
{select}
"""

_TOTALS = """
SELECT basis, program_id, SUM(c), SUM(pre_c), COUNT(*) FILTER (WHERE c > 0)
FROM credits GROUP BY basis, program_id
UNION ALL
SELECT basis, -1, SUM(c), SUM(pre_c), COUNT(DISTINCT opp_id)
FROM credits
WHERE c > 0 AND program_id IS NOT NULL
  AND (CARDINALITY(%(selected)s::bigint[]) = 0 OR program_id = ANY(%(selected)s::bigint[]))
GROUP BY basis
"""
_ROWS = """
SELECT basis, opp_id, program_id, share, c, pre_c
FROM credits ORDER BY basis, opp_id, program_id NULLS LAST
"""


def _params(ctx: Context) -> tuple[str, int, float]:
    model = check_model(version_model(ctx.params))
    lookback = int(ctx.params.get("attribution_lookback_days", 90))
    half_life = float(ctx.params.get("attribution_half_life_days", 7))
    return model, lookback, half_life


def _statement(
    ctx: Context,
    pipeline: QuerySet[Opportunity] | None,
    revenue: QuerySet[Opportunity] | None,
    model: str | None,
    select: str,
    *,
    flagged: QuerySet[Opportunity] | None = None,
    flags: tuple[str, ...] = (),
) -> tuple[str, dict[str, Any]]:
    """The statement crediting ``pipeline`` and ``revenue`` opportunities under ``model``.

    ``flagged`` instead: the opportunities of both bases in one queryset, whose boolean
    annotations ``in_pipeline`` and ``in_revenue`` say which basis each is in and ``flags``
    (a grouped statement's groups and cohorts) are columns the ``opps`` rows carry; its
    conditions (a set per group) are computed once for both bases.
    """
    default_model, lookback, half_life = _params(ctx)
    model = check_model(model or default_model)
    columns = ("id", "account_id", "amount", "created_on", "closed_on")
    # Named placeholders for the statement's own values; the opportunity subqueries keep
    # their positional ones, rewritten to names so both styles never mix.
    params: dict[str, Any] = {
        "tz": settings.TIME_ZONE,
        "kinds": list(ENGAGEMENT_KINDS),
        "lookback": lookback,
        "half_life": half_life,
    }

    def named(queryset: QuerySet, name: str, *also: str) -> str:
        sql, values = queryset.order_by().values(*columns, *also).query.sql_with_params()
        pieces = sql.split("%s")
        text = pieces[0]
        for i, piece in enumerate(pieces[1:]):
            key = f"{name}_{i}"
            params[key] = values[i]
            text += f"%({key})s" + piece
        return text

    if flagged is None:
        assert pipeline is not None and revenue is not None
        prelude, flags = "", ()
        parts = {"pipeline": named(pipeline, "pipeline"), "revenue": named(revenue, "revenue")}
    else:
        rows = named(flagged, "flagged", "in_pipeline", "in_revenue", *flags)
        prelude = f"flagged AS MATERIALIZED ({rows}),\n"
        parts = {
            "pipeline": "SELECT * FROM flagged WHERE in_pipeline",
            "revenue": "SELECT * FROM flagged WHERE in_revenue",
        }
    milestones = _MILESTONES.get(model, "FALSE")
    sql = _SQL.format(
        prelude=prelude,
        pipeline=parts["pipeline"],
        revenue=parts["revenue"],
        pipeline_flags="".join(f", p.{f}" for f in flags),
        revenue_flags="".join(f", r.{f}" for f in flags),
        milestones=milestones,
        weight=_WEIGHTS[model],
        select=select,
    )
    return sql, params


def _opportunity_sets(ctx: Context, cohort: str) -> tuple[QuerySet, QuerySet]:
    """The pipeline and revenue KPIs' opportunities of the context, for ``cohort``."""
    rows = scoped_opportunities(ctx).filter(ctx.cohort_q(cohort, "account__"))
    return rows.filter(created_new_business(ctx)), rows.filter(won_new_business(ctx))


@dataclass
class ProgramCredit:
    """One program's credit (``program_id`` None: "no program") in one period."""

    program_id: int | None
    pipeline: Decimal = Decimal("0.00")
    revenue: Decimal = Decimal("0.00")
    revenue_pre: Decimal = Decimal("0.00")
    revenue_post: Decimal = Decimal("0.00")
    pipeline_opportunities: int = 0
    revenue_opportunities: int = 0


@dataclass
class Attribution:
    """Credits by program for a period: rows (programs by id, then "no program") and totals."""

    model: str
    lookback_days: int
    half_life_days: float
    programs: dict[int | None, ProgramCredit] = field(default_factory=dict)
    #: The programs of the filter (every program without one) together: their credit,
    #: and the distinct opportunities credited to at least one of them.
    selected: ProgramCredit = field(default_factory=lambda: ProgramCredit(None))

    @property
    def total_pipeline(self) -> Decimal:
        """The period's pipeline: every row's pipeline credit, no program included."""
        return self.total("pipeline")

    @property
    def total_revenue(self) -> Decimal:
        """The period's new revenue won: every row's revenue credit."""
        return self.total("revenue")

    def total(self, basis: str, programs: tuple[int, ...] | None = None) -> Decimal:
        """Credit of ``basis`` summed over ``programs`` (None: every row, "no program" too)."""
        return sum(
            (
                getattr(row, basis)
                for pk, row in self.programs.items()
                if programs is None or pk in programs
            ),
            Decimal("0.00"),
        )


def _cents(value: Any) -> Decimal:
    return (Decimal(value or 0) / 100).quantize(Decimal("0.01"))


def attribute(ctx: Context, cohort: str, model: str | None = None) -> Attribution:
    """Credit the period's pipeline and revenue opportunities to programs: one statement."""
    if not available():
        raise AttributionUnavailable
    default_model, lookback, half_life = _params(ctx)
    pipeline, revenue = _opportunity_sets(ctx, cohort)
    sql, params = _statement(ctx, pipeline, revenue, model, _TOTALS)
    params["selected"] = list(ctx.filters.program)
    result = Attribution(model or default_model, lookback, half_life)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    for basis, program_id, cents, pre_cents, n in rows:
        if program_id == -1:
            row = result.selected
        else:
            row = result.programs.setdefault(program_id, ProgramCredit(program_id))
        setattr(row, basis, _cents(cents))
        setattr(row, f"{basis}_opportunities", int(n))
        if basis == "revenue":
            row.revenue_pre = _cents(pre_cents)
            row.revenue_post = _cents(cents) - row.revenue_pre
    # Programs by id, "no program" last.
    result.programs = dict(
        sorted(result.programs.items(), key=lambda item: (item[0] is None, item[0] or 0))
    )
    return result


@dataclass
class OpportunityCredit:
    """One program's share of one opportunity on one basis."""

    basis: str
    program_id: int | None
    share: Decimal
    amount: Decimal
    pre: Decimal
    post: Decimal


def credits_by_opportunity(
    ctx: Context, opportunities: QuerySet[Opportunity], model: str | None = None
) -> dict[int, list[OpportunityCredit]]:
    """How each of ``opportunities``' amounts is credited: pipeline (when its creation day
    is known) and revenue (when it was won), whatever the context's period. One statement
    for all of them (an account page's deals, or one opportunity)."""
    pipeline = opportunities.filter(created_on__isnull=False)
    revenue = opportunities.filter(status=Opportunity.Status.WON, closed_on__isnull=False)
    return _credits(ctx, pipeline, revenue, model)


def _credits(
    ctx: Context, pipeline: QuerySet, revenue: QuerySet, model: str | None
) -> dict[int, list[OpportunityCredit]]:
    """Each opportunity's credits (by id), ``pipeline`` and ``revenue`` ones crediting
    their amount on that basis: one statement."""
    if not available():
        raise AttributionUnavailable
    sql, params = _statement(ctx, pipeline, revenue, model, _ROWS)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    credits: dict[int, list[OpportunityCredit]] = {}
    for basis, opp_id, program_id, share, cents, pre_cents in rows:
        amount, pre = _cents(cents), _cents(pre_cents)
        credits.setdefault(opp_id, []).append(
            OpportunityCredit(
                basis,
                program_id,
                Decimal(share).quantize(Decimal("0.0001")),
                amount,
                pre,
                amount - pre,
            )
        )
    return credits


def opportunity_credits(
    ctx: Context, opportunity: Opportunity, model: str | None = None
) -> list[OpportunityCredit]:
    """How ``opportunity``'s amount is credited (``credits_by_opportunity`` of one)."""
    one = Opportunity.objects.filter(pk=opportunity.pk)
    return credits_by_opportunity(ctx, one, model).get(opportunity.pk, [])


def _context(period: Period, filters: Filters, definitions: Any) -> Context:
    from funnel.definitions import definitions_mark_used, definitions_resolve

    rules = definitions_resolve(definitions)
    definitions_mark_used(rules)
    return Context(period, filters, definitions=rules)


def program_attribution(
    period: Period,
    filters: Filters | None = None,
    model: str | None = None,
    definitions: Any = None,
) -> Attribution:
    """Credits by program of ``period``'s pipeline and revenue, under ``model`` (the
    definitions version's by default), for the filters' cohort (the pipeline and revenue
    KPIs' default, target accounts, when none). Reconciles with those KPIs to the cent.

    Cached under the data version as KPI results are: the Programs page's credits were
    its one statement a warm page still ran (0.13 s of 0.16 s at 20,000 accounts, #18).
    """
    from .engine import cached_by_data_version

    filters = filters or Filters()
    if model is not None:
        check_model(model)
    ctx = _context(period, filters, definitions)
    cohort = filters.cohort or str(Cohort.ABM)
    rules = ctx.definitions
    if rules is None or rules.pk is None:  # an unsaved draft: nothing names it
        return attribute(ctx, cohort, model)
    # A used definitions version is immutable: its id stands for its parameters.
    scope = (period, filters, cohort, model, rules.pk, rules.generation)
    return cached_by_data_version("attribution", scope, lambda: attribute(ctx, cohort, model))


def opportunity_attribution(
    opportunity: Opportunity, model: str | None = None, definitions: Any = None
) -> list[OpportunityCredit]:
    """``opportunity_credits`` under the definitions version ``definitions`` (the default)."""
    if model is not None:
        check_model(model)
    day = opportunity.closed_on or opportunity.created_on or dt.date.today()
    ctx = _context(Period(day, day), Filters(), definitions)
    return opportunity_credits(ctx, opportunity, model)


def program_opportunity_credits(
    period: Period,
    filters: Filters,
    program_id: int | None,
    basis: str,
    model: str | None = None,
    definitions: Any = None,
) -> list[tuple[Opportunity, OpportunityCredit]]:
    """The opportunities behind one program's attributed pipeline or revenue of ``period``
    (``program_id`` None: "no program"), each with its credit: the drill-down of a
    programs-page figure, whose credits sum to that figure. One statement and one read of
    the opportunities."""
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}, not {basis!r}.")
    if model is not None:
        check_model(model)
    ctx = _context(period, filters, definitions)
    pipeline, revenue = _opportunity_sets(ctx, filters.cohort or str(Cohort.ABM))
    credits = _credits(ctx, pipeline, revenue, model)
    chosen = {
        opp_id: c
        for opp_id, cs in credits.items()
        for c in cs
        if c.basis == basis and c.program_id == program_id
    }
    rows = Opportunity.objects.filter(pk__in=chosen).select_related("account")
    ordered = sorted(rows, key=lambda o: (-chosen[o.pk].amount, o.pk))
    return [(o, chosen[o.pk]) for o in ordered]


def account_attribution(
    account_id: int, model: str | None = None, definitions: Any = None
) -> dict[int, list[OpportunityCredit]]:
    """How each opportunity of an account is credited to programs (the account page)."""
    if model is not None:
        check_model(model)
    today = dt.date.today()
    ctx = _context(Period(today, today), Filters(), definitions)
    return credits_by_opportunity(ctx, Opportunity.objects.filter(account_id=account_id), model)


# --- the KPIs' source ----------------------------------------------------------------------


def _run(ctx: Context, cohorts: list[str]) -> dict[str, dict[str, Any]]:
    """The programs' (the filter's, or all) attributed pipeline and revenue: one statement
    per cohort (the KPIs ask for one)."""
    values: dict[str, dict[str, Any]] = {}
    for cohort in cohorts:  # at most the three cohorts, not data rows
        if not available():  # SQLite: the KPIs are null ("no data"), the catalogue still runs
            values[cohort] = dict.fromkeys(ATTRIBUTION.measures)
            continue
        selected = attribute(ctx, cohort).selected
        values[cohort] = {
            "attributed_pipeline_amount": selected.pipeline,
            "attributed_pipeline_opportunities": selected.pipeline_opportunities,
            "attributed_revenue_amount": selected.revenue,
            "attributed_revenue_opportunities": selected.revenue_opportunities,
        }
    return values


def _run_grouped(
    union: Context, groups: list[Context], cohorts: list[str]
) -> list[dict[str, dict[str, Any]]] | None:
    """``_run`` for each of ``groups`` (``union``: their union) in one statement for every
    group and cohort: the tiers' or the programs' slices of the nightly snapshots.

    An opportunity's credits depend on its own touches only (each window is partitioned by
    opportunity), never on which slice asked for it; a slice only picks which opportunities
    count (its accounts, ``scope_q``) and which programs' credit it sums (its program
    filter, every program without one). So the union's opportunities, each carrying a flag
    per group and per cohort, are credited once, and each group's and cohort's totals are
    aggregates filtered by those flags: exactly ``_run`` of each group. None (one
    statement per group) where the groups differ by more than their scope (another period,
    list or parameters) or the database cannot attribute.
    """
    if not available():
        return None
    same = (union.period, union.filters.list_id, dict(union.params))
    if any((g.period, g.filters.list_id, dict(g.params)) != same for g in groups):
        return None
    flags: dict[str, Q] = {}
    member: list[str | None] = []
    for i, group in enumerate(groups):  # the groups: tiers or programs, not data rows
        where = Q() if group.filters == union.filters else group.scope_q("account__")
        member.append(f"g{i}" if where else None)
        if where:
            flags[f"g{i}"] = where
    in_cohort: list[str | None] = []
    for j, cohort in enumerate(cohorts):  # at most the three cohorts
        where = union.cohort_q(cohort, "account__")
        in_cohort.append(f"c{j}" if where else None)
        if where:
            flags[f"c{j}"] = where
    rows = scoped_opportunities(union)
    if all(in_cohort):  # no cohort of them is every account: the opportunities of any
        rows = rows.filter(reduce(operator.or_, (flags[c] for c in in_cohort if c)))
    pipeline, revenue = created_new_business(union), won_new_business(union)
    rows = rows.filter(pipeline | revenue).annotate(
        in_pipeline=flag_column(pipeline),
        in_revenue=flag_column(revenue),
        **{name: flag_column(where) for name, where in flags.items()},
    )
    aggregates, selected = [], {}
    for i, group in enumerate(groups):
        if group.filters.program:
            selected[f"selected_{i}"] = list(group.filters.program)
        for j in range(len(cohorts)):
            conditions = [f"o.{name}" for name in (member[i], in_cohort[j]) if name]
            if group.filters.program:
                conditions.append(f"cr.program_id = ANY(%(selected_{i})s::bigint[])")
            where = " AND ".join(conditions) or "TRUE"
            aggregates.append(
                f"SUM(cr.c) FILTER (WHERE {where}), "
                f"COUNT(DISTINCT cr.opp_id) FILTER (WHERE {where})"
            )
    select = _GROUPED.format(aggregates=",\n       ".join(aggregates))
    sql, params = _statement(union, None, None, None, select, flagged=rows, flags=tuple(flags))
    params.update(selected)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        by_basis = {row[0]: row[1:] for row in cursor.fetchall()}  # one row per basis
    results: list[dict[str, dict[str, Any]]] = []
    for i in range(len(groups)):
        result = {}
        for j, cohort in enumerate(cohorts):
            at = 2 * (i * len(cohorts) + j)
            values = {}
            for basis in BASES:
                row = by_basis.get(basis)
                cents, n = (row[at], row[at + 1]) if row is not None else (None, 0)
                values[f"attributed_{basis}_amount"] = _cents(cents)
                values[f"attributed_{basis}_opportunities"] = int(n)
            result[cohort] = {name: values[name] for name in ATTRIBUTION.measures}
        results.append(result)
    return results


#: The credits of programs (a group's, or every program) by group and cohort, per basis:
#: ``_run_grouped``'s aggregates over the credits of the opportunities flagged for them.
_GROUPED = """
SELECT cr.basis,
       {aggregates}
FROM credits cr JOIN opps o ON o.basis = cr.basis AND o.id = cr.opp_id
WHERE cr.c > 0 AND cr.program_id IS NOT NULL
GROUP BY cr.basis
"""


ATTRIBUTION = Source("attribution", runner=_run, grouped_runner=_run_grouped)
attributed_pipeline_amount = ATTRIBUTION.output(
    "attributed_pipeline_amount", "Pipeline credited to the programs."
)
attributed_pipeline_opportunities = ATTRIBUTION.output(
    "attributed_pipeline_opportunities",
    "Opportunities created in the period with a credit to at least one of the programs.",
)
attributed_revenue_amount = ATTRIBUTION.output(
    "attributed_revenue_amount", "Revenue credited to the programs."
)
attributed_revenue_opportunities = ATTRIBUTION.output(
    "attributed_revenue_opportunities",
    "Opportunities won in the period with a credit to at least one of the programs.",
)
