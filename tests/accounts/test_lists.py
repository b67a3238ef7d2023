"""Account lists: the target list's membership intervals on every write path (#15)."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import Account, AccountList, ListMembership
from accounts.selectors import list_members, target_list
from accounts.services import account_create, account_update
from tests.conftest import postgresql_only, token_client
from tests.factories import AccountFactory

pytestmark = [pytest.mark.django_db, postgresql_only]

D = dt.date


def intervals(account: Account) -> list[tuple[dt.date | None, dt.date | None]]:
    rows = ListMembership.objects.filter(account=account, list=target_list())
    return sorted(
        rows.values_list("joined_on", "left_on"), key=lambda r: (r[0] or D.min, r[1] or D.max)
    )


def members_on(day: dt.date) -> set[int]:
    return set(list_members(target_list().pk, day).values_list("pk", flat=True))


def test_one_target_list_exists_after_migrate():
    assert AccountList.objects.filter(is_target=True).count() == 1
    assert target_list().name == "Target accounts"


def test_inserted_accounts_get_their_interval_and_non_targets_none():
    always = AccountFactory()
    closed = AccountFactory(targeted_on=D(2024, 1, 1), untargeted_on=D(2024, 3, 1))
    never = AccountFactory(is_target=False)
    assert intervals(always) == [(None, None)]
    assert intervals(closed) == [(D(2024, 1, 1), D(2024, 3, 1))]
    assert intervals(never) == []
    # As of 2023-12-31 only `always`; 2024-02-29 both; 2024-03-01 (left_on is exclusive) only
    # `always` again.
    assert members_on(D(2023, 12, 31)) == {always.pk}
    assert members_on(D(2024, 2, 29)) == {always.pk, closed.pk}
    assert members_on(D(2024, 3, 1)) == {always.pk}


def test_retargeting_through_the_service_adds_an_interval():
    a = AccountFactory(targeted_on=D(2024, 1, 1))
    account_update(a, is_target=False, untargeted_on=D(2024, 3, 1))
    account_update(a, is_target=True, targeted_on=D(2024, 6, 1))
    a.refresh_from_db()
    # The fields are the current interval; the list keeps both.
    assert (a.targeted_on, a.untargeted_on) == (D(2024, 6, 1), None)
    assert intervals(a) == [(D(2024, 1, 1), D(2024, 3, 1)), (D(2024, 6, 1), None)]
    # Jan 15: first interval; Mar 1: left (exclusive); May 31: gap; Jun 1 and later: second.
    assert a.pk in members_on(D(2024, 1, 15))
    assert a.pk not in members_on(D(2024, 3, 1))
    assert a.pk not in members_on(D(2024, 5, 31))
    assert a.pk in members_on(D(2024, 6, 1))
    assert a.pk in members_on(D(2030, 1, 1))
    assert a.pk not in members_on(D(2023, 12, 31))


def test_untargeting_without_a_date_closes_today_and_retargeting_starts_today():
    today = timezone.localdate()
    a = AccountFactory(targeted_on=today - dt.timedelta(days=100))
    account_update(a, is_target=False)
    a.refresh_from_db()
    assert a.untargeted_on == today
    assert intervals(a) == [(today - dt.timedelta(days=100), today)]
    account_update(a, is_target=True)
    a.refresh_from_db()
    assert (a.targeted_on, a.untargeted_on) == (today, None)
    assert intervals(a) == [(today - dt.timedelta(days=100), today), (today, None)]


def test_retargeting_through_a_bulk_update_keeps_the_old_interval():
    """QuerySet.update (as the CSV import's bulk_update) sends no signal: the trigger acts."""
    today = timezone.localdate()
    a = AccountFactory(targeted_on=D(2024, 1, 1), untargeted_on=D(2024, 3, 1))
    Account.objects.filter(pk=a.pk).update(is_target=False)
    assert intervals(a) == [(D(2024, 1, 1), D(2024, 3, 1))]  # already closed: unchanged
    Account.objects.filter(pk=a.pk).update(is_target=True)
    a.refresh_from_db()
    # Flipped back with no dates given: a new interval from today, the fields follow it.
    assert (a.targeted_on, a.untargeted_on) == (today, None)
    assert intervals(a) == [(D(2024, 1, 1), D(2024, 3, 1)), (today, None)]


def test_editing_dates_on_the_list_corrects_or_starts_an_interval():
    a = AccountFactory(targeted_on=D(2024, 1, 1))
    account_update(a, targeted_on=D(2024, 1, 10))  # a correction of the current interval
    assert intervals(a) == [(D(2024, 1, 10), None)]
    account_update(a, untargeted_on=D(2024, 2, 1))  # closed by date, still is_target
    assert intervals(a) == [(D(2024, 1, 10), D(2024, 2, 1))]
    # A start on or after the last end is a new interval, not an edit of the old one.
    account_update(a, targeted_on=D(2024, 4, 1), untargeted_on=None)
    assert intervals(a) == [(D(2024, 1, 10), D(2024, 2, 1)), (D(2024, 4, 1), None)]
    assert members_on(D(2024, 3, 1)) == set()
    assert members_on(D(2024, 1, 20)) == members_on(D(2024, 4, 1)) == {a.pk}


def test_a_never_targeted_account_put_on_the_list_joins_today():
    today = timezone.localdate()
    a = AccountFactory(is_target=False)
    account_update(a, is_target=True)
    assert intervals(a) == [(today, None)]


def test_account_created_by_the_service_without_a_date_joins_today():
    today = timezone.localdate()
    a = account_create(name="New Co")
    assert a.targeted_on == today
    assert intervals(a) == [(today, None)]
    assert a.pk not in members_on(today - dt.timedelta(days=1))
    b = account_create(name="Dated Co", targeted_on=D(2020, 5, 1))
    assert intervals(b) == [(D(2020, 5, 1), None)]
    c = account_create(name="Outside Co", is_target=False)
    assert c.targeted_on is None and intervals(c) == []


def test_api_create_and_retarget(admin_user):
    today = timezone.localdate()
    client = token_client(admin_user, "write")
    response = client.post("/api/v1/accounts/", {"name": "Api Co"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["targeted_on"] == today.isoformat()
    pk = response.json()["id"]
    for body in (
        {"is_target": False, "untargeted_on": (today + dt.timedelta(days=5)).isoformat()},
        {"is_target": True, "targeted_on": (today + dt.timedelta(days=10)).isoformat()},
    ):
        response = client.patch(f"/api/v1/accounts/{pk}/", body, format="json")
        assert response.status_code == 200, response.content
    assert intervals(Account.objects.get(pk=pk)) == [
        (today, today + dt.timedelta(days=5)),
        (today + dt.timedelta(days=10), None),
    ]


def test_admin_retarget_adds_an_interval(client, admin_user):
    today = timezone.localdate()
    a = AccountFactory(targeted_on=D(2024, 1, 1), untargeted_on=D(2024, 3, 1), is_target=False)
    client.force_login(admin_user)
    url = f"/admin/accounts/account/{a.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "is_target": "on",
            "targeted_on": "2024-01-01",
            "untargeted_on": "2024-03-01",
            "alias_domains-TOTAL_FORMS": "0",
            "alias_domains-INITIAL_FORMS": "0",
            "stakeholders-TOTAL_FORMS": "0",
            "stakeholders-INITIAL_FORMS": "0",
        }
    )
    data.pop("owner", None)
    data.pop("tier", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    a.refresh_from_db()
    # The migration-era fact "not a target" had no interval; re-targeting in the admin with
    # the old dates left as they were starts a new interval today.
    assert a.is_target
    assert (a.targeted_on, a.untargeted_on) == (today, None)
    assert intervals(a)[-1] == (today, None)


def test_import_without_a_targeting_date_joins_on_the_import_date(tmp_path):
    from ingest.services import csv_import

    today = timezone.localdate()
    path = tmp_path / "a.csv"
    path.write_text(
        "name,domain,is_target,targeted_on\n"
        "Alpha,alpha.example,yes,2024-01-01\n"
        "Beta,beta.example,yes,\n"
        "Gamma,gamma.example,no,\n",
        encoding="utf-8",
    )
    report = csv_import("accounts", path)
    assert report.created == 3, report.as_dict()
    dates = dict(Account.objects.values_list("name", "targeted_on"))
    assert dates == {"Alpha": D(2024, 1, 1), "Beta": today, "Gamma": None}
    assert intervals(Account.objects.get(name="Beta")) == [(today, None)]
    note = next(n for n in report.notes if "no targeting date" in n)
    assert (
        f"1 new target accounts had no targeting date and joined the target list on {today}" in note
    )
    assert "the import date" in note and "--targeted-on" in note


def test_import_targeted_on_backdates_new_accounts_only(tmp_path):
    from django.core.management import call_command

    existing = AccountFactory(name="Old", domain="old.example", targeted_on=D(2022, 2, 2))
    path = tmp_path / "a.csv"
    path.write_text("name,domain\nNew,new.example\nOld,old.example\n", encoding="utf-8")
    call_command(
        "import_csv", "accounts", str(path), "--targeted-on", "2023-07-01", "--no-progress"
    )
    assert Account.objects.get(name="New").targeted_on == D(2023, 7, 1)
    existing.refresh_from_db()
    assert existing.targeted_on == D(2022, 2, 2)
    assert members_on(D(2023, 6, 30)) == {existing.pk}


def test_import_mapping_constant_backdates(tmp_path):
    from ingest.services import csv_import

    path = tmp_path / "a.csv"
    path.write_text("name,domain\nNew,new.example\n", encoding="utf-8")
    mapping = {
        "name": "custom",
        "columns": {"name": "name", "domain": "domain"},
        "constants": {"targeted_on": "2021-03-04"},
    }
    report = csv_import("accounts", path, mapping=mapping)
    assert report.created == 1, report.as_dict()
    assert Account.objects.get(name="New").targeted_on == D(2021, 3, 4)
    assert not [n for n in report.notes if "no targeting date" in n]


def test_admin_manages_lists_and_refreshes_dynamic_ones(client, admin_user):
    client.force_login(admin_user)
    target = target_list()
    assert client.get("/admin/accounts/accountlist/").status_code == 200
    page = client.get(f"/admin/accounts/accountlist/{target.pk}/change/")
    assert page.status_code == 200
    assert not page.context["has_delete_permission"]  # the target list stays
    big = AccountFactory(employees=5000)
    AccountFactory(employees=10)
    data = {
        "name": "Big",
        "kind": "dynamic",
        "description": "",
        "criteria": '{"employees_min": 1000}',
        "tags": "[]",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/accounts/accountlist/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    created = AccountList.objects.get(name="Big")
    assert set(list_members(created.pk, timezone.localdate())) == {big}
    data["name"], data["criteria"] = "Bad", '{"colour": ["red"]}'
    response = client.post("/admin/accounts/accountlist/add/", data)
    assert response.status_code == 200
    assert "Unknown criterion" in str(response.context["adminform"].form.errors)


def dynamic_intervals(account_list: AccountList, account: Account) -> list:
    rows = ListMembership.objects.filter(account=account, list=account_list)
    return list(rows.order_by("joined_on").values_list("joined_on", "left_on"))


def test_dynamic_lists_follow_changed_accounts_in_the_marked_and_nightly_recompute():
    """Not only when the list is saved: a marked recompute refreshes the changed accounts'
    dynamic lists, the nightly run every dynamic list (a bulk write marks nobody)."""
    from accounts.services import list_create
    from funnel import recompute
    from tests.factories import TierFactory

    today = timezone.localdate()
    t1, t2 = TierFactory(name="Tier 1", rank=1), TierFactory(name="Tier 2", rank=2)
    a = AccountFactory(tier=t1)
    b = AccountFactory(tier=t2)
    c = AccountFactory(tier=t2, employees=50)
    tier1 = list_create(name="Tier 1 list", kind="dynamic", criteria={"tier": [t1.pk]})
    small = list_create(name="Small", kind="dynamic", criteria={"employees_max": 100})
    assert dynamic_intervals(tier1, a) == [(today, None)]
    assert dynamic_intervals(small, c) == [(today, None)]
    # An API edit moves a to tier 2 and b to tier 1 (both marked); nothing moves yet.
    account_update(a, tier=t2)
    account_update(b, tier=t1)
    assert dynamic_intervals(tier1, b) == []
    assert recompute.marked_compute(today) == 2
    assert dynamic_intervals(tier1, a) == [(today, today)]  # left today
    assert dynamic_intervals(tier1, b) == [(today, None)]  # joined today
    assert dynamic_intervals(small, c) == [(today, None)]  # unchanged, not marked
    # A bulk write marks nobody: the nightly run refreshes every dynamic list.
    Account.objects.filter(pk=c.pk).update(tier=t1, employees=500)
    recompute.day_compute(today, kind="nightly")
    assert dynamic_intervals(tier1, c) == [(today, None)]
    assert dynamic_intervals(small, c) == [(today, today)]
    # The target list is not a dynamic list: untouched by the refresh.
    assert intervals(c) == [(None, None)]


def test_dynamic_lists_refresh_is_constant_in_accounts_and_lists(django_assert_num_queries):
    from accounts.services import dynamic_lists_refresh, list_create
    from tests.factories import TierFactory

    tier = TierFactory(name="Tier 1", rank=1)
    AccountFactory(tier=tier)
    list_create(name="Tier 1 list", kind="dynamic", criteria={"tier": [tier.pk]})
    # Savepoint, lists, UPDATE (leavers), SELECT (joiners, one UNION), release: nobody
    # joins, so no INSERT.
    with django_assert_num_queries(5):
        assert dynamic_lists_refresh() == (0, 0)
    AccountFactory.create_batch(5, tier=tier)
    list_create(name="Small", kind="dynamic", criteria={"employees_max": 10})
    list_create(
        name="Tier 1 big", kind="dynamic", criteria={"tier": [tier.pk], "employees_min": 100}
    )
    Account.objects.update(tier=None, employees=10)  # a bulk write: no refresh by itself
    # The same and one INSERT, for 6 accounts and 3 lists.
    with django_assert_num_queries(6):
        joined, left = dynamic_lists_refresh()
    # "Tier 1 list" had only the first account (the 5 came after it was saved, and no
    # refresh ran since): 1 leaves; "Tier 1 big" had all 6: 6 leave; all 6 join "Small".
    assert (joined, left) == (6, 1 + 6)
