"""Writes of the accounts app: accounts and stakeholders, and the ICP fit score.

A change to an account or to a row hanging off it (stakeholder, touch,
opportunity, NPS response, intent signal) marks the account
``needs_recompute`` so the next recompute refreshes its snapshot.
"""

import datetime as dt
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce, Greatest, Round
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from .choices import IcpAttribute, ListKind
from .models import (
    Account,
    AccountList,
    Holdout,
    HoldoutAssignment,
    IcpRule,
    ListMembership,
    Owner,
    Stakeholder,
    criteria_errors,
    criteria_q,
    member_q,
    target_q,
)

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
    """Create an account, flagged for its first recompute.

    A target account created without ``targeted_on`` joins the target list
    today: it did not exist before, so it must not count in past periods.
    """
    if fields.get("is_target", True) and fields.get("targeted_on") is None:
        fields["targeted_on"] = target_join_day(timezone.localdate(), fields.get("untargeted_on"))
    account = Account(**fields, needs_recompute=True)
    with transaction.atomic():
        account.save()
        account_fit_refresh(Account.objects.filter(pk=account.pk))  # graded at once
    account.refresh_from_db(fields=["fit_score", "fit_grade"])
    return account


def account_update(account: Account, **fields: Any) -> Account:
    """Update an account; targeting, tier or churn changes move it in the funnel."""
    was_target = account.is_target
    for name, value in fields.items():
        setattr(account, name, value)
    account_targeting_fill(account, was_target, fields)
    account.needs_recompute = True
    with transaction.atomic():
        account.save()
        if ICP_FIELDS.intersection(fields):
            account_fit_refresh(Account.objects.filter(pk=account.pk))
    if ICP_FIELDS.intersection(fields):
        account.refresh_from_db(fields=["fit_score", "fit_grade"])
    return account


#: The account fields ICP rules read: a change to one of them regrades the account.
ICP_FIELDS = frozenset(IcpAttribute.values)


@transaction.atomic
def icp_rule_save(rule: IcpRule) -> int:
    """Save an ICP rule and regrade every account (two statements: the active rules, one
    UPDATE of all accounts); returns the accounts regraded."""
    rule.save()
    return account_fit_refresh()


@transaction.atomic
def icp_rules_delete(rules: QuerySet[IcpRule]) -> int:
    """Delete ICP rules and regrade every account in one UPDATE; returns the accounts regraded."""
    rules.delete()
    return account_fit_refresh()


def account_targeting_fill(account: Account, was_target: bool, given: Collection[str]) -> None:
    """Fill the targeting dates a re-targeting or un-targeting left out (API and admin).

    Re-targeting (``is_target`` false -> true) starts a new interval today
    unless ``targeted_on`` is given; un-targeting closes the current one today
    unless ``untargeted_on`` is given. The target list keeps every interval
    (the database's sync trigger, migration 0004), so the earlier ones stay.
    """
    if account.pk is None or account.is_target == was_target:
        return
    today = timezone.localdate()
    if account.is_target:
        if "targeted_on" not in given:
            account.targeted_on = today
        if "untargeted_on" not in given:
            account.untargeted_on = None
    elif account.untargeted_on is None:
        account.untargeted_on = max(today, account.targeted_on or today)


def target_join_day(day: dt.date, untargeted_on: dt.date | None) -> dt.date:
    """The day an account joins the target list: ``day``, or its untargeted day if earlier."""
    return min(day, untargeted_on) if untargeted_on is not None else day


def owners_resolve(cells: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Owner ids for the owner cells of an import; creates the owners the app does not know.

    A cell matches, ignoring case, an owner's or a user's e-mail, a user's
    user name, or an owner's or user's full name. A user without an owner
    record gets one linked to them; a name or e-mail nobody has becomes an
    owner without a user (a CRM person who never signs in). Returns (cell →
    owner id, names of the owners created). Owners and users are few: two
    queries read them all, one insert creates the new ones.
    """
    from django.contrib.auth import get_user_model

    wanted = {c.strip() for c in cells if c and c.strip()}
    if not wanted:
        return {}, []
    by_key: dict[str, Owner] = {}
    owners = list(Owner.objects.all())
    for owner in owners:  # weaker keys first, so an e-mail overrides a shared name
        by_key.setdefault(owner.name.casefold(), owner)
    for owner in owners:
        if owner.email:
            by_key[owner.email.casefold()] = owner
    linked = {o.user_id: o for o in owners if o.user_id}
    users: dict[str, Any] = {}
    for user in get_user_model().objects.order_by("-pk"):  # the oldest wins a shared name
        full = f"{user.first_name} {user.last_name}".strip()
        for key in (full, user.username, user.email):
            if key:
                users[key.casefold()] = user
    assigned: dict[str, Owner] = {}
    new: dict[str, Owner] = {}
    for cell in sorted(wanted):
        key = cell.casefold()
        owner = by_key.get(key)
        if owner is None and key in users:
            user = users[key]
            owner = linked.get(user.pk) or new.get(f"user:{user.pk}")
            if owner is None:
                owner = new[f"user:{user.pk}"] = Owner(
                    name=(f"{user.first_name} {user.last_name}".strip() or user.username)[:255],
                    email=(user.email or "").lower() or None,
                    user=user,
                )
        if owner is None:
            is_email = "@" in cell and " " not in cell
            owner = new.get(key)
            if owner is None:
                owner = new[key] = Owner(
                    name=(cell.split("@")[0] if is_email else cell)[:255],
                    email=cell.lower()[:254] if is_email else None,
                )
        assigned[cell] = owner
    created = list(new.values())
    taken = {o.email for o in owners if o.email}
    for owner in created:
        if owner.email in taken:
            owner.email = None  # e-mails are unique among owners
        taken.add(owner.email)
    Owner.objects.bulk_create(created)
    found = {cell: owner.pk for cell, owner in assigned.items()}
    return found, [o.name for o in created]


def stakeholder_create(**fields: Any) -> Stakeholder:
    return account_row_save(Stakeholder(), fields)


def stakeholder_update(stakeholder: Stakeholder, **fields: Any) -> Stakeholder:
    return account_row_save(stakeholder, fields)


def stakeholder_delete(stakeholder: Stakeholder) -> None:
    account_row_delete(stakeholder)


def _rule_condition(rule: IcpRule) -> Q:
    if rule.attribute in (IcpAttribute.INDUSTRY, IcpAttribute.COUNTRY):
        q = Q()
        for value in rule.values:
            q |= Q(**{f"{rule.attribute}__iexact": value})
        return q
    q = Q(**{f"{rule.attribute}__isnull": False})
    if rule.min_value is not None:
        q &= Q(**{f"{rule.attribute}__gte": rule.min_value})
    if rule.max_value is not None:
        q &= Q(**{f"{rule.attribute}__lte": rule.max_value})
    return q


def fit_score_expression(rules: list[IcpRule]):
    """SQL expression of the 0–100 ICP fit score: matched weight over total weight."""
    total = sum(rule.weight for rule in rules)
    if total == 0:
        return None
    matched = sum(
        (Case(When(_rule_condition(r), then=Value(r.weight)), default=Value(0)) for r in rules),
        Value(0),
    )
    return Round(matched * Value(Decimal(100)) / Value(Decimal(total)), output_field=IntegerField())


def fit_grade(score: int | None) -> str:
    """Grade A–D for a fit score, by the thresholds in settings (the one place they apply)."""
    if score is None:
        return ""
    thresholds = settings.ABM_SCORES["fit_grade_thresholds"]
    for grade in ("A", "B", "C"):
        if score >= thresholds[grade]:
            return grade
    return "D"


def account_fit_refresh(accounts: QuerySet[Account] | None = None) -> int:
    """Recompute fit score and grade of ``accounts`` (all by default) in one UPDATE.

    Returns the number of accounts updated. With no active rules every
    account's fit is cleared: there is no profile to fit.
    """
    accounts = Account.objects.all() if accounts is None else accounts
    rules = list(IcpRule.objects.filter(is_active=True))
    score = fit_score_expression(rules)
    if score is None:
        return accounts.update(fit_score=None, fit_grade="")
    thresholds = settings.ABM_SCORES["fit_grade_thresholds"]
    grade = Case(
        When(_score_at_least(score, thresholds["A"]), then=Value("A")),
        When(_score_at_least(score, thresholds["B"]), then=Value("B")),
        When(_score_at_least(score, thresholds["C"]), then=Value("C")),
        default=Value("D"),
    )
    return accounts.update(fit_score=score, fit_grade=grade)


def _score_at_least(score, threshold: int) -> Q:
    return Q(GreaterThanOrEqual(score, Value(threshold)))


class ListWriteError(ValueError):
    """A membership write a list does not take (the target list, a dynamic list)."""


def _static_only(account_list: AccountList) -> None:
    if account_list.is_target:
        raise ListWriteError(
            "The target list follows the accounts' is_target, targeted_on and untargeted_on: "
            "change those on the accounts instead."
        )
    if account_list.kind == ListKind.DYNAMIC:
        raise ListWriteError(
            "A dynamic list's members come from its criteria: edit the criteria instead."
        )


@transaction.atomic
def list_members_add(
    account_list: AccountList, account_ids: Iterable[int], joined_on: dt.date | None = None
) -> int:
    """Put accounts on a static list from ``joined_on`` (default today); returns how many
    joined. Accounts already on it are left as they are (two statements)."""
    _static_only(account_list)
    day = joined_on or timezone.localdate()
    ids = set(account_ids)
    already = set(
        ListMembership.objects.filter(
            list=account_list, account_id__in=ids, left_on__isnull=True
        ).values_list("account_id", flat=True)
    )
    rows = [
        ListMembership(list=account_list, account_id=pk, joined_on=day)
        for pk in sorted(ids - already)
    ]
    ListMembership.objects.bulk_create(rows)
    return len(rows)


@transaction.atomic
def list_members_remove(
    account_list: AccountList, account_ids: Iterable[int], left_on: dt.date | None = None
) -> int:
    """Take accounts off a static list on ``left_on`` (default today): their open interval
    closes; earlier intervals stay. One UPDATE; returns how many left."""
    _static_only(account_list)
    day = left_on or timezone.localdate()
    open_rows = ListMembership.objects.filter(
        list=account_list, account_id__in=set(account_ids), left_on__isnull=True
    )
    return open_rows.update(
        left_on=Greatest(Coalesce("joined_on", Value(day)), Value(day)), updated_at=timezone.now()
    )


def list_refresh(account_list: AccountList, day: dt.date | None = None) -> tuple[int, int]:
    """Bring a dynamic list's membership in line with its criteria on ``day`` (default
    today): matching accounts not on it join, members that no longer match leave. A
    constant number of statements whatever the number of accounts; returns (joined, left)."""
    if account_list.kind != ListKind.DYNAMIC:
        raise ListWriteError("Only a dynamic list is refreshed from criteria.")
    return dynamic_lists_refresh(day=day, list_ids=[account_list.pk])


@transaction.atomic
def dynamic_lists_refresh(
    account_ids: Iterable[int] | None = None,
    day: dt.date | None = None,
    list_ids: Iterable[int] | None = None,
) -> tuple[int, int]:
    """Bring every dynamic list's membership in line with its criteria on ``day`` (default
    today), for ``account_ids`` (all accounts by default): after accounts change (the marked
    recompute) and each night, not only when a list is saved (#15). ``list_ids`` limits
    it to those lists (a list just saved).

    Four statements whatever the number of accounts and lists: the lists; one UPDATE
    closing every open interval whose account no longer matches its list; one SELECT
    (a UNION over the lists) of the accounts that match a list they are not on; one
    INSERT. Returns (joined, left).
    """
    day = day or timezone.localdate()
    dynamic = AccountList.objects.filter(kind=ListKind.DYNAMIC)
    if list_ids is not None:
        dynamic = dynamic.filter(pk__in=set(list_ids))
    lists = [(pk, c) for pk, c in dynamic.values_list("pk", "criteria") if not criteria_errors(c)]
    if not lists:
        return 0, 0
    accounts = Account.objects.all()
    if account_ids is not None:
        accounts = accounts.filter(pk__in=set(account_ids))
    still = Q()
    for pk, criteria in lists:  # conditions of one statement, no query per list
        still |= Q(list_id=pk, account_id__in=Account.objects.filter(criteria_q(criteria)))
    current = ListMembership.objects.filter(
        list_id__in=[pk for pk, _ in lists],
        left_on__isnull=True,
        account_id__in=accounts.values("pk"),
    )
    left = current.exclude(still).update(
        left_on=Greatest(Coalesce("joined_on", Value(day)), Value(day)), updated_at=timezone.now()
    )
    joining = [
        accounts.filter(criteria_q(criteria))
        .exclude(pk__in=current.filter(list_id=pk).values("account_id"))
        .annotate(list_pk=Value(pk))
        .values_list("list_pk", "pk")
        .order_by()
        for pk, criteria in lists
    ]
    new = joining[0].union(*joining[1:], all=True) if len(joining) > 1 else joining[0]
    rows = [ListMembership(list_id=lid, account_id=aid, joined_on=day) for lid, aid in new]
    ListMembership.objects.bulk_create(rows)
    return len(rows), left


def list_delete(account_list: AccountList) -> None:
    """Delete a list and its membership history; the target list stays."""
    if account_list.is_target:
        raise ListWriteError("The target list cannot be deleted.")
    account_list.delete()


def list_create(**fields: Any) -> AccountList:
    """Create a list; a dynamic one gets its members at once (as of today)."""
    account_list = AccountList.objects.create(**fields)
    if account_list.kind == ListKind.DYNAMIC:
        list_refresh(account_list)
    return account_list


def list_update(account_list: AccountList, **fields: Any) -> AccountList:
    """Update a list; a dynamic one's members follow its (new) criteria from today."""
    for name, value in fields.items():
        setattr(account_list, name, value)
    account_list.save()
    if account_list.kind == ListKind.DYNAMIC:
        list_refresh(account_list)
    return account_list


class HoldoutError(ValueError):
    """A holdout draw that cannot be made (a bad share, a list that already has one)."""


#: Draws every member of the list on the day in one statement: within each stratum (tier,
#: fit grade) members are ordered by md5(seed:domain) (the id without a domain: keys that survive
#: an export and re-import) and the first round(share x stratum size)
#: are held out. Shares are whole thousandths, so the rounding is integer arithmetic (half up).
_DRAW_SQL = """
INSERT INTO {assignment} (holdout_id, account_id, held_out, tier_id, fit_grade)
SELECT %s, id, rn * 1000 <= %s * n + 500, tier_id, fit_grade FROM (
    SELECT a.id, a.tier_id, a.fit_grade,
           ROW_NUMBER() OVER (
               PARTITION BY a.tier_id, a.fit_grade
               ORDER BY md5(CAST(%s AS text) || ':' || COALESCE(a.domain, CAST(a.id AS text))), a.id
           ) AS rn,
           COUNT(*) OVER (PARTITION BY a.tier_id, a.fit_grade) AS n
    FROM {account} a
    WHERE a.id IN ({members})
) drawn
"""


@transaction.atomic
def holdout_draw(
    account_list: AccountList,
    share: Decimal | float | str,
    seed: str,
    drawn_on: dt.date | None = None,
    *,
    replace: bool = False,
) -> Holdout:
    """Hold out ``share`` of the list's members on ``drawn_on`` (default today) as a control
    group, stratified by tier and fit grade and seeded, so the draw can be repeated exactly.

    Two statements whatever the list's size (the holdout row, then one INSERT ... SELECT of
    every member's assignment). ``replace`` drops an earlier draw of the list first.
    """
    try:
        share = Decimal(str(share)).quantize(Decimal("0.001"))
    except ArithmeticError:
        raise HoldoutError("The share must be a number between 0 and 1, e.g. 0.2.") from None
    if not Decimal(0) < share < Decimal(1):
        raise HoldoutError("The share must be above 0 and below 1, e.g. 0.2 for 20 %.")
    seed = str(seed).strip()
    if not seed or len(seed) > 64:
        raise HoldoutError("The seed must be 1 to 64 characters, e.g. '2026-q3'.")
    day = drawn_on or timezone.localdate()
    if replace:
        Holdout.objects.filter(list=account_list).delete()
    elif Holdout.objects.filter(list=account_list).exists():
        raise HoldoutError(
            f"The list '{account_list}' already has a holdout; draw again with replace."
        )
    holdout = Holdout.objects.create(list=account_list, seed=seed, share=share, drawn_on=day)
    # The target list's members are its accounts' targeting condition (on PostgreSQL a
    # trigger keeps the memberships equal to it; the embedded SQLite has no trigger).
    on_list = target_q(day) if account_list.is_target else member_q(account_list.pk, day)
    members, params = Account.objects.filter(on_list).values("pk").query.sql_with_params()
    sql = _DRAW_SQL.format(
        assignment=HoldoutAssignment._meta.db_table,
        account=Account._meta.db_table,
        members=members,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [holdout.pk, int(share * 1000), seed, *params])
    return holdout
