"""Writes of the event outbox. Call them inside the transaction that changes the data."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F
from django.utils import timezone

from accounts.models import Account

from .choices import EventType
from .models import Event

__all__ = ["EventDraft", "event_record", "events_claim_undispatched", "events_record"]


@dataclass(frozen=True)
class EventDraft:
    """An event to record: its type, its unique key, when, about which account, details."""

    type: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    account_id: int | None = None
    occurred_at: dt.datetime | None = None


def _accounts(ids: set[int]) -> dict[int, dict[str, Any]]:
    """What an account event says about its account (one query for all of them)."""
    if not ids:
        return {}
    rows = Account.objects.filter(pk__in=ids).values(
        "id",
        "name",
        "domain",
        "tier_id",
        "owner_id",
        tier_name=F("tier__name"),
        owner_name=F("owner__name"),
        owner_email=F("owner__email"),
    )
    return {
        row["id"]: {
            "id": row["id"],
            "name": row["name"],
            "domain": row["domain"],
            "tier_id": row["tier_id"],
            "tier": row["tier_name"],
            "owner_id": row["owner_id"],
            "owner": row["owner_name"],
            "owner_email": row["owner_email"],
        }
        for row in rows
    }


def events_record(drafts: Iterable[EventDraft]) -> int:
    """Insert events whose key is new; returns how many were new.

    Set-based: one query for the accounts the events are about, one INSERT ...
    ON CONFLICT DO NOTHING for all of them. Each account event's payload gets
    an ``account`` object (id, name, domain, tier, owner).
    """
    drafts = list(drafts)
    if not drafts:
        return 0
    accounts = _accounts({d.account_id for d in drafts if d.account_id is not None})
    now = timezone.now()
    rows = []
    for draft in drafts:
        payload = dict(draft.payload)
        if draft.account_id is not None and draft.account_id in accounts:
            payload["account"] = accounts[draft.account_id]
        rows.append(
            Event(
                type=EventType(draft.type),
                key=draft.key,
                occurred_at=draft.occurred_at or now,
                account_id=draft.account_id,
                payload=payload,
            )
        )
    existing = set(
        Event.objects.filter(key__in=[r.key for r in rows]).values_list("key", flat=True)
    )
    Event.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return len({r.key for r in rows} - existing)


def event_record(
    type: str,
    key: str,
    payload: dict[str, Any] | None = None,
    account_id: int | None = None,
    occurred_at: dt.datetime | None = None,
) -> bool:
    """Record one event unless its key exists; True when it was new."""
    draft = EventDraft(type, key, payload or {}, account_id, occurred_at)
    return events_record([draft]) == 1


def events_claim_undispatched(limit: int = 500) -> list[Event]:
    """Lock and mark dispatched the oldest events not yet dispatched (up to ``limit``).

    Call inside the transaction that plans their deliveries: a concurrent
    dispatcher skips the locked rows, and a rollback leaves them undispatched.
    Unlike a cursor on the id, no event is skipped when transactions commit out
    of id order.
    """
    events = list(
        Event.objects.select_for_update(skip_locked=True)
        .filter(dispatched_at__isnull=True)
        .order_by("id")[:limit]
    )
    if events:
        Event.objects.filter(pk__in=[e.pk for e in events]).update(dispatched_at=timezone.now())
    return events
