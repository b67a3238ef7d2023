"""The accounts, stakeholders and programs a batch names: looked up once, then resolved.

Each batch queries only what no earlier batch named (one query per kind of
reference); resolving a cleaned row gives its COPY record, with a content
key when the row carries no external id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models.functions import Lower

from abm_site.csvio import text_key
from abm_site.db import in_values
from accounts.models import Stakeholder
from accounts.selectors import (
    AccountIndex,
    account_index,
    email_domain,
    email_domain_accounts,
    email_domain_match,
)

from ..models import Program
from .rows import (
    _ACCOUNT_ID,
    _DOMAIN,
    _EMAIL,
    _NAME,
    _PROGRAM,
    _PROGRAM_ID,
    _STAKEHOLDER_ID,
    _VALUES,
    BulkTouchResult,
    TouchRejection,
    _Reject,
)


@dataclass
class _Asks:
    """References a batch names that no earlier batch did: what to look up for it."""

    ids: set[int] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    stakeholder_ids: set[int] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    program_ids: set[int] = field(default_factory=set)
    program_names: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return any(
            (
                self.ids,
                self.domains,
                self.names,
                self.stakeholder_ids,
                self.emails,
                self.program_ids,
                self.program_names,
            )
        )


class _References:
    """Accounts, stakeholders and programs named by the rows, fetched once per ingest.

    Each batch queries only the references no earlier batch named (one
    query per kind of reference), so a 200,000-row import naming 2,000
    accounts looks each of them up about once. ``new()`` runs on the
    caller's thread, ``fetch()`` where the database is used.
    """

    def __init__(self, *, create_programs: bool = False) -> None:
        self.accounts = AccountIndex()
        self.stakeholders_by_id: dict[int, int] = {}
        self.by_email: dict[str, list[tuple[int, int]]] = defaultdict(list)
        #: E-mails no stakeholder has and whose domain names no single account: why.
        self.email_failures: dict[str, str] = {}
        self.programs: set[int] = set()
        self.programs_by_name: dict[str, int] = {}
        self.create_programs = create_programs
        self.programs_created: list[str] = []
        self._spelling: dict[str, str] = {}  # lower-cased program name → as first written
        self._asked = _Asks()

    def new(self, cleaned: list[tuple[int, tuple]]) -> _Asks:
        """What ``cleaned`` names that no earlier batch did (now counted as asked for)."""
        asks = _Asks(
            ids={c[_ACCOUNT_ID] for _, c in cleaned if c[_ACCOUNT_ID]},
            domains={c[_DOMAIN] for _, c in cleaned if c[_DOMAIN]},
            names={c[_NAME] for _, c in cleaned if c[_NAME]},
            stakeholder_ids={c[_STAKEHOLDER_ID] for _, c in cleaned if c[_STAKEHOLDER_ID]},
            emails={c[_EMAIL] for _, c in cleaned if c[_EMAIL]},
            program_ids={c[_PROGRAM_ID] for _, c in cleaned if c[_PROGRAM_ID]},
            program_names={c[_PROGRAM].lower() for _, c in cleaned if c[_PROGRAM]},
        )
        for name, values in vars(asks).items():
            asked = getattr(self._asked, name)
            values -= asked
            asked |= values
        if self.create_programs and asks.program_names:
            for _, c in cleaned:
                if c[_PROGRAM]:
                    self._spelling.setdefault(c[_PROGRAM].lower(), c[_PROGRAM])
        return asks

    def fetch(self, asks: _Asks) -> None:
        """Look ``asks`` up: at most one query per kind of reference."""
        if asks.ids or asks.domains or asks.names:
            found = account_index(ids=asks.ids, domains=asks.domains, names=asks.names)
            self.accounts.ids |= found.ids
            self.accounts.by_domain.update(found.by_domain)
            self.accounts.by_name.update(found.by_name)
        if asks.stakeholder_ids:
            self.stakeholders_by_id.update(
                Stakeholder.objects.filter(
                    in_values("id", asks.stakeholder_ids, "bigint")
                ).values_list("id", "account_id")
            )
        if asks.emails:
            for email, account_id, sid in Stakeholder.objects.filter(
                in_values("email", asks.emails, "text")
            ).values_list("email", "account_id", "id"):
                self.by_email[email].append((account_id, sid))
            unknown = asks.emails - self.by_email.keys()
            if unknown:
                self._stakeholders_by_domain(unknown)
        if asks.program_ids:
            self.programs.update(
                Program.objects.filter(in_values("id", asks.program_ids, "bigint")).values_list(
                    "id", flat=True
                )
            )
        if asks.program_names:
            self.programs_by_name.update(
                Program.objects.annotate(lname=Lower("name"))
                .filter(lname__in=asks.program_names)
                .values_list("lname", "id")
            )
            missing = sorted(asks.program_names - self.programs_by_name.keys())
            if missing and self.create_programs:
                names = [self._spelling.get(n, n)[:255] for n in missing]
                Program.objects.bulk_create([Program(name=n) for n in names], ignore_conflicts=True)
                self.programs_by_name.update(
                    Program.objects.annotate(lname=Lower("name"))
                    .filter(lname__in=missing)
                    .values_list("lname", "id")
                )
                self.programs_created.extend(names)

    def _stakeholders_by_domain(self, emails: set[str]) -> None:
        """Lead-to-account matching: an e-mail no stakeholder has joins the one account its
        domain (or alias domain) names, as a new stakeholder; the others get a reason."""
        by_domain = email_domain_accounts(email_domain(e) for e in emails)
        new = []
        for email in sorted(emails):
            account_id, reason = email_domain_match(email, by_domain)
            if account_id is None:
                self.email_failures[email] = reason
                continue
            local = email.split("@", 1)[0].replace(".", " ").replace("_", " ").strip()
            new.append(
                Stakeholder(account_id=account_id, email=email, name=(local.title() or email)[:255])
            )
        if not new:
            return
        Stakeholder.objects.bulk_create(new, ignore_conflicts=True)
        for email, account_id, sid in Stakeholder.objects.filter(
            in_values("email", [s.email for s in new], "text")
        ).values_list("email", "account_id", "id"):
            if (account_id, sid) not in self.by_email[email]:
                self.by_email[email].append((account_id, sid))


def _records(
    cleaned: list[tuple[int, tuple]], refs: _References, result: BulkTouchResult
) -> list[tuple[int, tuple]]:
    """Resolve the references of cleaned rows into (index, COPY record); drop repeats.

    A row without an external id gets one derived from a hash of its
    content; a (source, external id) seen earlier in ``cleaned`` is counted
    as a duplicate (first occurrence wins).
    """
    index_ids = refs.accounts.ids
    by_domain = refs.accounts.by_domain
    resolve = refs.accounts.resolve
    stakeholders_by_id = refs.stakeholders_by_id
    by_email = refs.by_email
    programs = refs.programs
    programs_by_name = refs.programs_by_name
    seen: set[tuple[str, str]] = set()
    records: list[tuple[int, tuple]] = []
    rejected = result.rejected
    for index, c in cleaned:
        account_id, domain, name, stakeholder_id, email, program_id, program = c[:_VALUES]
        try:
            # The usual cases first; AccountIndex.resolve decides (and words) the rest.
            if account_id is not None and account_id in index_ids:
                pass
            elif domain and domain in by_domain:
                account_id = by_domain[domain]
            elif account_id or domain or name:
                account_id, field_name, reason = resolve(
                    account_id=account_id, domain=domain, name=name
                )
                if account_id is None:
                    raise _Reject(field_name, reason)
            if stakeholder_id:
                owner = stakeholders_by_id.get(stakeholder_id)
                if owner is None:
                    raise _Reject("stakeholder_id", f"no stakeholder has id {stakeholder_id}")
                if account_id is not None and owner != account_id:
                    raise _Reject("stakeholder_id", "the stakeholder belongs to another account")
                account_id = owner
            elif email:
                matches = by_email.get(email, [])
                if account_id is not None:
                    matches = [m for m in matches if m[0] == account_id]
                if not matches:
                    failure = refs.email_failures.get(email)
                    raise _Reject(
                        "stakeholder_email",
                        f"no stakeholder with the e-mail '{email[:100]}'"
                        + (" at this account" if account_id is not None else "")
                        + (f", and {failure}" if failure and account_id is None else ""),
                    )
                if len(matches) > 1:
                    raise _Reject(
                        "stakeholder_email", "several accounts have a stakeholder with it"
                    )
                account_id, stakeholder_id = matches[0]
            if program_id:
                if program_id not in programs:
                    raise _Reject("program_id", f"no program has id {program_id}")
            elif program:
                program_id = programs_by_name.get(program.lower())
                if program_id is None:
                    raise _Reject("program", f"no program is named '{program[:100]}'")
        except _Reject as exc:
            rejected.append(TouchRejection(index, exc.field, exc.reason))
            continue
        values = c[_VALUES:]
        source, external_id = values[-2:]
        if not external_id:
            external_id = _content_key(account_id, stakeholder_id, program_id, values)
        key = (source, external_id)
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        records.append((index, (account_id, stakeholder_id, program_id, *values[:-1], external_id)))
    # In key order, so concurrent writers of overlapping keys take the unique index's
    # locks in one order (fewer deadlocks; the rest are retried).
    records.sort(key=_record_key)
    return records


def _record_key(record: tuple[int, tuple]) -> tuple[str, str]:
    values = record[1]
    return values[-2], values[-1]


def _content_key(
    account_id: int, stakeholder_id: int | None, program_id: int | None, values: tuple
) -> str:
    """``content_key()`` of a resolved row (the same parts, joined without a generator).

    The quantity is not part of it: an aggregated row is the same touch whatever
    count it carries, and keys stay those of versions before quantities.
    """
    kind, channel, direction, occurred_at, url, asset, position, minutes, cost = values[:9]
    return text_key(
        f"{account_id}\x1f{'' if stakeholder_id is None else stakeholder_id}\x1f"
        f"{'' if program_id is None else program_id}\x1f{kind}\x1f{occurred_at}\x1f"
        f"{channel}\x1f{direction}\x1f{url}\x1f{asset}\x1f{position}\x1f{minutes}\x1f{cost}"
    )
