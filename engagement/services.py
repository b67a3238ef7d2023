"""Writes of the engagement app: the bulk touch path shared by CSV import and the REST API."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from abm_site.csvio import (
    CellError,
    chunked,
    content_key,
    normalize_key,
    parse_datetime,
    parse_decimal,
)
from accounts.importers import account_index, clean_domain
from accounts.models import Account, Stakeholder

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
MAX_BULK_TOUCHES = 10_000

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
_TEMP_TABLE_SQL = """
CREATE TEMP TABLE _touch_in (
    account_id bigint NOT NULL, stakeholder_id bigint, program_id bigint,
    kind varchar(25) NOT NULL, channel varchar(50) NOT NULL, direction varchar(8) NOT NULL,
    occurred_at timestamptz NOT NULL, url varchar(2000) NOT NULL, asset varchar(255) NOT NULL,
    funnel_position varchar(4) NOT NULL, engagement_minutes numeric(8, 2) NOT NULL,
    cost numeric(12, 2) NOT NULL, source varchar(50) NOT NULL, external_id varchar(255) NOT NULL
) ON COMMIT DROP
"""


@dataclass(frozen=True)
class TouchRejection:
    """A touch that was not stored: its position in the input, the field and why."""

    index: int
    field: str
    reason: str


@dataclass
class BulkTouchResult:
    """Outcome of :func:`touch_bulk_create`.

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


_KINDS = frozenset(TouchKind.values)
_KIND_KEYS = {normalize_key(v): v for v in TouchKind.values} | {
    normalize_key(label): v for v, label in TouchKind.choices
}
_DIRECTIONS = {normalize_key(v): v for v in Direction.values}
_POSITIONS = {normalize_key(v): v for v in FunnelPosition.values} | {
    normalize_key(label): v for v, label in FunnelPosition.choices
}
_PLAIN_DECIMAL = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
_ZERO = Decimal("0.00")


def _text(row: dict, name: str, max_length: int) -> str:
    value = row.get(name)
    if not value:
        return ""
    if value.__class__ is not str:
        value = str(value)
    value = value.strip()
    if "\x00" in value:
        raise _Reject(name, "contains a NUL character")
    if len(value) > max_length:
        raise _Reject(name, f"is {len(value):,} characters long; at most {max_length} allowed")
    return value


def _int_ref(row: dict, name: str) -> int | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _Reject(name, "must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text:
            return None
        if not text.isdigit():
            raise _Reject(name, f"'{text[:50]}' is not an id (a whole number)")
        number = int(text)
    if number < 1 or number > 2**63 - 1:
        raise _Reject(name, f"{number} is not a valid id")
    return number


def _amount(row: dict, name: str, max_digits: int, options: ParseOptions) -> Decimal:
    value = row.get(name)
    if value is None or value == "":
        return _ZERO
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _Reject(name, "must be a number")
    text = value.strip()
    if not text:
        return _ZERO
    if _PLAIN_DECIMAL.match(text) and len(text.split(".")[0]) <= max_digits - 2:
        return Decimal(text)
    try:
        return parse_decimal(
            text, decimal_comma=options.decimal_comma, max_digits=max_digits, decimal_places=2
        )
    except CellError as exc:
        raise _Reject(name, str(exc)) from None


def _moment(row: dict, options: ParseOptions) -> dt.datetime:
    value = row.get("occurred_at")
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = parse_datetime(
                    text, formats=options.datetime_formats, excel_serial=options.excel_dates
                )
            except CellError as exc:
                raise _Reject("occurred_at", str(exc)) from None
    elif value is None or (isinstance(value, str) and not value.strip()):
        raise _Reject("occurred_at", "is required")
    else:
        raise _Reject("occurred_at", "must be an ISO 8601 date-time")
    if moment.tzinfo is None:
        moment = timezone.make_aware(moment)
    # PostgreSQL stores offsets up to ±15:59 only; Python allows ±23:59 (API fuzzing).
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise _Reject("occurred_at", "is out of the representable date range") from None


def _clean(row: dict, default_source: str, options: ParseOptions, domains: dict) -> dict:
    """Validate one touch dict; ``_Reject`` on the first bad field.

    ``domains`` memoises domain normalisation: a batch names few accounts many times.
    """
    if not isinstance(row, dict):
        raise _Reject("", "each touch must be an object")
    kind = row.get("kind")
    if kind not in _KINDS:
        kind = _KIND_KEYS.get(normalize_key(str(kind or "")))
        if kind is None:
            raw = row.get("kind")
            if raw is None or str(raw).strip() == "":
                raise _Reject("kind", "is required")
            raise _Reject("kind", f"'{str(raw)[:50]}' is not a touch kind")
    direction = row.get("direction") or Direction.INBOUND
    if direction not in (Direction.INBOUND, Direction.OUTBOUND):
        direction = _DIRECTIONS.get(normalize_key(str(direction)))
        if direction is None:
            raise _Reject("direction", f"'{str(row['direction'])[:50]}' is not inbound/outbound")
    position = row.get("funnel_position") or ""
    if position:
        position = _POSITIONS.get(normalize_key(str(position)))
        if position is None:
            raise _Reject("funnel_position", "must be tofu, mofu or bofu")
    domain = None
    raw_domain = _text(row, "account_domain", 253)
    if raw_domain:
        domain = domains.get(raw_domain)
        if domain is None:
            try:
                domain = domains[raw_domain] = clean_domain(raw_domain)
            except ValueError as exc:
                raise _Reject("account_domain", str(exc)) from None
    email = _text(row, "stakeholder_email", 254).lower()
    cleaned = {
        "account_id": _int_ref(row, "account_id"),
        "account_domain": domain,
        "account_name": _text(row, "account_name", 255),
        "stakeholder_id": _int_ref(row, "stakeholder_id"),
        "stakeholder_email": email,
        "program_id": _int_ref(row, "program_id"),
        "program": _text(row, "program", 255),
        "kind": kind,
        "channel": _text(row, "channel", 50),
        "direction": direction,
        "occurred_at": _moment(row, options),
        "url": _text(row, "url", 2000),
        "asset": _text(row, "asset", 255),
        "funnel_position": position,
        "engagement_minutes": _amount(row, "engagement_minutes", 8, options),
        "cost": _amount(row, "cost", 12, options),
        "source": _text(row, "source", 50) or default_source,
        "external_id": _text(row, "external_id", 255),
    }
    if not (
        cleaned["account_id"]
        or domain
        or cleaned["account_name"]
        or cleaned["stakeholder_id"]
        or email
    ):
        raise _Reject("account_id", "names no account (give account_id, account_domain or a name)")
    return cleaned


def touch_bulk_create(
    rows: list[dict], *, source: str = "", options: ParseOptions | None = None
) -> BulkTouchResult:
    """Validate and store touches set-based; idempotent on (source, external id).

    Every row is checked first; rejected rows are returned with their index
    and never block the valid ones. A row without an external id gets one
    derived from a hash of its content (account, stakeholder, program,
    kind, time, channel, direction, url, asset, position, minutes, cost),
    so re-sending the same touch is a duplicate, not a second touch. On
    PostgreSQL the rows go through COPY into a temporary table and one
    ``INSERT … ON CONFLICT DO NOTHING RETURNING account_id``, which also
    makes concurrent requests with the same keys count as duplicates; on
    SQLite through ``bulk_create(ignore_conflicts=True)``. The accounts that
    received touches are marked ``needs_recompute`` in the same transaction.
    """
    options = options or ParseOptions()
    result = BulkTouchResult()
    cleaned: list[tuple[int, dict]] = []
    domains: dict[str, str | None] = {}
    for index, row in enumerate(rows):
        try:
            cleaned.append((index, _clean(row, source, options, domains)))
        except _Reject as exc:
            result.rejected.append(TouchRejection(index, exc.field, exc.reason))
    records = _resolve(cleaned, result)
    # Duplicates within the call: first occurrence wins.
    seen: set[tuple[str, str]] = set()
    unique: list[tuple] = []
    for record in records:
        key = (record[12], record[13])
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        unique.append(record)
    if not unique:
        return result
    with transaction.atomic():
        write = _write_postgresql if connection.vendor == "postgresql" else _write_other
        account_ids = write(unique)
        result.accepted = len(account_ids)
        result.duplicates += len(unique) - len(account_ids)
        result.account_ids = set(account_ids)
        if result.account_ids:
            result.accounts_marked = Account.objects.filter(
                id__in=result.account_ids, needs_recompute=False
            ).update(needs_recompute=True)
    result.rejected.sort(key=lambda r: r.index)
    return result


def _resolve(cleaned: list[tuple[int, dict]], result: BulkTouchResult) -> list[tuple]:
    """Foreign keys for all rows: one query per kind of reference; rows → COPY tuples."""
    accounts = account_index(
        ids={c["account_id"] for _, c in cleaned if c["account_id"]},
        domains={c["account_domain"] for _, c in cleaned if c["account_domain"]},
        names={c["account_name"] for _, c in cleaned if c["account_name"]},
    )
    stakeholder_ids = {c["stakeholder_id"] for _, c in cleaned if c["stakeholder_id"]}
    stakeholders_by_id = (
        dict(Stakeholder.objects.filter(id__in=stakeholder_ids).values_list("id", "account_id"))
        if stakeholder_ids
        else {}
    )
    emails = {c["stakeholder_email"] for _, c in cleaned if c["stakeholder_email"]}
    by_email: dict[str, list[tuple[int, int]]] = defaultdict(list)
    if emails:
        for email, account_id, sid in Stakeholder.objects.filter(email__in=emails).values_list(
            "email", "account_id", "id"
        ):
            by_email[email].append((account_id, sid))
    program_ids = {c["program_id"] for _, c in cleaned if c["program_id"]}
    known_programs = (
        set(Program.objects.filter(id__in=program_ids).values_list("id", flat=True))
        if program_ids
        else set()
    )
    program_names = {c["program"].lower() for _, c in cleaned if c["program"]}
    programs_by_name = (
        dict(
            Program.objects.annotate(lname=Lower("name"))
            .filter(lname__in=program_names)
            .values_list("lname", "id")
        )
        if program_names
        else {}
    )
    records: list[tuple] = []
    for index, c in cleaned:
        try:
            records.append(
                _record(c, accounts, stakeholders_by_id, by_email, known_programs, programs_by_name)
            )
        except _Reject as exc:
            result.rejected.append(TouchRejection(index, exc.field, exc.reason))
    return records


def _record(c, accounts, stakeholders_by_id, by_email, known_programs, programs_by_name) -> tuple:
    account_id = None
    if c["account_id"] or c["account_domain"] or c["account_name"]:
        account_id, field_name, reason = accounts.resolve(
            account_id=c["account_id"], domain=c["account_domain"], name=c["account_name"]
        )
        if account_id is None:
            raise _Reject(field_name, reason)
    stakeholder_id = c["stakeholder_id"]
    if stakeholder_id:
        owner = stakeholders_by_id.get(stakeholder_id)
        if owner is None:
            raise _Reject("stakeholder_id", f"no stakeholder has id {stakeholder_id}")
        if account_id is not None and owner != account_id:
            raise _Reject("stakeholder_id", "the stakeholder belongs to another account")
        account_id = owner
    elif c["stakeholder_email"]:
        matches = by_email.get(c["stakeholder_email"], [])
        if account_id is not None:
            matches = [m for m in matches if m[0] == account_id]
        if not matches:
            raise _Reject(
                "stakeholder_email",
                f"no stakeholder with the e-mail '{c['stakeholder_email'][:100]}'"
                + (" at this account" if account_id is not None else ""),
            )
        if len(matches) > 1:
            raise _Reject("stakeholder_email", "several accounts have a stakeholder with it")
        account_id, stakeholder_id = matches[0]
    program_id = c["program_id"]
    if program_id:
        if program_id not in known_programs:
            raise _Reject("program_id", f"no program has id {program_id}")
    elif c["program"]:
        program_id = programs_by_name.get(c["program"].lower())
        if program_id is None:
            raise _Reject("program", f"no program is named '{c['program'][:100]}'")
    external_id = c["external_id"]
    if not external_id:
        external_id = content_key(
            (
                account_id,
                stakeholder_id,
                program_id,
                c["kind"],
                c["occurred_at"].astimezone(dt.UTC).isoformat(),
                c["channel"],
                c["direction"],
                c["url"],
                c["asset"],
                c["funnel_position"],
                c["engagement_minutes"],
                c["cost"],
            )
        )
    return (
        account_id,
        stakeholder_id,
        program_id,
        c["kind"],
        c["channel"],
        c["direction"],
        c["occurred_at"],
        c["url"],
        c["asset"],
        c["funnel_position"],
        c["engagement_minutes"],
        c["cost"],
        c["source"],
        external_id,
    )


def _write_postgresql(records: list[tuple]) -> list[int]:
    """COPY into a temp table, then one INSERT … ON CONFLICT DO NOTHING RETURNING account_id."""
    table = Touch._meta.db_table
    columns = ", ".join(_COPY_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _touch_in")
        cursor.execute(_TEMP_TABLE_SQL)
        with cursor.cursor.copy(f"COPY _touch_in ({columns}) FROM STDIN") as copy:  # noqa: S608
            for record in records:
                copy.write_row(record)
        cursor.execute(
            f"INSERT INTO {table} (created_at, updated_at, {columns}) "  # noqa: S608  # nosec B608 - constant column names
            f"SELECT now(), now(), {columns} FROM _touch_in "
            "ON CONFLICT (source, external_id) WHERE external_id <> '' DO NOTHING "
            "RETURNING account_id"
        )
        account_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("DROP TABLE _touch_in")
    return account_ids


def _write_other(records: list[tuple]) -> list[int]:
    """SQLite and others: skip keys already stored, then bulk_create(ignore_conflicts)."""
    account_ids: list[int] = []
    for batch in chunked(records, 500):
        by_source: dict[str, set[str]] = defaultdict(set)
        for record in batch:
            by_source[record[12]].add(record[13])
        existing: set[tuple[str, str]] = set()
        for src, ids in by_source.items():
            existing.update(
                (src, e)
                for e in Touch.objects.filter(source=src, external_id__in=ids).values_list(
                    "external_id", flat=True
                )
            )
        new = [r for r in batch if (r[12], r[13]) not in existing]
        Touch.objects.bulk_create(
            [Touch(**dict(zip(_COPY_COLUMNS, r, strict=True))) for r in new],
            ignore_conflicts=True,
        )
        account_ids.extend(r[0] for r in new)
    return account_ids
