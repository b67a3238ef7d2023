"""Streaming CSV exports, safe to open in a spreadsheet.

Every page and API export goes through ``csv_response``: rows stream out as
they are produced (an iterator over a queryset never sits in memory whole),
text that a spreadsheet would run as a formula is neutralised, and the
download name cannot break the header.
"""

import csv
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.http import StreamingHttpResponse

#: Leading characters that make Excel, LibreOffice or Sheets treat a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NUMBER_TYPES = (int, float, Decimal)


class _Echo:
    """A file-like object whose ``write`` returns the line, for ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


def cell(value: Any) -> Any:
    """One value as written to the CSV: numbers unchanged, formula-like text quoted.

    Text that starts with ``= + - @``, a tab or a carriage return gets a leading
    apostrophe (OWASP's CSV-injection advice), so ``-5`` as *text* becomes
    ``'-5`` while the number ``-5`` stays ``-5``. None is an empty cell, dates
    are ISO 8601.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, NUMBER_TYPES):
        return value
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def safe_filename(filename: str) -> str:
    """An ASCII file name with only letters, digits, ``.``, ``-`` and ``_``; ends in .csv."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name)
    ascii_name = re.sub(r"\.{2,}", ".", ascii_name).strip("._") or "export"
    if not ascii_name.lower().endswith(".csv"):
        ascii_name += ".csv"
    return ascii_name[-150:]


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact name as RFC 5987 ``filename*``."""
    exact = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", filename).strip() or "export.csv"
    if not exact.lower().endswith(".csv"):
        exact += ".csv"
    return f"attachment; filename=\"{safe_filename(filename)}\"; filename*=UTF-8''{quote(exact)}"


def csv_rows(header: list[str], rows: Iterable[Sequence]) -> Iterator[str]:
    """The CSV text, one line at a time (header first)."""
    writer = csv.writer(_Echo())
    yield writer.writerow([cell(h) for h in header])
    for row in rows:
        yield writer.writerow([cell(v) for v in row])


def csv_response(
    filename: str, header: list[str], rows: Iterable[Sequence]
) -> StreamingHttpResponse:
    """A streaming ``text/csv`` download of ``header`` and ``rows``."""
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition(filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
