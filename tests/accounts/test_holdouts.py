"""Holdout control groups (#20 item 3): a seeded, stratified, reproducible draw, and the
contamination of the control group by program touches."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest

from accounts.models import Account, AccountList, Holdout, HoldoutAssignment
from accounts.selectors import target_list
from accounts.services import HoldoutError, holdout_draw
from engagement.selectors import holdout_contamination, holdout_contamination_counts
from tests.conftest import postgresql_only
from tests.factories import AccountFactory, ProgramFactory, TierFactory, TouchFactory, at

pytestmark = [pytest.mark.django_db, postgresql_only]

D = dt.date
DAY = D(2024, 6, 1)


def build_list() -> tuple[AccountList, dict[tuple, int]]:
    """Target list of 200 accounts in 6 strata of unequal size (tier x fit grade)."""
    one, two = TierFactory(name="T1", rank=1), TierFactory(name="T2", rank=2)
    sizes = {(one, "A"): 50, (one, "B"): 30, (two, "A"): 40, (two, "C"): 20, (None, ""): 60}
    for (tier, grade), n in sizes.items():
        made = AccountFactory.create_batch(n, tier=tier)
        Account.objects.filter(pk__in=[a.pk for a in made]).update(fit_grade=grade)
    strata = {(t.pk if t else None, g): n for (t, g), n in sizes.items()}
    return target_list(), strata


def drawn(holdout: Holdout) -> set[int]:
    rows = HoldoutAssignment.objects.filter(holdout=holdout, held_out=True)
    return set(rows.values_list("account_id", flat=True))


def test_the_draw_is_stratified_and_each_stratum_holds_out_its_share(django_assert_num_queries):
    the_list, strata = build_list()
    # savepoint, exists?, the holdout, one INSERT ... SELECT of every member, release
    with django_assert_num_queries(5):
        holdout = holdout_draw(the_list, "0.2", "q3", DAY)
    rows = HoldoutAssignment.objects.filter(holdout=holdout)
    assert rows.count() == 200  # every member, held out or treated
    held = Counter(rows.filter(held_out=True).values_list("tier_id", "fit_grade"))
    # round(0.2 x size) per stratum: 50 -> 10, 30 -> 6, 40 -> 8, 20 -> 4, 60 -> 12
    assert dict(held) == {key: round(n * 0.2) for key, n in strata.items()}
    # so the held-out group's strata proportions are the list's
    total = sum(held.values())
    assert total == 40
    for key, n in strata.items():
        assert held[key] / total == pytest.approx(n / 200)
    assert holdout.seed == "q3" and holdout.share == Decimal("0.200") and holdout.drawn_on == DAY


def test_the_same_seed_draws_the_same_accounts_and_another_seed_others():
    the_list, _ = build_list()
    first = drawn(holdout_draw(the_list, 0.25, "seed-1", DAY))
    again = drawn(holdout_draw(the_list, 0.25, "seed-1", DAY, replace=True))
    other = drawn(holdout_draw(the_list, 0.25, "seed-2", DAY, replace=True))
    assert first == again
    assert other != first and len(other) == len(first)
    assert Holdout.objects.count() == 1  # replace dropped the earlier draws


def test_the_draw_is_by_md5_of_seed_and_domain_within_the_stratum():
    """The rule stated in the docs, computed by hand in Python: the first round(share x n)
    accounts of each stratum by md5("seed:domain"), the id standing in for a missing domain."""
    import hashlib

    the_list, _ = build_list()
    Account.objects.filter(pk__in=Account.objects.order_by("pk").values("pk")[:7]).update(
        domain=None
    )
    holdout = holdout_draw(the_list, "0.1", "abc", DAY)
    by_stratum: dict[tuple, list[int]] = {}
    keys = {}
    for pk, tier, grade, domain in Account.objects.values_list(
        "pk", "tier_id", "fit_grade", "domain"
    ):
        by_stratum.setdefault((tier, grade), []).append(pk)
        keys[pk] = domain or str(pk)
    expected = set()
    for ids in by_stratum.values():
        ids.sort(
            key=lambda pk: (
                hashlib.md5(f"abc:{keys[pk]}".encode(), usedforsecurity=False).hexdigest(),
                pk,
            )
        )
        expected |= set(ids[: int(len(ids) * 0.1 + 0.5)])
    assert drawn(holdout) == expected


def test_only_members_on_the_draw_day_are_drawn_and_bad_input_is_refused():
    AccountFactory.create_batch(10)
    AccountFactory.create_batch(5, targeted_on=D(2024, 7, 1))  # join after the draw day
    the_list = target_list()
    holdout = holdout_draw(the_list, "0.5", "x", DAY)
    assert HoldoutAssignment.objects.filter(holdout=holdout).count() == 10
    with pytest.raises(HoldoutError, match="already has a holdout"):
        holdout_draw(the_list, "0.5", "x", DAY)
    for share in ("0", "1", "1.5", "abc"):
        with pytest.raises(HoldoutError, match="share"):
            holdout_draw(the_list, share, "x", DAY, replace=True)
    with pytest.raises(HoldoutError, match="seed"):
        holdout_draw(the_list, "0.5", "  ", DAY, replace=True)


def test_program_touches_on_held_out_accounts_from_the_draw_day_are_contamination(
    django_assert_num_queries,
):
    AccountFactory.create_batch(20)
    holdout = holdout_draw(target_list(), "0.5", "c", DAY)
    held = sorted(drawn(holdout))
    treated = sorted(
        HoldoutAssignment.objects.filter(holdout=holdout, held_out=False).values_list(
            "account_id", flat=True
        )
    )
    program = ProgramFactory()
    bad = [
        TouchFactory(account_id=held[0], program=program, occurred_at=at(DAY)),
        TouchFactory(account_id=held[0], program=program, occurred_at=at(D(2024, 7, 1))),
        TouchFactory(account_id=held[1], program=program, occurred_at=at(D(2024, 6, 2))),
    ]
    TouchFactory(account_id=held[2], program=program, occurred_at=at(D(2024, 5, 31)))  # before
    TouchFactory(account_id=held[3], program=None, occurred_at=at(D(2024, 7, 1)))  # no program
    TouchFactory(account_id=treated[0], program=program, occurred_at=at(D(2024, 7, 1)))
    assert set(holdout_contamination(holdout)) == set(bad)
    with django_assert_num_queries(1):
        counts = holdout_contamination_counts(holdout)
    assert counts == {"touches": 3, "accounts": 2}


def test_a_static_list_draws_from_its_membership_intervals():
    from accounts.models import ListMembership
    from tests.factories import AccountListFactory

    accounts = AccountFactory.create_batch(12)
    named = AccountListFactory()
    for a in accounts[:8]:
        ListMembership.objects.create(account=a, list=named, joined_on=D(2024, 1, 1))
    ListMembership.objects.create(  # left before the draw day
        account=accounts[8], list=named, joined_on=D(2024, 1, 1), left_on=D(2024, 5, 1)
    )
    holdout = holdout_draw(named, "0.25", "s", DAY)
    rows = HoldoutAssignment.objects.filter(holdout=holdout)
    assert set(rows.values_list("account_id", flat=True)) == {a.pk for a in accounts[:8]}
    assert rows.filter(held_out=True).count() == 2


def test_the_command_draws_and_names_bad_input():
    from io import StringIO

    from django.core.management import CommandError, call_command

    AccountFactory.create_batch(10)
    out = StringIO()
    call_command(
        "holdout_draw", "--list", str(target_list().pk), "--share", "0.3", "--seed", "k",
        "--on", "2024-06-01", stdout=out,
    )  # fmt: skip
    assert "3 of 10 accounts held out" in out.getvalue()
    with pytest.raises(CommandError, match="already has a holdout"):
        call_command(
            "holdout_draw", "--list", str(target_list().pk), "--share", "0.3", "--seed", "k"
        )
    with pytest.raises(CommandError, match="No account list 999999"):
        call_command("holdout_draw", "--list", "999999", "--share", "0.3", "--seed", "k")


def test_the_admin_adds_a_holdout_by_drawing_it(client, admin_user):
    AccountFactory.create_batch(10)
    client.force_login(admin_user)
    response = client.post(
        "/admin/accounts/holdout/add/",
        {"list": target_list().pk, "share": "0.2", "seed": "adm", "drawn_on": "2024-06-01"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    holdout = Holdout.objects.get()
    assert (holdout.seed, holdout.drawn_on) == ("adm", DAY)
    assert HoldoutAssignment.objects.filter(holdout=holdout, held_out=True).count() == 2
    response = client.post(
        "/admin/accounts/holdout/add/",
        {"list": target_list().pk, "share": "1.5", "seed": "adm", "drawn_on": "2024-06-01"},
    )
    assert response.status_code == 200  # the form again, with the errors
    assert Holdout.objects.count() == 1


def test_the_api_draws_and_shows_a_holdout(editor, viewer):
    from tests.conftest import token_client

    AccountFactory.create_batch(10)
    url = f"/api/v1/lists/{target_list().pk}/holdout/"
    reader, writer = token_client(viewer), token_client(editor, scope="write")
    assert reader.get(url).status_code == 404
    assert "has no holdout" in reader.get(url).json()["detail"]
    assert reader.post(url, {"share": "0.2", "seed": "a"}, format="json").status_code == 403
    body = {"share": "0.2", "seed": "api", "on": "2024-06-01"}
    response = writer.post(url, body, format="json")
    assert response.status_code == 201
    shown = reader.get(url).json()
    assert shown == response.json()
    assert (shown["seed"], shown["share"], shown["drawn_on"]) == ("api", "0.200", "2024-06-01")
    assert (shown["treated"], shown["held_out"]) == (8, 2)
    again = writer.post(url, body, format="json")
    assert again.status_code == 400 and "already has a holdout" in str(again.json())
    bad = writer.post(url, {"share": "1.5", "seed": "x"}, format="json")
    assert bad.status_code == 400 and "share" in bad.json()
