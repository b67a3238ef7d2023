"""CSV import of accounts and stakeholders, and the account references other kinds use.

Natural keys: an account is found by (source, external id) when the row
has one, else by domain, else by its exact name; a domain or name match
adopts the row's external id only when the account has none yet. A
stakeholder is found by (source, external id) or by (account, e-mail).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from abm_site.csvio import ImportContext, Row, RowRejected, bulk_write, upsert_by_key
from accounts.choices import BuyingRole, ProgramType
from accounts.models import Account, Stakeholder, Tier
from accounts.selectors import (
    AccountIndex,
    account_index,
    clean_domain,
    email_domain,
    email_domain_accounts,
    email_domain_match,
)
from accounts.services import owners_resolve, target_join_day

ACCOUNT_FIELDS: tuple[str, ...] = (
    "name",
    "domain",
    "industry",
    "employees",
    "annual_revenue",
    "country",
    "tier",
    "is_target",
    "targeted_on",
    "untargeted_on",
    "program_type",
    "owner",
    "churned_on",
    "source",
    "external_id",
)

#: Ways a row names its account (any one is enough; the first present wins).
ACCOUNT_REF_FIELDS: tuple[str, ...] = (
    "account_id",
    "account_external_id",
    "account_domain",
    "account_name",
)

STAKEHOLDER_FIELDS: tuple[str, ...] = (
    *ACCOUNT_REF_FIELDS,
    "name",
    "first_name",
    "last_name",
    "email",
    "title",
    "buying_role",
    "known_since",
    "source",
    "external_id",
)
#: Stakeholders are also found by the domain of their e-mail (lead-to-account matching).
STAKEHOLDER_REF_FIELDS: tuple[str, ...] = (*ACCOUNT_REF_FIELDS, "email")


def account_ref(row: Row, ctx: ImportContext, *, email: str = "") -> dict:
    """The account references of a row, parsed (raises ``RowRejected`` when it has none).

    ``email``: the row's person, whose e-mail domain names the account when
    the row names none (or names one no account matches).
    """
    ref: dict = {}
    if ctx.raw(row, "account_id").strip():
        ref["account_id"] = ctx.integer(row, "account_id", min_value=1)
    if ctx.raw(row, "account_external_id").strip():
        ref["external_id"] = ctx.text(row, "account_external_id", max_length=255)
        ref["source"] = ctx.row_source(row)
    if ctx.raw(row, "account_domain").strip():
        try:
            ref["domain"] = clean_domain(ctx.text(row, "account_domain"))
        except ValueError as exc:
            raise ctx.fail("account_domain", str(exc)) from None
    name = ctx.text(row, "account_name", max_length=255)
    if name:
        ref["name"] = name
    if email:
        ref["email"] = email
    if not ref:
        column = next(
            (ctx.column(f) for f in reversed(ACCOUNT_REF_FIELDS) if ctx.has(f)), "account_name"
        )
        raise RowRejected(column, "names no account (give an account name, domain or id)")
    return ref


def account_index_for(refs: Iterable[dict]) -> AccountIndex:
    """One :class:`AccountIndex` for all the references :func:`account_ref` returned
    (with the accounts of their e-mail domains in ``by_email_domain``)."""
    refs = list(refs)
    index = account_index(
        ids=(r["account_id"] for r in refs if "account_id" in r),
        external_keys=((r["source"], r["external_id"]) for r in refs if "external_id" in r),
        domains=(r["domain"] for r in refs if r.get("domain")),
        names=(r["name"] for r in refs if r.get("name")),
    )
    index.by_email_domain = email_domain_accounts(
        email_domain(r["email"]) for r in refs if r.get("email")
    )
    return index


def resolve_account(index: AccountIndex, ref: dict, ctx: ImportContext) -> int:
    """The account id of a parsed reference, or ``RowRejected`` naming the user's column.

    When the row's account references find nothing (or it has none) and it
    carries a person's e-mail, the e-mail's domain decides (lead-to-account
    matching: ``accounts.selectors.email_domain_match``).
    """
    email = ref.get("email", "")
    named = {k: v for k, v in ref.items() if k != "email"}
    account_id, field_name, reason = index.resolve(**named) if named else (None, "", "")
    if account_id is None and email:
        account_id, why = email_domain_match(email, index.by_email_domain)
        if account_id is None and not named:
            field_name, reason = "email", why
    if account_id is None:
        raise ctx.fail(field_name, reason)
    return account_id


# --------------------------------------------------------------------------- accounts


def import_accounts(rows: Iterable[Row], ctx: ImportContext) -> set[int]:
    """Validate and upsert accounts; return the ids of accounts created or changed.

    An ``owner`` cell names a user or a CRM person (``owners_resolve``); with the
    mapping option ``create_tiers`` a tier named in the file and unknown is created.
    """
    tiers = {t.name.casefold(): t.id for t in Tier.objects.all()}
    create_tiers = bool(ctx.mapping.options.get("create_tiers"))
    parsed: list[tuple[Row, dict]] = []
    for row in rows:
        try:
            parsed.append((row, _account_values(row, ctx, tiers, create_tiers)))
        except RowRejected as exc:
            ctx.reject(row, exc)
    joined = _join_day(ctx)
    if not parsed or joined is None:
        return set()
    _tiers_create(parsed, tiers, ctx)
    if ctx.has("owner"):
        owners, created_owners = owners_resolve(v["owner"] for _, v in parsed if v.get("owner"))
        for _, values in parsed:
            cell = values.pop("owner", "")
            values["owner_id"] = owners[cell] if cell else None
        if created_owners:
            ctx.report.notes.append(
                f"{len(created_owners)} owners the app did not know were created (CRM people "
                f"who need not sign in): {', '.join(sorted(created_owners)[:20])}"
                + ("…" if len(created_owners) > 20 else "")
                + ". An admin can link each to a user."
            )

    ext_keys = {(v["source"], v["external_id"]) for _, v in parsed if v.get("external_id")}
    domains = {v["domain"] for _, v in parsed if v.get("domain")}
    names = {v["name"] for _, v in parsed}
    objects: dict[int, Account] = {}

    def keep(account: Account) -> Account:
        return objects.setdefault(account.id, account)

    by_ext: dict[tuple[str, str], Account] = {}
    if ext_keys:
        for a in Account.objects.filter(external_id__in={e for _, e in ext_keys}):
            if (a.source, a.external_id) in ext_keys:
                by_ext[(a.source, a.external_id)] = keep(a)
    by_domain = (
        {a.domain: keep(a) for a in Account.objects.filter(domain__in=domains)} if domains else {}
    )
    by_name: dict[str, list[Account]] = defaultdict(list)
    for a in Account.objects.filter(name__in=names):
        by_name[a.name].append(keep(a))

    joined_count = 0
    claimed: dict[object, int] = {}  # account id, ("ext", key), ("domain", d), ("name", n) → line
    creates: list[tuple[Row, Account]] = []
    updates: list[tuple[Row, Account]] = []
    fields: set[str] = set()
    for row, values in parsed:
        try:
            account = _match_account(values, by_ext, by_domain, by_name, ctx)
            keys = _claim_keys(values, account)
            for key in keys:
                if key in claimed:
                    raise ctx.fail(
                        _key_field(key, values),
                        f"same account as line {claimed[key]}; each account may appear once",
                    )
            domain = values.get("domain")
            if (
                domain
                and domain in by_domain
                and (account is None or by_domain[domain] is not account)
            ):
                other = by_domain[domain]
                raise ctx.fail("domain", f"'{domain}' already belongs to account '{other.name}'")
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        for key in keys:
            claimed[key] = row.line
        if account is None:
            values.setdefault("is_target", True)
            if values["is_target"] and values.get("targeted_on") is None:
                values["targeted_on"] = target_join_day(joined, values.get("untargeted_on"))
                joined_count += 1
            creates.append((row, Account(**_strip_none_defaults(values))))
            continue
        if account.external_id and values.get("external_id") != account.external_id:
            values.pop("external_id", None)
            values.pop("source", None)
        if not values.get("external_id"):
            values.pop("external_id", None)
            values.pop("source", None)
        if values.get("is_target") is None:
            values.pop("is_target", None)
        changed = {name for name, value in values.items() if getattr(account, name) != value}
        if changed:
            for name in changed:
                setattr(account, name, values[name])
            fields |= changed
            updates.append((row, account))
        else:
            ctx.report.unchanged += 1
    created, updated = bulk_write(Account, creates, updates, fields, ctx)
    if joined_count:
        backdated = (
            "the --targeted-on date"
            if "targeted_on" in ctx.mapping.options
            else ("the import date")
        )
        ctx.report.notes.append(
            f"{joined_count:,} new target accounts had no targeting date and joined the target "
            f"list on {joined.isoformat()} ({backdated}); to backdate, map a targeted_on column, "
            "set it as a mapping constant or pass --targeted-on."
        )
    ctx.report.created += len(created)
    ctx.report.updated += len(updated)
    return {a.id for a in created} | {a.id for a in updated}


def _join_day(ctx: ImportContext) -> dt.date | None:
    """The day new target accounts without a targeting date join the list: the mapping
    option ``targeted_on`` (``import_csv --targeted-on``) or the import date."""
    given = ctx.mapping.options.get("targeted_on")
    if not given:
        return timezone.localdate()
    try:
        return dt.date.fromisoformat(str(given))
    except ValueError:
        ctx.report.errors.append(
            f"The mapping option targeted_on '{given}' is not a date; write it as YYYY-MM-DD."
        )
        return None


def _tiers_create(parsed: list[tuple[Row, dict]], tiers: dict[str, int], ctx: ImportContext):
    """Create the tiers rows name that do not exist yet (``create_tiers``): rank = the
    number in the name ("Tier 2" → 2) when free, else after the last."""
    wanted = {v["tier_name"] for _, v in parsed if v.get("tier_name")}
    if not wanted:
        return
    ranks = set(Tier.objects.values_list("rank", flat=True))
    for name in sorted(wanted):
        digits = "".join(ch for ch in name if ch.isdigit())[:4]
        rank = int(digits) if digits and int(digits) not in ranks else max(ranks, default=0) + 1
        ranks.add(rank)
        tiers[name.casefold()] = Tier.objects.create(name=name[:50], rank=rank).id
    ctx.report.notes.append(f"Tiers created: {', '.join(sorted(wanted))}.")
    for _, values in parsed:
        name = values.pop("tier_name", None)
        if name:
            values["tier_id"] = tiers[name.casefold()]


def _strip_none_defaults(values: dict) -> dict:
    return {k: v for k, v in values.items() if not (k == "is_target" and v is None)}


def _match_account(values, by_ext, by_domain, by_name, ctx) -> Account | None:
    source, external_id = values["source"], values.get("external_id", "")
    if external_id and (source, external_id) in by_ext:
        return by_ext[(source, external_id)]

    def adoptable(account: Account) -> bool:
        return not (external_id and account.external_id and account.source == source)

    domain = values.get("domain")
    if domain and domain in by_domain:
        account = by_domain[domain]
        if adoptable(account):
            return account
        raise ctx.fail(
            "domain",
            f"'{domain}' belongs to account '{account.name}', which has external id "
            f"'{account.external_id}' in source '{source}'",
        )
    candidates = [a for a in by_name.get(values["name"], []) if adoptable(a)]
    if domain:
        candidates = [a for a in candidates if a.domain is None]
    if len(candidates) > 1:
        raise ctx.fail(
            "name",
            f"{len(candidates)} accounts are named '{values['name'][:100]}'; "
            "add a domain or an external id to say which",
        )
    return candidates[0] if candidates else None


def _claim_keys(values: dict, account: Account | None) -> list[object]:
    keys: list[object] = []
    if account is not None:
        keys.append(account.id)
    if values.get("external_id"):
        keys.append(("ext", values["source"], values["external_id"]))
    if values.get("domain"):
        keys.append(("domain", values["domain"]))
    if account is None and not values.get("external_id") and not values.get("domain"):
        keys.append(("name", values["name"]))
    return keys


def _key_field(key: object, values: dict) -> str:
    if isinstance(key, tuple):
        return {"ext": "external_id", "domain": "domain", "name": "name"}[key[0]]
    if values.get("external_id"):
        return "external_id"
    return "domain" if values.get("domain") else "name"


def _account_values(
    row: Row, ctx: ImportContext, tiers: dict[str, int], create_tiers: bool = False
) -> dict:
    values: dict = {"name": ctx.text(row, "name", max_length=255, required=True)}
    values["source"] = ctx.row_source(row)
    if ctx.has("external_id"):
        values["external_id"] = ctx.text(row, "external_id", max_length=255)
    if ctx.has("domain"):
        try:
            values["domain"] = clean_domain(ctx.text(row, "domain"))
        except ValueError as exc:
            raise ctx.fail("domain", str(exc)) from None
    for name in ("industry", "country"):
        if ctx.has(name):
            values[name] = ctx.text(row, name, max_length=100)
    if ctx.has("employees"):
        values["employees"] = ctx.integer(row, "employees", min_value=0, max_value=2_147_483_647)
    if ctx.has("annual_revenue"):
        values["annual_revenue"] = ctx.decimal(
            row, "annual_revenue", max_digits=18, decimal_places=2
        )
    if ctx.has("tier"):
        tier = ctx.mapped(row, "tier")
        if tier and tier.casefold() not in tiers:
            if not create_tiers:
                raise ctx.fail("tier", f"no tier is named '{tier[:100]}'")
            if len(tier) > 50:
                raise ctx.fail("tier", "a tier name has at most 50 characters")
            values["tier_name"] = tier
        else:
            values["tier_id"] = tiers[tier.casefold()] if tier else None
    if ctx.has("owner"):
        values["owner"] = ctx.text(row, "owner", max_length=255)
    if ctx.has("is_target"):
        values["is_target"] = ctx.boolean(row, "is_target")
    for name in ("targeted_on", "untargeted_on", "churned_on"):
        if ctx.has(name):
            values[name] = ctx.date(row, name)
    if (
        values.get("targeted_on")
        and values.get("untargeted_on")
        and values["untargeted_on"] < values["targeted_on"]
    ):
        raise ctx.fail("untargeted_on", "is before targeted_on")
    if ctx.has("program_type"):
        values["program_type"] = ctx.choice(row, "program_type", ProgramType.choices, default="")
    return values


# --------------------------------------------------------------------------- stakeholders


def import_stakeholders(rows: Iterable[Row], ctx: ImportContext) -> set[int]:
    """Validate and upsert stakeholders; return the ids of the accounts they belong to."""
    parsed: list[tuple[Row, dict, dict]] = []
    for row in rows:
        try:
            values = _stakeholder_values(row, ctx)
            ref = account_ref(row, ctx, email=values["email"] or "")
            parsed.append((row, ref, values))
        except RowRejected as exc:
            ctx.reject(row, exc)
    index = account_index_for(ref for _, ref, _ in parsed)
    by_external: list = []
    by_email: list = []
    for row, ref, values in parsed:
        try:
            values["account_id"] = resolve_account(index, ref, ctx)
        except RowRejected as exc:
            ctx.reject(row, exc)
            continue
        source = values.pop("source")
        external_id = values.pop("external_id")
        if external_id:
            by_external.append((row, (source, external_id), values))
        elif values.get("email"):
            values["source"] = source
            by_email.append((row, (values["account_id"], values.pop("email")), values))
        else:
            ctx.reject(
                row,
                RowRejected(ctx.column("email"), "a stakeholder needs an e-mail or an external id"),
            )
    written = upsert_by_key(
        Stakeholder, by_external, ("source", "external_id"), ctx.column("external_id"), ctx
    )
    written += upsert_by_key(
        Stakeholder, by_email, ("account_id", "email"), ctx.column("email"), ctx
    )
    return touched_account_ids(written)


def touched_account_ids(written: list) -> set[int]:
    """Accounts a batch of upserts touched: each row's account, and its old one if it moved."""
    ids = set()
    for obj, before in written:
        ids.add(obj.account_id)
        if before is not None:
            ids.add(before["account_id"])
    return ids


def _stakeholder_values(row: Row, ctx: ImportContext) -> dict:
    name = ctx.text(row, "name", max_length=255)
    if not name:
        first = ctx.text(row, "first_name", max_length=255)
        last = ctx.text(row, "last_name", max_length=255)
        name = " ".join(p for p in (first, last) if p)
        if not name:
            raise ctx.fail("name" if ctx.has("name") else "last_name", "is required")
        if len(name) > 255:
            raise ctx.fail("last_name", "the full name is longer than 255 characters")
    email = ctx.text(row, "email", max_length=254).lower() or None
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ctx.fail("email", f"'{email[:100]}' is not an e-mail address") from None
    values = {
        "name": name,
        "email": email,
        "source": ctx.row_source(row),
        "external_id": ctx.text(row, "external_id", max_length=255),
    }
    if ctx.has("title"):
        values["title"] = ctx.text(row, "title", max_length=255)
    if ctx.has("buying_role"):
        # A CRM's multi-select ("Champion;Influencer"): the first role is the row's.
        first = row.values.get("buying_role", "").split(";")[0]
        values["buying_role"] = ctx.choice(
            Row(row.line, row.raw, {"buying_role": first}),
            "buying_role",
            BuyingRole.choices,
            default=BuyingRole.OTHER,
        )
    if ctx.has("known_since"):
        values["known_since"] = ctx.date(row, "known_since")
    return values
