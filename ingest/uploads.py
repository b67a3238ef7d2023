"""The CSV upload page's plumbing: store the file, preview it (a dry run), run it.

Between preview and run the file lives under ``var/uploads/`` with a random
name; the page carries a *signed* token naming it (plus kind and mapping),
never a path from the user. The import itself is ``ingest.imports.csv_import``.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import signing

from abm_site.csvio import CsvFileError, ImportReport, read_table

from .imports import available_mappings, csv_import, mapping_resolve
from .kinds import IMPORT_KINDS

SALT = "reports.uploads"  # unchanged since the module moved: tokens issued before stay valid
#: A preview stays runnable for a day.
TOKEN_MAX_AGE = 24 * 3600
PREVIEW_ROWS = 10


class ImportTokenError(Exception):
    """The token is forged, expired or names a file that is gone."""


def upload_dir() -> Path:
    path = Path(settings.VAR_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def kind_choices() -> list[tuple[str, str]]:
    return [(k.name, k.label) for k in IMPORT_KINDS.values()]


def mapping_choices() -> list[dict[str, Any]]:
    """Each mapping profile once, with the kinds it has a profile for (the page filters by kind)."""
    seen: dict[str, dict[str, Any]] = {}
    for kind in IMPORT_KINDS:
        for name, label in available_mappings(kind):
            entry = seen.setdefault(
                name,
                {
                    "name": name,
                    "label": "Our column names" if name == "default" else label,
                    "kinds": [],
                },
            )
            entry["kinds"].append(kind)
    for entry in seen.values():
        entry["kinds_attr"] = " ".join(entry["kinds"])
    return list(seen.values())


def upload_load(token: str, suffix: str = ".csv") -> dict:
    """The stored upload a signed token names; ``ImportTokenError`` when it cannot be used."""
    try:
        data = signing.loads(token, salt=SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise ImportTokenError("This preview has expired; upload the file again.") from None
    except signing.BadSignature:
        raise ImportTokenError("This import link is not valid; upload the file again.") from None
    if not isinstance(data, dict) or not str(data.get("f", "")).isalnum():
        raise ImportTokenError("This import link is not valid; upload the file again.")
    if data.get("k") not in IMPORT_KINDS:
        raise ImportTokenError("This import link names an unknown kind; upload the file again.")
    path = upload_dir() / f"{data['f']}{suffix}"
    if not path.is_file():
        raise ImportTokenError(
            "The uploaded file is no longer on the server (already imported?); upload it again."
        )
    data["path"] = path
    return data


def preview_rows(path: Path, kind: str, mapping: str) -> dict[str, Any]:
    """The first rows as the import reads them: our field names and the cells they get."""
    try:
        table = read_table(path.read_bytes())
        bound = mapping_resolve(kind, mapping).bind(table.header, IMPORT_KINDS[kind].fields)
    except CsvFileError:
        return {"fields": [], "rows": []}
    fields = [f for f in IMPORT_KINDS[kind].fields if f in bound.field_index]
    rows = []
    for line, cells, error in table.records:
        if len(rows) >= PREVIEW_ROWS:
            break
        if cells is None:
            rows.append({"line": line, "cells": [], "error": error})
            continue
        rows.append(
            {"line": line, "cells": [cells[bound.field_index[f]] for f in fields], "error": ""}
        )
    return {
        "fields": fields,
        "columns": [bound.field_column[f] for f in fields],
        "rows": rows,
    }


def uploads_expire(max_age: int = TOKEN_MAX_AGE) -> int:
    """Delete stored uploads and rejected-row files older than their tokens can be."""
    cutoff = time.time() - max_age
    removed = 0
    for path in upload_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def import_preview(cleaned: dict) -> dict[str, Any]:
    """Store the upload, dry-run it, and return what the preview page shows."""
    uploads_expire()
    file_id = uuid.uuid4().hex
    path = upload_dir() / f"{file_id}.csv"
    with path.open("wb") as out:
        for chunk in cleaned["file"].chunks():
            out.write(chunk)
    kind, mapping = cleaned["kind"], cleaned["mapping"]
    report = csv_import(kind, path, mapping=mapping, dry_run=True)
    preview = preview_rows(path, kind, mapping)
    rejected_lines = {r.line: r for r in report.rejected}
    for row in preview["rows"]:
        rejection = rejected_lines.get(row["line"])
        row["rejected"] = f"{rejection.column}: {rejection.reason}" if rejection else row["error"]
    token = signing.dumps(
        {"f": file_id, "k": kind, "m": mapping, "n": Path(cleaned["file"].name).name[:200]},
        salt=SALT,
    )
    return {
        "preview": preview,
        "report": report.as_dict(),
        "token": token,
        "filename": Path(cleaned["file"].name).name,
        "kind_label": IMPORT_KINDS[kind].label,
    }


def import_run(data: dict) -> dict[str, Any]:
    """Run the import of a previewed upload; keep its rejected rows for the CSV download."""
    path: Path = data["path"]
    report: ImportReport = csv_import(data["k"], path, mapping=data["m"], dry_run=False)
    rejected = [[r.line, r.column, r.reason, *r.values] for r in report.rejected]
    (upload_dir() / f"{data['f']}.rejected.json").write_text(
        json.dumps({"header": ["line", "column", "reason", *report.header], "rows": rejected}),
        encoding="utf-8",
    )
    path.unlink(missing_ok=True)
    token = signing.dumps(
        {"f": data["f"], "k": data["k"], "m": data["m"], "n": data["n"]}, salt=SALT
    )
    return {
        "report": report.as_dict(),
        "filename": data["n"],
        "kind_label": IMPORT_KINDS[data["k"]].label,
        "rejected_token": token if rejected else "",
    }


def rejected_rows(token: str) -> tuple[list[str], list[list], str]:
    data = upload_load(token, suffix=".rejected.json")
    stored = json.loads(data["path"].read_text(encoding="utf-8"))
    return stored["header"], stored["rows"], data["n"]
