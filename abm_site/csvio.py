"""Generic CSV reading for imports: decoding, dialect, records, cell parsing, the report.

Nothing here knows about accounts or touches. The per-kind importers in the
apps turn a :class:`Row` into model values with the ``ImportContext``
helpers, which parse a cell with the mapping's options and reject the row
with the user's column name when the cell is bad.

Reading never raises on bad rows: a record that cannot be parsed (an
unterminated quote, a field over ``csv.field_size_limit()``, a stray quote)
is reported with its physical line number and reading resumes on the next
physical line, so one bad quote never swallows the rest of the file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TextIO

from django.utils import timezone

#: Byte signatures of files that are not text.
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DELIMITERS = (",", ";", "\t")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
#: Cells that a spreadsheet would run as a formula when opened (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


class CsvFileError(Exception):
    """The file as a whole cannot be imported (not CSV, empty, no usable header)."""


class CellError(ValueError):
    """A cell cannot be parsed; the message says why in words a user understands."""


class RowRejected(Exception):
    """Raised by the context helpers: reject this row for ``reason`` in ``column``."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(f"{column}: {reason}" if column else reason)
        self.column = column
        self.reason = reason


# --------------------------------------------------------------------------- decoding


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


def read_table(data: bytes) -> CsvTable:
    """Decode ``data`` and return its header and an iterator of records.

    Each record is ``(line, fields, error)``: ``fields`` is ``None`` and
    ``error`` the reason when the record could not be parsed.
    """
    text, encoding, warnings = decode_bytes(data)
    if not text.strip("\r\n\t ,;\ufeff"):
        raise CsvFileError("The file is empty." if not text.strip() else "The file has no data.")
    lines = io.StringIO(text, newline="").readlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = sniff_delimiter(first)
    records = _records(lines, delimiter)
    header: list[str] | None = None
    for _line, fields, error in records:
        if fields is None:
            raise CsvFileError(f"The header row cannot be read: {error}")
        if any(f.strip() for f in fields):
            header = fields
            break
    if header is None:
        raise CsvFileError("The file has no header row.")
    header = [h.replace("\ufeff", "").strip() for h in header]
    return CsvTable(
        header=header,
        records=_records_checked(records, len(header)),
        encoding=encoding,
        delimiter=delimiter,
        warnings=warnings,
        physical_lines=len(lines),
    )


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


# --------------------------------------------------------------------------- cells


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


def parse_date(value: str, *, formats: Sequence[str] = (), excel_serial: bool = False) -> dt.date:
    """A calendar date: ISO ``YYYY-MM-DD`` (or an ISO date-time), or one of ``formats``.

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


def _make_date(text: str, year: int, month: int, day: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise CellError(f"'{text}' is not a real calendar date ({exc})") from exc


def parse_datetime(
    value: str, *, formats: Sequence[str] = (), excel_serial: bool = False
) -> dt.datetime:
    """An aware date-time: ISO 8601 (``Z`` or offset, or naive in the site time zone).

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
            day = parse_date(text, formats=(), excel_serial=excel_serial)
            moment = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def content_key(parts: Iterable[Any]) -> str:
    """A stable external id derived from a row's content (for rows that carry none).

    Re-importing the same row derives the same key, so the import stays
    idempotent; two rows with identical content are the same record.
    """
    return text_key("\x1f".join("" if p is None else str(p) for p in parts))


def text_key(text: str) -> str:
    """The key of parts already joined with ``\\x1f``: hot paths join without a generator."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:40]


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Rejection:
    """One rejected row: physical line (header is line 1), the user's column name, why."""

    line: int
    column: str
    reason: str
    values: tuple[str, ...] = ()


@dataclass
class ImportReport:
    """What an import did. ``rows_read == created + updated + unchanged + len(rejected)``."""

    kind: str
    mapping: str = "default"
    source: str = ""
    dry_run: bool = False
    encoding: str = ""
    delimiter: str = ""
    header: list[str] = field(default_factory=list)
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    accounts_marked: int = 0

    @property
    def ok(self) -> bool:
        """No file-level error (rejected rows do not make an import fail)."""
        return not self.errors

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def reject(self, line: int, column: str, reason: str, values: Sequence[str] = ()) -> None:
        self.rejected.append(Rejection(line, column, reason, tuple(values)))

    def summary(self) -> str:
        if self.errors:
            return "Nothing imported: " + " ".join(self.errors)
        verb = "would be " if self.dry_run else ""
        text = (
            f"{self.rows_read} rows read: {self.created} {verb}created, {self.updated} {verb}"
            f"updated, {self.unchanged} unchanged, {len(self.rejected)} rejected."
        )
        if not self.changed and self.rows_read:
            text += " Nothing changed."
        return text

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and the upload page."""
        return {
            "kind": self.kind,
            "mapping": self.mapping,
            "source": self.source,
            "dry_run": self.dry_run,
            "encoding": self.encoding,
            "delimiter": _DELIMITER_NAMES.get(self.delimiter, self.delimiter),
            "rows_read": self.rows_read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected_count": len(self.rejected),
            "rejected": [
                {"line": r.line, "column": r.column, "reason": r.reason} for r in self.rejected
            ],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "accounts_marked": self.accounts_marked,
            "summary": self.summary(),
        }

    def write_rejected_csv(self, out: TextIO) -> int:
        """Write every rejected row (line, column, reason, then the row as read) as CSV."""
        writer = csv.writer(out)
        writer.writerow(["line", "column", "reason", *self.header])
        for r in sorted(self.rejected, key=lambda r: r.line):
            writer.writerow([r.line, r.column, r.reason, *(neutralize(v) for v in r.values)])
        return len(self.rejected)


def neutralize(value: str) -> str:
    """Prefix a formula-looking cell with ``'`` so a spreadsheet shows it as text."""
    return "'" + value if looks_like_formula(value) else value


# --------------------------------------------------------------------------- mapping


@dataclass
class Mapping:
    """How a file's columns and values become our fields.

    ``columns``: source column → field name or list of field names (one
    column can feed several fields). ``values``: field → {source value →
    our value}, matched ignoring case and punctuation; ``value_default``:
    field → value for source values not listed. ``scale``: field →
    multiplier (revenue in millions). ``constants``: field → value when no
    column feeds the field. ``date_formats``: strptime formats tried after
    ISO; ``excel_dates``: read 5-digit Excel serial numbers as dates;
    ``decimal_comma``: ``1.234,56`` means 1234.56. ``source``: default
    source name for the (source, external id) keys.
    """

    name: str
    kind: str = ""
    label: str = ""
    columns: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    value_default: dict[str, str] = field(default_factory=dict)
    scale: dict[str, Decimal] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    date_formats: list[str] = field(default_factory=list)
    datetime_formats: list[str] = field(default_factory=list)
    excel_dates: bool = False
    decimal_comma: bool = False
    source: str = ""
    identity: bool = False
    column_labels: dict[str, str] = field(default_factory=dict)

    _KEYS = frozenset(
        {
            "name",
            "kind",
            "label",
            "columns",
            "values",
            "value_default",
            "scale",
            "constants",
            "date_formats",
            "datetime_formats",
            "excel_dates",
            "decimal_comma",
            "source",
        }
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, name: str = "custom") -> Mapping:
        """Validate a mapping dict (shipped or a user's JSON) and build it."""
        if not isinstance(data, dict):
            raise CsvFileError("A mapping must be a JSON object.")
        unknown = set(data) - cls._KEYS
        if unknown:
            raise CsvFileError(f"Unknown mapping keys: {', '.join(sorted(unknown))}.")
        columns: dict[str, list[str]] = {}
        labels: dict[str, str] = {}
        raw_columns = data.get("columns", {})
        if not isinstance(raw_columns, dict) or not raw_columns:
            raise CsvFileError("A mapping needs a non-empty 'columns' object.")
        for column, target in raw_columns.items():
            targets = [target] if isinstance(target, str) else target
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise CsvFileError(f"Mapping column '{column}' must name a field or a list.")
            columns[normalize_key(column)] = targets
            labels[normalize_key(column)] = column
        values = {
            f: {normalize_key(k): str(v) for k, v in m.items()}
            for f, m in data.get("values", {}).items()
        }
        return cls(
            name=data.get("name", name),
            kind=data.get("kind", ""),
            label=data.get("label", ""),
            columns=columns,
            values=values,
            value_default={k: str(v) for k, v in data.get("value_default", {}).items()},
            scale={k: Decimal(str(v)) for k, v in data.get("scale", {}).items()},
            constants={k: str(v) for k, v in data.get("constants", {}).items()},
            date_formats=list(data.get("date_formats", [])),
            datetime_formats=list(data.get("datetime_formats", [])),
            excel_dates=bool(data.get("excel_dates", False)),
            decimal_comma=bool(data.get("decimal_comma", False)),
            source=str(data.get("source", "")),
            column_labels=labels,
        )

    @classmethod
    def identity_for(cls, fields: Iterable[str], *, name: str = "default") -> Mapping:
        """The default mapping: columns named like our fields."""
        fields = list(fields)
        return cls(
            name=name,
            columns={normalize_key(f): [f] for f in fields},
            column_labels={normalize_key(f): f for f in fields},
            identity=True,
        )

    def sources_for(self, field_name: str) -> list[str]:
        """The column names this mapping reads ``field_name`` from (for error messages)."""
        return [
            self.column_labels.get(key, key)
            for key, targets in self.columns.items()
            if field_name in targets
        ]

    def bind(self, header: Sequence[str], known_fields: Iterable[str]) -> BoundMapping:
        """Match the header against the mapping: field → column index, plus warnings/errors."""
        known = set(known_fields)
        field_index: dict[str, int] = {}
        field_column: dict[str, str] = {}
        warnings: list[str] = []
        errors: list[str] = []
        seen: dict[str, int] = {}
        ignored: list[str] = []
        for index, column in enumerate(header):
            key = normalize_key(column)
            targets = self.columns.get(key)
            if not column:
                continue
            if targets is None:
                ignored.append(column)
                continue
            if key in seen:
                errors.append(
                    f"The column '{column}' appears twice in the header "
                    f"(columns {seen[key] + 1} and {index + 1}); keep one."
                )
                continue
            seen[key] = index
            for target in targets:
                if target not in known:
                    errors.append(f"The mapping sends column '{column}' to unknown field {target}.")
                    continue
                field_index[target] = index
                field_column[target] = column
        if ignored:
            warnings.append("Columns ignored (not in the mapping): " + ", ".join(ignored) + ".")
        return BoundMapping(self, field_index, field_column, warnings, errors)


@dataclass
class BoundMapping:
    mapping: Mapping
    field_index: dict[str, int]
    field_column: dict[str, str]
    warnings: list[str]
    errors: list[str]


@dataclass
class Row:
    """One data record: its first physical line, its raw fields, our field → raw text."""

    line: int
    raw: list[str]
    values: dict[str, str]


class ImportContext:
    """Cell parsing with the mapping's options; failures raise :class:`RowRejected`.

    Importers call ``ctx.text(row, "name", required=True)`` and so on; the
    exception carries the user's column name for the report.
    """

    def __init__(self, bound: BoundMapping, report: ImportReport, source: str) -> None:
        self.bound = bound
        self.mapping = bound.mapping
        self.report = report
        self.source = source
        self.formula_cells = 0
        #: Free counters importers use for their warnings.
        self.counters: dict[str, int] = {}

    def column(self, field_name: str) -> str:
        return self.bound.field_column.get(field_name, field_name)

    def has(self, field_name: str) -> bool:
        """The file (or a mapping constant) feeds this field."""
        return field_name in self.bound.field_index or field_name in self.mapping.constants

    def rows(self, records: Iterable[tuple[int, list[str] | None, str]]) -> Iterator[Row]:
        """Turn records into rows; unreadable and ragged records go straight to the report."""
        index_items = list(self.bound.field_index.items())
        constants = self.mapping.constants
        for line, fields, error in records:
            self.report.rows_read += 1
            if error:
                self.report.reject(line, "", error, fields or ())
                continue
            assert fields is not None
            values = dict(constants)
            for name, i in index_items:
                values[name] = fields[i]
            yield Row(line, fields, values)

    def reject(self, row: Row, exc: RowRejected) -> None:
        self.report.reject(row.line, exc.column, exc.reason, row.raw)

    def fail(self, field_name: str, reason: str) -> RowRejected:
        return RowRejected(self.column(field_name), reason)

    def raw(self, row: Row, field_name: str) -> str:
        return row.values.get(field_name, "")

    def mapped(self, row: Row, field_name: str) -> str:
        """The cell after the mapping's value translation (for choices)."""
        value = row.values.get(field_name, "").strip()
        table = self.mapping.values.get(field_name)
        if table is not None and value:
            key = normalize_key(value)
            if key in table:
                return table[key]
            if field_name in self.mapping.value_default:
                return self.mapping.value_default[field_name]
        return value

    def _parsed(self, row: Row, field_name: str, parse, *, required: bool = False):
        """One cell through ``parse``: blank → None (or "is required"); a parse error names
        the field. Every typed accessor below goes through here."""
        value = row.values.get(field_name, "")
        if not value.strip():
            if required:
                raise self.fail(field_name, "is required")
            return None
        try:
            return parse(value)
        except CellError as exc:
            raise self.fail(field_name, str(exc)) from None

    def text(
        self, row: Row, field_name: str, *, max_length: int | None = None, required: bool = False
    ) -> str:
        value = row.values.get(field_name, "")
        try:
            value = parse_text(value, max_length=max_length)
        except CellError as exc:
            raise self.fail(field_name, str(exc)) from None
        if required and not value:
            raise self.fail(field_name, "is required")
        if value and looks_like_formula(value):
            self.formula_cells += 1
        return value

    def choice(
        self,
        row: Row,
        field_name: str,
        choices: Sequence[tuple[str, str]],
        *,
        default: str | None = None,
    ) -> str:
        """A choice value; our values and labels are accepted in any case."""
        value = self.mapped(row, field_name)
        if not value:
            if default is None:
                raise self.fail(field_name, "is required")
            return default
        key = normalize_key(value)
        for stored, label in choices:
            if key in (normalize_key(stored), normalize_key(label)):
                return stored
        allowed = ", ".join(stored for stored, _ in choices)
        raise self.fail(field_name, f"'{value[:100]}' is not one of: {allowed}")

    def decimal(
        self,
        row: Row,
        field_name: str,
        *,
        max_digits: int,
        decimal_places: int,
        allow_negative: bool = False,
        required: bool = False,
    ) -> Decimal | None:
        return self._parsed(
            row,
            field_name,
            lambda value: parse_decimal(
                value,
                decimal_comma=self.mapping.decimal_comma,
                allow_negative=allow_negative,
                max_digits=max_digits,
                decimal_places=decimal_places,
                scale=self.mapping.scale.get(field_name, 1),
            ),
            required=required,
        )

    def integer(
        self,
        row: Row,
        field_name: str,
        *,
        min_value: int | None = None,
        max_value: int | None = None,
        required: bool = False,
    ) -> int | None:
        return self._parsed(
            row,
            field_name,
            lambda value: parse_int(
                value,
                min_value=min_value,
                max_value=max_value,
                scale=int(self.mapping.scale.get(field_name, 1)),
            ),
            required=required,
        )

    def boolean(self, row: Row, field_name: str) -> bool | None:
        value = self.mapped(row, field_name)
        if not value:
            return None
        try:
            return parse_bool(value)
        except CellError as exc:
            raise self.fail(field_name, str(exc)) from None

    def date(self, row: Row, field_name: str, *, required: bool = False) -> dt.date | None:
        return self._parsed(
            row,
            field_name,
            lambda value: parse_date(
                value.strip(),
                formats=self.mapping.date_formats,
                excel_serial=self.mapping.excel_dates,
            ),
            required=required,
        )

    def datetime(self, row: Row, field_name: str, *, required: bool = False) -> dt.datetime | None:
        return self._parsed(
            row,
            field_name,
            lambda value: parse_datetime(
                value.strip(),
                formats=self.mapping.datetime_formats or self.mapping.date_formats,
                excel_serial=self.mapping.excel_dates,
            ),
            required=required,
        )

    def row_source(self, row: Row) -> str:
        """The row's ``source`` column when the file has one, else the import's source."""
        value = row.values.get("source", "").strip()
        if value and len(value) > 50:
            raise self.fail("source", "is longer than 50 characters")
        return value or self.source

    def finish(self) -> None:
        if self.formula_cells:
            self.report.warnings.append(
                f"{self.formula_cells} cells start like a spreadsheet formula (=, +, -, @); "
                "they were stored as plain text and are neutralised in exports."
            )


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of at most ``size`` items."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# --------------------------------------------------------------------------- writes


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
