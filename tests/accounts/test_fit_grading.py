"""ICP grading on every write path (#15): an account created through the API or the admin has
a grade at once; editing an ICP rule regrades every account in one UPDATE."""

import pytest

from accounts.models import Account, IcpRule
from accounts.services import account_update, icp_rule_save, icp_rules_delete
from tests.conftest import postgresql_only, token_client
from tests.factories import AccountFactory, IcpRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules():
    """Software (weight 3) and 100-1000 employees (weight 1): 4 in all.
    Software with 500 employees: 4/4 = 100 (A); software alone 75 (A); size alone 25 (C)."""
    IcpRuleFactory(attribute="industry", values=["Software"], weight=3)
    IcpRuleFactory(attribute="employees", values=[], min_value=100, max_value=1000, weight=1)


def test_an_api_created_account_has_a_grade_at_once(rules, editor):
    api = token_client(editor, "write")
    response = api.post(
        "/api/v1/accounts/",
        {"name": "Acme", "industry": "software", "employees": 500},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (response.data["fit_score"], response.data["fit_grade"]) == (100, "A")
    account = Account.objects.get(pk=response.data["id"])
    assert (account.fit_score, account.fit_grade) == (100, "A")
    # An update of an ICP field regrades: 5,000 employees no longer match the size rule.
    response = api.patch(f"/api/v1/accounts/{account.pk}/", {"employees": 5000}, format="json")
    assert response.status_code == 200, response.content
    assert (response.data["fit_score"], response.data["fit_grade"]) == (75, "A")


def test_an_admin_created_account_has_a_grade_at_once(rules, client, admin_user):
    client.force_login(admin_user)
    data = {
        "name": "Beta",
        "industry": "Retail",
        "employees": "200",
        "country": "",
        "is_target": "on",
        "source": "",
        "external_id": "",
        "program_type": "",
        "alias_domains-TOTAL_FORMS": "0",
        "alias_domains-INITIAL_FORMS": "0",
        "stakeholders-TOTAL_FORMS": "0",
        "stakeholders-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/accounts/account/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account = Account.objects.get(name="Beta")
    assert (account.fit_score, account.fit_grade) == (25, "C")  # size only: 1 of 4


def test_editing_a_rule_regrades_every_account_in_one_update(rules, django_assert_num_queries):
    software = AccountFactory(industry="Software", employees=5000)
    retail = AccountFactory(industry="Retail", employees=500)
    account_update(software, industry="Software")  # graded: 75 (A)
    account_update(retail, industry="Retail")  # graded: 25 (C)
    rule = IcpRule.objects.get(attribute="industry")
    rule.values = ["Retail"]
    # Savepoint, UPDATE of the rule, the active rules, one UPDATE of every account, release.
    with django_assert_num_queries(5):
        assert icp_rule_save(rule) == 2
    grades = dict(Account.objects.values_list("name", "fit_grade"))
    assert grades == {software.name: "D", retail.name: "A"}  # 0 of 4; 4 of 4
    AccountFactory.create_batch(20, industry="Retail", employees=10)
    rule.weight = 1  # Retail 1 + size 1: Retail with 10 employees scores 50 (B)
    with django_assert_num_queries(5):  # the same for 22 accounts
        assert icp_rule_save(rule) == 22
    assert Account.objects.filter(fit_grade="B").count() == 20
    with django_assert_num_queries(5):  # delete, the active rules, one UPDATE
        icp_rules_delete(IcpRule.objects.filter(pk=rule.pk))
    assert Account.objects.get(pk=retail.pk).fit_grade == "A"  # size alone: 1 of 1


def test_the_admin_regrades_on_saving_a_rule(rules, client, admin_user):
    account = AccountFactory(industry="Retail", employees=5)
    client.force_login(admin_user)
    data = {"attribute": "industry", "values": '["Retail"]', "weight": "3", "is_active": "on"}
    response = client.post("/admin/accounts/icprule/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    # Software 3 + Retail 3 + size 1 = 7; Retail matches: 300/7 = 42.9, stored as 42 (the
    # score expression divides integers on PostgreSQL: truncated, not rounded) -> C.
    assert (account.fit_score, account.fit_grade) == (42, "C")


@postgresql_only
def test_a_regrade_is_recorded_and_leaves_last_quarters_tam_unchanged(rules):
    """The regrade's one UPDATE records each changed grade from today (a trigger); the
    first grade counts since always; engaged share of TAM reads the grade at the period end."""
    import datetime as dt

    from django.utils import timezone

    from accounts.models import FitGradeChange
    from accounts.services import account_create
    from funnel.kpis import Period, compute
    from tests.accounts.test_tier_history import last_quarter
    from tests.factories import TouchFactory, at

    today = timezone.localdate()
    quarter = last_quarter(today)
    a = account_create(name="A", industry="Software", employees=500, targeted_on=quarter.start)
    b = account_create(name="B", industry="Retail", employees=500, targeted_on=quarter.start)
    assert (a.fit_grade, b.fit_grade) == ("A", "C")  # 4/4; 1/4
    TouchFactory(account=a, kind="meeting", occurred_at=at(quarter.end - dt.timedelta(days=2)))

    def share(period: Period) -> tuple:
        item = compute(period, ids=["engaged_share_of_tam"])["kpis"][0]
        return item["numerator"], item["denominator"]

    assert share(quarter) == (1, 1)  # A: engaged and graded A
    rule = IcpRule.objects.get(attribute="industry")
    rule.values = ["Retail"]
    icp_rule_save(rule)  # today: A scores 1/4 (C), B 4/4 (A)

    def history(account) -> list:
        rows = FitGradeChange.objects.filter(account=account)
        return list(rows.values_list("grade", "effective_on"))

    assert history(a) == [("A", None), ("C", today)]
    assert history(b) == [("C", None), ("A", today)]
    assert share(quarter) == (1, 1)  # last quarter: as it was
    assert share(Period(today, today)) == (0, 1)  # today: B is the TAM, not engaged today
