"""Spend and stage history: sources that are not one aggregate over account rows."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import DateField, F, Max, OuterRef, Q, Subquery, Sum

from abm_site.db import DaysBetween, shared_sets
from accounts.models import Account
from engagement.choices import ACQUISITION_CATEGORIES, SpendCategory
from engagement.models import Spend
from funnel.models import AccountStageChange

from ..context import Context
from ..measures import Source, flagged_totals
from ..scope import slice_q
from .accounts import _within


def _money(value) -> Decimal:
    return Decimal(value or 0)


def _spend(ctx: Context, cohorts: list[str]) -> dict[str, dict[str, Any]]:
    """Spend is not per account.

    Version 1: tier, owner and cohort leave it whole; a program filter restricts
    it to those programs. Version 2: the same without a tier or owner filter; with
    one, each program's spend is allocated to accounts by their share of its touches
    (``spend_allocated``) and the slice gets its accounts' allocations.
    """
    if ctx.generation >= 2 and (ctx.filters.tier or ctx.filters.owner):
        values = spend_allocated(ctx)
        return dict.fromkeys(cohorts, {k: values[k] for k in ("abm", "acquisition", "retention")})
    spend = Spend.objects.filter(spent_on__gte=ctx.start, spent_on__lte=ctx.end)
    if ctx.filters.program:
        spend = spend.filter(program_id__in=ctx.filters.program)
    acquisition = Q(category__in=ACQUISITION_CATEGORIES)
    row = spend.aggregate(
        abm=Sum("amount", filter=acquisition & Q(program__isnull=False)),
        acquisition=Sum("amount", filter=acquisition),
        retention=Sum("amount", filter=Q(category__in=_RETENTION)),
    )
    values = {name: _money(value) for name, value in row.items()}
    return dict.fromkeys(cohorts, values)


_RETENTION = (SpendCategory.ONBOARDING, SpendCategory.SUPPORT)

#: Largest-remainder allocation of each program's spend, in cents, to the accounts it
#: touched in the period by their share of its touches (quantities summed). Every
#: program's cents are handed out exactly, so any partition of accounts adds up.
_ALLOCATION_SQL = """
WITH spent AS (
    SELECT program_id,
           ROUND(SUM(CASE WHEN category IN ({acquisition}) THEN amount ELSE 0 END) * 100) AS acq,
           ROUND(SUM(CASE WHEN category IN ({retention}) THEN amount ELSE 0 END) * 100) AS ret
    FROM engagement_spend
    WHERE spent_on >= %s AND spent_on <= %s AND program_id IS NOT NULL {programs}
    GROUP BY program_id
), touched AS (
    SELECT t.program_id, t.account_id, SUM(t.quantity) AS q
    FROM engagement_touch t
    WHERE t.program_id {spent_programs}
      AND t.occurred_at >= %s AND t.occurred_at < %s
    GROUP BY t.program_id, t.account_id
), shares AS (
    SELECT touched.program_id, touched.account_id, touched.q,
           SUM(touched.q) OVER (PARTITION BY touched.program_id) AS total,
           spent.acq, spent.ret
    FROM touched JOIN spent ON spent.program_id = touched.program_id
), floors AS (
    SELECT program_id, account_id,
           FLOOR(CAST(acq AS NUMERIC) * q / total) AS acq_base,
           CAST(acq AS NUMERIC) * q - FLOOR(CAST(acq AS NUMERIC) * q / total) * total AS acq_rest,
           acq,
           FLOOR(CAST(ret AS NUMERIC) * q / total) AS ret_base,
           CAST(ret AS NUMERIC) * q - FLOOR(CAST(ret AS NUMERIC) * q / total) * total AS ret_rest,
           ret
    FROM shares
), ranked AS (
    SELECT account_id,
           acq_base + CASE WHEN ROW_NUMBER() OVER (
               PARTITION BY program_id ORDER BY acq_rest DESC, account_id
           ) <= acq - SUM(acq_base) OVER (PARTITION BY program_id) THEN 1 ELSE 0 END AS acq_cents,
           ret_base + CASE WHEN ROW_NUMBER() OVER (
               PARTITION BY program_id ORDER BY ret_rest DESC, account_id
           ) <= ret - SUM(ret_base) OVER (PARTITION BY program_id) THEN 1 ELSE 0 END AS ret_cents
    FROM floors
)
SELECT
    (SELECT COALESCE(SUM(acq), 0) FROM spent),
    (SELECT COALESCE(SUM(ret), 0) FROM spent),
    (SELECT COALESCE(ROUND(SUM(CASE WHEN category IN ({acquisition}) THEN amount ELSE 0 END) * 100), 0)
     FROM engagement_spend
     WHERE spent_on >= %s AND spent_on <= %s AND program_id IS NULL {programless}),
    (SELECT COALESCE(ROUND(SUM(CASE WHEN category IN ({retention}) THEN amount ELSE 0 END) * 100), 0)
     FROM engagement_spend
     WHERE spent_on >= %s AND spent_on <= %s AND program_id IS NULL {programless}),
    COALESCE(SUM(acq_cents), 0),
    COALESCE(SUM(ret_cents), 0){slices}
FROM ranked
"""

#: The allocation's touches of the spent programs, by database: on PostgreSQL the programs
#: as an array, which the touches' (program, time) index reads program by program (an IN
#: over the CTE semi-joined a scan of every touch: 0.6x of the statement at S, measured).
_SPENT_PROGRAMS = {"postgresql": "= ANY(ARRAY(SELECT program_id FROM spent))"}

#: One slice's allocations in ``_ALLOCATION_SQL`` (its accounts: ``{accounts}``).
_SLICE_SQL = """,
    COALESCE(SUM(acq_cents) FILTER (WHERE account_id IN ({accounts})), 0),
    COALESCE(SUM(ret_cents) FILTER (WHERE account_id IN ({accounts})), 0)"""


def spend_allocated(ctx: Context) -> dict[str, Decimal]:
    """Program spend of the period allocated to the scoped accounts (definitions version 2).

    ``abm``/``acquisition``: allocated marketing and sales spend of programs;
    ``retention``: allocated onboarding and support spend of programs;
    ``*_total``: the whole spend of the period (of the filtered programs, with a
    program filter); ``*_unallocated``: what belongs to no slice, the spend of
    programs with no touch in the period and spend without a program.
    ``abm_total``/``abm_unallocated``: the same for program spend only (spend
    without a program is acquisition spend but not ABM spend). Over any partition
    of accounts, slices + unallocated = total, to the cent. One query.
    """
    return spend_allocated_grouped(ctx, [ctx])[0]


def spend_allocated_grouped(ctx: Context, groups: list[Context]) -> list[dict[str, Decimal]]:
    """``spend_allocated`` of each of ``groups`` (slices of ``ctx``'s programs: each group's
    program filter is ``ctx``'s), in one query: the allocation once, each group's accounts'
    share of it a pair of sums."""
    assert all(g.filters.program == ctx.filters.program for g in groups)
    with shared_sets():  # every tier's accounts: one set of (tier, account) pairs
        return _allocated(ctx, groups)


def _allocated(ctx: Context, groups: list[Context]) -> list[dict[str, Decimal]]:
    slices, slices_params = [], []
    for group in groups:  # the groups: a bounded list, not data rows
        scoped = slice_q(group.filters, group.end, shared=True)
        accounts = Account.objects.filter(scoped).order_by().values("pk")
        accounts_sql, accounts_params = accounts.query.sql_with_params()
        slices.append(_SLICE_SQL.format(accounts=accounts_sql))
        slices_params += [*accounts_params, *accounts_params]
    programs, program_params = "", []
    if ctx.filters.program:
        programs = f"AND program_id IN ({', '.join(['%s'] * len(ctx.filters.program))})"
        program_params = list(ctx.filters.program)
    acquisition = ", ".join(f"'{c}'" for c in ACQUISITION_CATEGORIES)
    retention = ", ".join(f"'{c}'" for c in _RETENTION)
    # Spend without a program belongs to no slice: part of the whole, never allocated (and
    # not part of a program filter's spend).
    programless = "AND 1 = 0" if ctx.filters.program else ""
    sql = _ALLOCATION_SQL.format(
        spent_programs=_SPENT_PROGRAMS.get(connection.vendor, "IN (SELECT program_id FROM spent)"),
        acquisition=acquisition,
        retention=retention,
        programs=programs,
        programless=programless,
        slices="".join(slices),
    )
    params = [
        ctx.start,
        ctx.end,
        *program_params,
        ctx.start_dt,
        ctx.end_dt,
        ctx.start,
        ctx.end,
        ctx.start,
        ctx.end,
        *slices_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    acq_programs, ret_programs, acq_none, ret_none, acq_all, ret_all = row[:6]
    acq_total = Decimal(acq_programs or 0) + Decimal(acq_none or 0)
    ret_total = Decimal(ret_programs or 0) + Decimal(ret_none or 0)
    cents = Decimal("0.01")

    def money(value) -> Decimal:
        return (Decimal(value or 0) * cents).quantize(cents)

    whole = {
        "acquisition_total": money(acq_total),
        "retention_total": money(ret_total),
        "abm_total": money(acq_programs),
        "abm_unallocated": money(Decimal(acq_programs or 0) - Decimal(acq_all or 0)),
        "acquisition_unallocated": money(Decimal(acq_total or 0) - Decimal(acq_all or 0)),
        "retention_unallocated": money(Decimal(ret_total or 0) - Decimal(ret_all or 0)),
    }
    pairs = row[6:]
    return [
        {
            "abm": money(acq_slice),
            "acquisition": money(acq_slice),
            "retention": money(ret_slice),
            **whole,
        }
        for acq_slice, ret_slice in zip(pairs[::2], pairs[1::2], strict=True)
    ]


def _spend_grouped(
    union: Context, groups: list[Context], cohorts: list[str]
) -> list[dict[str, dict[str, Any]]] | None:
    """``_spend`` for each group at once, in at most two queries whatever the groups: version
    2's allocation for every tier or owner slice (``spend_allocated_grouped``: one for all
    the slices of the union's programs), and one query grouped by program for every other
    group (a program's spend its row, several programs' the sum of theirs, the whole spend
    the sum of every row: the snapshots' all slice beside the tiers and the programs). None
    (one ``_spend`` per group) for version 2's allocation to slices of different programs."""
    names = ("abm", "acquisition", "retention")
    results: list[dict[str, dict[str, Any]] | None] = [None] * len(groups)
    sliced = [
        i
        for i, g in enumerate(groups)
        if union.generation >= 2 and (g.filters.tier or g.filters.owner)
    ]
    if any(groups[i].filters.program != union.filters.program for i in sliced):
        return None
    if sliced:
        shares = spend_allocated_grouped(union, [groups[i] for i in sliced])
        for i, values in zip(sliced, shares, strict=True):  # the groups: a bounded list
            results[i] = dict.fromkeys(cohorts, {k: values[k] for k in names})
    rest = [i for i, result in enumerate(results) if result is None]
    if not rest:
        return results  # type: ignore[return-value]
    spend = Spend.objects.filter(spent_on__gte=union.start, spent_on__lte=union.end)
    if all(groups[i].filters.program for i in rest):
        spend = spend.filter(
            program_id__in=sorted({p for i in rest for p in groups[i].filters.program})
        )
    acquisition = Q(category__in=ACQUISITION_CATEGORIES)
    rows = (
        spend.values("program_id")
        .annotate(
            acquisition=Sum("amount", filter=acquisition),
            retention=Sum("amount", filter=Q(category__in=_RETENTION)),
        )
        .order_by()
    )
    by_program = {row.pop("program_id"): row for row in rows}  # one row per program, and none

    def summed(programs: Iterable[int | None], name: str) -> Decimal:
        return sum((_money(by_program.get(p, {}).get(name)) for p in programs), Decimal(0))

    with_program = [p for p in by_program if p is not None]
    for i in rest:  # the groups: a bounded list, not data rows
        own = groups[i].filters.program
        values = {
            # ABM spend: acquisition spend of programs (of the group's, with a filter).
            "abm": summed(own or with_program, "acquisition"),
            "acquisition": summed(own or by_program, "acquisition"),
            "retention": summed(own or by_program, "retention"),
        }
        results[i] = dict.fromkeys(cohorts, values)
    return results  # type: ignore[return-value]


SPEND = Source("spend", runner=_spend, grouped_runner=_spend_grouped)
abm_spend = SPEND.output("abm", "Marketing and sales spend of programs in the period.")
acquisition_spend = SPEND.output("acquisition", "All marketing and sales spend in the period.")
retention_spend = SPEND.output("retention", "Onboarding and support spend in the period.")


def _stage_changes(ctx: Context, cohorts: list[str]) -> dict[str, dict[str, Any]]:
    return _stage_changes_grouped(ctx, None, cohorts)[0]


def _stage_changes_grouped(
    ctx: Context, groups: list[Context] | None, cohorts: list[str]
) -> list[dict[str, dict[str, Any]]]:
    """Days in each stage for each of ``groups`` (``ctx``: their union) in one query, a sum
    and a count per group and cohort; without groups, for ``ctx`` alone.

    Each change's previous change (a correlated subquery) is looked up once per change
    (``flagged_totals``). A change with no earlier one has no days (NULL): the sums and
    counts leave it out.
    """
    previous = (
        AccountStageChange.objects.filter(
            account_id=OuterRef("account_id"), changed_on__lt=OuterRef("changed_on")
        )
        .order_by()
        .values("account_id")
        .annotate(last=Max("changed_on"))
        .values("last")
    )
    members = [Q()] if groups is None else [_within(ctx, g, "account__") for g in groups]
    changes = AccountStageChange.objects.filter(
        ctx.scope_q("account__"), changed_on__gte=ctx.start, changed_on__lte=ctx.end
    ).annotate(days=DaysBetween(F("changed_on"), Subquery(previous, output_field=DateField())))
    rows = flagged_totals(
        changes,
        ["from_stage"],
        members,
        {c: ctx.cohort_q(c, "account__") for c in cohorts},
        {"sum": ("SUM", "days"), "n": ("COUNT", "days")},
    )
    results: list[dict[str, dict[str, Any]]] = [
        {c: {"stages": {}} for c in cohorts} for _ in members
    ]
    for row in rows:  # one row per stage: a handful
        for i, result in enumerate(results):
            for c in cohorts:
                if row[f"{i}__{c}__n"]:
                    result[c]["stages"][row["from_stage"]] = (
                        row[f"{i}__{c}__sum"],
                        row[f"{i}__{c}__n"],
                    )
    return results


STAGE_CHANGES = Source(
    "stage_changes", runner=_stage_changes, grouped_runner=_stage_changes_grouped
)
days_in_stage = STAGE_CHANGES.output(
    "stages", "Stage -> (days summed, changes) over stage changes out of it in the period."
)
