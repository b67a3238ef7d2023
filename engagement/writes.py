"""Write services of the API for touches and intent signals (one row at a time).

Bulk and CSV ingest live in ``engagement.services``; these mark the touched
account ``needs_recompute`` like every other write.
"""

from typing import Any

from accounts.services import account_row_delete, account_row_save

from .models import IntentSignal, Touch
from .services import TOUCH_FIELDS


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
    from .services import touch_bulk_create

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
