"""What an import did: counts, rejected rows with their line and column, warnings."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .cells import neutralize

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


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
    #: What the import decided or did besides rows: the mapping it detected, the date
    #: order of a column, amounts converted, owners and programs created.
    notes: list[str] = field(default_factory=list)
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
            "notes": list(self.notes),
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
