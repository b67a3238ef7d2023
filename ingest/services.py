"""Writes of the ingest app: the CSV import engine and the upload page's preview and run.

Every CSV path (``manage.py import_csv``, the upload page, ``POST /api/v1/imports/``)
goes through ``csv_import``.
"""

from .imports import DEFAULT_SOURCE, Progress, csv_import
from .uploads import (
    ImportTokenError,
    import_preview,
    import_run,
    rejected_rows,
    upload_load,
    uploads_expire,
)

__all__ = [
    "DEFAULT_SOURCE",
    "ImportTokenError",
    "Progress",
    "csv_import",
    "import_preview",
    "import_run",
    "rejected_rows",
    "upload_load",
    "uploads_expire",
]
