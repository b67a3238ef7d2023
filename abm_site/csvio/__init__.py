"""Generic CSV reading for imports: decoding, dialect, records, cell parsing, the report.

Nothing here knows about accounts or touches. The per-kind importers in the
apps turn a :class:`Row` into model values with the ``ImportContext``
helpers, which parse a cell with the mapping's options and reject the row
with the user's column name when the cell is bad.

Reading never raises on bad rows: a record that cannot be parsed (an
unterminated quote, a field over ``csv.field_size_limit()``, a stray quote)
is reported with its physical line number and reading resumes on the next
physical line, so one bad quote never swallows the rest of the file.

The modules, bottom up: ``errors``, ``dates`` (the day/month order of a column),
``decode`` (bytes to records), ``cells``
(one cell to a value), ``report``, ``mapping`` (columns to fields, the
importers' ``ImportContext``) and ``write`` (batched writes and upserts).
Import from this package, not from its modules.
"""

from .cells import (
    content_key,
    looks_like_formula,
    neutralize,
    normalize_key,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_text,
    text_key,
)
from .dates import DATE_ORDERS, date_order_label, decide_date_orders, has_slashed_dates
from .decode import CsvTable, decode_bytes, read_table, sniff_delimiter
from .errors import CellError, CsvFileError, RowRejected
from .mapping import COUNT_PREFIX, BoundMapping, ImportContext, Mapping, Row
from .report import ImportReport, Rejection
from .write import apply_values, bulk_write, chunked, upsert_by_key

__all__ = [
    "COUNT_PREFIX",
    "DATE_ORDERS",
    "BoundMapping",
    "CellError",
    "CsvFileError",
    "CsvTable",
    "ImportContext",
    "ImportReport",
    "Mapping",
    "Rejection",
    "Row",
    "RowRejected",
    "apply_values",
    "bulk_write",
    "chunked",
    "content_key",
    "date_order_label",
    "decide_date_orders",
    "decode_bytes",
    "has_slashed_dates",
    "looks_like_formula",
    "neutralize",
    "normalize_key",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_int",
    "parse_text",
    "read_table",
    "sniff_delimiter",
    "text_key",
    "upsert_by_key",
]
