"""Storing imported rows: batched creates and updates, upserts by a natural key.

A batch the database refuses is retried row by row, so only the offending
rows are rejected (with the database's message) and the others are stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.utils import timezone

from .mapping import ImportContext, Row


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of at most ``size`` items."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def bulk_write(
    model: type,
    creates: list[tuple[Row, Any]],
    updates: list[tuple[Row, Any]],
    update_fields: Iterable[str],
    ctx: ImportContext,
    *,
    batch_size: int = 1000,
) -> tuple[list[Any], list[Any]]:
    """``bulk_create`` and ``bulk_update`` in batches, each batch in a savepoint.

    Rows are validated before they get here, so a database error is rare
    (a concurrent writer, a constraint the validation missed); when a batch
    fails, its rows are retried one by one so only the offending rows are
    rejected, with the database's message. Returns the objects written.
    """
    from django.db import DatabaseError, transaction

    update_fields = sorted(set(update_fields) | {"updated_at"})
    created: list[Any] = []
    updated: list[Any] = []
    now = timezone.now()
    for _row, obj in updates:
        obj.updated_at = now
    for batch in chunked(creates, batch_size):
        try:
            with transaction.atomic():
                model.objects.bulk_create([obj for _, obj in batch])
            created.extend(obj for _, obj in batch)
        except DatabaseError:
            for row, obj in batch:
                try:
                    with transaction.atomic():
                        obj.save(force_insert=True)
                    created.append(obj)
                except DatabaseError as exc:
                    obj.pk = None
                    ctx.report.reject(row.line, "", _db_reason(exc), row.raw)
    for batch in chunked(updates, batch_size):
        try:
            with transaction.atomic():
                model.objects.bulk_update([obj for _, obj in batch], update_fields)
            updated.extend(obj for _, obj in batch)
        except DatabaseError:
            for row, obj in batch:
                try:
                    with transaction.atomic():
                        obj.save(update_fields=update_fields)
                    updated.append(obj)
                except DatabaseError as exc:
                    ctx.report.reject(row.line, "", _db_reason(exc), row.raw)
    return created, updated


def _db_reason(exc: Exception) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the database refused the row: {message[:300]}"


def apply_values(obj: Any, values: dict[str, Any]) -> set[str]:
    """Set ``values`` on ``obj``; return the names of the fields that changed."""
    changed = set()
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.add(name)
    return changed


def upsert_by_key(
    model: type,
    items: list[tuple[Row, tuple[Any, ...], dict[str, Any]]],
    key_fields: Sequence[str],
    key_label: str,
    ctx: ImportContext,
) -> list[tuple[Any, Any]]:
    """Create or update ``model`` rows by a natural key, counting into the report.

    ``items`` are (row, key, values) with ``key`` the values of
    ``key_fields``. A key repeated in the file rejects the later row. One
    query finds the existing rows. Returns (object, previous object state
    or ``None``) for every created or updated object, so callers can mark
    the accounts they touched.
    """
    first_line: dict[tuple[Any, ...], int] = {}
    unique: list[tuple[Row, tuple[Any, ...], dict[str, Any]]] = []
    for row, key, values in items:
        if key in first_line:
            ctx.report.reject(
                row.line,
                key_label,
                f"same {key_label} as line {first_line[key]}; each record may appear once",
                row.raw,
            )
            continue
        first_line[key] = row.line
        unique.append((row, key, values))
    if not unique:
        return []
    lookup = {f"{name}__in": {key[i] for _, key, _ in unique} for i, name in enumerate(key_fields)}
    existing = {
        tuple(getattr(obj, name) for name in key_fields): obj
        for obj in model.objects.filter(**lookup)
    }
    creates: list[tuple[Row, Any]] = []
    updates: list[tuple[Row, Any]] = []
    previous: dict[int, Any] = {}
    fields: set[str] = set()
    for row, key, values in unique:
        obj = existing.get(key)
        if obj is None:
            creates.append((row, model(**{**values, **dict(zip(key_fields, key, strict=True))})))
            continue
        before = dict(obj.__dict__)
        changed = apply_values(obj, values)
        if changed:
            fields |= changed
            previous[id(obj)] = before
            updates.append((row, obj))
        else:
            ctx.report.unchanged += 1
    created, updated = bulk_write(model, creates, updates, fields, ctx)
    ctx.report.created += len(created)
    ctx.report.updated += len(updated)
    return [(obj, None) for obj in created] + [(obj, previous.get(id(obj))) for obj in updated]
