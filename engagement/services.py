"""Writes of the engagement app: the bulk touch path shared by CSV import and the REST API.

The touch pipeline lives in :mod:`engagement.ingest`; its public names are
re-exported here, the module other apps import writes from.
"""

from .ingest import (
    TOUCH_FIELDS,
    BulkTouchResult,
    ParseOptions,
    TouchIngest,
    TouchRejection,
    touch_bulk_create,
)

__all__ = [
    "MAX_BULK_TOUCHES",
    "TOUCH_FIELDS",
    "BulkTouchResult",
    "ParseOptions",
    "TouchIngest",
    "TouchRejection",
    "touch_bulk_create",
]

#: Touches one request to the bulk endpoint may carry (more answers 413).
MAX_BULK_TOUCHES = 10_000
