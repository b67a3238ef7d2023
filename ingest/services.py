"""Writes of the ingest app: the CSV import engine, the upload page's preview and run, and
the mapping editor (its mapping, saved as a profile).

Every CSV path (``manage.py import_csv``, the upload page, ``POST /api/v1/imports/``)
goes through ``csv_import``.
"""

from .editor import MappingEditError, editor_mapping, saved_mapping_create
from .imports import DEFAULT_SOURCE, Progress, csv_import
from .uploads import (
    ImportTokenError,
    import_preview,
    import_run,
    rejected_rows,
    upload_load,
    upload_preview,
    upload_store,
    uploads_expire,
)

__all__ = [
    "DEFAULT_SOURCE",
    "ImportTokenError",
    "MappingEditError",
    "Progress",
    "csv_import",
    "editor_mapping",
    "import_preview",
    "import_run",
    "rejected_rows",
    "saved_mapping_create",
    "upload_load",
    "upload_preview",
    "upload_store",
    "uploads_expire",
]
