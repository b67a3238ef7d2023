"""Dates written day/month or month/day: the order is decided per column, never guessed.

``01/10/2026`` is 1 October in most of the world and 10 January in the US.
A column's order is decided from the whole file: a value whose first part
is above 12 can only be day-first, one whose second part is above 12 only
month-first. A column whose every such value could be either stops the
import with a message asking for the order; a column with both kinds stops
it too (the file mixes two conventions). ISO dates (``2026-10-01``) need no
order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DATE_ORDERS: dict[str, str] = {
    "dmy": "day/month/year (01/10/2026 is 1 October 2026)",
    "mdy": "month/day/year (01/10/2026 is 10 January 2026)",
    "ymd": "year/month/day (26/10/01 is 1 October 2026)",
}

#: A date written in three numeric parts with / . or -, the first not a 4-digit year,
#: optionally followed by a time ("1/5/2024 3:45 PM").
SLASHED_RE = re.compile(
    r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})"
    r"(?:(?:[ T]+|,\s*)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*([AaPp][Mm])?)?$"
)
#: Anywhere in a file's text: is there any such date at all (else no column needs a scan)?
_ANY_SLASHED_RE = re.compile(r"(?<![\d/.-])\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}(?![\d/.-])")


#: Where such a date could be: two separators around one or two digits. A search for it
#: skips text fast; ``_ANY_SLASHED_RE``, whose leading look-behind is tried at every
#: character, then decides only around these places (ISO dates are among them).
_SLASHED_HINT_RE = re.compile(r"[/.-]\d{1,2}[/.-]\d")


def has_slashed_dates(text: str) -> bool:
    """Whether ``text`` holds any date an order would be needed for.

    ``_ANY_SLASHED_RE`` decides, but only near where ``_SLASHED_HINT_RE`` finds
    the middle of one: a search of the whole text costs a third of a second per
    5 MB, as much as validating 10,000 touches, while the import waits.
    """
    search, size = _ANY_SLASHED_RE.search, len(text)
    for hint in _SLASHED_HINT_RE.finditer(text):
        # A date starts at most two digits before its first separator and ends at
        # most three digits after the hint; one more character for the look-ahead.
        end = min(hint.end() + 4, size)
        found = search(text, max(hint.start() - 2, 0), end)
        if found is not None and (found.end() < end or end == size):
            return True
    return False


def date_order_label(order: str) -> str:
    return DATE_ORDERS.get(order, order)


@dataclass
class _Evidence:
    day_first: tuple[int, str] | None = None  # (line, value) of the first value only dmy reads
    month_first: tuple[int, str] | None = None
    ambiguous: tuple[int, str] | None = None
    count: int = 0


def decide_date_orders(
    records: Iterable[tuple[int, list[str] | None, str]],
    columns: Mapping[str, tuple[int, str]],
) -> tuple[dict[str, str], dict[str, tuple[bool, str]]]:
    """The order of each date column from every record: (field → order, field → error).

    An error is (ambiguous, message): an all-ambiguous column may still be
    settled by another column feeding the same field; a mixed one may not.

    ``columns`` maps a field to (column index, the user's column name). A
    field whose values are all ISO (or blank) gets no order. Errors name the
    column and a line, and say how to give the order.
    """
    evidence = {name: _Evidence() for name in columns}
    items = [(name, index, evidence[name]) for name, (index, _) in columns.items()]
    match = SLASHED_RE.match
    for line, fields, _error in records:
        if fields is None:
            continue
        for _name, index, seen in items:
            if index >= len(fields):
                continue
            found = match(fields[index].strip())
            if found is None:
                continue
            first, second = int(found.group(1)), int(found.group(2))
            seen.count += 1
            value = fields[index].strip()
            if first > 12 and second <= 12:
                seen.day_first = seen.day_first or (line, value)
            elif second > 12 and first <= 12:
                seen.month_first = seen.month_first or (line, value)
            elif first <= 12 and second <= 12:
                seen.ambiguous = seen.ambiguous or (line, value)
    orders: dict[str, str] = {}
    errors: dict[str, tuple[bool, str]] = {}
    for name, (_, column) in columns.items():
        seen = evidence[name]
        if not seen.count:
            continue
        if seen.day_first and seen.month_first:
            errors[name] = (
                False,
                (
                    f"The column '{column}' mixes day-first dates (line {seen.day_first[0]}: "
                    f"'{seen.day_first[1]}') and month-first dates (line {seen.month_first[0]}: "
                    f"'{seen.month_first[1]}'); correct the file so one order is used throughout."
                ),
            )
        elif seen.day_first:
            orders[name] = "dmy"
        elif seen.month_first:
            orders[name] = "mdy"
        elif seen.ambiguous:
            line, value = seen.ambiguous
            errors[name] = (
                True,
                (
                    f"The dates in column '{column}' are ambiguous: every one (such as '{value}' on "
                    f"line {line}) could be day/month or month/day, and the app never guesses. "
                    "Give the date order: choose it on the Imports page, run import_csv with "
                    "--date-order dmy|mdy|ymd, or set date_order in the mapping profile."
                ),
            )
    return orders, errors
