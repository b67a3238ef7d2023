"""``list=<id>``: an account list's members as of the period end stand in for the target list (#15).

The target list is kept in step with the accounts' targeting dates, so every KPI
computed with ``list=<target list>`` equals its value with the default cohorts, on
the demo data (accounts targeted and untargeted inside the periods) and on a small
hand-built world whose numbers are worked out in comments.
"""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AccountList, ListMembership
from accounts.selectors import target_list
from funnel.kpis import (
    LIFT_IDS,
    Filters,
    Period,
    catalogue,
    compute,
    drilldown,
    unknown_filter_ids,
)
from tests.conftest import postgresql_only
from tests.factories import AccountFactory, TouchFactory
from tests.funnel.kpi_fixtures import when

pytestmark = postgresql_only

END = dt.date(2026, 6, 30)
SMALL = ["--accounts", "60", "--touches", "3000", "--end-date", END.isoformat()]
PERIODS = [
    Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
    Period(dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    Period(dt.date(2025, 7, 1), dt.date(2026, 6, 30)),
]


@pytest.fixture
def demo(django_db_blocker, django_db_setup):
    call_command("seed_demo", *SMALL, stdout=open("/dev/null", "w"))  # noqa: SIM115


def _values(result: dict) -> dict:
    """Each KPI's item without the echo of the filters, and without the lift KPIs: they
    compare a list's holdout groups, so only a list gives them a value
    (tests/funnel/test_kpi_lift_catalogue.py)."""
    return {item["id"]: item for item in result["kpis"] if item["id"] not in LIFT_IDS}


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_every_kpi_with_the_target_list_equals_the_default_cohorts(demo, definitions):
    target = target_list().pk
    # The demo has accounts joining and leaving inside these periods.
    assert ListMembership.objects.filter(list_id=target, left_on__isnull=False).exists()
    assert ListMembership.objects.filter(list_id=target, joined_on__gt=END.replace(year=2025))
    for period in PERIODS:
        for cohort in (None, "abm", "non_abm", "all"):
            plain = compute(period, Filters(cohort=cohort), definitions=definitions)
            listed = compute(
                period, Filters(cohort=cohort, list_id=target), definitions=definitions
            )
            assert listed["filters"]["list"] == target
            assert _values(listed) == _values(plain), (period, cohort)


@pytest.mark.django_db
def test_drilldowns_with_the_target_list_equal_the_default(demo):
    target = target_list().pk
    period = PERIODS[0]
    for kpi_id in ("target_accounts", "engaged_target_accounts", "won_accounts"):
        plain = set(drilldown(kpi_id, period).values_list("pk", flat=True))
        listed = drilldown(kpi_id, period, Filters(list_id=target)).values_list("pk", flat=True)
        assert set(listed) == plain, kpi_id


@pytest.mark.django_db
def test_the_list_costs_no_extra_query(demo):
    """The membership test is a subquery of each statement: same count as without it. The
    one more statement is the lift KPIs' source, which runs only when a list is named (their
    holdout groups' outcomes); without the lift KPIs the count is the same."""
    period = PERIODS[0]
    target = target_list().pk
    compute(period)  # the first computation under the version marks it used
    with CaptureQueriesContext(connection) as plain:
        compute(period)
    with CaptureQueriesContext(connection) as listed:
        compute(period, Filters(list_id=target))
    assert len(listed.captured_queries) == len(plain.captured_queries) + 1
    others = [spec.id for spec in catalogue(2) if spec.id not in LIFT_IDS]
    with CaptureQueriesContext(connection) as plain:
        compute(period, ids=others)
    with CaptureQueriesContext(connection) as listed:
        compute(period, Filters(list_id=target), ids=others)
    assert len(listed.captured_queries) == len(plain.captured_queries)


@pytest.mark.django_db
def test_a_static_list_is_the_abm_cohort_as_of_the_period_end():
    q1 = Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    a = AccountFactory(name="A")
    b = AccountFactory(name="B")
    c = AccountFactory(name="C", is_target=False)
    named = AccountList.objects.create(name="Product X")
    ListMembership.objects.create(account=a, list=named, joined_on=dt.date(2024, 1, 1))
    ListMembership.objects.create(  # left before the period end: not a member on 31 Mar
        account=b, list=named, joined_on=dt.date(2024, 1, 1), left_on=dt.date(2024, 3, 1)
    )
    ListMembership.objects.create(  # joined after the period end
        account=c, list=named, joined_on=dt.date(2024, 4, 1)
    )
    TouchFactory(account=a, kind="web_visit", occurred_at=when(dt.date(2024, 2, 1)))
    TouchFactory(account=c, kind="web_visit", occurred_at=when(dt.date(2024, 2, 2)))
    ids = ["target_accounts", "web_visits"]

    def values(filters: Filters) -> dict:
        return {i["id"]: i["value"] for i in compute(q1, filters, ids=ids)["kpis"]}

    # The list's members on 31 March: A only. A had one visit in the period.
    assert values(Filters(list_id=named.pk)) == {"target_accounts": 1, "web_visits": 1}
    # Non-members: B and C; C's visit counts.
    assert values(Filters(list_id=named.pk, cohort="non_abm")) == {
        "target_accounts": 2,
        "web_visits": 1,
    }
    # The target list by default: A and B (C is not a target); only A's visit counts.
    assert values(Filters()) == {"target_accounts": 2, "web_visits": 1}
    # As of 30 June, C has joined the list as well.
    q2 = Period(dt.date(2024, 4, 1), dt.date(2024, 6, 30))
    listed = compute(q2, Filters(list_id=named.pk), ids=["target_accounts"])["kpis"][0]
    assert listed["value"] == 2


@pytest.mark.django_db
def test_unknown_list_is_reported():
    assert unknown_filter_ids(Filters(list_id=999_999)) == {"list": [999_999]}
    with pytest.raises(ValueError, match="list"):
        Filters(list_id="x")


@pytest.mark.django_db
def test_kpis_command_takes_list():
    from io import StringIO

    from django.core.management import CommandError

    AccountFactory()
    out = StringIO()
    target = target_list().pk
    args = ["--from", "2024-01-01", "--to", "2024-03-31", "--kpi", "target_accounts", "--json"]
    call_command("kpis", *args, "--list", str(target), stdout=out)
    assert f'"list": {target}' in out.getvalue()
    with pytest.raises(CommandError, match="--list: no list has id 999999"):
        call_command("kpis", *args, "--list", "999999", stdout=StringIO())


@pytest.mark.django_db
def test_a_retargeted_account_is_a_target_exactly_in_its_intervals_by_default():
    """The default cohort reads the target list's intervals, not the account's current dates."""
    from accounts.services import account_update
    from funnel.history import stage_history_rebuild
    from funnel.models import AccountStageChange

    d = dt.date
    a = AccountFactory(name="A", targeted_on=d(2024, 1, 1))
    b = AccountFactory(name="B")  # always a target
    TouchFactory(account=a, kind="web_visit", occurred_at=when(d(2024, 2, 10)))
    account_update(a, is_target=False, untargeted_on=d(2024, 3, 1))
    account_update(a, is_target=True, targeted_on=d(2024, 6, 1))
    a.refresh_from_db()
    # The account's own fields now say "targeted since 1 June" only.
    assert (a.targeted_on, a.untargeted_on) == (d(2024, 6, 1), None)
    ids = ["target_accounts", "engaged_target_accounts"]

    def values(period: Period, **filters) -> dict:
        return {i["id"]: i["value"] for i in compute(period, Filters(**filters), ids=ids)["kpis"]}

    february = Period(d(2024, 2, 1), d(2024, 2, 29))
    april = Period(d(2024, 4, 1), d(2024, 4, 30))
    june = Period(d(2024, 6, 1), d(2024, 6, 30))
    # Feb 29: A in its first interval (with its visit of 10 Feb) and B.
    assert values(february) == {"target_accounts": 2, "engaged_target_accounts": 1}
    # Apr 30: A is in the gap (left 1 Mar, back 1 Jun): B only; A is non-ABM then.
    assert values(april) == {"target_accounts": 1, "engaged_target_accounts": 0}
    assert values(april, cohort="non_abm")["target_accounts"] == 1
    # Jun 30: both again; A's visit is outside June.
    assert values(june) == {"target_accounts": 2, "engaged_target_accounts": 0}
    target = target_list().pk
    for period in (february, april, june):
        assert values(period, list_id=target) == values(period), period
    assert set(drilldown("target_accounts", february).values_list("pk", flat=True)) == {a.pk, b.pk}
    # The stage history sees both intervals: target on 1 Jan, engaged on 10 Feb, off the
    # list (none) on 1 Mar, target again on 1 Jun.
    stage_history_rebuild(a.pk, a.pk, through=d(2024, 6, 30))
    changes = AccountStageChange.objects.filter(account=a).order_by("changed_on")
    assert list(changes.values_list("changed_on", "from_stage", "to_stage")) == [
        (d(2024, 1, 1), "none", "target"),
        (d(2024, 2, 10), "target", "engaged"),
        (d(2024, 3, 1), "engaged", "none"),
        (d(2024, 6, 1), "none", "target"),
    ]
