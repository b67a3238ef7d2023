"""Write services of the API for accounts and stakeholders.

A change to an account or to a row hanging off it (stakeholder, touch,
opportunity, NPS response, intent signal) marks the account
``needs_recompute`` so the next recompute refreshes its snapshot.
"""

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import models, transaction

from .models import Account, Stakeholder

M = TypeVar("M", bound=models.Model)


def account_mark_for_recompute(account_ids: Iterable[int | None]) -> int:
    """Flag accounts for the next recompute (one UPDATE); returns how many rows matched."""
    ids = {i for i in account_ids if i is not None}
    if not ids:
        return 0
    return Account.objects.filter(pk__in=ids, needs_recompute=False).update(needs_recompute=True)


def account_row_save(instance: M, fields: dict[str, Any]) -> M:
    """Save a row that belongs to an account and mark its old and new account.

    Shared by the write services of every app whose rows carry ``account``.
    """
    old_account_id = instance.account_id if instance.pk else None
    for name, value in fields.items():
        setattr(instance, name, value)
    with transaction.atomic():
        instance.save()
        account_mark_for_recompute([old_account_id, instance.account_id])
    return instance


def account_row_delete(instance: models.Model) -> None:
    """Delete a row that belongs to an account and mark the account."""
    with transaction.atomic():
        account_id = instance.account_id
        instance.delete()
        account_mark_for_recompute([account_id])


def account_create(**fields: Any) -> Account:
    """Create an account, flagged for its first recompute."""
    account = Account(**fields, needs_recompute=True)
    account.save()
    return account


def account_update(account: Account, **fields: Any) -> Account:
    """Update an account; targeting, tier or churn changes move it in the funnel."""
    for name, value in fields.items():
        setattr(account, name, value)
    account.needs_recompute = True
    account.save()
    return account


def stakeholder_create(**fields: Any) -> Stakeholder:
    return account_row_save(Stakeholder(), fields)


def stakeholder_update(stakeholder: Stakeholder, **fields: Any) -> Stakeholder:
    return account_row_save(stakeholder, fields)


def stakeholder_delete(stakeholder: Stakeholder) -> None:
    account_row_delete(stakeholder)
