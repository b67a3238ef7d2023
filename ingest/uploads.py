"""The CSV upload page's plumbing: store the file, preview it (a dry run), run it.

Between preview and run the file lives under ``var/uploads/`` with a random
name; the page carries a *signed* token naming it (plus kind, mapping and the
uploader), never a path from the user. A token works only for the user it was
issued to, so a copied or shared link cannot run or read someone else's upload.
The import itself is ``ingest.imports.csv_import``.
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

from .imports import AUTO, available_mappings, csv_import, header_finder, mapping_resolve
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
    """Each mapping profile once, with the kinds it has a profile for (the page filters by
    kind); first ``auto``, detection from the header."""
    seen: dict[str, dict[str, Any]] = {
        AUTO: {"name": AUTO, "label": "Detect from the header", "kinds": list(IMPORT_KINDS)}
    }
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


def _token(data: dict, user_id: int) -> str:
    """Sign the upload's id, kind, mapping and file name for the user who uploaded it."""
    payload = {"f": data["f"], "k": data["k"], "m": data["m"], "n": data["n"], "u": user_id}
    return signing.dumps(payload, salt=SALT, compress=True)


def upload_load(token: str, user_id: int, suffix: str = ".csv") -> dict:
    """The stored upload a signed token names, for the user it was issued to;
    ``ImportTokenError`` when it cannot be used (a token from before tokens named their
    user is refused too: it lives a day at most)."""
    try:
        data = signing.loads(token, salt=SALT, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise ImportTokenError("This preview has expired; upload the file again.") from None
    except signing.BadSignature:
        raise ImportTokenError("This import link is not valid; upload the file again.") from None
    if not isinstance(data, dict) or not str(data.get("f", "")).isalnum():
        raise ImportTokenError("This import link is not valid; upload the file again.")
    if data.get("u") != user_id:
        raise ImportTokenError(
            "This import was uploaded by another user; upload the file yourself to import it."
        )
    if data.get("k") not in IMPORT_KINDS:
        raise ImportTokenError("This import link names an unknown kind; upload the file again.")
    path = upload_dir() / f"{data['f']}{suffix}"
    if not path.is_file():
        raise ImportTokenError(
            "The uploaded file is no longer on the server (already imported?); upload it again."
        )
    data["path"] = path
    return data


def preview_rows(path: Path, kind: str, mapping: str | dict) -> dict[str, Any]:
    """The first rows as the import reads them: our field names and the cells they get,
    plus the file's header and a sample value of each column (for the mapping editor)."""
    try:
        resolved = mapping_resolve(kind, mapping)
        table = read_table(path.read_bytes(), is_header=header_finder([resolved]))
        bound = resolved.bind(table.header, IMPORT_KINDS[kind].fields)
    except CsvFileError:
        return {"fields": [], "rows": [], "header": [], "samples": []}
    fields = [f for f in IMPORT_KINDS[kind].fields if f in bound.field_index]
    rows = []
    samples: list[str] = []
    for line, cells, error in table.records:
        if len(rows) >= PREVIEW_ROWS:
            break
        if cells is None:
            rows.append({"line": line, "cells": [], "error": error})
            continue
        if not samples:
            samples = list(cells)
        rows.append(
            {"line": line, "cells": [cells[bound.field_index[f]] for f in fields], "error": ""}
        )
    return {
        "fields": fields,
        "columns": [bound.field_column[f] for f in fields],
        "rows": rows,
        "header": table.header,
        "samples": samples,
    }


def upload_columns(upload: dict) -> tuple[list[str], list[str]]:
    """A stored upload's header and first data row, as its mapping finds them (the editor)."""
    preview = preview_rows(upload["path"], upload["k"], upload["m"])
    return preview["header"], preview["samples"]


def uploads_expire(max_age: int = TOKEN_MAX_AGE) -> int:
    """Delete stored uploads and rejected-row files older than their tokens can be."""
    cutoff = time.time() - max_age
    removed = 0
    for path in upload_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def upload_store(file: Any) -> str:
    """Keep an uploaded file for its preview and run; its id goes into the signed token."""
    uploads_expire()
    file_id = uuid.uuid4().hex
    with (upload_dir() / f"{file_id}.csv").open("wb") as out:
        for chunk in file.chunks():
            out.write(chunk)
    return file_id


def upload_preview(
    file_id: str, kind: str, mapping: str | dict, filename: str, user_id: int
) -> dict[str, Any]:
    """Dry-run a stored upload with ``mapping`` (a name, ``auto`` or the editor's mapping
    object) and return what the preview page shows; the token carries the mapping the
    preview used (the detected one for ``auto``), so the run does exactly what it showed."""
    path = upload_dir() / f"{file_id}.csv"
    report = csv_import(kind, path, mapping=mapping, dry_run=True)
    body = report.as_dict()
    if mapping == AUTO:
        mapping = report.mapping or "default"
        if report.header and not any("detected from the header" in n for n in report.notes):
            body["notes"].append(
                "No shipped or saved mapping reads this header; map its columns below."
            )
    preview = preview_rows(path, kind, mapping)
    rejected_lines = {r.line: r for r in report.rejected}
    for row in preview["rows"]:
        rejection = rejected_lines.get(row["line"])
        row["rejected"] = f"{rejection.column}: {rejection.reason}" if rejection else row["error"]
    token = _token({"f": file_id, "k": kind, "m": mapping, "n": filename[:200]}, user_id)
    return {
        "preview": preview,
        "report": body,
        "token": token,
        "mapping": mapping,
        "filename": filename,
        "kind": kind,
        "kind_label": IMPORT_KINDS[kind].label,
    }


def import_preview(cleaned: dict, user_id: int) -> dict[str, Any]:
    """Store the upload, dry-run it, and return what the preview page shows."""
    file_id = upload_store(cleaned["file"])
    return upload_preview(
        file_id, cleaned["kind"], cleaned["mapping"], Path(cleaned["file"].name).name, user_id
    )


def import_run(data: dict, user_id: int) -> dict[str, Any]:
    """Run the import of a previewed upload; keep its rejected rows for the CSV download."""
    path: Path = data["path"]
    report: ImportReport = csv_import(data["k"], path, mapping=data["m"], dry_run=False)
    rejected = [[r.line, r.column, r.reason, *r.values] for r in report.rejected]
    (upload_dir() / f"{data['f']}.rejected.json").write_text(
        json.dumps({"header": ["line", "column", "reason", *report.header], "rows": rejected}),
        encoding="utf-8",
    )
    path.unlink(missing_ok=True)
    token = _token(data, user_id)
    return {
        "report": report.as_dict(),
        "filename": data["n"],
        "kind_label": IMPORT_KINDS[data["k"]].label,
        "rejected_token": token if rejected else "",
    }


def rejected_rows(token: str, user_id: int) -> tuple[list[str], list[list], str]:
    """The rejected rows of a run, for the user who ran it."""
    data = upload_load(token, user_id, suffix=".rejected.json")
    stored = json.loads(data["path"].read_text(encoding="utf-8"))
    return stored["header"], stored["rows"], data["n"]
