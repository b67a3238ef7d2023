"""Writes of the engagement app: touches and intent signals one at a time, and in bulk.

The single-row writes of the API mark the touched account ``needs_recompute``
like every other write. Touches in bulk (CSV import and the REST bulk
endpoint) go through the pipeline in :mod:`engagement.ingest`; its public
names are re-exported here, the one module other apps import writes from.
"""

from typing import Any

from accounts.services import account_row_delete, account_row_save

from .ingest import (
    TOUCH_FIELDS,
    BulkTouchResult,
    ParseOptions,
    TouchIngest,
    TouchRejection,
    ramped_batches,
    touch_bulk_create,
)
from .models import IntentSignal, Touch

__all__ = [
    "BULK_ROW_KEYS",
    "MAX_BULK_TOUCHES",
    "TOUCH_FIELDS",
    "BulkTouchResult",
    "ParseOptions",
    "TouchIngest",
    "TouchRejection",
    "intent_signal_create",
    "intent_signal_delete",
    "intent_signal_update",
    "ramped_batches",
    "touch_bulk_create",
    "touch_create",
    "touch_delete",
    "touch_update",
    "touches_bulk_ingest",
]

#: Touches one request to the bulk endpoint may carry (more answers 413).
MAX_BULK_TOUCHES = 10_000


def touch_create(**fields: Any) -> Touch:
    return account_row_save(Touch(), fields)


def touch_update(touch: Touch, **fields: Any) -> Touch:
    return account_row_save(touch, fields)


def touch_delete(touch: Touch) -> None:
    account_row_delete(touch)


def intent_signal_create(**fields: Any) -> IntentSignal:
    return account_row_save(IntentSignal(), fields)


def intent_signal_update(signal: IntentSignal, **fields: Any) -> IntentSignal:
    return account_row_save(signal, fields)


def intent_signal_delete(signal: IntentSignal) -> None:
    account_row_delete(signal)


#: API row keys → keys of ``touch_bulk_create`` (the REST names match the touch resource).
_BULK_KEYS = {
    "account": "account_id",
    "stakeholder": "stakeholder_id",
    "program": "program_id",
    "program_name": "program",
}
_BULK_NAMES = {v: k for k, v in _BULK_KEYS.items()}
#: The service's touch keys under their API names.
BULK_ROW_KEYS = frozenset(_BULK_NAMES.get(key, key) for key in TOUCH_FIELDS)


def touches_bulk_ingest(rows: list, *, source: str) -> dict[str, Any]:
    """Store a batch of API touches through ``touch_bulk_create``; the API's result body.

    Rows with keys the API does not know are rejected (naming the keys) so a
    typo never silently drops a value; the others go to the service as they
    are, with the API's key names passed along (no renamed copy of each row).
    Returns ``{"accepted", "duplicates", "rejected": [{"index", "errors":
    {field: [reason]}}], "rejected_count"}``.
    """
    rejected: list[dict[str, Any]] = []
    service_rows: list[dict] = []
    positions: list[int] = []  # service index -> request index
    known = BULK_ROW_KEYS.issuperset
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            rejected.append({"index": index, "errors": {"non_field_errors": ["Not an object."]}})
            continue
        if not known(row):
            errors = {key: ["Unknown field."] for key in sorted(row.keys() - BULK_ROW_KEYS)}
            rejected.append({"index": index, "errors": errors})
            continue
        service_rows.append(row)
        positions.append(index)
    result = touch_bulk_create(service_rows, source=source, keys=_BULK_KEYS)
    for rejection in result.rejected:
        name = _BULK_NAMES.get(rejection.field, rejection.field) or "non_field_errors"
        rejected.append({"index": positions[rejection.index], "errors": {name: [rejection.reason]}})
    rejected.sort(key=lambda r: r["index"])
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": rejected,
        "rejected_count": len(rejected),
    }
