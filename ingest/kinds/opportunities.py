"""CSV import of opportunities and NPS responses.

Opportunities are keyed by (source, external id) — the CRM's opportunity
id — so a re-import updates them; a row without one (a Salesforce report
without the Opportunity ID column) is keyed by its account, name and created
date, with a warning that a renamed opportunity then becomes a new one.
Status comes from a ``status`` column (after the mapping's value
translation), or from ``is_won`` / ``is_closed`` flags (Salesforce), else
it is open. An open opportunity's close date is its expected close date.
A won opportunity's contract ends on the file's contract end, or its start
(else close) date plus its term; without a term, the default term
(``ABM_DEFAULT_TERM_MONTHS``, 12) applies and the report says so.
NPS responses are keyed by (source, external id) or a hash of the row.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable

from django.conf import settings

from abm_site.csvio import ImportContext, Row, RowRejected, content_key, upsert_by_key
from funnel.choices import OpportunityStatus, OpportunityType
from funnel.models import NpsResponse, Opportunity

from .accounts import (
    ACCOUNT_REF_FIELDS,
    account_index_for,
    account_ref,
    resolve_account,
    touched_account_ids,
)
from .currency import Currencies

OPPORTUNITY_FIELDS: tuple[str, ...] = (
    *ACCOUNT_REF_FIELDS,
    "name",
    "type",
    "status",
    "is_won",
    "is_closed",
    "crm_stage",
    "amount",
    "created_on",
    "closed_on",
    "expected_close_on",
    "term_months",
    "contract_start",
    "contract_end",
    "currency",
    "pipeline",
    "source",
    "external_id",
)
NPS_FIELDS: tuple[str, ...] = (
    *ACCOUNT_REF_FIELDS,
    "stakeholder_email",
    "score",
    "responded_on",
    "source",
    "external_id",
)


def import_opportunities(rows: Iterable[Row], ctx: ImportContext) -> set[int]:
    """Validate and upsert opportunities; return the ids of the accounts affected."""
    parsed = []
    currencies = Currencies(ctx)
    default_term = settings.ABM_DEFAULT_TERM_MONTHS
    for row in rows:
        try:
            ref = account_ref(row, ctx)
            values = _opportunity_values(row, ctx, default_term)
            values["amount"] = currencies.amount(row, "amount", values["amount"])
            parsed.append((row, ref, values))
        except RowRejected as exc:
            ctx.reject(row, exc)
    index = account_index_for(ref for _, ref, _ in parsed)
    items = []
    natural = 0
    for row, ref, values in parsed:
        try:
            values["account_id"] = resolve_account(index, ref, ctx)
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        source, external_id = values.pop("source"), values.pop("external_id")
        if not external_id:
            natural += 1
            external_id = content_key(
                (
                    "opportunity",
                    values["account_id"],
                    values["name"].casefold(),
                    values["created_on"],
                )
            )
        items.append((row, (source, external_id), values))
    currencies.finish()
    if natural:
        ctx.report.warnings.append(
            f"{natural} opportunities have no CRM id: each is known by its account, name and "
            "created date, so renaming one in the CRM makes the next import create it again "
            "(add the Opportunity ID column to the export to avoid that)."
        )
    if ctx.counters.get("open_close_dates"):
        ctx.report.notes.append(
            f"{ctx.counters['open_close_dates']} open opportunities had a close date: it is "
            "stored as their expected close date (closed_on means actually closed)."
        )
    if ctx.counters.get("default_term"):
        ctx.report.notes.append(
            f"{ctx.counters['default_term']} won opportunities had no contract end or term: "
            f"their contract runs {default_term} months from the close date "
            "(ABM_DEFAULT_TERM_MONTHS), so their renewal falls due then."
        )
    written = upsert_by_key(
        Opportunity, items, ("source", "external_id"), ctx.column("external_id"), ctx
    )
    return touched_account_ids(written)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` (31 January + 1 month = 28/29 February)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _opportunity_values(row: Row, ctx: ImportContext, default_term: int = 12) -> dict:
    external_id = ctx.text(row, "external_id", max_length=255)
    values: dict = {"source": ctx.row_source(row), "external_id": external_id}
    if not external_id and not (ctx.text(row, "name") and ctx.raw(row, "created_on").strip()):
        raise ctx.fail(
            "external_id",
            "is required when the row has no name and created date: the CRM's opportunity "
            "id (or account + name + created date) lets a re-import update the opportunity",
        )
    if ctx.has("is_closed") and ctx.raw(row, "is_closed").strip():
        closed = ctx.boolean(row, "is_closed")
        won = bool(ctx.boolean(row, "is_won")) if ctx.has("is_won") else False
        status = (OpportunityStatus.WON if won else OpportunityStatus.LOST) if closed else "open"
    else:
        status = ctx.choice(row, "status", OpportunityStatus.choices, default="open")
    values["status"] = status
    by_pipeline = ctx.mapped(row, "pipeline")  # a HubSpot pipeline of renewals, say
    if not ctx.raw(row, "type").strip() and by_pipeline in OpportunityType.values:
        values["type"] = by_pipeline
    else:
        values["type"] = ctx.choice(
            row, "type", OpportunityType.choices, default=OpportunityType.NEW_BUSINESS
        )
    values["name"] = ctx.text(row, "name", max_length=255)
    values["crm_stage"] = ctx.text(row, "crm_stage", max_length=100)
    values["amount"] = ctx.decimal(row, "amount", max_digits=14, decimal_places=2) or 0
    values["created_on"] = ctx.date(row, "created_on")
    values["closed_on"] = ctx.date(row, "closed_on")
    values["expected_close_on"] = ctx.date(row, "expected_close_on")
    if status == OpportunityStatus.OPEN and values["closed_on"] is not None:
        # CRMs give open opportunities an *expected* close date; ours means closed.
        values["expected_close_on"] = values["expected_close_on"] or values["closed_on"]
        values["closed_on"] = None
        ctx.counters["open_close_dates"] = ctx.counters.get("open_close_dates", 0) + 1
    elif status != OpportunityStatus.OPEN:
        values["expected_close_on"] = None
    if status != OpportunityStatus.OPEN and values["closed_on"] is None:
        raise ctx.fail("closed_on", f"a {status} opportunity needs a close date")
    if values["created_on"] and values["closed_on"] and values["closed_on"] < values["created_on"]:
        raise ctx.fail(
            "closed_on",
            f"{values['closed_on']} is before the created date {values['created_on']}",
        )
    term = ctx.integer(row, "term_months", min_value=1, max_value=240)
    values["term_months"] = term or default_term
    for name in ("contract_start", "contract_end"):
        values[name] = ctx.date(row, name)
    if status == OpportunityStatus.WON:
        start = values["contract_start"] or values["closed_on"]
        values["contract_start"] = start
        if values["contract_end"] is None and start is not None:
            if term is None:
                ctx.counters["default_term"] = ctx.counters.get("default_term", 0) + 1
            values["contract_end"] = add_months(start, values["term_months"]) - dt.timedelta(1)
    if (
        values.get("contract_start")
        and values.get("contract_end")
        and values["contract_end"] < values["contract_start"]
    ):
        raise ctx.fail("contract_end", "is before contract_start")
    return values


def import_nps(rows: Iterable[Row], ctx: ImportContext) -> set[int]:
    """Upsert NPS responses by (source, external id) or a hash of the row."""
    from accounts.models import Stakeholder

    parsed = []
    for row in rows:
        try:
            ref = account_ref(row, ctx)
            values = {
                "score": ctx.integer(row, "score", min_value=0, max_value=10, required=True),
                "responded_on": ctx.date(row, "responded_on", required=True),
                "email": ctx.text(row, "stakeholder_email", max_length=254).lower(),
                "source": ctx.row_source(row),
                "external_id": ctx.text(row, "external_id", max_length=255),
            }
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        parsed.append((row, ref, values))
    index = account_index_for(ref for _, ref, _ in parsed)
    emails = {v["email"] for _, _, v in parsed if v["email"]}
    stakeholders = (
        {
            (a, e): i
            for i, a, e in Stakeholder.objects.filter(email__in=emails).values_list(
                "id", "account_id", "email"
            )
        }
        if emails
        else {}
    )
    items = []
    for row, ref, values in parsed:
        try:
            account_id = resolve_account(index, ref, ctx)
            email = values.pop("email")
            stakeholder_id = None
            if email:
                stakeholder_id = stakeholders.get((account_id, email))
                if stakeholder_id is None:
                    raise ctx.fail(
                        "stakeholder_email", f"no stakeholder of this account has '{email[:100]}'"
                    )
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        values.update(account_id=account_id, stakeholder_id=stakeholder_id)
        source = values.pop("source")
        external_id = values.pop("external_id") or content_key(
            ("nps", account_id, stakeholder_id, values["score"], values["responded_on"])
        )
        items.append((row, (source, external_id), values))
    written = upsert_by_key(
        NpsResponse, items, ("source", "external_id"), ctx.column("external_id"), ctx
    )
    return touched_account_ids(written)
