"""Writes of the engagement app: the bulk touch path shared by CSV import and the REST API.

Touches arrive by the ten thousand, so the per-row work is plain Python on
tuples (no model instances, no per-row queries) and the database work is
set-based: per batch, one COPY straight into the touch table, or, once a
batch meets a key already stored, COPY into a staging table and one
``INSERT … ON CONFLICT DO NOTHING``. On PostgreSQL a batch's database work runs on a
writer thread over the caller's own connection and transaction while the
caller validates the next batch, so Python and PostgreSQL work at the same
time (:class:`TouchIngest`).
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import re
import sys
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any

from django.db import (
    DEFAULT_DB_ALIAS,
    DataError,
    IntegrityError,
    connection,
    connections,
    transaction,
)
from django.db.models.functions import Lower
from django.utils import timezone

from abm_site.csvio import (
    CellError,
    chunked,
    normalize_key,
    parse_datetime,
    parse_decimal,
    text_key,
)
from abm_site.db import in_values
from accounts.models import Account, Stakeholder
from accounts.selectors import AccountIndex, account_index, clean_domain

from .choices import Direction, FunnelPosition, TouchKind
from .models import Program, Touch

#: Keys a touch dict may carry. Accounts are named by ``account_id``,
#: ``account_domain`` or ``account_name``; stakeholders by ``stakeholder_id`` or
#: ``stakeholder_email`` (which also names the account when the row names none);
#: programs by ``program_id`` or ``program`` (its name).
TOUCH_FIELDS: tuple[str, ...] = (
    "account_id",
    "account_domain",
    "account_name",
    "stakeholder_id",
    "stakeholder_email",
    "program_id",
    "program",
    "kind",
    "channel",
    "direction",
    "occurred_at",
    "url",
    "asset",
    "funnel_position",
    "engagement_minutes",
    "cost",
    "source",
    "external_id",
)
#: Touches one request to the bulk endpoint may carry (more answers 413).
MAX_BULK_TOUCHES = 10_000
#: Rows per batch of ``touch_bulk_create`` (one INSERT each on PostgreSQL): a
#: 10,000-touch request is four, so PostgreSQL stores one while Python validates the next.
BULK_BATCH = 2_500
#: The first batch is smaller and each next one twice the size up to ``BULK_BATCH``:
#: PostgreSQL waits only for a small batch to be validated before it starts writing.
FIRST_BATCH = 500

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
    "source",
    "external_id",
)
_SOURCE, _EXTERNAL_ID = 12, 13  # positions in a COPY record
_COLUMNS_SQL = ", ".join(_COPY_COLUMNS)
_TEMP_TABLE_SQL = """
CREATE TEMP TABLE _touch_in (
    account_id bigint NOT NULL, stakeholder_id bigint, program_id bigint,
    kind varchar(25) NOT NULL, channel varchar(50) NOT NULL, direction varchar(8) NOT NULL,
    occurred_at timestamptz NOT NULL, url varchar(2000) NOT NULL, asset varchar(255) NOT NULL,
    funnel_position varchar(4) NOT NULL, engagement_minutes numeric(8, 2) NOT NULL,
    cost numeric(12, 2) NOT NULL, source varchar(50) NOT NULL, external_id varchar(255) NOT NULL
) ON COMMIT DROP
"""
_CHUNK_SAVEPOINT = "touch_chunk"
_UNIQUE_VIOLATION = "23505"  # SQLSTATE


@dataclass(frozen=True)
class TouchRejection:
    """A touch that was not stored: its position in the input, the field and why."""

    index: int
    field: str
    reason: str


@dataclass
class BulkTouchResult:
    """Outcome of :func:`touch_bulk_create` (or of one :meth:`TouchIngest.add`).

    ``accepted`` touches were stored; ``duplicates`` had a (source,
    external id) already stored, or repeated earlier in the same call.
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: list[TouchRejection] = field(default_factory=list)
    accounts_marked: int = 0
    account_ids: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [
                {"index": r.index, "field": r.field, "reason": r.reason} for r in self.rejected
            ],
        }

    def absorb(self, other: BulkTouchResult, offset: int = 0) -> None:
        """Add ``other``'s counts; its indexes count from ``offset`` in this result's input."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(
            TouchRejection(r.index + offset, r.field, r.reason) for r in other.rejected
        )
        self.accounts_marked += other.accounts_marked
        self.account_ids |= other.account_ids


@dataclass(frozen=True)
class ParseOptions:
    """How text values are read (a CSV mapping's options; the API uses the defaults)."""

    datetime_formats: Sequence[str] = ()
    excel_dates: bool = False
    decimal_comma: bool = False


class _Reject(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason


# --------------------------------------------------------------------------- one row

_KINDS = frozenset(TouchKind.values)
_KIND_KEYS = {normalize_key(v): v for v in TouchKind.values} | {
    normalize_key(label): v for v, label in TouchKind.choices
}
_DIRECTION_VALUES = frozenset(Direction.values)
_DIRECTIONS = {normalize_key(v): v for v in Direction.values}
_INBOUND: str = Direction.INBOUND.value
_POSITION_VALUES = frozenset(FunnelPosition.values)
_POSITIONS = {normalize_key(v): v for v in FunnelPosition.values} | {
    normalize_key(label): v for v, label in FunnelPosition.choices
}
#: Amounts typed plainly (``12``, ``1.5``) that fit their column: read without parse_decimal.
_PLAIN_AMOUNT = {digits: re.compile(rf"\d{{1,{digits - 2}}}(?:\.\d{{1,2}})?") for digits in (8, 12)}
_ZERO = Decimal("0.00")
_fromisoformat = dt.datetime.fromisoformat


def _text(name: str, value: Any, max_length: int) -> str:
    """A present (truthy) value as trimmed text: no NUL, at most ``max_length`` characters."""
    if value.__class__ is not str:
        value = str(value)
    value = value.strip()
    if "\x00" in value:
        raise _Reject(name, "contains a NUL character")
    if len(value) > max_length:
        raise _Reject(name, f"is {len(value):,} characters long; at most {max_length} allowed")
    return value


def _int_ref(name: str, value: Any) -> int | None:
    """A present (not None, not "") id value; ``None`` when it is blank text."""
    if isinstance(value, bool):
        raise _Reject(name, "must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text:
            return None
        # ASCII digits only: int() refuses "²" (a digit to isdigit) and 4,300+ digits.
        if not (text.isascii() and text.isdigit()):
            raise _Reject(name, f"'{text[:50]}' is not an id (a whole number)")
        if len(text) > 19:
            raise _Reject(name, f"'{text[:50]}…' is not a valid id")
        number = int(text)
    if number < 1 or number > 2**63 - 1:
        raise _Reject(name, f"{number} is not a valid id")
    return number


def _amount(name: str, value: Any, max_digits: int, options: ParseOptions) -> Decimal:
    """A present amount: plain text fast, anything else through ``parse_decimal``."""
    if value.__class__ is not str:
        if isinstance(value, float):
            value = repr(value)
        elif isinstance(value, Decimal | int) and not isinstance(value, bool):
            value = str(value)
        elif not isinstance(value, str):
            raise _Reject(name, "must be a number")
    text = value.strip()
    if not text:
        return _ZERO
    if _PLAIN_AMOUNT[max_digits].fullmatch(text):
        return Decimal(text)
    try:
        return parse_decimal(
            text, decimal_comma=options.decimal_comma, max_digits=max_digits, decimal_places=2
        )
    except CellError as exc:
        raise _Reject(name, str(exc)) from None


def _moment(value: Any, options: ParseOptions) -> str:
    """``occurred_at`` as ISO 8601 text in UTC: what COPY stores and the content key hashes."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _Reject("occurred_at", "is required")
        try:
            moment = _fromisoformat(text)
        except ValueError:
            try:
                moment = parse_datetime(
                    text, formats=options.datetime_formats, excel_serial=options.excel_dates
                )
            except CellError as exc:
                raise _Reject("occurred_at", str(exc)) from None
    elif isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif value is None:
        raise _Reject("occurred_at", "is required")
    else:
        raise _Reject("occurred_at", "must be an ISO 8601 date-time")
    if moment.tzinfo is dt.UTC:
        return moment.isoformat()
    if moment.tzinfo is None:
        moment = timezone.make_aware(moment)
    # PostgreSQL stores offsets up to ±15:59 only; Python allows ±23:59 (API fuzzing).
    try:
        return moment.astimezone(dt.UTC).isoformat()
    except OverflowError:
        raise _Reject("occurred_at", "is out of the representable date range") from None


def _kind(raw: Any) -> str:
    # An array or object is never a kind (its text could look like one).
    kind = None if isinstance(raw, list | dict) else _KIND_KEYS.get(normalize_key(str(raw or "")))
    if kind is None:
        if raw is None or str(raw).strip() == "":
            raise _Reject("kind", "is required")
        raise _Reject("kind", f"'{str(raw)[:50]}' is not a touch kind")
    return kind


def _direction(raw: Any) -> str:
    direction = _DIRECTIONS.get(normalize_key(str(raw)))
    if direction is None:
        raise _Reject("direction", f"'{str(raw)[:50]}' is not inbound/outbound")
    return direction


#: Positions in a cleaned row (a tuple: 10,000 of them per request).
(
    _ACCOUNT_ID,
    _DOMAIN,
    _NAME,
    _STAKEHOLDER_ID,
    _EMAIL,
    _PROGRAM_ID,
    _PROGRAM,
) = range(7)
#: Where a cleaned row's values (``kind`` … ``external_id``, in COPY order) start.
_VALUES = 7


def _clean(
    row: Any,
    default_source: str,
    options: ParseOptions,
    domains: dict,
    keys: tuple[str, ...] = TOUCH_FIELDS,
) -> tuple:
    """Validate one touch dict into a tuple; ``_Reject`` on the first bad field.

    Fields are checked in a fixed order (choices first, then the references,
    then the values) so the field a rejection names does not depend on the
    path. ``domains`` memoises domain normalisation: a batch names few
    accounts many times. ``keys`` are the row's keys for ``TOUCH_FIELDS``
    (the API spells some differently), so rows need no renamed copy.
    """
    if not isinstance(row, dict):
        raise _Reject("", "each touch must be an object")
    (
        k_account_id,
        k_account_domain,
        k_account_name,
        k_stakeholder_id,
        k_stakeholder_email,
        k_program_id,
        k_program,
        k_kind,
        k_channel,
        k_direction,
        k_occurred_at,
        k_url,
        k_asset,
        k_funnel_position,
        k_engagement_minutes,
        k_cost,
        k_source,
        k_external_id,
    ) = keys
    get = row.get
    kind = get(k_kind)
    if kind.__class__ is not str or kind not in _KINDS:
        kind = _kind(kind)
    direction = get(k_direction)
    if not direction:
        direction = _INBOUND
    elif direction.__class__ is not str or direction not in _DIRECTION_VALUES:
        direction = _direction(direction)
    position = get(k_funnel_position)
    if not position:
        position = ""
    elif position.__class__ is not str or position not in _POSITION_VALUES:
        position = _POSITIONS.get(normalize_key(str(position)))
        if position is None:
            raise _Reject("funnel_position", "must be tofu, mofu or bofu")
    domain = None
    value = get(k_account_domain)
    if value:
        raw_domain = _text("account_domain", value, 253)
        if raw_domain:
            domain = domains.get(raw_domain)
            if domain is None:
                try:
                    domain = domains[raw_domain] = clean_domain(raw_domain)
                except ValueError as exc:
                    raise _Reject("account_domain", str(exc)) from None
    value = get(k_stakeholder_email)
    email = _text("stakeholder_email", value, 254).lower() if value else ""
    value = get(k_account_id)
    account_id = None if value is None or value == "" else _int_ref("account_id", value)
    value = get(k_account_name)
    name = _text("account_name", value, 255) if value else ""
    value = get(k_stakeholder_id)
    stakeholder_id = None if value is None or value == "" else _int_ref("stakeholder_id", value)
    value = get(k_program_id)
    program_id = None if value is None or value == "" else _int_ref("program_id", value)
    value = get(k_program)
    program = _text("program", value, 255) if value else ""
    value = get(k_channel)
    channel = _text("channel", value, 50) if value else ""
    occurred_at = _moment(get(k_occurred_at), options)
    value = get(k_url)
    url = _text("url", value, 2000) if value else ""
    value = get(k_asset)
    asset = _text("asset", value, 255) if value else ""
    value = get(k_engagement_minutes)
    minutes = (
        _ZERO if value is None or value == "" else _amount("engagement_minutes", value, 8, options)
    )
    value = get(k_cost)
    cost = _ZERO if value is None or value == "" else _amount("cost", value, 12, options)
    value = get(k_source)
    source = (_text("source", value, 50) if value else "") or default_source
    value = get(k_external_id)
    external_id = _text("external_id", value, 255) if value else ""
    if not (account_id or domain or name or stakeholder_id or email):
        raise _Reject("account_id", "names no account (give account_id, account_domain or a name)")
    # The references, then the values in COPY order (see _records).
    refs = (account_id, domain, name, stakeholder_id, email, program_id, program)
    values = (kind, channel, direction, occurred_at, url, asset, position, minutes, cost)
    return (*refs, *values, source, external_id)


# --------------------------------------------------------------------------- references


@dataclass
class _Asks:
    """References a batch names that no earlier batch did: what to look up for it."""

    ids: set[int] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    stakeholder_ids: set[int] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    program_ids: set[int] = field(default_factory=set)
    program_names: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any(
            (
                self.ids,
                self.domains,
                self.names,
                self.stakeholder_ids,
                self.emails,
                self.program_ids,
                self.program_names,
            )
        )


class _References:
    """Accounts, stakeholders and programs named by the rows, fetched once per ingest.

    Each batch queries only the references no earlier batch named (one
    query per kind of reference), so a 200,000-row import naming 2,000
    accounts looks each of them up about once. ``new()`` runs on the
    caller's thread, ``fetch()`` where the database is used.
    """

    def __init__(self) -> None:
        self.accounts = AccountIndex()
        self.stakeholders_by_id: dict[int, int] = {}
        self.by_email: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.programs: set[int] = set()
        self.programs_by_name: dict[str, int] = {}
        self._asked = _Asks()

    def new(self, cleaned: list[tuple[int, tuple]]) -> _Asks:
        """What ``cleaned`` names that no earlier batch did (now counted as asked for)."""
        asks = _Asks(
            ids={c[_ACCOUNT_ID] for _, c in cleaned if c[_ACCOUNT_ID]},
            domains={c[_DOMAIN] for _, c in cleaned if c[_DOMAIN]},
            names={c[_NAME] for _, c in cleaned if c[_NAME]},
            stakeholder_ids={c[_STAKEHOLDER_ID] for _, c in cleaned if c[_STAKEHOLDER_ID]},
            emails={c[_EMAIL] for _, c in cleaned if c[_EMAIL]},
            program_ids={c[_PROGRAM_ID] for _, c in cleaned if c[_PROGRAM_ID]},
            program_names={c[_PROGRAM].lower() for _, c in cleaned if c[_PROGRAM]},
        )
        for name, values in vars(asks).items():
            asked = getattr(self._asked, name)
            values -= asked
            asked |= values
        return asks

    def fetch(self, asks: _Asks) -> None:
        """Look ``asks`` up: at most one query per kind of reference."""
        if asks.ids or asks.domains or asks.names:
            found = account_index(ids=asks.ids, domains=asks.domains, names=asks.names)
            self.accounts.ids |= found.ids
            self.accounts.by_domain.update(found.by_domain)
            self.accounts.by_name.update(found.by_name)
        if asks.stakeholder_ids:
            self.stakeholders_by_id.update(
                Stakeholder.objects.filter(
                    in_values("id", asks.stakeholder_ids, "bigint")
                ).values_list("id", "account_id")
            )
        if asks.emails:
            for email, account_id, sid in Stakeholder.objects.filter(
                in_values("email", asks.emails, "text")
            ).values_list("email", "account_id", "id"):
                self.by_email[email].append((account_id, sid))
        if asks.program_ids:
            self.programs.update(
                Program.objects.filter(in_values("id", asks.program_ids, "bigint")).values_list(
                    "id", flat=True
                )
            )
        if asks.program_names:
            self.programs_by_name.update(
                Program.objects.annotate(lname=Lower("name"))
                .filter(lname__in=asks.program_names)
                .values_list("lname", "id")
            )


def _records(
    cleaned: list[tuple[int, tuple]], refs: _References, result: BulkTouchResult
) -> list[tuple[int, tuple]]:
    """Resolve the references of cleaned rows into (index, COPY record); drop repeats.

    A row without an external id gets one derived from a hash of its
    content; a (source, external id) seen earlier in ``cleaned`` is counted
    as a duplicate (first occurrence wins).
    """
    index_ids = refs.accounts.ids
    by_domain = refs.accounts.by_domain
    resolve = refs.accounts.resolve
    stakeholders_by_id = refs.stakeholders_by_id
    by_email = refs.by_email
    programs = refs.programs
    programs_by_name = refs.programs_by_name
    seen: set[tuple[str, str]] = set()
    records: list[tuple[int, tuple]] = []
    rejected = result.rejected
    for index, c in cleaned:
        account_id, domain, name, stakeholder_id, email, program_id, program = c[:_VALUES]
        try:
            # The usual cases first; AccountIndex.resolve decides (and words) the rest.
            if account_id is not None and account_id in index_ids:
                pass
            elif domain and domain in by_domain:
                account_id = by_domain[domain]
            elif account_id or domain or name:
                account_id, field_name, reason = resolve(
                    account_id=account_id, domain=domain, name=name
                )
                if account_id is None:
                    raise _Reject(field_name, reason)
            if stakeholder_id:
                owner = stakeholders_by_id.get(stakeholder_id)
                if owner is None:
                    raise _Reject("stakeholder_id", f"no stakeholder has id {stakeholder_id}")
                if account_id is not None and owner != account_id:
                    raise _Reject("stakeholder_id", "the stakeholder belongs to another account")
                account_id = owner
            elif email:
                matches = by_email.get(email, [])
                if account_id is not None:
                    matches = [m for m in matches if m[0] == account_id]
                if not matches:
                    raise _Reject(
                        "stakeholder_email",
                        f"no stakeholder with the e-mail '{email[:100]}'"
                        + (" at this account" if account_id is not None else ""),
                    )
                if len(matches) > 1:
                    raise _Reject(
                        "stakeholder_email", "several accounts have a stakeholder with it"
                    )
                account_id, stakeholder_id = matches[0]
            if program_id:
                if program_id not in programs:
                    raise _Reject("program_id", f"no program has id {program_id}")
            elif program:
                program_id = programs_by_name.get(program.lower())
                if program_id is None:
                    raise _Reject("program", f"no program is named '{program[:100]}'")
        except _Reject as exc:
            rejected.append(TouchRejection(index, exc.field, exc.reason))
            continue
        values = c[_VALUES:]
        source, external_id = values[-2:]
        if not external_id:
            external_id = _content_key(account_id, stakeholder_id, program_id, values)
        key = (source, external_id)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        records.append((index, (account_id, stakeholder_id, program_id, *values[:-1], external_id)))
    return records


def _content_key(
    account_id: int, stakeholder_id: int | None, program_id: int | None, values: tuple
) -> str:
    """``content_key()`` of a resolved row (the same parts, joined without a generator)."""
    kind, channel, direction, occurred_at, url, asset, position, minutes, cost = values[:9]
    return text_key(
        f"{account_id}\x1f{'' if stakeholder_id is None else stakeholder_id}\x1f"
        f"{'' if program_id is None else program_id}\x1f{kind}\x1f{occurred_at}\x1f"
        f"{channel}\x1f{direction}\x1f{url}\x1f{asset}\x1f{position}\x1f{minutes}\x1f{cost}"
    )


# --------------------------------------------------------------------------- writes


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
        url, asset, position, minutes, cost, source, external_id = record[7:]
        if search(channel) or search(url) or search(asset) or search(source) or search(external_id):
            channel, url, asset, source, external_id = (
                value.translate(_COPY_ESCAPES)
                for value in (channel, url, asset, source, external_id)
            )
        append(
            f"{account_id}\t{_NULL if stakeholder_id is None else stakeholder_id}\t"
            f"{_NULL if program_id is None else program_id}\t{kind}\t{channel}\t{direction}\t"
            f"{occurred_at}\t{url}\t{asset}\t{position}\t{minutes}\t{cost}\t{source}\t"
            f"{external_id}\n"
        )
    return "".join(lines).encode()


def _touch(record: tuple) -> Touch:
    values = dict(zip(_COPY_COLUMNS, record, strict=True))
    values["occurred_at"] = _fromisoformat(values["occurred_at"])
    return Touch(**values)


# --------------------------------------------------------------------------- the pipeline

_Done = Callable[[BulkTouchResult], None]


class TouchIngest:
    """Touches stored batch by batch in one transaction (the caller's, or its own).

    ``add(rows, done)`` validates a batch and builds its rows on the
    caller's thread. On PostgreSQL the database work runs on a writer
    thread meanwhile: one COPY and INSERT … ON CONFLICT per batch (which
    also marks the accounts ``needs_recompute``), and the lookups of the
    references a batch names that no earlier batch did. A batch whose
    lookups are queued waits (staged) until the next ``add`` or the end of
    the block, so its rows are built while PostgreSQL still writes the
    batch before it and the writer thread runs nothing but SQL. The writer
    borrows the caller's connection (Django's thread sharing), so it works
    in the caller's transaction and sees its uncommitted rows. Elsewhere
    all of it runs inline. ``done(result)`` is called on the caller's
    thread, in order, once a batch is written (its indexes count within
    that batch); leaving the block writes what is staged, waits for the
    last write and commits, or rolls back on an error. While the block is
    open the caller must not use the database.
    """

    #: Batches written or queued but not yet reported before ``add`` waits for one.
    depth = 2

    def __init__(
        self,
        *,
        source: str = "",
        options: ParseOptions | None = None,
        keys: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.options = options or ParseOptions()
        self._keys = _row_keys(keys)
        self._domains: dict[str, str | None] = {}
        self._refs = _References()
        self._pending: deque[tuple[Future | None, BulkTouchResult, _Done]] = deque()
        #: A batch whose lookups the writer is making: (cleaned rows, result, done, lookups).
        self._staged: tuple[list, BulkTouchResult, _Done, Future] | None = None
        self._last: Future | None = None  # the writer's last job
        self._atomic: Any = None
        self._shared: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._writer: _Writer = _OrmWriter()
        self._started = False
        self._failed = False

    def __enter__(self) -> TouchIngest:
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        _NO_GC.acquire()
        if connection.vendor == "postgresql":
            self._writer = _PostgresWriter()
            self._shared = connections[DEFAULT_DB_ALIAS]
            self._shared.inc_thread_sharing()
            _SHORT_SWITCH.acquire()
            self._executor = ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="touch-writer",
                initializer=_use_connection,
                initargs=(self._shared,),
            )
        return self

    def add(self, rows: Sequence[Any], done: _Done) -> None:
        """Validate ``rows`` now; store them (on the writer thread on PostgreSQL), then ``done``."""
        self._report(wait=False)  # a writer error surfaces here, before more work
        result = BulkTouchResult()
        cleaned: list[tuple[int, tuple]] = []
        clean, source, options = _clean, self.source, self.options
        domains, keys = self._domains, self._keys
        for index, row in enumerate(rows):
            try:
                cleaned.append((index, clean(row, source, options, domains, keys)))
            except _Reject as exc:
                result.rejected.append(TouchRejection(index, exc.field, exc.reason))
        asks = self._refs.new(cleaned)
        executor = self._executor
        if executor is None:
            self._refs.fetch(asks)
            records = _records(cleaned, self._refs, result)
            if records:
                self._write(records, result, None)
            self._pending.append((None, result, done))
            self._report(wait=False)
            return
        lookups = None
        if asks:
            if self._staged is None and (self._last is None or self._last.done()):
                self._refs.fetch(asks)  # the writer is idle: the connection is free
            else:
                lookups = self._last = executor.submit(self._fetch, asks)
        staged, self._staged = self._staged, None
        if staged is not None:
            self._submit(executor, *_looked_up(staged))
        if lookups is None:
            self._submit(executor, cleaned, result, done)
        else:
            self._staged = (cleaned, result, done, lookups)
        self._report(wait=len(self._pending) > self.depth)

    def _submit(
        self, executor: ThreadPoolExecutor, cleaned: list, result: BulkTouchResult, done: _Done
    ) -> None:
        """Build a batch's rows on this thread and queue their write."""
        records = _records(cleaned, self._refs, result)
        future = None
        if records:
            future = self._last = executor.submit(self._write, records, result, _copy_text(records))
        self._pending.append((future, result, done))

    def _fetch(self, asks: _Asks) -> None:
        """Lookups, on the writer thread; skipped after a failure."""
        if self._failed:
            return
        try:
            self._refs.fetch(asks)
        except BaseException:
            self._failed = True
            raise

    def _write(
        self, records: list[tuple[int, tuple]], result: BulkTouchResult, data: bytes | None
    ) -> None:
        """Write one batch; after a failure the queued batches are skipped."""
        if self._failed:
            return
        try:
            if not self._started:
                self._started = True
                self._writer.start()
            self._writer.write(records, result, data)
        except BaseException:
            self._failed = True
            raise

    def _report(self, *, wait: bool, all_: bool = False) -> None:
        """Hand written batches to their ``done``; wait for the oldest when asked."""
        while self._pending:
            future, result, done = self._pending[0]
            if future is not None and not (wait or all_ or future.done()):
                return
            self._pending.popleft()
            wait = False
            if future is not None:
                future.result()  # re-raises the writer's error here
            result.rejected.sort(key=_by_index)
            done(result)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            staged, self._staged = self._staged, None
            if exc_type is None:
                if staged is not None and self._executor is not None:
                    self._submit(self._executor, *_looked_up(staged))
                self._report(wait=True, all_=True)
                if self._started:
                    self._writer.finish()
        except BaseException as error:
            self._stop()
            self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        self._stop()
        self._atomic.__exit__(exc_type, exc, tb)

    def _stop(self) -> None:
        """Let a running write finish (the connection is shared); drop the queued ones."""
        if self._executor is not None:
            self._failed = True
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
            self._shared.dec_thread_sharing()
            _SHORT_SWITCH.release()
        _NO_GC.release()


def _looked_up(
    staged: tuple[list, BulkTouchResult, _Done, Future],
) -> tuple[list, BulkTouchResult, _Done]:
    """A staged batch once the writer has made its lookups (their error raises here)."""
    cleaned, result, done, lookups = staged
    lookups.result()
    return cleaned, result, done


class _ProcessSetting:
    """A process-wide setting changed while any ingest runs; the last one out restores it."""

    def __init__(
        self, get: Callable[[], Any], put: Callable[[Any], None], value: Callable[[Any], Any]
    ) -> None:
        self._get, self._put, self._value = get, put, value
        self._lock = threading.Lock()
        self._users = 0
        self._saved: Any = None

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = self._get()
                self._put(self._value(self._saved))
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._put(self._saved)


def _gc_enabled(on: bool) -> None:
    if on:
        gc.enable()
    else:
        gc.disable()


#: No cyclic garbage collection while an ingest runs. Its batches are thousands of
#: container objects that live a little while, which set off a full collection every
#: few batches: a quarter of an import's Python time. Its data makes no cycles (they
#: are freed by reference counting), and collection resumes at the end.
_NO_GC = _ProcessSetting(gc.isenabled, _gc_enabled, lambda saved: False)
#: A short GIL switch interval while a writer thread runs. The writer mostly waits for
#: PostgreSQL; after each reply it needs the GIL back, and with Python's 5 ms default a
#: busy caller thread keeps it that long every time (a tenth of an import's time).
_SHORT_SWITCH = _ProcessSetting(
    sys.getswitchinterval, sys.setswitchinterval, lambda saved: min(saved, 0.001)
)


def _use_connection(shared: Any) -> None:
    """Writer-thread initializer: the ORM in this thread uses the caller's connection."""
    connections[DEFAULT_DB_ALIAS] = shared


def _by_index(rejection: TouchRejection) -> int:
    return rejection.index


def _row_keys(keys: Mapping[str, str] | None) -> tuple[str, ...]:
    """``TOUCH_FIELDS`` as the rows spell them; ``keys`` maps a row key to its field."""
    if not keys:
        return TOUCH_FIELDS
    unknown = set(keys.values()) - set(TOUCH_FIELDS)
    if unknown:
        raise ValueError(f"not touch fields: {', '.join(sorted(unknown))}")
    key_of = {field_name: key for key, field_name in keys.items()}
    return tuple(key_of.get(name, name) for name in TOUCH_FIELDS)


def touch_bulk_create(
    rows: Sequence[Any],
    *,
    source: str = "",
    options: ParseOptions | None = None,
    keys: Mapping[str, str] | None = None,
) -> BulkTouchResult:
    """Validate and store touches set-based; idempotent on (source, external id).

    Every row is checked first; rejected rows are returned with their index
    and never block the valid ones. A row without an external id gets one
    derived from a hash of its content (account, stakeholder, program,
    kind, time, channel, direction, url, asset, position, minutes, cost),
    so re-sending the same touch is a duplicate, not a second touch. On
    PostgreSQL the rows go in batches of up to ``BULK_BATCH`` by COPY
    (see :class:`_PostgresWriter`; the unique index on the keys also makes
    concurrent requests with the same keys count as duplicates) while the
    next batch is validated (:class:`TouchIngest`); on SQLite
    through ``bulk_create(ignore_conflicts=True)``. The accounts that
    received touches are marked ``needs_recompute`` in the same
    transaction. ``keys`` maps row keys to fields for rows that spell some
    fields differently (rejections still name the fields).
    """
    total = BulkTouchResult()
    with TouchIngest(source=source, options=options, keys=keys) as ingest:
        start, size = 0, min(FIRST_BATCH, BULK_BATCH)
        while start < len(rows):
            ingest.add(rows[start : start + size], functools.partial(total.absorb, offset=start))
            start += size
            size = min(size * 2, BULK_BATCH)
    total.rejected.sort(key=_by_index)
    return total
