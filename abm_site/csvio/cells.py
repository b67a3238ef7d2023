"""One cell's text to a value (text, number, yes/no, date, date-time), and content keys.

Each parser raises :class:`CellError` with a reason a user understands;
the mapping's options (formats, decimal comma, Excel serial dates) come in
as arguments. Formula-looking cells are stored as text and neutralised on export.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from .dates import SLASHED_RE
from .errors import CellError

#: Cells that a spreadsheet would run as a formula when opened (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def normalize_key(value: str) -> str:
    """Compare header names and choice values loosely: case, spaces and punctuation ignored."""
    return re.sub(r"[^0-9a-z]+", "", value.casefold())


def looks_like_formula(value: str) -> bool:
    """True when a spreadsheet would evaluate the cell (we store it as text regardless)."""
    return bool(value) and value.startswith(_FORMULA_START) and not _NUMBER_RE.match(value)


def parse_text(value: str, *, max_length: int | None = None) -> str:
    """Trimmed text; NUL characters and over-long text are errors."""
    if "\x00" in value:
        raise CellError(
            "contains a NUL character (a binary file, or UTF-16 saved without a byte-order mark?)"
        )
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        raise CellError(f"is {len(value):,} characters long; at most {max_length:,} are allowed")
    return value


_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d{1,3}(\.\d{3})*,\d+$")
_DOTTED_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+$")
_CURRENCY = "$€£¥"


def parse_decimal(
    value: str,
    *,
    decimal_comma: bool = False,
    allow_negative: bool = False,
    max_digits: int = 18,
    decimal_places: int = 2,
    scale: Decimal | int = 1,
) -> Decimal:
    """A number as people type it: ``1200``, ``$1,200``, ``1 200.5``; never NaN or infinity.

    ``1.234,56`` is read only when the mapping declares a decimal comma;
    accounting negatives ``(500)`` are negatives (refused unless
    ``allow_negative``). The result is multiplied by ``scale`` and rounded
    to ``decimal_places``; it must fit ``max_digits``.
    """
    raw = value
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    text = text.strip(_CURRENCY)
    if text.startswith("-") and text[1:2] in _CURRENCY:
        text = "-" + text[2:]
    if not text:
        raise CellError(f"'{raw}' is not a number")
    if decimal_comma:
        if _DECIMAL_COMMA_RE.match(text) or _DOTTED_THOUSANDS_RE.match(text):
            text = text.replace(".", "").replace(",", ".")
    elif _THOUSANDS_RE.match(text):
        text = text.replace(",", "")
    elif _DECIMAL_COMMA_RE.match(text):
        raise CellError(
            f"'{raw}' looks like a number with a decimal comma; "
            "use a mapping that declares decimal_comma, or write it as 1234.56"
        )
    if not _NUMBER_RE.match(text):
        if normalize_key(text) in {"nan", "inf", "infinity", "null", "none"}:
            raise CellError(f"'{raw}' is not a finite number")
        raise CellError(f"'{raw}' is not a number")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex lets only numbers through
        raise CellError(f"'{raw}' is not a number") from exc
    if not number.is_finite():
        raise CellError(f"'{raw}' is not a finite number")
    if negative:
        number = -number
    if number < 0 and not allow_negative:
        raise CellError(f"'{raw}' is negative; this value cannot be negative")
    limit = Decimal(10) ** (max_digits - decimal_places)
    if abs(number) >= limit / Decimal(scale or 1):
        raise CellError(f"'{raw}' is too large (at most {max_digits - decimal_places} digits)")
    number = number * Decimal(scale)
    return number.quantize(Decimal(1).scaleb(-decimal_places), rounding=ROUND_HALF_UP)


def parse_int(
    value: str, *, min_value: int | None = None, max_value: int | None = None, scale: int = 1
) -> int:
    """A whole number; ``2,822`` and ``12.0`` are fine, ``12.5`` is not."""
    number = parse_decimal(value, allow_negative=True, max_digits=30, decimal_places=6)
    if number != number.to_integral_value():
        raise CellError(f"'{value.strip()}' is not a whole number")
    result = int(number) * scale
    if min_value is not None and result < min_value:
        raise CellError(f"'{value.strip()}' is below the minimum of {min_value}")
    if max_value is not None and result > max_value:
        raise CellError(f"'{value.strip()}' is above the maximum of {max_value}")
    return result


_TRUE = {"true", "t", "yes", "y", "1", "x", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


def parse_bool(value: str) -> bool:
    """``true/yes/1/x`` or ``false/no/0``, any case."""
    key = value.strip().casefold()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise CellError(f"'{value.strip()}' is not yes/no (true, false, yes, no, 1 or 0)")


_ISO_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}")
_SERIAL_RE = re.compile(r"^\d{5}(\.\d+)?$")
_DATEISH_RE = re.compile(r"^(\d{1,4})[-/.](\d{1,2})[-/.](\d{1,4})$")


def parse_date(
    value: str, *, formats: Sequence[str] = (), excel_serial: bool = False, order: str = ""
) -> dt.date:
    """A calendar date: ISO ``YYYY-MM-DD`` (or an ISO date-time), one of ``formats``, or
    ``01/10/2026`` read in the column's ``order`` (dmy, mdy or ymd; never guessed).

    Impossible dates (2024-02-30) are errors with the reason; Excel serial
    numbers (45351) are read only when the mapping allows them.
    """
    text = value.strip()
    match = _ISO_DATE_RE.match(text)
    if match:
        return _make_date(text, *map(int, match.groups()))
    if _ISO_DATETIME_RE.match(text):
        return parse_datetime(text, formats=formats).date()
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    slashed = SLASHED_RE.match(text)
    if slashed:
        return _ordered_date(text, slashed, order)
    if _SERIAL_RE.match(text):
        if excel_serial:
            return _EXCEL_EPOCH + dt.timedelta(days=int(float(text)))
        raise CellError(
            f"'{text}' looks like an Excel serial date number; format the column as a date "
            "(YYYY-MM-DD) before saving, or use a mapping with excel_dates"
        )
    match = _DATEISH_RE.match(text)
    if match and len(match.group(1)) == 4:
        return _make_date(text, int(match.group(1)), int(match.group(2)), int(match.group(3)))
    expected = ", ".join(["YYYY-MM-DD", *formats])
    if match:
        raise CellError(f"'{text}' is not a valid date in the expected form ({expected})")
    raise CellError(f"'{text}' is not a date (expected {expected})")


def _ordered_date(text: str, match: re.Match, order: str) -> dt.date:
    """The date part of a ``SLASHED_RE`` match read in ``order``."""
    a, b, c = match.group(1), match.group(2), match.group(3)
    if order == "dmy":
        day, month, year = a, b, c
    elif order == "mdy":
        month, day, year = a, b, c
    elif order == "ymd" and len(c) <= 2:
        year, month, day = a, b, c
    elif order == "ymd":
        raise CellError(f"'{text}' is not year/month/day (the date order given)")
    else:
        raise CellError(
            f"'{text}' could be read day-first or month-first; give the date order "
            "(dmy, mdy or ymd)"
        )
    full_year = int(year) if len(year) == 4 else 2000 + int(year)
    return _make_date(text, full_year, int(month), int(day))


def _make_date(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise CellError(f"'{text}' is not a real calendar date ({exc})") from exc


def parse_datetime(
    value: str, *, formats: Sequence[str] = (), excel_serial: bool = False, order: str = ""
) -> dt.datetime:
    """An aware date-time: ISO 8601 (``Z`` or offset, or naive in the site time zone), or
    ``1/5/2024 3:45 PM`` read in the column's ``order``.

    A bare date is midnight of that day in the site time zone.
    """
    text = value.strip()
    if _ISO_DATETIME_RE.match(text):
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise CellError(f"'{text}' is not a valid date and time ({exc})") from exc
    else:
        moment = None
        for fmt in formats:
            try:
                moment = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if moment is None:
            slashed = SLASHED_RE.match(text)
            if slashed and slashed.group(4):
                moment = dt.datetime.combine(
                    _ordered_date(text, slashed, order), _clock(text, slashed)
                )
            else:
                day = parse_date(text, formats=(), excel_serial=excel_serial, order=order)
                moment = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _clock(text: str, match: re.Match) -> dt.time:
    """The time part of a ``SLASHED_RE`` match (12-hour with AM/PM, or 24-hour)."""
    hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6) or 0)
    meridiem = (match.group(7) or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise CellError(f"'{text}' has an hour of {hour} with {meridiem.upper()}")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    try:
        return dt.time(hour, minute, second)
    except ValueError as exc:
        raise CellError(f"'{text}' is not a valid time ({exc})") from exc


def content_key(parts: Iterable[Any]) -> str:
    """A stable external id derived from a row's content (for rows that carry none).

    Re-importing the same row derives the same key, so the import stays
    idempotent; two rows with identical content are the same record.
    """
    return text_key("\x1f".join("" if p is None else str(p) for p in parts))


def text_key(text: str) -> str:
    """The key of parts already joined with ``\\x1f``: hot paths join without a generator."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:40]


def neutralize(value: str) -> str:
    """Prefix a formula-looking cell with ``'`` so a spreadsheet shows it as text."""
    return "'" + value if looks_like_formula(value) else value
