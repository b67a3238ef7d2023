"""Score breakdowns (issue 20 item 1): each score by signal, from the score's own definition.

One small account, as of D = 2024-03-31 (windows end at 2024-04-01 00:00), default
definitions (engagement and relationship windows 90 days: from 2024-01-02 00:00;
relationship half-life 30 days, full scale 60 points; research: recent 7 days from
2024-03-25 00:00, baseline the 8 weeks before, from 2024-01-29 00:00).

Touches, hand-computed:
  meeting        2024-03-02 00:00  age 30 d: decay 0.5   rel 8 x 0.5 = 4 points   eng 10
  email_reply x2 2024-02-01 00:00  age 60 d: decay 0.25  rel 2 x 3 x 0.25 = 1.5   eng 2 x 5 = 10
  form_fill x2   2024-03-30                                                       eng 2 x 8 = 16
  email_open x3  2024-03-31                                                       eng 3 x 0.5 = 1.5
  call_connected 2024-01-01 12:00  outside both windows (rel 5, eng 6 if it counted)
  web_visit: recent (2024-03-28) 2 x /pricing (high value) + 1 x /docs, 1 minute each;
             baseline (2024-02-10) 8 x /blog, 1 minute each;
             2024-01-20 1 x /pricing: outside the research window, inside engagement's
                                                                                  eng 12 x 1 = 12
Engagement  = 10 + 10 + 16 + 1.5 + 12 = 49.5
Relationship = (4 + 1.5) points x 100 / 60 = 9.1666..: meeting 6.666.., email_reply 2.5
Research: high-value visits recent 2 / max(0 / 8, 1) = 2.0; distinct pages 2 / max(1/8, 1)
  = 2.0; minutes 3 / max(8 / 8, 1) = 3.0. Strongest 3.0 reaches 1.5 and 2.5, not 4.0: grade 2.
"""

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import Account
from engagement.selectors import (
    engagement_score,
    relationship_score,
    research_grade,
    score_breakdowns,
)
from funnel.definitions import definitions_resolve
from funnel.models import AccountSnapshot
from funnel.snapshots import account_snapshots_upsert
from tests.factories import AccountFactory, HighValuePageFactory, TouchFactory, at

D = dt.date(2024, 3, 31)
SITE = "https://acme.example"

pytestmark = pytest.mark.django_db


def make_account() -> Account:
    """The account of the module docstring."""
    account = AccountFactory()
    HighValuePageFactory(url_pattern="/pricing")

    def touch(kind, day, hour=12, n=1, **kw):
        for _ in range(n):
            TouchFactory(account=account, kind=kind, occurred_at=at(day, hour), **kw)

    touch("meeting", dt.date(2024, 3, 2), hour=0)
    touch("email_reply", dt.date(2024, 2, 1), hour=0, n=2)
    touch("form_fill", dt.date(2024, 3, 30), n=2)
    touch("email_open", dt.date(2024, 3, 31), n=3)
    touch("call_connected", dt.date(2024, 1, 1))
    minute = {"engagement_minutes": Decimal("1")}
    touch("web_visit", dt.date(2024, 3, 28), n=2, url=f"{SITE}/pricing", **minute)
    touch("web_visit", dt.date(2024, 3, 28), url=f"{SITE}/docs", **minute)
    touch("web_visit", dt.date(2024, 2, 10), n=8, url=f"{SITE}/blog", **minute)
    touch("web_visit", dt.date(2024, 1, 20), url=f"{SITE}/pricing", **minute)
    AccountFactory()  # another account's scores never leak in
    return account


def parts(breakdown) -> dict[str, tuple]:
    return {
        p.kind: (p.count, p.weight, round(p.decay, 6), round(p.contribution, 6))
        for p in breakdown.parts
    }


def test_engagement_breakdown_by_kind():
    account = make_account()
    b = score_breakdowns(account.pk, D)["engagement_score"]
    assert parts(b) == {
        "form_fill": (2, 8.0, 1.0, 16.0),
        "web_visit": (12, 1.0, 1.0, 12.0),
        "meeting": (1, 10.0, 1.0, 10.0),
        "email_reply": (2, 5.0, 1.0, 10.0),
        "email_open": (3, 0.5, 1.0, 1.5),
    }
    assert [p.kind for p in b.parts][:2] == ["form_fill", "web_visit"]  # largest first
    assert b.total == pytest.approx(49.5)
    assert b.window_start == at(dt.date(2024, 1, 2), 0)
    assert b.window_end == at(dt.date(2024, 4, 1), 0)
    assert b.cap is None


def test_relationship_breakdown_decays_and_scales():
    account = make_account()
    b = score_breakdowns(account.pk, D)["relationship_score"]
    assert parts(b) == {
        "meeting": (1, 8.0, 0.5, round(4 * 100 / 60, 6)),
        "email_reply": (2, 3.0, 0.25, 2.5),
    }
    assert b.total == pytest.approx(5.5 * 100 / 60)
    assert b.scale == pytest.approx(100 / 60)
    # count x weight x decay x scale is the contribution, kind by kind
    for p in b.parts:
        assert p.count * p.weight * p.decay * b.scale == pytest.approx(p.contribution)


def test_relationship_breakdown_is_capped_like_the_score():
    account = AccountFactory()
    for _ in range(10):  # 10 x 8 points, no decay to speak of: 80 points > full scale 60
        TouchFactory(account=account, kind="meeting", occurred_at=at(D, 23))
    b = score_breakdowns(account.pk, D)["relationship_score"]
    assert b.total == 100.0
    assert b.uncapped > 100.0
    value = Account.objects.filter(pk=account.pk).values_list(relationship_score(D), flat=True)[0]
    assert value == pytest.approx(b.total)


def test_research_breakdown_by_measure():
    account = make_account()
    b = score_breakdowns(account.pk, D)["research_grade"]
    got = {m.measure: (m.recent, m.baseline, round(m.ratio, 6)) for m in b.measures}
    assert got == {
        "high_value_visits": (2.0, 0.0, 2.0),
        "distinct_pages": (2.0, 1.0, 2.0),
        "engagement_minutes": (3.0, 8.0, 3.0),
    }
    assert b.strongest == pytest.approx(3.0)
    assert b.thresholds == [1.5, 2.5, 4.0]
    assert b.total == 2
    assert (b.window_start, b.split, b.window_end) == (
        at(dt.date(2024, 1, 29), 0),
        at(dt.date(2024, 3, 25), 0),
        at(dt.date(2024, 4, 1), 0),
    )


def test_no_touches_breaks_down_to_zero():
    account = AccountFactory()
    scores = score_breakdowns(account.pk, D)
    assert scores["engagement_score"].parts == [] and scores["engagement_score"].total == 0
    assert scores["relationship_score"].total == 0
    assert scores["research_grade"].total == 0


def test_totals_equal_the_snapshot_and_the_engine_expressions():
    """The breakdown's totals are what the nightly snapshot writes (rounded to cents)
    and what the score expressions annotate, for the same account, date and version."""
    account = make_account()
    params = definitions_resolve().params
    scores = score_breakdowns(account.pk, D, params)
    account_snapshots_upsert(D, account.pk, account.pk)
    snap = AccountSnapshot.objects.get(account=account, date=D)
    assert snap.engagement_score == Decimal("49.50")
    assert snap.engagement_score == round(Decimal(scores["engagement_score"].total), 2)
    assert snap.relationship_score == Decimal("9.17")
    assert snap.relationship_score == round(Decimal(scores["relationship_score"].total), 2)
    assert snap.research_grade == scores["research_grade"].total == 2
    engine = Account.objects.filter(pk=account.pk).values(
        e=engagement_score(D, params=params),
        r=relationship_score(D, params=params),
        g=research_grade(D, params=params),
    )[0]
    assert engine["e"] == pytest.approx(scores["engagement_score"].total)
    assert engine["r"] == pytest.approx(scores["relationship_score"].total)
    assert engine["g"] == scores["research_grade"].total


def test_breakdown_follows_the_definitions_version_params():
    account = make_account()
    params = dict(definitions_resolve().params)
    params["engagement_weights"] = {**params["engagement_weights"], "form_fill": 20.0}
    params["engagement_window_days"] = 1  # only 2024-03-31: the three email opens
    b = score_breakdowns(account.pk, D, params)["engagement_score"]
    assert parts(b) == {"email_open": (3, 0.5, 1.0, 1.5)}
    params["engagement_window_days"] = 2  # and 2024-03-30: two form fills at the new 20
    b = score_breakdowns(account.pk, D, params)["engagement_score"]
    assert parts(b)["form_fill"] == (2, 20.0, 1.0, 40.0)
    value = Account.objects.filter(pk=account.pk).values_list(
        engagement_score(D, params=params), flat=True
    )[0]
    assert value == pytest.approx(b.total) == 41.5


def test_one_query_per_score(django_assert_num_queries):
    account = make_account()
    params = definitions_resolve().params
    with django_assert_num_queries(4):  # the high-value patterns, then one per score
        score_breakdowns(account.pk, D, params)
    pinned = {**params, "high_value_patterns": ["%/pricing%"]}
    with django_assert_num_queries(3):
        assert score_breakdowns(account.pk, D, pinned)["research_grade"].total == 2


def test_every_demo_account_breaks_down_to_its_snapshot():
    """Issue 20 "done when": for every account of a (small) demo, the contributions add up
    to the score (below the cap) and each total is the snapshot's score for the day."""
    from io import StringIO

    from django.core.management import call_command

    end = dt.date(2026, 6, 30)
    args = ["--accounts", "60", "--touches", "3000", "--end-date", end.isoformat()]
    call_command("seed_demo", *args, stdout=StringIO(), stderr=StringIO())
    ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    account_snapshots_upsert(end, ids[0], ids[-1])
    params = definitions_resolve().params
    snaps = {s.account_id: s for s in AccountSnapshot.objects.filter(date=end)}
    assert len(snaps) == len(ids) == 60
    nonzero = {"engagement_score": 0, "relationship_score": 0, "research_grade": 0}
    for pk in ids:  # a test's loop: the breakdown is for one account at a time
        scores = score_breakdowns(pk, end, params)
        snap = snaps[pk]
        for name in ("engagement_score", "relationship_score"):
            b = scores[name]
            assert b.uncapped == pytest.approx(sum(p.contribution for p in b.parts))
            assert b.total == pytest.approx(min(b.uncapped, b.cap or b.uncapped))
            assert round(Decimal(b.total), 2) == getattr(snap, name), (pk, name)
            nonzero[name] += b.total > 0
        assert scores["research_grade"].total == snap.research_grade, pk
        nonzero["research_grade"] += snap.research_grade > 0
    assert all(n > 0 for n in nonzero.values()), nonzero  # the check is not vacuous
