"""Storing a batch's records: COPY on PostgreSQL, the ORM elsewhere, refused rows isolated.

Per batch, one COPY straight into the touch table, or, once a batch meets a
key already stored, COPY into a staging table and one ``INSERT … ON
CONFLICT DO NOTHING``; each in a savepoint, so a batch the database refuses
is retried in halves down to the rows it refuses.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction

from abm_site.csvio import chunked
from accounts.models import Account

from ..models import Touch
from .rows import BulkTouchResult, TouchRejection, _fromisoformat

_COPY_COLUMNS = (
    "account_id",
    "stakeholder_id",
    "program_id",
    "kind",
    "channel",
    "direction",
    "occurred_at",
    "url",
    "asset",
    "funnel_position",
    "engagement_minutes",
    "cost",
    "quantity",
    "source",
    "external_id",
)
_SOURCE, _EXTERNAL_ID = 13, 14  # positions in a COPY record
_COLUMNS_SQL = ", ".join(_COPY_COLUMNS)
_TEMP_TABLE_SQL = """
CREATE TEMP TABLE _touch_in (
    account_id bigint NOT NULL, stakeholder_id bigint, program_id bigint,
    kind varchar(25) NOT NULL, channel varchar(50) NOT NULL, direction varchar(8) NOT NULL,
    occurred_at timestamptz NOT NULL, url varchar(2000) NOT NULL, asset varchar(255) NOT NULL,
    funnel_position varchar(4) NOT NULL, engagement_minutes numeric(8, 2) NOT NULL,
    cost numeric(12, 2) NOT NULL, quantity integer NOT NULL, source varchar(50) NOT NULL,
    external_id varchar(255) NOT NULL
) ON COMMIT DROP
"""
_CHUNK_SAVEPOINT = "touch_chunk"
_UNIQUE_VIOLATION = "23505"  # SQLSTATE


class _Writer:
    """Stores a chunk's records; when the database refuses the chunk, isolates the rows.

    Rows are validated before they get here, so a refusal is rare (an
    account deleted meanwhile by another transaction, a limit the
    validation missed). The chunk is then retried in halves, each in a
    savepoint, down to the single rows the database refuses: those are
    rejected with its message and every other row is stored.
    """

    refused: tuple[type[BaseException], ...] = (IntegrityError, DataError)

    def write(
        self, records: list[tuple[int, tuple]], result: BulkTouchResult, data: bytes | None = None
    ) -> None:
        """Store ``records`` (``data``: the same as COPY text, when the caller made it)."""
        self._store(records, result, data)

    def start(self) -> None:
        """Called once before the first write, on the thread that writes."""

    def finish(self) -> None:
        """Called once after the last write, on the caller's thread."""

    def _store(
        self, records: list[tuple[int, tuple]], result: BulkTouchResult, data: bytes | None = None
    ) -> None:
        try:
            stored, marked = self._insert(records, data)
        except self.refused as exc:
            if len(records) == 1:
                result.rejected.append(_refusal(records[0][0], exc))
                return
            half = len(records) // 2
            self._store(records[:half], result)
            self._store(records[half:], result)
            return
        accepted = sum(stored.values())
        result.accepted += accepted
        result.duplicates += len(records) - accepted
        result.account_ids.update(stored)
        result.accounts_marked += marked

    def _insert(self, records: list[tuple[int, tuple]], data: bytes | None) -> tuple[Counter, int]:
        """Insert ``records`` and mark their accounts in a savepoint (rolled back on error).

        Returns the touches stored per account and how many accounts were
        newly marked ``needs_recompute``.
        """
        raise NotImplementedError


def _refusal(index: int, exc: BaseException) -> TouchRejection:
    """The database's refusal of one row, naming the column when the error does."""
    cause = exc.__cause__ or exc
    diag = getattr(cause, "diag", None)
    column = getattr(diag, "column_name", None) or ""
    # A foreign key names it in the detail, COPY in the context.
    detail = getattr(diag, "message_detail", None) or ""
    context = getattr(diag, "context", None) or ""
    match = re.match(r"Key \((\w+)\)", detail) or re.search(r", column (\w+):", context)
    if not column and match:
        column = match.group(1)
    message = (getattr(diag, "message_primary", None) or str(exc)).strip().splitlines()
    reason = message[0] if message else type(exc).__name__
    return TouchRejection(
        index,
        column if column in _COPY_COLUMNS else "",
        f"the database refused the row: {reason[:300]}",
    )


class _PostgresWriter(_Writer):
    """COPY straight into the touch table; a part with stored keys goes the safe way.

    A part is first COPYed into the touch table itself (PostgreSQL's
    fastest insert). If one of its (source, external id) keys is already
    stored, the unique index refuses the whole COPY, which is rolled back
    to its savepoint; that part, and every later part of this ingest, then
    goes through a staging table and ``INSERT … ON CONFLICT DO NOTHING``,
    which skips the stored keys (also those a concurrent request commits
    first). So a new batch costs one COPY and a re-sent one is counted
    exactly as before.

    The touch foreign keys are checked per statement while it writes (they
    are deferred to the commit otherwise), so a row naming an account
    deleted meanwhile fails its own part, where it can be isolated, rather
    than the whole commit.
    """

    def __init__(self) -> None:
        table = Touch._meta.db_table
        self._table = table
        self._foreign_keys = ""
        self._direct = True  # until a part meets a stored key
        self._staging = False  # the staging table exists
        self._direct_sql = f"COPY {table} ({_COLUMNS_SQL}) FROM STDIN"
        self._copy_sql = f"COPY _touch_in ({_COLUMNS_SQL}) FROM STDIN"
        self._insert_sql = (
            f"WITH inserted AS (INSERT INTO {table} ({_COLUMNS_SQL}) "  # noqa: S608  # nosec B608 - constant names
            f"SELECT {_COLUMNS_SQL} FROM _touch_in "
            "ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING "
            "RETURNING account_id) "
            "SELECT account_id, count(*) FROM inserted GROUP BY account_id"
        )
        # One round trip ends a part. The accounts are locked in id order (a sorted
        # array), so two writers marking the same accounts cannot deadlock. The
        # staging table is emptied in place (it was created in this transaction, so
        # TRUNCATE needs no new file).
        mark = (
            f"UPDATE {Account._meta.db_table} SET needs_recompute = true "  # noqa: S608  # nosec B608
            "WHERE id = ANY(%s) AND NOT needs_recompute; "
        )
        self._direct_end_sql = f"{mark}RELEASE SAVEPOINT {_CHUNK_SAVEPOINT}"
        self._end_sql = f"{mark}TRUNCATE _touch_in; RELEASE SAVEPOINT {_CHUNK_SAVEPOINT}"

    def start(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND contype = 'f' AND condeferrable AND condeferred ORDER BY conname",
                [self._table],
            )
            names = [row[0] for row in cursor.fetchall()]
            self._foreign_keys = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
            if self._foreign_keys:
                cursor.execute(f"SET CONSTRAINTS {self._foreign_keys} IMMEDIATE")

    def finish(self) -> None:
        # After an error the ingest's transaction (or savepoint) is rolled back instead.
        statements = ["DROP TABLE _touch_in"] if self._staging else []
        if self._foreign_keys:
            statements.append(f"SET CONSTRAINTS {self._foreign_keys} DEFERRED")
        if statements:
            with connection.cursor() as cursor:
                cursor.execute("; ".join(statements))

    def _insert(self, records: list[tuple[int, tuple]], data: bytes | None) -> tuple[Counter, int]:
        if data is None:
            data = _copy_text(records)
        if self._direct:
            try:
                return self._copy_direct(records, data)
            except IntegrityError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != _UNIQUE_VIOLATION:
                    raise
                self._direct = False  # keys are stored already: skip them from now on
        return self._copy_staged(data)

    def _copy_direct(self, records: list[tuple[int, tuple]], data: bytes) -> tuple[Counter, int]:
        stored = Counter(record[0] for _, record in records)
        with connection.cursor() as cursor, _savepoint(cursor):
            with connection.wrap_database_errors, cursor.cursor.copy(self._direct_sql) as copy:
                copy.write(data)
            cursor.execute(self._direct_end_sql, [sorted(stored)])
            return stored, cursor.rowcount

    def _copy_staged(self, data: bytes) -> tuple[Counter, int]:
        with connection.cursor() as cursor:
            if not self._staging:
                # Outside the part's savepoint, so a refused part does not drop it.
                cursor.execute(_TEMP_TABLE_SQL)
                self._staging = True
            with _savepoint(cursor):
                with connection.wrap_database_errors, cursor.cursor.copy(self._copy_sql) as copy:
                    copy.write(data)
                cursor.execute(self._insert_sql)
                stored = Counter(dict(cursor.fetchall()))
                cursor.execute(self._end_sql, [sorted(stored)])
                return stored, cursor.rowcount


@contextmanager
def _savepoint(cursor: Any) -> Iterator[None]:
    """Open the part's savepoint; on an error roll back to it (the caller releases it)."""
    from psycopg.pq import TransactionStatus

    cursor.execute(f"SAVEPOINT {_CHUNK_SAVEPOINT}")
    try:
        yield
    except BaseException:
        status = connection.connection.info.transaction_status
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            cursor.execute(
                f"ROLLBACK TO SAVEPOINT {_CHUNK_SAVEPOINT}; RELEASE SAVEPOINT {_CHUNK_SAVEPOINT}"
            )
        raise


class _OrmWriter(_Writer):
    """SQLite and others: skip keys already stored, then ``bulk_create(ignore_conflicts)``."""

    def _insert(self, records: list[tuple[int, tuple]], data: bytes | None) -> tuple[Counter, int]:
        stored: Counter = Counter()
        with transaction.atomic():
            for batch in chunked([record for _, record in records], 500):
                by_source: dict[str, set[str]] = defaultdict(set)
                for row in batch:
                    by_source[row[_SOURCE]].add(row[_EXTERNAL_ID])
                existing: set[tuple[str, str]] = set()
                for src, ids in by_source.items():
                    existing.update(
                        (src, e)
                        for e in Touch.objects.filter(source=src, external_id__in=ids).values_list(
                            "external_id", flat=True
                        )
                    )
                new = [r for r in batch if (r[_SOURCE], r[_EXTERNAL_ID]) not in existing]
                Touch.objects.bulk_create([_touch(r) for r in new], ignore_conflicts=True)
                stored.update(r[0] for r in new)
            marked = (
                Account.objects.filter(id__in=sorted(stored), needs_recompute=False).update(
                    needs_recompute=True
                )
                if stored
                else 0
            )
        return stored, marked


_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"


def _copy_text(records: list[tuple[int, tuple]]) -> bytes:
    """The records as the body of a text-format COPY, in one piece.

    The writer thread then sends a batch in a few large writes; formatting
    row by row through psycopg there would make it contend for the GIL
    while PostgreSQL waits for data. Only the free-text fields can hold the
    characters COPY escapes (backslash, tab, newline, carriage return);
    NULs were rejected.
    """
    lines = []
    append = lines.append
    search = _COPY_SPECIAL.search
    for _, record in records:
        account_id, stakeholder_id, program_id, kind, channel, direction, occurred_at = record[:7]
        url, asset, position, minutes, cost, quantity, source, external_id = record[7:]
        if search(f"{channel}{url}{asset}{source}{external_id}"):  # one search, not five
            channel, url, asset, source, external_id = (
                value.translate(_COPY_ESCAPES)
                for value in (channel, url, asset, source, external_id)
            )
        append(
            f"{account_id}\t{_NULL if stakeholder_id is None else stakeholder_id}\t"
            f"{_NULL if program_id is None else program_id}\t{kind}\t{channel}\t{direction}\t"
            f"{occurred_at}\t{url}\t{asset}\t{position}\t{minutes}\t{cost}\t{quantity}\t"
            f"{source}\t{external_id}\n"
        )
    return "".join(lines).encode()


def _touch(record: tuple) -> Touch:
    values = dict(zip(_COPY_COLUMNS, record, strict=True))
    values["occurred_at"] = _fromisoformat(values["occurred_at"])
    return Touch(**values)
