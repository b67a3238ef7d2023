"""The bulk touch path shared by CSV import and the REST API.

Touches arrive by the ten thousand, so the per-row work is plain Python on
tuples (no model instances, no per-row queries) and the database work is
set-based: per batch, one COPY straight into the touch table, or, once a
batch meets a key already stored, COPY into a staging table and one
``INSERT … ON CONFLICT DO NOTHING``. On PostgreSQL a batch's database work runs on a
writer thread over the caller's own connection and transaction while the
caller validates the next batch, so Python and PostgreSQL work at the same
time (:class:`TouchIngest`).

The modules, in the order a row meets them: ``rows`` (a row checked into a
tuple), ``references`` (the accounts, stakeholders and programs it names),
``writers`` (COPY or the ORM) and ``pipeline`` (the batches and the writer
thread). Other apps import these names from ``engagement.services``.
"""

from .pipeline import TouchIngest, ramped_batches, touch_bulk_create
from .rows import TOUCH_FIELDS, BulkTouchResult, ParseOptions, TouchRejection

__all__ = [
    "TOUCH_FIELDS",
    "BulkTouchResult",
    "ParseOptions",
    "TouchIngest",
    "TouchRejection",
    "ramped_batches",
    "touch_bulk_create",
]
