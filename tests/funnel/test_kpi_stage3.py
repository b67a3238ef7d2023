"""Stage 3 KPIs (target account opportunities) against hand-built fixtures; March 2024."""

import pytest

from tests.factories import SpendFactory, StakeholderFactory

from .kpi_fixtures import (
    END,
    D,
    day,
    drill_ids,
    kpi,
    kpis,
    non_target,
    opp,
    target,
    touch,
    won,
)

# KPIS.md definitions version 1 (version 2 changes some of these: test_kpi_version2.py).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("definitions_v1")]


def _opportunity_world():
    a = target()
    opp(a, created_on=day(5))
    b = target()
    opp(b, type="renewal", created_on=day(5))  # not new_business
    c = target()
    opp(c, created_on=D(2024, 2, 10))  # created before the period
    d = target()
    opp(d, created_on=None)  # created_on unknown: left out where the date is needed
    e = non_target()
    opp(e, created_on=day(5))  # not a target account
    f = target()
    opp(f, created_on=day(1))  # first day, inclusive
    opp(f, created_on=END, status="lost", closed_on=END)  # second one: account counted once
    return a, b, c, d, e, f


def test_opportunity_accounts_and_rate():
    a, b, c, d, e, f = _opportunity_world()

    items = kpis("opportunity_accounts", "opportunity_rate", "target_accounts")

    assert items["opportunity_accounts"]["value"] == 2  # a, f
    assert items["opportunity_accounts"]["count"] == 2
    assert drill_ids("opportunity_accounts") == {a.pk, f.pk}
    assert items["target_accounts"]["value"] == 5  # a, b, c, d, f
    rate = items["opportunity_rate"]
    assert (rate["numerator"], rate["denominator"]) == (2, 5)
    assert rate["value"] == 0.4  # 2 / 5


def test_buying_committee_size_is_mean_stakeholders_of_opportunity_accounts():
    a, b, c, d, e, f = _opportunity_world()
    for _ in range(3):
        StakeholderFactory(account=a)
    StakeholderFactory(account=f)
    StakeholderFactory(account=c)  # c is not an opportunity account

    item = kpi("buying_committee_size")

    # a 3, f 1 -> (3 + 1) / 2 = 2.00
    assert item["value"] == 2.0
    assert item["count"] == 2
    assert item["total"] == 4


def test_buying_committee_size_counts_an_account_without_stakeholders_as_zero():
    a, b, c, d, e, f = _opportunity_world()
    for _ in range(3):
        StakeholderFactory(account=a)

    item = kpi("buying_committee_size")

    # Reading: the mean is over opportunity_accounts, so f counts with 0: (3 + 0) / 2 = 1.50
    assert item["value"] == 1.5
    assert item["count"] == 2


def test_account_penetration_is_engaged_stakeholders_per_engaged_target_account():
    a = target()
    s1, s2, s3 = (StakeholderFactory(account=a) for _ in range(3))
    touch(a, "email_reply", day(3), stakeholder=s1)
    touch(a, "meeting", day(4), stakeholder=s1)  # s1 counted once
    touch(a, "email_click", day(5), stakeholder=s2)
    touch(a, "email_sent", day(5), stakeholder=s3)  # not engagement
    touch(a, "meeting", D(2024, 2, 1), stakeholder=s3)  # before the period
    b = target()
    touch(b, "web_visit", day(6))  # engaged, but no known person
    outsider = non_target()
    touch(outsider, "meeting", day(6), stakeholder=StakeholderFactory(account=outsider))

    item = kpi("account_penetration")

    # (2 engaged people at a + 0 at b) / 2 engaged target accounts = 1.00
    assert item["value"] == 1.0
    assert item["count"] == 2
    assert item["total"] == 2


def test_target_account_pipeline_and_open_opportunities():
    a = target()
    o1 = opp(a, amount=1000, created_on=day(10))
    o2 = opp(a, amount=500, created_on=None)  # unknown created_on still counts: no date needed
    b = target()
    o3 = opp(b, type="renewal", amount=700, created_on=day(2))  # open, but not new_business
    c = non_target()
    opp(c, amount=900, created_on=day(2))  # not a target account
    d = target()
    won(d, day(20), amount=2000, created_on=day(1))  # closed
    e = target(untargeted_on=day(15))
    opp(e, amount=300, created_on=day(2))  # off the list as of to

    items = kpis("target_account_pipeline", "open_opportunities")

    pipe = items["target_account_pipeline"]
    assert pipe["unit"] == "money"
    assert pipe["value"] == 1500.0  # 1000 + 500
    assert pipe["count"] == 2
    assert items["open_opportunities"]["value"] == 3  # o1, o2, o3 (any type)
    assert drill_ids("open_opportunities") == {o1.pk, o2.pk, o3.pk}


def test_open_pipeline_is_as_of_the_end_of_the_period():
    a = target()
    opp(a, amount=1000, created_on=day(10))
    opp(a, amount=4000, created_on=D(2024, 4, 2))  # created after to: not open as of to
    won(a, D(2024, 4, 10), amount=8000, created_on=day(3))  # still open at the end of March

    items = kpis("target_account_pipeline", "open_opportunities")

    # Reading of "as of to": open on Mar 31 = created <= to (or unknown) and not closed by to
    assert items["target_account_pipeline"]["value"] == 9000.0  # 1000 + 8000
    assert items["open_opportunities"]["value"] == 2


def test_days_first_touch_to_opportunity():
    a = target()
    touch(a, "ad_impression", D(2024, 1, 1))  # not engagement
    touch(a, "web_visit", D(2024, 2, 10))  # first engagement touch
    touch(a, "meeting", day(2))
    opp(a, created_on=day(10))  # Feb 10 -> Mar 10 = 29 days (2024 is a leap year)
    b = target()
    touch(b, "form_fill", day(1))
    opp(b, created_on=day(21))  # Mar 1 -> Mar 21 = 20 days
    c = target()
    touch(c, "web_visit", D(2023, 12, 1))
    opp(c, created_on=D(2024, 1, 15))  # first opportunity before the period: left out
    opp(c, created_on=day(12))
    d = target()
    touch(d, "web_visit", D(2024, 2, 1))
    opp(d, created_on=None)  # unknown date: left out

    item = kpi("days_first_touch_to_opportunity")

    assert item["unit"] == "days"
    assert item["value"] == 24.5  # (29 + 20) / 2
    assert item["count"] == 2
    assert item["total"] == 49.0


def test_cost_per_opportunity_account():
    _opportunity_world()  # 2 opportunity accounts
    SpendFactory(spent_on=day(3), amount=600, category="marketing")
    SpendFactory(spent_on=day(4), amount=200, category="sales")
    SpendFactory(program=None, spent_on=day(4), amount=5000)  # not ABM spend

    item = kpi("cost_per_opportunity_account")

    assert item["value"] == 400.0  # (600 + 200) / 2
    assert (item["numerator"], item["denominator"]) == (800.0, 2)


def test_cost_per_opportunity_account_without_opportunities_is_null():
    target()
    SpendFactory(spent_on=day(3), amount=600)
    assert kpi("cost_per_opportunity_account")["value"] is None


def test_influenced_pipeline():
    a = target()
    touch(a, "web_visit", D(2024, 2, 1))  # 43 days before the opportunity
    opp(a, amount=1000, created_on=day(15))  # influenced
    b = target()
    touch(b, "web_visit", D(2023, 11, 1))  # 135 days before: too early
    opp(b, amount=2000, created_on=day(15))
    c = target()
    touch(c, "ad_impression", day(1))  # not engagement
    opp(c, amount=400, created_on=day(15))
    f = target()
    touch(f, "meeting", day(25))  # after the opportunity was created
    opp(f, amount=600, created_on=day(10))
    g = target()
    touch(g, "meeting", D(2024, 1, 5))
    opp(g, amount=700, created_on=D(2024, 2, 1))  # created before the period
    e = target()
    touch(e, "meeting", day(1))
    opp(e, amount=800, created_on=None)  # unknown date: left out

    item = kpi("influenced_pipeline")

    assert item["value"] == 1000.0
    assert item["count"] == 1


def test_influenced_pipeline_counts_every_opportunity_type():
    a = target()
    touch(a, "meeting", day(1))
    opp(a, type="renewal", amount=800, created_on=day(20))
    opp(a, type="new_business", amount=200, created_on=day(20))

    # Reading: the definition says "opportunities", not "new_business opportunities"
    assert kpi("influenced_pipeline")["value"] == 1000.0  # 800 + 200


def test_engaged_share_of_tam():
    a = target(fit_grade="A")
    touch(a, "web_visit", day(3))
    target(fit_grade="B")
    target(fit_grade="B")
    c = target(fit_grade="C")
    touch(c, "meeting", day(3))
    target(fit_grade="")

    item = kpi("engaged_share_of_tam")

    # 2 engaged target accounts (a, c) / 3 accounts graded A or B
    assert (item["numerator"], item["denominator"]) == (2, 3)
    assert item["value"] == 0.6667


def test_engaged_share_of_tam_without_graded_accounts_is_null():
    touch(target(fit_grade="C"), "web_visit", day(3))
    assert kpi("engaged_share_of_tam")["value"] is None
