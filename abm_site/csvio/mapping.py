"""How a file's columns become our fields, and the per-row helpers importers call.

The per-kind importers in the apps turn a :class:`Row` into model values
with the :class:`ImportContext` helpers, which parse a cell with the
mapping's options and reject the row with the user's column name when the
cell is bad.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .cells import (
    looks_like_formula,
    normalize_key,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_text,
)
from .dates import DATE_ORDERS
from .errors import CellError, CsvFileError, RowRejected
from .report import ImportReport


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
    source name for the (source, external id) keys. ``date_order``: how
    ``01/10/2026`` reads in every date column (dmy, mdy, ymd); without it
    each column's order is decided from the whole file. Several columns
    feeding one field: an external id joins them with ``|`` (a campaign id
    and a day), another field takes the first that has a value.
    ``skip_values``: field → prefixes of values whose rows are skipped, not
    imported (report totals). ``options``: settings of
    one kind's importer (``create_programs``, ``surge_threshold``, …).
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
    date_order: str = ""
    skip_values: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
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
            "date_order",
            "skip_values",
            "options",
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
        date_order = str(data.get("date_order") or "")
        if date_order and date_order not in DATE_ORDERS:
            raise CsvFileError(
                f"Unknown date_order '{date_order[:20]}'; use one of {', '.join(DATE_ORDERS)}."
            )
        skip_values = data.get("skip_values", {})
        options = data.get("options", {})
        if not isinstance(skip_values, dict) or not isinstance(options, dict):
            raise CsvFileError("A mapping's 'skip_values' and 'options' must be objects.")
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
            date_order=date_order,
            skip_values={
                f: [str(v).casefold() for v in (p if isinstance(p, list) else [p])]
                for f, p in skip_values.items()
            },
            options=dict(options),
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
        joined: dict[str, list[int]] = {}
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
                counted = target.startswith(COUNT_PREFIX) and "quantity" in known
                if target not in known and not counted:
                    errors.append(f"The mapping sends column '{column}' to unknown field {target}.")
                    continue
                if target in field_index:
                    joined.setdefault(target, [field_index[target]]).append(index)
                    field_column[target] += f" + {column}"
                    continue
                field_index[target] = index
                field_column[target] = column
        if ignored:
            warnings.append("Columns ignored (not in the mapping): " + ", ".join(ignored) + ".")
        return BoundMapping(self, field_index, field_column, warnings, errors, joined)

    def known_columns(self, header: Sequence[str]) -> int:
        """How many columns of ``header`` this mapping reads (profile detection)."""
        return sum(1 for column in header if column and normalize_key(column) in self.columns)


#: A column sent to ``count:<touch kind>`` gives a touch of that kind with the cell as
#: its quantity (a LinkedIn row with impressions and clicks gives two touches).
COUNT_PREFIX = "count:"


@dataclass
class BoundMapping:
    mapping: Mapping
    field_index: dict[str, int]
    field_column: dict[str, str]
    warnings: list[str]
    errors: list[str]
    #: Fields fed by several columns: their indexes. An external id joins their values
    #: with "|" (a campaign id and a day); another field takes the first with a value.
    joined: dict[str, list[int]] = field(default_factory=dict)


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
        #: Field → date order decided from the whole file (or given).
        self.date_orders: dict[str, str] = {}
        #: Rows skipped by the mapping's ``skip_values`` (not counted as read).
        self.skipped = 0

    def column(self, field_name: str) -> str:
        return self.bound.field_column.get(field_name, field_name)

    def has(self, field_name: str) -> bool:
        """The file (or a mapping constant) feeds this field."""
        return field_name in self.bound.field_index or field_name in self.mapping.constants

    def rows(self, records: Iterable[tuple[int, list[str] | None, str]]) -> Iterator[Row]:
        """Turn records into rows; unreadable and ragged records go straight to the report."""
        joined = self.bound.joined
        index_items = [(n, i) for n, i in self.bound.field_index.items() if n not in joined]
        joined_items = list(joined.items())
        constants = self.mapping.constants
        skip = [
            (self.bound.field_index[name], tuple(prefixes))
            for name, prefixes in self.mapping.skip_values.items()
            if name in self.bound.field_index
        ]
        for line, fields, error in records:
            if skip and fields is not None and _skipped(fields, skip):
                self.skipped += 1
                continue
            self.report.rows_read += 1
            if error:
                self.report.reject(line, "", error, fields or ())
                continue
            assert fields is not None
            values = dict(constants)
            for name, i in index_items:
                values[name] = fields[i]
            for name, indexes in joined_items:
                if name == "external_id":
                    values[name] = "|".join(fields[i].strip() for i in indexes)
                else:  # the first column with a value (First Responded Date, else Created)
                    values[name] = next((fields[i] for i in indexes if fields[i].strip()), "")
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
                order=self.date_order(field_name),
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
                order=self.date_order(field_name),
            ),
            required=required,
        )

    def date_order(self, field_name: str) -> str:
        """How ``01/10/2026`` reads in this field: given, or decided from the whole file."""
        return self.mapping.date_order or self.date_orders.get(field_name, "")

    def row_source(self, row: Row) -> str:
        """The row's ``source`` column when the file has one, else the import's source."""
        value = row.values.get("source", "").strip()
        if value and len(value) > 50:
            raise self.fail("source", "is longer than 50 characters")
        return value or self.source

    def finish(self) -> None:
        if self.skipped:
            self.report.warnings.append(
                f"{self.skipped} rows were skipped as the mapping says (totals or values it "
                "does not import); they are not counted as read."
            )
        if self.formula_cells:
            self.report.warnings.append(
                f"{self.formula_cells} cells start like a spreadsheet formula (=, +, -, @); "
                "they were stored as plain text and are neutralised in exports."
            )


def _skipped(fields: list[str], skip: list[tuple[int, tuple[str, ...]]]) -> bool:
    """Whether a record's value of a skip field starts with one of its prefixes."""
    return any(fields[i].strip().casefold().startswith(prefixes) for i, prefixes in skip)
