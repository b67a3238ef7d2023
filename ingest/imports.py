"""The CSV import engine.

``csv_import`` is the one engine behind ``manage.py import_csv``, the
upload page and the import API: it reads any CSV we can make sense of,
maps columns with a mapping profile, lets each kind's importer validate
and write set-based, marks the accounts whose data changed for
recomputation and returns an :class:`~abm_site.csvio.ImportReport`.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from django.db import transaction

from abm_site.csvio import (
    COUNT_PREFIX,
    DATE_ORDERS,
    CsvFileError,
    ImportContext,
    ImportReport,
    Mapping,
    Row,
    date_order_label,
    decide_date_orders,
    has_slashed_dates,
    read_table,
)
from accounts.models import Account
from accounts.services import account_fit_refresh
from events.choices import EventType
from events.services import event_record

from .kinds import IMPORT_KINDS, ImportKind
from .profiles import MAPPINGS

#: ``progress(rows_done_since_last_call, total_rows_estimate)``.
Progress = Callable[[int, int], None]
DEFAULT_SOURCE = "csv"
#: The mapping name that asks for detection from the header.
AUTO = "auto"


def _saved(kind: str | None = None) -> dict[str, Any]:
    """Saved mappings (name → SavedMapping), of one kind or all: one query."""
    from .models import SavedMapping

    rows = SavedMapping.objects.all() if kind is None else SavedMapping.objects.filter(kind=kind)
    return {m.name: m for m in rows}


def available_mappings(kind: str) -> list[tuple[str, str]]:
    """(name, label) of the mappings for ``kind``: ours, the shipped profiles, then the
    saved ones (for forms, the API and the command)."""
    spec = _kind(kind)
    names = [("default", f"Our column names ({', '.join(spec.fields[:4])}, …)")]
    for name, kinds in MAPPINGS.items():
        if kind in kinds:
            names.append((name, kinds[kind].get("label", name)))
    for name, saved in _saved(kind).items():
        names.append((name, saved.label or f"Saved: {name}"))
    return names


def mapping_resolve(kind: str, mapping: str | dict | Path | None) -> Mapping:
    """A mapping by shipped or saved name, JSON file path or dict; ``CsvFileError`` when
    unusable."""
    spec = _kind(kind)
    if mapping is None or mapping == "default":
        return Mapping.identity_for(spec.fields)
    if isinstance(mapping, dict):
        return _mapping_from_data(kind, mapping, name="custom")
    name = str(mapping)
    if name in MAPPINGS:
        if kind not in MAPPINGS[name]:
            kinds = ", ".join(MAPPINGS[name])
            raise CsvFileError(f"The '{name}' mapping has no profile for {kind} (only {kinds}).")
        return Mapping.from_dict(MAPPINGS[name][kind], name=name)
    saved = _saved().get(name)
    if saved is not None:
        if saved.kind != kind:
            raise CsvFileError(f"The saved mapping '{name}' is for {saved.kind}, not {kind}.")
        return _mapping_from_data(kind, saved.data, name=name)
    path = Path(name)
    if not path.is_file():
        known = ", ".join(n for n, _ in available_mappings(kind))
        raise CsvFileError(
            f"Unknown mapping '{name}': not a shipped mapping ({known}) nor a JSON file."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CsvFileError(f"The mapping file {path} is not valid JSON: {exc}") from exc
    return _mapping_from_data(kind, data, name=path.stem)


def mapping_data(kind: str, mapping: str | dict | None) -> dict[str, Any]:
    """The mapping object (as JSON) a shipped or saved name, or a dict, stands for: what the
    mapping editor starts from and keeps (value translations, options) around its columns.
    ``default`` (our column names) is ``{}``."""
    if mapping is None or mapping in ("default", AUTO):
        return {}
    if isinstance(mapping, dict):
        data: Any = mapping
    elif mapping in MAPPINGS and kind in MAPPINGS[mapping]:
        data = MAPPINGS[mapping][kind]
    else:
        saved = _saved(kind).get(mapping)
        data = saved.data if saved is not None else {}
    return copy.deepcopy(_unwrap(kind, data))


def _unwrap(kind: str, data: Any) -> Any:
    """A mapping file may hold one kind's mapping or an object keyed by kind."""
    if isinstance(data, dict) and "columns" not in data and kind in data:
        return data[kind]
    return data


def _mapping_from_data(kind: str, data: Any, *, name: str) -> Mapping:
    data = _unwrap(kind, data)
    mapping = Mapping.from_dict(data, name=name)
    if mapping.kind and mapping.kind != kind:
        raise CsvFileError(f"The mapping '{mapping.name}' is for {mapping.kind}, not {kind}.")
    return mapping


def _kind(kind: str) -> ImportKind:
    try:
        return IMPORT_KINDS[kind]
    except KeyError:
        raise ValueError(
            f"Unknown import kind '{kind}'; choose one of {', '.join(IMPORT_KINDS)}."
        ) from None


def _read_bytes(file: BinaryIO | str | Path) -> bytes:
    if isinstance(file, str | Path):
        try:
            return Path(file).read_bytes()
        except OSError as exc:
            raise CsvFileError(f"Cannot read {file}: {exc.strerror or exc}") from exc
    data = file.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def mapping_candidates(kind: str) -> list[Mapping]:
    """Every mapping detection weighs for ``kind``: ours, shipped, saved (in that order)."""
    candidates = [Mapping.identity_for(_kind(kind).fields)]
    for name, kinds in MAPPINGS.items():
        if kind in kinds:
            candidates.append(Mapping.from_dict(kinds[kind], name=name))
    for name, saved in _saved(kind).items():
        try:
            candidates.append(_mapping_from_data(kind, saved.data, name=name))
        except CsvFileError:
            continue
    return candidates


def mapping_detect(kind: str, header: list[str], candidates: list[Mapping] | None = None):
    """The mapping that reads most of ``header`` and feeds the kind's required columns.

    Returns (mapping, columns it reads), or (None, 0) when none can import the
    file. Ties go to the earlier candidate (ours, then shipped, then saved).
    """
    spec = _kind(kind)
    best, best_known = None, 0
    for candidate in candidates if candidates is not None else mapping_candidates(kind):
        bound = candidate.bind(header, spec.fields)
        if bound.errors or missing_required(spec, bound, candidate):
            continue
        known = candidate.known_columns(header)
        if known > best_known:
            best, best_known = candidate, known
    return best, best_known


def missing_required(spec: ImportKind, bound: Any, mapping: Mapping) -> list[tuple[str, ...]]:
    """The required groups of ``spec`` no column nor constant feeds (count columns give
    touches their kind)."""
    counted = any(f.startswith(COUNT_PREFIX) for f in bound.field_index)
    return [
        group
        for group in spec.required
        if not any(f in bound.field_index or f in mapping.constants for f in group)
        and not (counted and "kind" in group)
    ]


def header_finder(candidates: list[Mapping]) -> Callable[[list[str]], bool]:
    """A line is the header when some candidate reads two of its cells (or all of one)."""

    def accept(cells: list[str]) -> bool:
        wanted = min(2, sum(1 for c in cells if c))
        return any(m.known_columns(cells) >= wanted for m in candidates)

    return accept


def csv_import(
    kind: str,
    file: BinaryIO | str | Path,
    mapping: str | dict | Path | None = None,
    dry_run: bool = False,
    source: str | None = None,
    progress: Progress | None = None,
    date_order: str | None = None,
    targeted_on: dt.date | None = None,
) -> ImportReport:
    """Import a CSV file of ``kind``; never raises on bad input, the report says what happened.

    Idempotent: importing the same file again finds every row unchanged. A
    dry run does the whole import inside a transaction and rolls it back,
    so its counts are exactly what a real run would do. Afterwards the
    accounts whose data changed carry ``needs_recompute=True`` (one UPDATE;
    touches are marked by ``touch_bulk_create`` as they are written) and,
    for account imports, their ICP fit is refreshed. New target accounts without
    a targeting date join the target list on ``targeted_on`` (default: today).
    """
    spec = _kind(kind)
    report = ImportReport(kind=kind, dry_run=dry_run)
    if date_order and date_order not in DATE_ORDERS:
        report.errors.append(f"Unknown date order '{date_order}'; use {', '.join(DATE_ORDERS)}.")
        return report
    try:
        detect = mapping in (None, AUTO)
        if detect:
            candidates = mapping_candidates(kind)
            table = read_table(_read_bytes(file), is_header=header_finder(candidates))
            bound_mapping, known = mapping_detect(kind, table.header, candidates)
            if bound_mapping is None:
                bound_mapping = candidates[0]
            else:
                report.notes.append(
                    f"Mapping '{bound_mapping.name}' detected from the header "
                    f"({bound_mapping.label or 'our column names'}; it reads {known} of "
                    f"{sum(1 for h in table.header if h)} columns)."
                )
        else:
            bound_mapping = mapping_resolve(kind, mapping)
            table = read_table(_read_bytes(file), is_header=header_finder([bound_mapping]))
        report.mapping = bound_mapping.name
    except CsvFileError as exc:
        report.errors.append(str(exc))
        return report
    if date_order:
        bound_mapping = dataclasses.replace(bound_mapping, date_order=date_order)
    if targeted_on is not None:
        options = {**bound_mapping.options, "targeted_on": targeted_on.isoformat()}
        bound_mapping = dataclasses.replace(bound_mapping, options=options)
    report.encoding = table.encoding
    report.delimiter = table.delimiter
    report.header = table.header
    report.warnings.extend(table.warnings)
    bound = bound_mapping.bind(table.header, spec.fields)
    report.warnings.extend(bound.warnings)
    report.errors.extend(bound.errors)
    for group in missing_required(spec, bound, bound_mapping):
        report.errors.append(_missing_message(group, bound_mapping))
    if report.errors:
        return report
    if source is not None and len(source) > 50:
        report.errors.append("The source name may have at most 50 characters.")
        return report
    report.source = source or bound_mapping.source or DEFAULT_SOURCE
    ctx = ImportContext(bound, report, report.source)
    if not _decide_date_orders(spec, table, bound, ctx):
        return report
    total = max(table.physical_lines - 1, 0)
    rows = _with_progress(ctx.rows(table.records), progress, total)
    with transaction.atomic():
        account_ids = spec.importer(rows, ctx)
        if account_ids and not spec.streams:
            report.accounts_marked = Account.objects.filter(
                id__in=account_ids, needs_recompute=False
            ).update(needs_recompute=True)
        if spec.refresh_fit and account_ids:
            account_fit_refresh(Account.objects.filter(id__in=account_ids))
        if dry_run:
            transaction.set_rollback(True)
        else:
            _finished_event_record(report)
    ctx.finish()
    if report.rows_read == 0:
        report.warnings.append("The file has a header row but no data rows.")
    report.rejected.sort(key=lambda r: r.line)
    return report


def _finished_event_record(report: ImportReport) -> None:
    """An ``import.finished`` event, committed with the rows the import wrote.

    Each import is its own event (importing the same file twice is two imports),
    so the key is a new random id; a rolled-back import leaves no event.
    """
    event_record(
        EventType.IMPORT_FINISHED,
        f"import:{uuid.uuid4()}",
        {
            "kind": report.kind,
            "mapping": report.mapping,
            "source": report.source,
            "rows_read": report.rows_read,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected_count": len(report.rejected),
            "accounts_marked": report.accounts_marked,
        },
    )


def _decide_date_orders(spec: ImportKind, table: Any, bound: Any, ctx: ImportContext) -> bool:
    """Decide each date column's order from the whole file (or take the given one).

    Returns False (with the errors in the report) when a column's dates are
    all ambiguous or mix two orders. A file without any ``01/10/2026``-like
    text needs no second pass.
    """
    mapping, report = bound.mapping, ctx.report
    columns: dict[str, tuple[int, str]] = {}
    for name in spec.date_fields:
        for index in bound.joined.get(name, [bound.field_index.get(name)]):
            if index is not None:
                columns[f"{name}@{index}"] = (index, table.header[index])
    if mapping.date_order:
        if columns:
            report.notes.append(
                f"Dates read as {date_order_label(mapping.date_order)}, as the import was told."
            )
        return True
    if not columns or not has_slashed_dates(table.text):
        return True
    orders, errors = decide_date_orders(table.reread(), columns)
    settled = {key.split("@")[0] for key in orders}
    for key, (ambiguous, message) in errors.items():
        if not (ambiguous and key.split("@")[0] in settled):  # a sibling column decides
            report.errors.append(message)
    if report.errors:
        return False
    for key, order in orders.items():
        name = key.split("@")[0]
        if ctx.date_orders.setdefault(name, order) != order:
            report.errors.append(
                f"The columns feeding {name} read dates in different orders; use one order."
            )
            return False
        report.notes.append(
            f"Dates in '{columns[key][1]}' read as {date_order_label(order)}: decided from "
            "the values of the whole file."
        )
    return True


def _missing_message(group: Iterable[str], mapping: Mapping) -> str:
    group = list(group)
    wanted = []
    for name in group:
        sources = mapping.sources_for(name)
        wanted.extend(sources or [name])
    if len(group) == 1:
        return f"The header has no column for {group[0]} (required); expected: {', '.join(wanted)}."
    return (
        f"The header has none of the columns for {' / '.join(group)} (one is required); "
        f"expected one of: {', '.join(wanted)}."
    )


def _with_progress(rows: Iterator[Row], progress: Progress | None, total: int) -> Iterator[Row]:
    if progress is None:
        yield from rows
        return
    done = 0
    for row in rows:
        done += 1
        if done % 2000 == 0:
            progress(2000, total)
        yield row
    progress(done % 2000, total)
