"""Sets several facts read are computed once per statement (#18): ``InShared`` inside
``shared_sets`` reads one ``WITH ... AS MATERIALIZED`` set, and means what the inlined
subquery means everywhere else."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count, F, Q

from abm_site.db import InShared, shared_sets
from accounts.models import Account
from engagement.models import IntentSignal
from engagement.scoring import surging_signals
from funnel.kpis import Period, compute
from tests.conftest import postgresql_only
from tests.factories import AccountFactory

START, END = dt.date(2024, 3, 1), dt.date(2024, 4, 30)


def _signals():
    """Three accounts: one surging on a competitor topic, one on another topic, one quiet."""
    rival, other, quiet = AccountFactory(), AccountFactory(), AccountFactory()
    for account, topic, competitor in ((rival, "rival-x", True), (other, "crm", False)):
        IntentSignal.objects.create(
            account=account,
            topic=topic,
            week=dt.date(2024, 3, 4),
            score=Decimal(50),
            provider_surge=True,
            is_competitor_topic=competitor,
        )
    IntentSignal.objects.create(
        account=quiet, topic="crm", week=dt.date(2024, 3, 4), score=Decimal(0)
    )
    return rival, other, quiet


def _counts() -> dict:
    rows = surging_signals(START, END)
    return Account.objects.aggregate(
        surging=Count("pk", filter=Q(InShared(F("pk"), rows))),
        competitor=Count("pk", filter=Q(InShared(F("pk"), rows, flag="is_competitor_topic"))),
    )


@pytest.mark.django_db
def test_shared_and_inlined_sets_agree_and_the_shared_one_is_computed_once():
    rival, other, _quiet = _signals()
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    inlined = _counts()
    with shared_sets(), connection.execute_wrapper(record):
        shared = _counts()

    assert inlined == shared == {"surging": 2, "competitor": 1}
    (sql,) = statements
    assert sql.startswith("WITH ")
    assert sql.count("AS MATERIALIZED") == 1  # both conditions read the one set
    assert sql.count('"engagement_intentsignal"') == 1  # one pass over the signals
    # Outside shared_sets the set is inlined in each condition: same numbers, no WITH.
    rows = surging_signals(START, END)
    flagged = Account.objects.filter(InShared(F("pk"), rows, flag="is_competitor_topic"))
    assert list(flagged.values_list("pk", flat=True)) == [rival.pk]
    assert other.pk in set(
        Account.objects.filter(InShared(F("pk"), rows)).values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_the_catalogue_passes_over_intent_signals_once():
    _signals()
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    from funnel.kpis import measures

    original = measures.shared_sets

    def recording_shared_sets(using):  # the recorder inside, where the WITH is attached
        from contextlib import ExitStack

        stack = ExitStack()
        stack.enter_context(original(using))
        stack.enter_context(connection.execute_wrapper(record))
        return stack

    measures.shared_sets = recording_shared_sets
    try:
        result = compute(Period(START, END), ids=["intent_surging_accounts", "at_risk_customers"])
    finally:
        measures.shared_sets = original
    assert [item["id"] for item in result["kpis"]] == [
        "intent_surging_accounts",
        "at_risk_customers",
    ]
    reading = [sql for sql in statements if "engagement_intentsignal" in sql]
    assert len(reading) == 1
    assert reading[0].count('"engagement_intentsignal"') == 1


@postgresql_only  # DISTINCT ON, and sets materialized only there
@pytest.mark.django_db
def test_a_materialized_set_is_not_sorted_and_an_inlined_or_distinct_on_one_keeps_its_order():
    """A set ``IN`` reads as a hash needs no ORDER BY (touches sort newest first by
    default: a wasted sort of every program's touches per statement); inlined, the order
    stays (it keeps PostgreSQL from pulling the set up), and so does a DISTINCT ON's."""
    from engagement.models import Touch
    from tests.factories import TouchFactory, at

    first, second, untouched = AccountFactory(), AccountFactory(), AccountFactory()
    for account, day in ((first, dt.date(2024, 3, 2)), (second, dt.date(2024, 3, 9))):
        TouchFactory(account=account, occurred_at=at(day))
    newest_first = Touch.objects.filter(occurred_at__gte=at(START)).values("account_id")
    latest_per_account = (
        Touch.objects.order_by("account_id", "-occurred_at")
        .distinct("account_id")
        .values("account_id")
    )
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def touched(rows) -> set[int]:
        accounts = Account.objects.order_by().filter(InShared(F("pk"), rows))
        return set(accounts.values_list("pk", flat=True))

    with connection.execute_wrapper(record):
        inlined = touched(newest_first)
    # Inside shared_sets, seen as sent (the sets attached).
    with shared_sets(), connection.execute_wrapper(record):
        shared = touched(newest_first)
        shared_distinct = touched(latest_per_account)

    assert inlined == shared == shared_distinct == {first.pk, second.pk}
    assert untouched.pk not in shared
    inlined_sql, shared_sql, distinct_sql = statements
    assert "ORDER BY" in inlined_sql
    assert "AS MATERIALIZED" in shared_sql and "ORDER BY" not in shared_sql
    assert "DISTINCT ON" in distinct_sql and "ORDER BY" in distinct_sql
