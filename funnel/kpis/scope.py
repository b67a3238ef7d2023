"""Which accounts a filter keeps, and the named slices the nightly funnel snapshots cover.

The KPI engine, the pages' account lists and the snapshot trends all read
these, so "program 3" or "tier:2" means one thing everywhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.lookups import In

from abm_site.db import InShared, day_bounds
from accounts.models import Account, TierChange, tier_as_of
from engagement.choices import ENGAGEMENT_KINDS
from engagement.models import Touch
from funnel.selectors import cohort_q

from .base import Filters, Period


def scope_q(
    filters: Filters,
    period: Period,
    prefix: str = "",
    *,
    cohort: bool = False,
    generation: int = 2,
    shared: bool = False,
    programs_of: tuple[int, ...] = (),
    pairs_set: bool = False,
) -> Q:
    """Tier, owner and program filters on accounts (through ``prefix``).

    Program, definitions version 1: accounts with a touch of one of the
    programs at any time up to the end of the period. Version 2: accounts with
    an *engagement* touch of one of the programs *in the period*.
    ``cohort=True`` also applies the filters' cohort (the engine applies
    cohorts per KPI instead). ``shared``: account rows too test shared sets (a series'
    flag per bucket, ``InShared``), not a correlated subquery per row. ``programs_of``:
    the programs of a grouped pass (all its groups'), whose conditions then read one set
    of (program, account) pairs, each its own programs' part: one scan of their touches
    per statement, not one per program and one more for the union. ``pairs_set``: that set
    is the one ``program_pairs`` put in the session for the computation (PostgreSQL),
    not computed again by each statement.
    """
    q = slice_q(filters, period.end, prefix, shared=shared)
    if filters.program:
        grouped = (prefix or shared) and set(filters.program) <= set(programs_of)
        of = programs_of if grouped else filters.program
        touched = _program_touches(period, of, generation)
        if grouped:
            pairs = _session_pairs() if pairs_set else _pairs(touched)
            keys = ("program_id", tuple(filters.program))
            q &= Q(InShared(F(f"{prefix}pk"), pairs, keys=keys))
        elif prefix or shared:
            # Rows of an account: one set per program in a statement (``shared_sets``), not
            # a scan of the program's touches for each aggregate that reads it.
            q &= Q(InShared(F(f"{prefix}pk"), touched.values("account_id")))
        else:
            q &= Q(**{f"{prefix}pk__in": touched.values("account_id")})
    if cohort and filters.cohort:
        q &= cohort_q(filters.cohort, period.end, prefix, filters.list_id)
    return q


def _program_touches(period: Period, programs: tuple[int, ...], generation: int) -> QuerySet:
    """The touches by which ``programs`` reach an account: version 1, any touch up to the end
    of the period; version 2, an engagement touch in the period."""
    start, end = day_bounds(period.start, period.end)
    touched = Touch.objects.filter(program_id__in=programs, occurred_at__lt=end)
    if generation >= 2:
        touched = touched.filter(kind__in=ENGAGEMENT_KINDS, occurred_at__gte=start)
    return touched


def _pairs(touched: QuerySet) -> QuerySet:
    """The distinct (program, account) pairs of ``touched``."""
    return touched.order_by().values("program_id", "account_id").distinct()


#: The session settings holding the programs' (program, account) pairs of a computation.
_PAIRS_SETTINGS = ("abm.program_pairs_program", "abm.program_pairs_account")


def _session_pairs() -> RawSQL:
    """``program_pairs``' pairs, read back from the session (PostgreSQL): the same SQL and
    parameters at every period, so the statements that read them are reused (``statements``)."""
    return RawSQL(
        "SELECT * FROM unnest(current_setting(%s)::bigint[], current_setting(%s)::bigint[])"
        ' AS "pairs" ("program_id", "account_id")',
        _PAIRS_SETTINGS,
    )


#: Set while a computation's pairs are in the session: a computation inside it (none does
#: today) computes its own in each statement rather than overwrite them.
_PAIRS_IN_USE: ContextVar[bool] = ContextVar("program_pairs_in_use", default=False)


@contextmanager
def program_pairs(period: Period, programs: tuple[int, ...], generation: int) -> Iterator[bool]:
    """For a grouped computation over ``programs``: put their (program, account) pairs in
    ``period`` (as ``scope_q`` reads them) in the settings of a transaction around the
    computation, computed once, and yield True; each of its statements then reads them back
    (``_session_pairs``) instead of scanning the period's program touches again (the
    nightly snapshots: about ten statements, 19 ms each at 2,000 accounts). One statement;
    nothing leaves the database. The settings are the transaction's own (``SET LOCAL``):
    gone when it ends, and one connection throughout, also behind a transaction pooler.
    False (each statement its own set, as before): no programs, not PostgreSQL, or inside
    another computation's pairs.
    """
    if not programs or connection.vendor != "postgresql" or _PAIRS_IN_USE.get():
        yield False
        return
    inner, params = _pairs(_program_touches(period, programs, generation)).query.sql_with_params()
    empty = "'{}'"
    columns = ", ".join(
        f'set_config(%s, COALESCE(array_agg("{column}")::text, {empty}), true)'
        for column in ("program_id", "account_id")
    )
    # Django's compiled SQL and fixed names: every value a parameter.
    sql = f'SELECT {columns} FROM ({inner}) AS "pairs"'  # noqa: S608  # nosec B608 - fixed names
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql, (*_PAIRS_SETTINGS, *params))
        token = _PAIRS_IN_USE.set(True)
        try:
            yield True
        finally:
            _PAIRS_IN_USE.reset(token)


def slice_q(filters: Filters, day: dt.date, prefix: str = "", *, shared: bool = False) -> Q:
    """The account slice of the filters: tier and owner (what version 2 allocates spend to).

    The tier is the one the account had at the end of ``day`` (the period end), as in
    the tier split: a tier changed today leaves last quarter's tier-filtered KPIs and
    tier snapshots as they were (#15).
    """
    q = Q()
    if filters.tier and (prefix or shared):
        # Rows of an account (touches, opportunities): the set of the tier's accounts, which
        # the database computes once, not a tier subquery per row; one set per statement
        # (``shared_sets``), not a scan of the accounts for each aggregate that reads it.
        rows = _tiered(day, filters.tier, shared)
        # Materialized: every tier's accounts one set of (tier, account) pairs, each tier its
        # part, not a set (and a tier lookup per account) for each tier of the statement.
        pairs = None
        if connection.vendor == "postgresql":
            pairs = (_tier_pairs(day), ("tier_id", tuple(filters.tier)))
        q &= Q(InShared(F(f"{prefix}pk"), rows, column="account_id", materialized=pairs))
    elif filters.tier:
        q &= Q(In(tier_as_of(day, account_ref=f"{prefix}pk"), list(filters.tier)))
    if filters.owner:
        q &= Q(**{f"{prefix}owner_id__in": filters.owner})
    return q


def _tiered(day: dt.date, tiers: tuple[int, ...], shared: bool) -> QuerySet:
    """The accounts whose tier at the end of ``day`` is one of ``tiers`` (``account_id``).

    ``shared`` (a set the statement materializes once, ``shared_sets``: a series' bucket
    scopes) on PostgreSQL: each account's last tier change by then, in one sorted pass over
    the changes (``DISTINCT ON``), not ``tier_as_of``'s lookup per account (5x cheaper; a
    series builds one set per bucket). Otherwise the set is inlined in the statement, and
    its ORDER BY (the model's, by name) is load-bearing: without it PostgreSQL pulls the
    set up into a join and runs the tier lookup per row (a filtered stage-2 series at
    20,000 accounts: touches 1.5 s -> 7-9 s); the ``DISTINCT ON`` set inlined was pulled
    up too, into a hash join over a scan of every touch per bucket (touches 2 s -> 16 s).
    """
    if not shared or connection.vendor != "postgresql":
        tiered = Account.objects.annotate(tier_then=tier_as_of(day)).filter(
            tier_then__in=list(tiers)
        )
        return tiered.annotate(account_id=F("pk")).values("account_id")
    last = _last_tier_changes(day).values("pk")
    tiered = TierChange.objects.filter(pk__in=last, tier_id__in=list(tiers))
    return tiered.order_by().values("account_id")


def _tier_pairs(day: dt.date) -> QuerySet:
    """Each account's tier at the end of ``day`` (``account_id``, ``tier_id``)."""
    return _last_tier_changes(day).values("account_id", "tier_id")


def _last_tier_changes(day: dt.date) -> QuerySet:
    """Each account's last tier change by the end of ``day``, in one sorted pass over the
    changes (``DISTINCT ON``; PostgreSQL), not ``tier_as_of``'s lookup per account."""
    return (
        TierChange.objects.filter(Q(effective_on__isnull=True) | Q(effective_on__lte=day))
        .order_by("account_id", F("effective_on").desc(nulls_last=True))
        .distinct("account_id")
    )


def period_free(filters: Filters) -> Filters:
    """``filters`` without what depends on the period (the tier as of its end, a program's
    touches by then): the accounts it keeps are the same in every period (a series' union,
    each bucket's own scope then a condition of its rows)."""
    return dataclasses.replace(filters, tier=(), program=())


#: The cohorts snapshotted as slices of their own.
SLICE_COHORTS = ("abm", "non_abm", "all")


def slice_name(filters: Filters) -> str | None:
    """The funnel-snapshot slice of ``filters``, or None when no slice matches them.

    Slices are: no filter (``all``), exactly one tier (``tier:<id>``), exactly
    one program (``program:<id>``) or a cohort alone (``cohort:<name>``); none is of an
    owner or an account list.
    """
    tier, program, cohort = filters.tier, filters.program, filters.cohort
    if filters.owner or filters.list_id is not None:
        return None
    if len(tier) == 1 and not program and not cohort:
        return f"tier:{tier[0]}"
    if len(program) == 1 and not tier and not cohort:
        return f"program:{program[0]}"
    if cohort and not tier and not program:
        return f"cohort:{cohort}"
    if not (tier or program or cohort):
        return "all"
    return None


def funnel_slices() -> list[tuple[str, Filters]]:
    """Every slice the nightly recompute snapshots: all, each tier, each program, each cohort.

    Two queries (tier and program ids).
    """
    from accounts.models import Tier
    from engagement.models import Program

    filters = [Filters()]
    filters += [Filters(tier=(pk,)) for pk in Tier.objects.values_list("pk", flat=True)]
    filters += [Filters(program=(pk,)) for pk in Program.objects.values_list("pk", flat=True)]
    filters += [Filters(cohort=c) for c in SLICE_COHORTS]
    return [(str(slice_name(f)), f) for f in filters]


def slices_of_accounts(account_ids: list[int], day: dt.date) -> set[str]:
    """The snapshot slices ``account_ids`` count in on ``day``: all, every cohort, their
    tiers on ``day`` and the programs that touched them in the snapshot window (two queries)."""
    from accounts.models import Account

    window = int(settings.ABM_SNAPSHOT_WINDOW_DAYS)
    start, end = day_bounds(day - dt.timedelta(days=window - 1), day)
    names = {"all", *(f"cohort:{c}" for c in SLICE_COHORTS)}
    tiers = (
        Account.objects.filter(pk__in=account_ids)
        .annotate(tier_then=tier_as_of(day))
        .filter(tier_then__isnull=False)
        .values_list("tier_then", flat=True)
    )
    names |= {f"tier:{pk}" for pk in tiers.distinct()}
    programs = Touch.objects.filter(
        account_id__in=account_ids,
        program__isnull=False,
        occurred_at__gte=start,
        occurred_at__lt=end,
    ).values_list("program_id", flat=True)
    names |= {f"program:{pk}" for pk in programs.distinct()}
    return names
