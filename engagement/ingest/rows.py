"""One touch row: the keys it may carry, its check into a tuple, and what became of it.

Touches arrive by the ten thousand, so a row is validated in plain Python
into a tuple (no model instance, no query); the references it names are
resolved per batch afterwards (:mod:`.references`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from abm_site.csvio import CellError, normalize_key, parse_datetime, parse_decimal
from accounts.selectors import clean_domain

from ..choices import Direction, FunnelPosition, TouchKind

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
    "quantity",
    "source",
    "external_id",
)


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
    #: How ``01/10/2026`` reads (dmy, mdy, ymd): decided from the whole file by the import.
    date_order: str = ""
    #: Programs named by name and not known are created (a CRM's campaigns, ad campaigns).
    create_programs: bool = False
    #: The plausible range of a touch's time, fixed when the ingest starts.
    bounds: tuple[dt.datetime, dt.datetime] = field(default_factory=lambda: event_bounds())


def event_bounds() -> tuple[dt.datetime, dt.datetime]:
    """Earliest and latest plausible moment of an event (a touch): a date before
    ``ABM_EARLIEST_EVENT_YEAR`` or more than ``ABM_MAX_FUTURE_EVENT_DAYS`` ahead is a
    typo or a default value (0001-01-01, 9999-12-31), never a real touch."""
    earliest = dt.datetime(settings.ABM_EARLIEST_EVENT_YEAR, 1, 1, tzinfo=dt.UTC)
    latest = timezone.now() + dt.timedelta(days=settings.ABM_MAX_FUTURE_EVENT_DAYS)
    return earliest, latest


class _Reject(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason


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


_MAX_QUANTITY = 2_147_483_647


def _quantity(value: Any) -> int:
    """A present quantity: a whole number of events, at least 1."""
    if value.__class__ is int:
        number = value
    elif isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _Reject("quantity", "must be a whole number")
    else:
        text = str(value).strip().replace(",", "")
        if text.isascii() and text.isdigit() and len(text) <= 10:
            number = int(text)
        else:
            try:
                number = Decimal(text)
            except ArithmeticError:
                raise _Reject("quantity", f"'{str(value)[:50]}' is not a whole number") from None
            if not number.is_finite() or number != number.to_integral_value():
                raise _Reject("quantity", f"'{str(value)[:50]}' is not a whole number")
            number = int(number)
    if number < 1 or number > _MAX_QUANTITY:
        raise _Reject("quantity", f"{number} is not between 1 and {_MAX_QUANTITY:,}")
    return number


def _moment(value: Any, options: ParseOptions) -> str:
    """``occurred_at`` as ISO 8601 text in UTC: what COPY stores and the content key hashes.

    Text already in that form (``2026-03-05T10:11:12+00:00``, what exports and the
    API mostly send) is returned as it came: ``isoformat`` would give the same text
    at a twentieth of a row's validation time.
    """
    iso = None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _Reject("occurred_at", "is required")
        try:
            moment = _fromisoformat(text)
            if (
                len(text) == 25
                and text[19:] == "+00:00"
                and text[10] == "T"
                and text[4] == text[7] == "-"
                and text[13] == text[16] == ":"
            ):
                iso = text
        except ValueError:
            try:
                moment = parse_datetime(
                    text,
                    formats=options.datetime_formats,
                    excel_serial=options.excel_dates,
                    order=options.date_order,
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
    if moment.tzinfo is not dt.UTC:
        if moment.tzinfo is None:
            moment = timezone.make_aware(moment)
        # PostgreSQL stores offsets up to ±15:59 only; Python allows ±23:59 (API fuzzing).
        try:
            moment = moment.astimezone(dt.UTC)
        except OverflowError:
            raise _Reject("occurred_at", "is out of the representable date range") from None
    earliest, latest = options.bounds
    if moment < earliest:
        raise _Reject(
            "occurred_at",
            f"{moment:%Y-%m-%d} is before {earliest.year}: not a plausible touch date "
            "(ABM_EARLIEST_EVENT_YEAR)",
        )
    if moment > latest:
        raise _Reject(
            "occurred_at",
            f"{moment:%Y-%m-%d} is more than {settings.ABM_MAX_FUTURE_EVENT_DAYS} days ahead: "
            "not a plausible touch date (ABM_MAX_FUTURE_EVENT_DAYS)",
        )
    return iso or moment.isoformat()


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
        k_quantity,
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
    value = get(k_quantity)
    quantity = 1 if value is None or value == "" else _quantity(value)
    value = get(k_source)
    source = (_text("source", value, 50) if value else "") or default_source
    value = get(k_external_id)
    external_id = _text("external_id", value, 255) if value else ""
    if not (account_id or domain or name or stakeholder_id or email):
        raise _Reject("account_id", "names no account (give account_id, account_domain or a name)")
    # The references, then the values in COPY order (see references._records).
    refs = (account_id, domain, name, stakeholder_id, email, program_id, program)
    values = (kind, channel, direction, occurred_at, url, asset, position, minutes, cost, quantity)
    return (*refs, *values, source, external_id)


def _row_keys(keys: Mapping[str, str] | None) -> tuple[str, ...]:
    """``TOUCH_FIELDS`` as the rows spell them; ``keys`` maps a row key to its field."""
    if not keys:
        return TOUCH_FIELDS
    unknown = set(keys.values()) - set(TOUCH_FIELDS)
    if unknown:
        raise ValueError(f"not touch fields: {', '.join(sorted(unknown))}")
    key_of = {field_name: key for key, field_name in keys.items()}
    return tuple(key_of.get(name, name) for name in TOUCH_FIELDS)
