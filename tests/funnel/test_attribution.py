"""Multi-touch attribution (issue 14): hand-computed credits per model, and reconciliation.

Each fixture is one opportunity of one target account in March 2024; programs are
created in order, so ``p1.pk < p2.pk < p3.pk``. Expected credits are worked out in the
comments; the engine's rounding is whole cents by largest remainder, ties to the lowest
program id.
"""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.kpis import Filters, Period, compute, drilldown
from funnel.kpis.attribution import (
    MODELS,
    UnknownModel,
    opportunity_attribution,
    program_attribution,
)
from tests.factories import ProgramFactory, TierFactory

from .kpi_fixtures import MARCH, day, non_target, opp, target, touch, won

D = Decimal


@pytest.fixture
def programs(db):
    return ProgramFactory(name="P1"), ProgramFactory(name="P2"), ProgramFactory(name="P3")


def credits(opportunity, model: str, basis: str = "pipeline") -> dict:
    """program id (None: no program) -> credited amount, for one basis."""
    rows = opportunity_attribution(opportunity, model)
    return {c.program_id: c.amount for c in rows if c.basis == basis}


def split(opportunity, model: str) -> dict:
    """program id -> (pre, post) of the revenue credit."""
    rows = opportunity_attribution(opportunity, model)
    return {c.program_id: (c.pre, c.post) for c in rows if c.basis == "revenue"}


def by(programs, *amounts) -> dict:
    """{p1.pk: amounts[0], ...} leaving out None."""
    return {p.pk: D(a) for p, a in zip(programs, amounts, strict=False) if a is not None}


# --- a journey: three touches before creation, one after -----------------------------------


@pytest.fixture
def journey(programs):
    """Created 20 March, won 28 March, 1000.00.

    t1 p1 1 March, t2 p2 10 March, t3 p3 20 March 09:00 (the creation day: before
    creation), t4 p2 25 March (after creation). Not touches of attribution: an ad
    impression of p1 (not engagement) and a web visit without a program.
    """
    p1, p2, p3 = programs
    account = target()
    touch(account, "web_visit", day(1), program=p1)
    touch(account, "form_fill", day(10), program=p2)
    touch(account, "meeting", day(20), hour=9, program=p3)
    touch(account, "email_reply", day(25), program=p2)
    touch(account, "ad_impression", day(15), program=p1)
    touch(account, "web_visit", day(16))
    return won(account, day(28), amount=1000, created_on=day(20))


@pytest.mark.parametrize(
    ("model", "pipeline", "revenue"),
    [
        # Pipeline sees t1, t2, t3; revenue t1..t4.
        ("first", ("1000", None, None), ("1000", None, None)),
        ("last", (None, None, "1000"), (None, "1000", None)),
        # 1000 / 3 = 333.33 + 1 cent left, remainders equal: to p1. Revenue: 4 x 250.
        ("linear", ("333.34", "333.33", "333.33"), ("250", "500", "250")),
        # 40 / 20 / 40. Revenue: t1 40, t4 40, t2 and t3 10 each -> p2 50, p3 10.
        ("u_shaped", ("400", "200", "400"), ("400", "500", "100")),
        # Pipeline has no close milestone: first (t1) 3, last before creation (t3) 3, rest
        # (t2) 1 -> 3/7 = 428.5714 (428.57, floor 42857), 1/7 = 142.857 (floor 14285);
        # 1 cent left, largest remainder .857 -> p2 142.86.
        # Revenue: t1 30, t3 (last before creation) 30, t4 (last) 30, t2 10.
        ("w_shaped", ("428.57", "142.86", "428.57"), ("300", "400", "300")),
        # Half-life 7: ages 19, 10, 0 days: weights .152377, .371499, 1 (sum 1.523875):
        # 99.99 (9999.29 cents), 243.78|54, 656.22|17 -> the cent to p2: 243.79.
        # Revenue ages 27, 18, 8, 3: p1 4815.12, p2 11739.40 + 51845.37 = 63584.77,
        # p3 31600.11 cents -> 48.15, 635.84|77 + cent = 635.85, 316.00.
        ("time_decay", ("99.99", "243.79", "656.22"), ("48.15", "635.85", "316.00")),
    ],
)
def test_journey_per_model(journey, programs, model, pipeline, revenue):
    assert credits(journey, model) == by(programs, *pipeline)
    assert credits(journey, model, "revenue") == by(programs, *revenue)
    assert sum(credits(journey, model, "revenue").values()) == D("1000.00")


def test_pre_and_post_opportunity_split(journey, programs):
    p1, p2, p3 = programs
    # W-shaped revenue: p2 earns 10 % by t2 (before creation) and 30 % by t4 (after).
    assert split(journey, "w_shaped") == {
        p1.pk: (D("300"), D("0")),
        p2.pk: (D("100"), D("300")),
        p3.pk: (D("300"), D("0")),  # t3 on the creation day counts before it
    }
    assert split(journey, "last") == {p2.pk: (D("0"), D("1000"))}


# --- edge cases -------------------------------------------------------------------------


def test_single_touch_gets_everything_under_every_model(programs):
    p1 = programs[0]
    account = target()
    touch(account, "web_visit", day(5), program=p1)
    deal = won(account, day(28), amount="123.45", created_on=day(20))
    for model in MODELS:
        assert credits(deal, model) == {p1.pk: D("123.45")}, model
        assert credits(deal, model, "revenue") == {p1.pk: D("123.45")}, model


def test_ties_at_the_same_instant_share_the_position(programs):
    p1, p2, p3 = programs
    account = target()
    # Created in reverse program order: the touch ids do not decide anything.
    touch(account, "web_visit", day(10), program=p2)
    touch(account, "web_visit", day(10), program=p1)
    touch(account, "form_fill", day(15), program=p3)
    deal = opp(account, amount=100, created_on=day(20))
    assert credits(deal, "first") == by(programs, 50, 50)
    assert credits(deal, "last") == {p3.pk: D(100)}
    # U: first instant 40 (p1, p2 20 each), last 40 (p3); no middle, so renormalised:
    # 25 / 25 / 50.
    assert credits(deal, "u_shaped") == by(programs, 25, 25, 50)


def test_three_way_tie_rounds_the_cent_to_the_lowest_program_id(programs):
    p1, p2, p3 = programs
    account = target()
    for program in (p3, p2, p1):
        touch(account, "web_visit", day(10), program=program)
    deal = opp(account, amount=100, created_on=day(20))
    for model in MODELS:  # one instant: every model splits it in three
        assert credits(deal, model) == by(programs, "33.34", "33.33", "33.33"), model


def test_lookback_window_and_creation_day(programs):
    p1, p2, p3 = programs
    account = target()
    created = day(20)
    # 90 days before creation is in the window, 91 is not; the creation day itself (late
    # evening) is in; the day after creation is not, for the pipeline.
    touch(account, "web_visit", created - dt.timedelta(days=91), program=p3)
    touch(account, "web_visit", created - dt.timedelta(days=90), program=p1)
    touch(account, "web_visit", created, hour=23, program=p2)
    touch(account, "web_visit", day(21), program=p3)
    deal = opp(account, amount=100, created_on=created)
    assert credits(deal, "first") == {p1.pk: D(100)}
    assert credits(deal, "last") == {p2.pk: D(100)}
    assert credits(deal, "linear") == by(programs, 50, 50)


def test_lookback_is_a_definitions_parameter(programs, settings):
    from funnel.definitions import definitions_derive, definitions_resolve

    p1, p2, _ = programs
    account = target()
    touch(account, "web_visit", day(1), program=p1)
    touch(account, "web_visit", day(15), program=p2)
    deal = opp(account, amount=100, created_on=day(20))
    short = definitions_derive(
        definitions_resolve("v2"), name="v2-short", params={"attribution_lookback_days": 10}
    )
    rows = opportunity_attribution(deal, "first", definitions=short)
    assert {c.program_id: c.amount for c in rows} == {p2.pk: D(100)}
    with pytest.raises(ValueError, match="attribution_model 'pie'"):
        definitions_derive(short, name="bad", params={"attribution_model": "pie"})


def test_w_shaped_with_fewer_milestones(programs):
    p1, p2, p3 = programs
    account = target()
    # Every touch after creation: no "last touch before creation" milestone. First (p1)
    # and last (p3) weigh 3 each, the rest (p2) 1: 3/7, 1/7, 3/7 of 1000.
    touch(account, "web_visit", day(22), program=p1)
    touch(account, "web_visit", day(24), program=p2)
    touch(account, "web_visit", day(26), program=p3)
    deal = won(account, day(28), amount=1000, created_on=day(20))
    assert credits(deal, "w_shaped", "revenue") == by(programs, "428.57", "142.86", "428.57")
    assert all(pre == 0 for pre, _ in split(deal, "w_shaped").values())
    # No creation day known: the same two milestones, and no pipeline credit at all.
    undated = won(target(), day(28), amount=1000)
    for n, program in zip((22, 24, 26), programs, strict=True):
        touch(undated.account, "web_visit", day(n), program=program)
    assert credits(undated, "w_shaped") == {}
    assert credits(undated, "w_shaped", "revenue") == by(programs, "428.57", "142.86", "428.57")
    # One touch: all of it; two instants: 50/50.
    solo = won(target(), day(28), amount=10, created_on=day(20))
    touch(solo.account, "web_visit", day(22), program=p2)
    assert credits(solo, "w_shaped", "revenue") == {p2.pk: D(10)}
    pair = won(target(), day(28), amount=10, created_on=day(20))
    touch(pair.account, "web_visit", day(18), program=p1)
    touch(pair.account, "web_visit", day(22), program=p2)
    assert credits(pair, "w_shaped", "revenue") == by(programs, 5, 5)
    assert credits(pair, "w_shaped") == {p1.pk: D(10)}


def test_no_program_touch_credits_no_program(programs):
    account = target()
    touch(account, "web_visit", day(10))  # no program
    touch(account, "ad_impression", day(10), program=programs[0])  # not engagement
    deal = won(account, day(28), amount="99.99", created_on=day(20))
    for model in MODELS:
        assert credits(deal, model) == {None: D("99.99")}
        assert split(deal, model) == {None: (D(0), D("99.99"))}


def test_unknown_model_names_the_choices(db):
    with pytest.raises(UnknownModel, match="use one of first, last"):
        program_attribution(MARCH, model="pie")


# --- reconciliation with the pipeline and revenue KPIs ---------------------------------------


@pytest.fixture
def world(db):
    """40 accounts (targets and not, two tiers), 5 programs, random touches and deals."""
    rng = random.Random(14)
    tiers = [TierFactory(), TierFactory()]
    programs = [ProgramFactory() for _ in range(5)]
    start = dt.date(2023, 12, 1)
    kinds = ("web_visit", "form_fill", "meeting", "ad_impression", "email_open")
    for i in range(40):
        account = (target if i % 4 else non_target)(tier=tiers[i % 2])
        for _ in range(rng.randint(0, 12)):
            touch(
                account,
                rng.choice(kinds),
                start + dt.timedelta(days=rng.randint(0, 150)),
                hour=rng.choice((9, 12, 12, 17)),
                program=rng.choice([*programs, None]),
            )
        for _ in range(rng.randint(0, 3)):
            created = start + dt.timedelta(days=rng.randint(30, 140))
            amount = D(rng.randint(1, 10_000_000)) / 100
            status = rng.choice(("open", "won", "won", "lost"))
            closed = created + dt.timedelta(days=rng.randint(0, 40)) if status != "open" else None
            opp(
                account,
                amount=amount,
                status=status,
                created_on=created if rng.random() > 0.1 else None,
                closed_on=closed,
                type=rng.choice(("new_business", "new_business", "expansion")),
            )
    return tiers, programs


def _kpi_totals(period, filters):
    items = {
        i["id"]: i
        for i in compute(period, filters, ids=["influenced_pipeline_share", "new_revenue_won"])[
            "kpis"
        ]
    }
    pipeline = D(str(items["influenced_pipeline_share"]["denominator"])).quantize(D("0.01"))
    revenue = D(str(items["new_revenue_won"]["value"])).quantize(D("0.01"))
    return pipeline, revenue


def test_credits_reconcile_with_pipeline_and_revenue_for_every_model(world):
    tiers, programs = world
    periods = [
        Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        MARCH,
        Period(dt.date(2023, 12, 1), dt.date(2024, 6, 30)),
    ]
    filter_sets = [
        Filters(),
        Filters(cohort="all"),
        Filters(tier=(tiers[0].pk,)),
        Filters(program=(programs[0].pk, programs[2].pk), cohort="all"),
    ]
    checked = 0
    for period in periods:
        for filters in filter_sets:
            pipeline, revenue = _kpi_totals(period, filters)
            for model in MODELS:
                result = program_attribution(period, filters, model)
                assert result.total("pipeline") == pipeline, (period, filters, model)
                assert result.total("revenue") == revenue, (period, filters, model)
                for row in result.programs.values():
                    assert row.revenue_pre + row.revenue_post == row.revenue
                checked += pipeline > 0 and revenue > 0
    assert checked >= 6 * 6  # most combinations have money on both sides


def test_one_statement_per_model(world):
    period = Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    program_attribution(period, model="linear")  # resolves the definitions version once
    with CaptureQueriesContext(connection) as captured:
        program_attribution(period, model="w_shaped")
    # The definitions version (1), then one statement for all opportunities of both bases.
    assert len(captured.captured_queries) == 2, [q["sql"][:80] for q in captured]


def test_a_program_with_no_touches_in_the_window_has_no_credit(world):
    idle = ProgramFactory(name="Idle")
    result = program_attribution(
        Period(dt.date(2023, 12, 1), dt.date(2024, 6, 30)), Filters(cohort="all")
    )
    assert idle.pk not in result.programs
    assert result.total("pipeline", (idle.pk,)) == 0


# --- the KPIs (definitions version 2 only) ----------------------------------------------------


def _items(filters=None, definitions=None, ids=None, period=MARCH):
    ids = ids or [
        "program_reached_accounts",
        "program_engaged_accounts",
        "attributed_pipeline",
        "cost_per_attributed_opportunity",
        "attributed_revenue",
        "attribution_roi",
    ]
    result = compute(period, filters or Filters(), ids=ids, definitions=definitions)
    return {i["id"]: i for i in result["kpis"]}


def test_attribution_kpis_follow_the_program_filter(journey, programs):
    from tests.factories import SpendFactory

    p1, p2, p3 = programs
    SpendFactory(program=p2, spent_on=day(5), amount=D("200.00"))
    SpendFactory(program=p1, spent_on=day(5), amount=D("50.00"))
    reached_only = target()  # an ad impression of p3 reaches the account, no engagement
    touch(reached_only, "ad_impression", day(12), program=p3)
    idle = ProgramFactory(name="Idle")

    every = _items()  # v2 is the default; its model is W-shaped
    assert every["attributed_pipeline"]["value"] == 1000.0  # all three programs
    assert every["attributed_pipeline"]["count"] == 1
    assert every["attributed_revenue"]["value"] == 1000.0
    assert every["attribution_roi"]["value"] == 4.0  # 1000 / 250 spend
    assert every["cost_per_attributed_opportunity"]["value"] == 250.0  # 250 / 1
    assert every["program_reached_accounts"]["value"] == 2
    assert every["program_engaged_accounts"]["value"] == 1
    assert "W-shaped (30/30/30/10)" in every["attributed_pipeline"]["definition"]

    only_p2 = _items(Filters(program=(p2.pk,)))
    assert only_p2["attributed_pipeline"]["value"] == 142.86  # the 1/7 of the pipeline
    assert only_p2["attributed_revenue"]["value"] == 400.0  # 10 % + 30 %
    assert only_p2["attribution_roi"]["value"] == 2.0  # 400 / 200
    assert only_p2["cost_per_attributed_opportunity"]["value"] == 200.0
    assert only_p2["program_engaged_accounts"]["value"] == 1

    only_p3 = _items(Filters(program=(p3.pk,)))
    assert only_p3["program_reached_accounts"]["value"] == 2  # an impression reaches
    assert only_p3["program_engaged_accounts"]["value"] == 1
    assert drilldown("program_reached_accounts", MARCH, Filters(program=(p3.pk,))).count() == 2

    nothing = _items(Filters(program=(idle.pk,)))
    assert nothing["attributed_pipeline"]["value"] == 0.0
    assert nothing["program_engaged_accounts"]["value"] == 0
    assert nothing["program_reached_accounts"]["value"] == 0
    assert nothing["attribution_roi"]["value"] is None  # no spend


def test_attribution_kpis_use_the_versions_model(journey, programs):
    from funnel.definitions import definitions_derive, definitions_resolve

    first = definitions_derive(
        definitions_resolve("v2"), name="v2-first", params={"attribution_model": "first"}
    )
    p1 = programs[0]
    items = _items(Filters(program=(p1.pk,)), definitions=first)
    assert items["attributed_pipeline"]["value"] == 1000.0
    assert "first-touch" in items["attributed_pipeline"]["definition"]


def test_attribution_kpis_are_version_2_only(journey):
    from funnel.kpis import UnknownKpi

    with pytest.raises(UnknownKpi, match="generation 1"):
        compute(MARCH, Filters(), ids=["attributed_revenue"], definitions="v1")
    ids = {i["id"] for i in compute(MARCH, Filters(), definitions="v1")["kpis"]}
    assert not ids & {"attributed_pipeline", "program_reached_accounts", "attribution_roi"}


def test_attributed_kpis_plus_no_program_reconcile(world):
    period = Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    items = _items(ids=["attributed_pipeline", "attributed_revenue"], period=period)
    pipeline, revenue = _kpi_totals(period, Filters())
    result = program_attribution(period)
    none = result.programs.get(None)
    assert D(str(items["attributed_pipeline"]["value"])) + none.pipeline == pipeline
    assert D(str(items["attributed_revenue"]["value"])) + none.revenue == revenue


def test_credits_reconcile_on_the_demo_data(db):
    """The demo (a small seed): every model, three periods, filters by tier, owner and
    cohort; programs + no program = pipeline and revenue, to the cent."""
    from io import StringIO

    from django.core.management import call_command

    from accounts.models import Owner, Tier

    end = dt.date(2024, 6, 30)
    call_command(
        "seed_demo",
        "--accounts",
        "120",
        "--touches",
        "8000",
        "--end-date",
        end.isoformat(),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    tier = Tier.objects.order_by("rank").first()
    owner = Owner.objects.order_by("pk").first()
    periods = [
        Period(end - dt.timedelta(days=89), end),
        Period(end - dt.timedelta(days=364), end),
        Period(dt.date(2024, 4, 1), dt.date(2024, 4, 30)),
    ]
    filter_sets = [Filters(), Filters(cohort="all"), Filters(tier=(tier.pk,), owner=(owner.pk,))]
    money = credited = 0
    for period in periods:
        for filters in filter_sets:
            pipeline, revenue = _kpi_totals(period, filters)
            money += pipeline + revenue
            for model in MODELS:
                result = program_attribution(period, filters, model)
                assert result.total("pipeline") == pipeline, (period, filters, model)
                assert result.total("revenue") == revenue, (period, filters, model)
                credited += result.selected.pipeline + result.selected.revenue
    assert money > 0 and credited > 0  # programs do get credit on the demo


def test_without_postgresql_the_attributed_kpis_say_so_instead_of_zero(
    journey, programs, monkeypatch, client, viewer
):
    """The embedded SQLite database (``make run``'s default) cannot run the attribution
    statement: the KPIs are unknown and say why, never a 0.0 return or "n = 0"."""
    from funnel.kpis import attribution
    from tests.factories import SpendFactory

    SpendFactory(program=programs[0], spent_on=day(5), amount=D("50.00"))
    monkeypatch.setattr(attribution, "available", lambda: False)
    items = _items()
    for kpi_id in (
        "attributed_pipeline",
        "attributed_revenue",
        "attribution_roi",
        "cost_per_attributed_opportunity",
    ):
        assert items[kpi_id]["value"] is None, kpi_id
        assert items[kpi_id]["reason"].startswith("Attribution needs PostgreSQL"), kpi_id
        assert "count" not in items[kpi_id] and "numerator" not in items[kpi_id], kpi_id
    assert items["program_reached_accounts"]["value"] == 1  # plain counts still work
    assert "reason" not in items["program_reached_accounts"]

    from tests.conftest import token_client

    api = token_client(viewer).get("/api/v1/kpis/attribution_roi/?from=2024-03-01&to=2024-03-31")
    assert api.json()["kpis"][0]["reason"].startswith("Attribution needs PostgreSQL")
    client.force_login(viewer)
    html = client.get("/stages/4/?from=2024-03-01&to=2024-03-31").content.decode()
    card = html[html.index('id="kpi-attribution_roi"') :]
    card = card[: card.index("</article>")]
    assert "Attribution needs PostgreSQL" in card
    assert "not enough snapshots" not in card
