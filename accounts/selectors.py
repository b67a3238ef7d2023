"""Reads of the accounts app other apps use: finding accounts by id, external key, domain or name.

``AccountFilterSet`` is the one declaration of how accounts are searched and
filtered: the API and the accounts page both use it (as NetBox's list views do).

The CSV import and the bulk touch API name accounts in these ways; both
resolve a whole batch of references with at most one query per kind of
reference (never one per row).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower

from abm_site.db import in_values

from .domains import FREE_MAIL_DOMAINS, clean_domain, email_domain, normalize_domain
from .filtersets import AccountFilterSet
from .models import (
    TARGET_LIST_NAME,
    Account,
    AccountDomain,
    AccountList,
    ListMembership,
    member_q,
)

__all__ = [
    "FREE_MAIL_DOMAINS",
    "AccountFilterSet",
    "AccountIndex",
    "account_index",
    "clean_domain",
    "email_domain",
    "email_domain_accounts",
    "email_domain_match",
    "list_intervals",
    "list_members",
    "list_names",
    "lists_with_counts",
    "on_day_q",
    "normalize_domain",
    "target_list",
]


def email_domain_accounts(domains: Iterable[str]) -> dict[str, list[int]]:
    """Domain → the accounts it belongs to (own domain or alias domain): two queries.

    Lead-to-account matching reads this for the e-mail domains of a batch;
    free-mail domains are never looked up.
    """
    wanted = {d for d in domains if d and d not in FREE_MAIL_DOMAINS}
    found: dict[str, list[int]] = defaultdict(list)
    if not wanted:
        return {}
    for domain, account_id in Account.objects.filter(
        in_values("domain", wanted, "text")
    ).values_list("domain", "id"):
        found[domain].append(account_id)
    for domain, account_id in AccountDomain.objects.filter(
        in_values("domain", wanted, "text")
    ).values_list("domain", "account_id"):
        if account_id not in found[domain]:
            found[domain].append(account_id)
    return dict(found)


def email_domain_match(email: str, by_domain: dict[str, list[int]]) -> tuple[int | None, str]:
    """The account an e-mail's domain names, or (None, why not): the one matching rule.

    A free-mail domain names no company; a domain of two accounts (one's
    domain, another's alias) is ambiguous and is rejected rather than guessed.
    """
    domain = email_domain(email)
    if not domain:
        return None, f"'{email[:100]}' is not an e-mail address"
    if domain in FREE_MAIL_DOMAINS:
        return None, f"'{domain}' is a free e-mail domain, which names no company"
    accounts = by_domain.get(domain, [])
    if len(accounts) > 1:
        return None, (
            f"the domain '{domain}' belongs to {len(accounts)} accounts (as a domain or an "
            "alias domain); name the account in the row"
        )
    if not accounts:
        return None, f"no account has the domain '{domain}' (or it as an alias domain)"
    return accounts[0], ""


@dataclass
class AccountIndex:
    """Accounts named by a batch of rows, fetched with one query per kind of reference."""

    ids: set[int] = field(default_factory=set)
    by_external: dict[tuple[str, str], int] = field(default_factory=dict)
    by_domain: dict[str, int] = field(default_factory=dict)
    by_name: dict[str, list[int]] = field(default_factory=dict)
    #: E-mail domain → accounts (``email_domain_accounts``), for lead-to-account matching.
    by_email_domain: dict[str, list[int]] = field(default_factory=dict)

    def resolve(
        self,
        *,
        account_id: int | None = None,
        external_id: str = "",
        source: str = "",
        domain: str | None = None,
        name: str = "",
    ) -> tuple[int | None, str, str]:
        """(account id, "", "") for the first reference that finds an account, tried in
        the order id, external id, domain, name (a CRM export naming an account by an id
        we do not know still matches by name); else (None, field, reason) of the first.
        """
        failures: list[tuple[str, str]] = []
        if account_id is not None:
            if account_id in self.ids:
                return account_id, "", ""
            failures.append(("account_id", f"no account has id {account_id}"))
        if external_id:
            found = self.by_external.get((source, external_id))
            if found is not None:
                return found, "", ""
            failures.append(
                (
                    "account_external_id",
                    f"no account from source '{source}' has external id '{external_id[:100]}'",
                )
            )
        if domain:
            found = self.by_domain.get(domain)
            if found is not None:
                return found, "", ""
            failures.append(("account_domain", f"no account has the domain '{domain}'"))
        if name:
            matches = self.by_name.get(name.casefold(), [])
            if len(matches) == 1:
                return matches[0], "", ""
            if not matches:
                failures.append(("account_name", f"no account is named '{name[:100]}'"))
            else:
                failures.append(
                    (
                        "account_name",
                        f"{len(matches)} accounts are named '{name[:100]}'; name the account "
                        "by domain or id instead",
                    )
                )
        if failures:
            return None, *failures[0]
        return None, "account_name", "names no account (give an account name, domain or id)"


def account_index(
    *,
    ids: Iterable[int] = (),
    external_keys: Iterable[tuple[str, str]] = (),
    domains: Iterable[str] = (),
    names: Iterable[str] = (),
) -> AccountIndex:
    """Fetch the accounts behind these references: at most one query per kind of reference."""
    index = AccountIndex()
    ids = set(ids)
    if ids:
        index.ids = set(
            Account.objects.filter(in_values("id", ids, "bigint")).values_list("id", flat=True)
        )
    external_keys = set(external_keys)
    if external_keys:
        rows = Account.objects.filter(
            external_id__in={e for _, e in external_keys}, source__in={s for s, _ in external_keys}
        ).values_list("source", "external_id", "id")
        index.by_external = {(s, e): i for s, e, i in rows}
    domains = {d for d in domains if d}
    if domains:
        index.by_domain = dict(
            Account.objects.filter(in_values("domain", domains, "text")).values_list("domain", "id")
        )
    folded = {n.casefold() for n in names if n}
    if folded:
        by_name: dict[str, list[int]] = defaultdict(list)
        rows = (
            Account.objects.annotate(lname=Lower("name"))
            .filter(lname__in={n.lower() for n in folded})
            .values_list("name", "id")
        )
        for name, account_id in rows:
            by_name[name.casefold()].append(account_id)
        index.by_name = dict(by_name)
    return index


def target_list() -> AccountList:
    """The target list; created when missing (a flushed test database, a fresh install)."""
    found = AccountList.objects.filter(is_target=True).first()
    if found is None:
        found, _ = AccountList.objects.get_or_create(
            is_target=True, defaults={"name": TARGET_LIST_NAME}
        )
    return found


def list_members(list_id: int, day: dt.date) -> QuerySet[Account]:
    """The accounts on list ``list_id`` on ``day`` (one query when evaluated)."""
    return Account.objects.filter(member_q(list_id, day))


def list_names(ids: Iterable[int]) -> dict[int, str]:
    """Id -> name of the account lists ``ids`` (one query; unknown ids are left out)."""
    return dict(AccountList.objects.filter(pk__in=set(ids)).values_list("pk", "name"))


def on_day_q(day: dt.date, prefix: str = "") -> Q:
    """Membership intervals (through ``prefix``) that cover ``day``."""
    return (Q(**{f"{prefix}joined_on__isnull": True}) | Q(**{f"{prefix}joined_on__lte": day})) & (
        Q(**{f"{prefix}left_on__isnull": True}) | Q(**{f"{prefix}left_on__gt": day})
    )


def lists_with_counts(*days: dt.date) -> QuerySet[AccountList]:
    """Every list with ``members_<n>``: its member count on ``days[n]`` (one query)."""
    counts = {
        f"members_{n}": Count("memberships", filter=on_day_q(day, "memberships__"))
        for n, day in enumerate(days)
    }
    return AccountList.objects.annotate(**counts).order_by("-is_target", "name", "id")


def list_intervals(list_id: int, day: dt.date | None = None) -> QuerySet[ListMembership]:
    """A list's membership intervals with their accounts, those covering ``day`` if given."""
    rows = ListMembership.objects.filter(list_id=list_id).select_related("account")
    if day is not None:
        rows = rows.filter(on_day_q(day))
    return rows.order_by("account__name", "joined_on", "id")
