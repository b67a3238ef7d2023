"""Bytes to records: decoding, the delimiter, and records that survive a broken quote.

Reading never raises on bad rows: a record that cannot be parsed is
yielded with its physical line number and the reason, and reading resumes
on the next physical line.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import CsvFileError

#: Byte signatures of files that are not text.
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DELIMITERS = (",", ";", "\t")


def decode_bytes(data: bytes) -> tuple[str, str, list[str]]:
    """Bytes → (text, encoding name, warnings).

    UTF-8 with or without BOM; UTF-16 when it starts with a UTF-16 BOM;
    otherwise cp1252 (the usual Excel "CSV" on Windows) with a warning.
    Workbooks saved under a ``.csv`` name are refused with what to do.
    """
    if data.startswith(_ZIP_MAGIC):
        raise CsvFileError(
            "This is an Excel workbook (or another ZIP file), not a CSV file; "
            "open it in Excel and save it as CSV (UTF-8)."
        )
    if data.startswith(_OLE2_MAGIC):
        raise CsvFileError(
            "This is an old-style Excel workbook (.xls), not a CSV file; "
            "open it in Excel and save it as CSV (UTF-8)."
        )
    warnings: list[str] = []
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig", warnings
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16", warnings
        except UnicodeDecodeError as exc:
            raise CsvFileError(
                f"The file starts with a UTF-16 byte-order mark but is not valid UTF-16 "
                f"(byte {exc.start})."
            ) from exc
    try:
        return data.decode("utf-8"), "utf-8", warnings
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        try:
            text = data.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            encoding = "latin-1"
        warnings.append(
            f"The file is not valid UTF-8 (first bad byte on line {line}); "
            f"it was read as {encoding} (Windows Western European). "
            "Save it as CSV UTF-8 to be sure accents come out right."
        )
        return text, encoding, warnings


def sniff_delimiter(header_line: str) -> str:
    """The delimiter of the header line: whichever of ``,`` ``;`` tab occurs most outside quotes."""
    outside = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: outside.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])  # ties go to the first: comma
    return best if counts[best] else ","


# --------------------------------------------------------------------------- records


@dataclass
class CsvTable:
    """A decoded file: header, records with their first physical line, and what went wrong."""

    header: list[str]
    records: Iterator[tuple[int, list[str] | None, str]]
    encoding: str
    delimiter: str
    warnings: list[str]
    physical_lines: int
    text: str = ""
    #: Physical line of the header (lines above it were a report's title and dates).
    header_line: int = 1
    _lines: list[str] | None = None

    def reread(self) -> Iterator[tuple[int, list[str] | None, str]]:
        """The data records again from the start (a second pass, such as the date scan)."""
        records = _records(self._lines or [], self.delimiter)
        after = (r for r in records if r[0] > self.header_line)
        return _records_checked(after, len(self.header))


#: Lines searched for the header when the first one is not it (a report's title rows).
HEADER_SEARCH_LINES = 30


def read_table(data: bytes, *, is_header: Callable[[list[str]], bool] | None = None) -> CsvTable:
    """Decode ``data`` and return its header and an iterator of records.

    Each record is ``(line, fields, error)``: ``fields`` is ``None`` and
    ``error`` the reason when the record could not be parsed. Ad platforms
    put a report title and its dates above the header: with ``is_header``,
    the header is the first of the first lines it accepts (else the first
    non-blank line), and the lines above it are skipped with a warning.
    """
    text, encoding, warnings = decode_bytes(data)
    if not text.strip("\r\n\t ,;\ufeff"):
        raise CsvFileError("The file is empty." if not text.strip() else "The file has no data.")
    lines = io.StringIO(text, newline="").readlines()
    delimiter = _sniff_lines(lines)
    records = _records(lines, delimiter)
    header: list[str] | None = None
    first: tuple[int, list[str]] | None = None
    header_line = 0
    for line, fields, error in records:
        if fields is None:
            if first is None:
                raise CsvFileError(f"The header row cannot be read: {error}")
            continue
        if not any(f.strip() for f in fields):
            continue
        cleaned = [h.replace("\ufeff", "").strip() for h in fields]
        if first is None:
            first = (line, cleaned)
        if is_header is None or is_header(cleaned):
            header, header_line = cleaned, line
            break
        if line >= HEADER_SEARCH_LINES:
            break
    if header is None:
        if first is None:
            raise CsvFileError("The file has no header row.")
        header_line, header = first
        records = (r for r in _records(lines, delimiter) if r[0] > header_line)
    elif first is not None and first[0] != header_line:
        warnings.append(
            f"Lines 1–{header_line - 1} above the header (a report title and its dates) "
            "were skipped."
        )
    return CsvTable(
        header=header,
        records=_records_checked(records, len(header)),
        encoding=encoding,
        delimiter=delimiter,
        warnings=warnings,
        physical_lines=len(lines),
        text=text,
        header_line=header_line,
        _lines=lines,
    )


def _sniff_lines(lines: list[str]) -> str:
    """The delimiter that occurs most on any of the first non-blank lines (a title line
    above the header has none)."""
    best, most = ",", 0
    for line in [line for line in lines[:HEADER_SEARCH_LINES] if line.strip()][:10]:
        delimiter = sniff_delimiter(line)
        count = re.sub(r'"[^"]*"', "", line).count(delimiter)
        if count > most:
            best, most = delimiter, count
    return best


def _records(lines: list[str], delimiter: str) -> Iterator[tuple[int, list[str] | None, str]]:
    """Parse physical ``lines`` into records; on a broken record restart at the next line.

    A record spanning several physical lines whose field count differs from
    the header's is taken for an unterminated quote (the quote swallowed
    the following lines), so those lines are parsed again on their own.
    """
    pos = 0
    expected: int | None = None
    while pos < len(lines):
        reader = csv.reader(itertools.islice(lines, pos, None), delimiter=delimiter, strict=True)
        consumed = 0
        try:
            for fields in reader:
                start = pos + consumed + 1
                span = reader.line_num - consumed
                consumed = reader.line_num
                if span > 1 and expected is not None and len(fields) != expected:
                    yield start, None, _UNTERMINATED
                    pos = start
                    break
                if expected is None and fields:
                    expected = len(fields)
                yield start, fields, ""
            else:
                return
        except csv.Error as exc:
            start = pos + consumed + 1
            multiline = reader.line_num - consumed > 1
            yield start, None, _UNTERMINATED if multiline else _csv_error_reason(str(exc))
            pos = start


_UNTERMINATED = (
    "unterminated quoted field: a quote opens here and never closes; "
    "the next lines were read on their own"
)


def _csv_error_reason(message: str) -> str:
    if "field larger than field limit" in message:
        return f"a field is longer than {csv.field_size_limit():,} characters"
    if "unexpected end of data" in message:
        return _UNTERMINATED
    if "expected after" in message:
        return 'a quote is closed in the middle of a field (write "" for a quote inside a field)'
    return f"unreadable CSV record ({message})"


def _records_checked(
    records: Iterator[tuple[int, list[str] | None, str]], width: int
) -> Iterator[tuple[int, list[str] | None, str]]:
    """Skip blank records; reject ragged ones and those holding NUL characters."""
    for line, fields, error in records:
        if fields is None:
            yield line, None, error
            continue
        if not "".join(fields).strip():  # every field blank (one join, not a strip per field)
            continue
        if len(fields) != width:
            yield line, fields, f"the row has {len(fields)} fields but the header has {width}"
            continue
        yield line, fields, ""
