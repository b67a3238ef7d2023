"""Writes of the funnel app: opportunities and NPS responses (snapshots are written by the recompute)."""

from typing import Any

from accounts.services import account_row_delete, account_row_save

from .models import NpsResponse, Opportunity


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
