"""CSV import of touches, spend and intent signals.

Touches go through :class:`engagement.services.TouchIngest` in chunks (as
``touch_bulk_create`` does), so the CSV import and the REST bulk endpoint
store touches the same way.
A touch row without an external id gets one derived from a hash of its
content; re-importing the file is then idempotent, and a row repeating an
earlier row exactly is counted as a duplicate (reported as unchanged).
Spend rows without an external id get a content hash the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.utils import timezone

from abm_site.csvio import (
    COUNT_PREFIX,
    ImportContext,
    Row,
    RowRejected,
    content_key,
    upsert_by_key,
)
from engagement.choices import SpendCategory, TouchKind
from engagement.models import IntentSignal, Program, Spend
from engagement.services import (
    TOUCH_FIELDS,
    BulkTouchResult,
    ParseOptions,
    TouchIngest,
    ramped_batches,
)

from .accounts import ACCOUNT_REF_FIELDS, account_index_for, account_ref, resolve_account
from .currency import Currencies

SPEND_FIELDS: tuple[str, ...] = (
    "program",
    "program_id",
    "spent_on",
    "amount",
    "currency",
    "channel",
    "category",
    "source",
    "external_id",
)
INTENT_FIELDS: tuple[str, ...] = (
    *ACCOUNT_REF_FIELDS,
    "topic",
    "is_competitor_topic",
    "score",
    "week",
    "provider_surge",
    "source",
)
TOUCH_CHUNK = 10_000
_TOUCH_CHOICE_FIELDS = ("kind", "direction", "funnel_position")


def import_touches(
    rows: Iterable[Row],
    ctx: ImportContext,
    *,
    progress: Callable[[int], None] | None = None,
) -> set[int]:
    """Store touch rows through a ``TouchIngest``; return the accounts marked.

    The ingest writes each chunk on PostgreSQL while this loop reads and
    validates the next one; a chunk's rows are reported when it is written.
    The chunks grow from a small first one, so PostgreSQL starts writing
    after a few hundred rows rather than after a whole chunk.
    """
    mapping = ctx.mapping
    options = ParseOptions(
        datetime_formats=tuple(mapping.datetime_formats or mapping.date_formats),
        excel_dates=mapping.excel_dates,
        decimal_comma=mapping.decimal_comma,
        date_order=ctx.date_order("occurred_at"),
        create_programs=bool(mapping.options.get("create_programs")),
    )
    translate = [f for f in _TOUCH_CHOICE_FIELDS if f in mapping.values]
    counts = _count_fields(ctx)
    account_ids: set[int] = set()

    def written(batch: list[Row], result: BulkTouchResult) -> None:
        seen: set[int] = set()
        for rejection in result.rejected:
            row = batch[rejection.index]
            if id(row) in seen:  # a row of counts gives several touches: report it once
                continue
            seen.add(id(row))
            ctx.reject(row, RowRejected(ctx.column(rejection.field), rejection.reason))
        ctx.report.created += result.accepted
        ctx.report.unchanged += result.duplicates
        ctx.report.accounts_marked += result.accounts_marked
        account_ids.update(result.account_ids)
        if progress is not None:
            progress(len(batch))

    with TouchIngest(source=ctx.source, options=options) as ingest:
        for batch in ramped_batches(rows, TOUCH_CHUNK):
            dicts = []
            for row in batch:
                values = row.values
                for name in translate:
                    values[name] = ctx.mapped(row, name)
                if not values.get("source"):
                    values["source"] = ctx.source
                dicts.append(values)
            if counts:
                batch, dicts = _expand_counts(batch, dicts, counts, ctx)
            ingest.add(dicts, functools.partial(written, batch))
    if ingest.programs_created:
        made = ingest.programs_created
        ctx.report.notes.append(
            f"{len(made)} programs were created for campaigns the app did not know: "
            + ", ".join(made[:10])
            + ("…" if len(made) > 10 else "")
            + "."
        )
    if counts:
        ctx.report.notes.append(
            f"Each row carries counts ({', '.join(c for c, _ in counts)}): it gives one touch "
            "per count, with the count as its quantity; created and unchanged count touches."
        )

    if ctx.report.unchanged and not ctx.report.dry_run:
        ctx.report.warnings.append(
            f"{ctx.report.unchanged} touches were already stored (same source and external id, "
            "or the same content when the file has no external ids) and were skipped."
        )
    return account_ids


def _count_fields(ctx: ImportContext) -> list[tuple[str, str]]:
    """(column, touch kind) of the columns the mapping sends to ``count:<kind>``."""
    counts = []
    for name in ctx.bound.field_index:
        if name.startswith(COUNT_PREFIX):
            kind = name[len(COUNT_PREFIX) :]
            if kind not in TouchKind.values:
                raise ValueError(f"count:{kind} names no touch kind")
            counts.append((name, kind))
    return counts


def _expand_counts(
    batch: list[Row], dicts: list[dict], counts: list[tuple[str, str]], ctx: ImportContext
) -> tuple[list[Row], list[dict]]:
    """One touch per count column with a count above zero (its quantity); the row of each."""
    rows_out: list[Row] = []
    dicts_out: list[dict] = []
    for row, values in zip(batch, dicts, strict=True):
        before = len(dicts_out)
        for name, kind in counts:
            cell = values.pop(name, "").strip().replace(",", "")
            if cell in ("", "0", "--"):
                continue
            touch = dict(values)
            touch["kind"], touch["quantity"] = kind, cell
            dicts_out.append(touch)
            rows_out.append(row)
        if len(dicts_out) == before:
            ctx.counters["no_counts"] = ctx.counters.get("no_counts", 0) + 1
            ctx.report.unchanged += 1  # a row of zeros: nothing to store
    return rows_out, dicts_out


def programs_by_name(names: dict[str, str], ctx: ImportContext, *, create: bool) -> dict[str, int]:
    """Lower-cased name → program id; with ``create``, unknown names become programs.

    ``names``: lower-cased name → the name as the file spells it. One query
    reads the programs, one insert creates the new ones.
    """
    found = {}
    if names:
        for program_id, name in Program.objects.values_list("id", "name"):
            if name.lower() in names:
                found[name.lower()] = program_id
    if create:
        missing = sorted(n for n in names if n not in found)
        if missing:
            made = Program.objects.bulk_create([Program(name=names[n][:255]) for n in missing])
            for program in made:
                found[program.name.lower()] = program.id
            ctx.report.notes.append(
                f"{len(made)} programs were created for campaigns the app did not know: "
                + ", ".join(p.name for p in made[:10])
                + ("…" if len(made) > 10 else "")
                + "."
            )
    return found


def import_spend(rows: Iterable[Row], ctx: ImportContext) -> set[int]:
    """Upsert spend by (source, external id), or by a hash of the row when it has none.

    Amounts in another currency are converted (or the row refused); with the
    mapping option ``create_programs`` a campaign the app does not know becomes
    a program.
    """
    parsed: list[tuple[Row, dict]] = []
    names: set[str] = set()
    originals: dict[str, str] = {}
    ids: set[int] = set()
    currencies = Currencies(ctx)
    for row in rows:
        try:
            values = _spend_values(row, ctx)
            values["amount"] = currencies.amount(row, "amount", values["amount"])
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        if values.get("program") and not values.get("program_id"):
            originals.setdefault(values["program"].lower(), values["program"])
        if values.get("program_id"):
            ids.add(values["program_id"])
        elif values.get("program"):
            names.add(values["program"].lower())
        parsed.append((row, values))
    currencies.finish()
    known_ids = (
        set(Program.objects.filter(id__in=ids).values_list("id", flat=True)) if ids else set()
    )
    by_name = programs_by_name(
        {n: originals.get(n, n) for n in names},
        ctx,
        create=bool(ctx.mapping.options.get("create_programs")),
    )
    items = []
    for row, values in parsed:
        program_name = values.pop("program", "")
        if values.get("program_id"):
            if values["program_id"] not in known_ids:
                ctx.reject(
                    row,
                    RowRejected(
                        ctx.column("program_id"), f"no program has id {values['program_id']}"
                    ),
                )
                continue
        elif program_name:
            if program_name.lower() not in by_name:
                ctx.reject(
                    row,
                    RowRejected(
                        ctx.column("program"), f"no program is named '{program_name[:100]}'"
                    ),
                )
                continue
            values["program_id"] = by_name[program_name.lower()]
        else:
            values["program_id"] = None
        source = values.pop("source")
        external_id = values.pop("external_id") or content_key(
            (
                "spend",
                values["program_id"],
                values["spent_on"],
                values["amount"],
                values["channel"],
                values["category"],
            )
        )
        items.append((row, (source, external_id), values))
    upsert_by_key(Spend, items, ("source", "external_id"), ctx.column("external_id"), ctx)
    return set()


def _spend_values(row: Row, ctx: ImportContext) -> dict:
    values = {
        "spent_on": ctx.date(row, "spent_on", required=True),
        "amount": ctx.decimal(row, "amount", max_digits=14, decimal_places=2, required=True),
        "channel": ctx.text(row, "channel", max_length=50),
        "category": ctx.choice(
            row, "category", SpendCategory.choices, default=SpendCategory.MARKETING
        ),
        "source": ctx.row_source(row),
        "external_id": ctx.text(row, "external_id", max_length=255),
        "program": ctx.text(row, "program", max_length=255),
    }
    if ctx.mapping.options.get("channel") and not values["channel"]:
        values["channel"] = str(ctx.mapping.options["channel"])[:50]
    if ctx.raw(row, "program_id").strip():
        values["program_id"] = ctx.integer(row, "program_id", min_value=1)
    return values


def import_intent(rows: Iterable[Row], ctx: ImportContext) -> set[int]:
    """Upsert weekly intent scores by (account, topic, week, source).

    A file without a week column (Bombora's Company Surge export is this
    week's report) is for the week of the import. With the mapping option
    ``surge_threshold`` a score at or above it is a provider surge (Bombora:
    60) unless the file has its own surge column.
    """
    parsed = []
    moved = 0
    threshold = ctx.mapping.options.get("surge_threshold")
    threshold = Decimal(str(threshold)) if threshold not in (None, "") else None
    this_week = None
    if not ctx.has("week"):
        today = timezone.localdate()
        this_week = today - dt.timedelta(days=today.weekday())
        ctx.report.notes.append(
            f"The file has no week column: its scores are stored for the week of {this_week} "
            "(the week of the import)."
        )
    for row in rows:
        try:
            ref = account_ref(row, ctx)
            week = this_week or ctx.date(row, "week", required=True)
            if week.weekday():
                moved += 1
                week = week.fromordinal(week.toordinal() - week.weekday())
            values = {
                "topic": ctx.text(row, "topic", max_length=255, required=True),
                "week": week,
                "source": ctx.row_source(row),
                "score": ctx.decimal(row, "score", max_digits=7, decimal_places=2, required=True),
                "is_competitor_topic": bool(ctx.boolean(row, "is_competitor_topic")),
                "provider_surge": bool(ctx.boolean(row, "provider_surge")),
            }
            if threshold is not None and not ctx.has("provider_surge"):
                values["provider_surge"] = values["score"] >= threshold
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        parsed.append((row, ref, values))
    if moved:
        ctx.report.warnings.append(
            f"{moved} week dates were not Mondays and were moved to the Monday of their week."
        )
    index = account_index_for(ref for _, ref, _ in parsed)
    items = []
    for row, ref, values in parsed:
        try:
            account_id = resolve_account(index, ref, ctx)
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        key = (account_id, values.pop("topic"), values.pop("week"), values.pop("source"))
        items.append((row, key, values))
    written = upsert_by_key(
        IntentSignal,
        items,
        ("account_id", "topic", "week", "source"),
        "account, topic, week and source",
        ctx,
    )
    return {obj.account_id for obj, _ in written}


__all__ = [
    "INTENT_FIELDS",
    "SPEND_FIELDS",
    "TOUCH_FIELDS",
    "import_intent",
    "import_spend",
    "import_touches",
]
