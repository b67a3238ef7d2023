"""The kinds of data a CSV import can load: their fields, required columns and importer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .accounts import (
    ACCOUNT_FIELDS,
    ACCOUNT_REF_FIELDS,
    STAKEHOLDER_FIELDS,
    STAKEHOLDER_REF_FIELDS,
    import_accounts,
    import_stakeholders,
)
from .engagement import (
    INTENT_FIELDS,
    SPEND_FIELDS,
    TOUCH_FIELDS,
    import_intent,
    import_spend,
    import_touches,
)
from .opportunities import NPS_FIELDS, OPPORTUNITY_FIELDS, import_nps, import_opportunities


@dataclass(frozen=True)
class ImportKind:
    """One importable kind: its fields (our column names), required columns, importer."""

    name: str
    label: str
    fields: tuple[str, ...]
    #: Each entry is a group of fields of which the header must feed at least one.
    required: tuple[tuple[str, ...], ...]
    importer: Callable[..., set[int]]
    refresh_fit: bool = False
    streams: bool = False
    #: Fields holding dates: their order (day or month first) is decided per column.
    date_fields: tuple[str, ...] = ()


IMPORT_KINDS: dict[str, ImportKind] = {
    k.name: k
    for k in (
        ImportKind(
            "accounts",
            "Accounts",
            ACCOUNT_FIELDS,
            (("name",),),
            import_accounts,
            refresh_fit=True,
            date_fields=("targeted_on", "untargeted_on", "churned_on"),
        ),
        ImportKind(
            "stakeholders",
            "Stakeholders (buying committee)",
            STAKEHOLDER_FIELDS,
            (STAKEHOLDER_REF_FIELDS, ("name", "first_name", "last_name")),
            import_stakeholders,
            date_fields=("known_since",),
        ),
        ImportKind(
            "opportunities",
            "Opportunities",
            OPPORTUNITY_FIELDS,
            (ACCOUNT_REF_FIELDS,),
            import_opportunities,
            date_fields=("created_on", "closed_on", "contract_start", "contract_end"),
        ),
        ImportKind(
            "touches",
            "Touches (engagement)",
            TOUCH_FIELDS,
            (
                (
                    "account_id",
                    "account_domain",
                    "account_name",
                    "stakeholder_id",
                    "stakeholder_email",
                ),
                ("kind",),
                ("occurred_at",),
            ),
            import_touches,
            streams=True,
            date_fields=("occurred_at",),
        ),
        ImportKind(
            "spend",
            "Spend",
            SPEND_FIELDS,
            (("spent_on",), ("amount",)),
            import_spend,
            date_fields=("spent_on",),
        ),
        ImportKind(
            "nps",
            "NPS responses",
            NPS_FIELDS,
            (ACCOUNT_REF_FIELDS, ("score",), ("responded_on",)),
            import_nps,
            date_fields=("responded_on",),
        ),
        ImportKind(
            "intent",
            "Intent signals",
            INTENT_FIELDS,
            (ACCOUNT_REF_FIELDS, ("topic",), ("score",)),
            import_intent,
            date_fields=("week",),
        ),
    )
}
