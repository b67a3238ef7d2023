"""The two ways of evaluating intent surge agree: the correlated subquery per signal
(``intent_surge``, for one account's rows) and the one-pass window (``surging_accounts``,
for the KPI engine over every account)."""

import datetime as dt
import random
from decimal import Decimal

import pytest

from accounts.models import Account
from engagement.models import IntentSignal
from engagement.scoring import intent_surge, surging_accounts
from tests.factories import AccountFactory

MONDAY = dt.date(2024, 1, 1)
START, END = dt.date(2024, 3, 1), dt.date(2024, 4, 30)


def correlated(competitor_only: bool) -> set[int]:
    flagged = Account.objects.annotate(s=intent_surge(START, END, competitor_only=competitor_only))
    return set(flagged.filter(s=True).values_list("pk", flat=True))


def windowed(competitor_only: bool) -> set[int]:
    return set(surging_accounts(START, END, competitor_only).values_list("account_id", flat=True))


@pytest.mark.django_db
def test_edges_of_the_baseline_window():
    def signal(account, week, score, source="", topic="analytics"):
        IntentSignal.objects.create(
            account=account, topic=topic, week=week, score=Decimal(score), source=source
        )

    reaches = AccountFactory()  # baseline 56 days before: in the 8 weeks, mean 10
    signal(reaches, dt.date(2024, 3, 4) - dt.timedelta(days=56), 10)
    signal(reaches, dt.date(2024, 3, 4), 20)
    too_old = AccountFactory()  # 57 days before (not a Monday, but a row): out, no baseline
    signal(too_old, dt.date(2024, 3, 4) - dt.timedelta(days=57), 1)
    signal(too_old, dt.date(2024, 3, 4), 20)
    same_week = AccountFactory()  # another source's score the same week is not a baseline
    signal(same_week, dt.date(2024, 3, 4), 1, source="a")
    signal(same_week, dt.date(2024, 3, 4), 20, source="b")
    other_topic = AccountFactory()  # the baseline is per topic
    signal(other_topic, dt.date(2024, 2, 26), 1, topic="crm")
    signal(other_topic, dt.date(2024, 3, 4), 20)

    assert windowed(False) == correlated(False) == {reaches.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_both_forms_agree_on_random_signals(seed):
    rng = random.Random(seed)  # noqa: S311 - test data
    accounts = [AccountFactory() for _ in range(25)]
    rows = set()
    for _ in range(600):
        account = rng.choice(accounts)
        topic = rng.choice(["analytics", "crm", "rival-x"])
        week = MONDAY + dt.timedelta(weeks=rng.randrange(0, 18))
        source = rng.choice(["", "bombora", "g2"])
        if (account.pk, topic, week, source) in rows:
            continue
        rows.add((account.pk, topic, week, source))
        IntentSignal.objects.create(
            account=account,
            topic=topic,
            is_competitor_topic=topic == "rival-x",
            week=week,
            source=source,
            score=Decimal(rng.choice([0, 1, 5, 10, 20, 35, 60])),
            provider_surge=rng.random() < 0.03,
        )
    for competitor_only in (False, True):
        assert windowed(competitor_only) == correlated(competitor_only)
    assert windowed(False)  # the data do surge
