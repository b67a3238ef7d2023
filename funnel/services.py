"""Writes of the funnel app: opportunities and NPS responses; the snapshot recompute.

Snapshots, stage changes and recompute runs are written by the recompute only
(``funnel.recompute``); ``day_compute`` and ``marked_compute`` are its entry points
for commands and other apps.
"""

from typing import Any

from accounts.services import account_row_delete, account_row_save

from .history import stage_history_rebuild
from .models import NpsResponse, Opportunity
from .recompute import day_compute, marked_compute

__all__ = [
    "day_compute",
    "marked_compute",
    "nps_response_create",
    "nps_response_delete",
    "nps_response_update",
    "opportunity_create",
    "opportunity_delete",
    "opportunity_update",
    "stage_history_rebuild",
]


def opportunity_create(**fields: Any) -> Opportunity:
    return account_row_save(Opportunity(), fields)


def opportunity_update(opportunity: Opportunity, **fields: Any) -> Opportunity:
    return account_row_save(opportunity, fields)


def opportunity_delete(opportunity: Opportunity) -> None:
    account_row_delete(opportunity)


def nps_response_create(**fields: Any) -> NpsResponse:
    return account_row_save(NpsResponse(), fields)


def nps_response_update(response: NpsResponse, **fields: Any) -> NpsResponse:
    return account_row_save(response, fields)


def nps_response_delete(response: NpsResponse) -> None:
    account_row_delete(response)
