"""The three errors of a CSV import: the whole file, one cell, one row."""

from __future__ import annotations


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
