"""KPIS.md "Definitions version 2": its common rules and changed KPIs, against hand-built worlds.

Each test computes one tiny world under both versions where they differ (``definitions=
"v1"`` / ``"v2"``), so the difference is stated by the numbers. Period March 2024 unless
a test says otherwise; hand-computed expectations in the comments.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnel.definitions import definitions_derive, definitions_resolve
from funnel.kpis import Filters, Period, catalogue, compute, drilldown
from funnel.kpis.context import Context
from funnel.kpis.sources.spend import spend_allocated, spend_allocated_grouped
from funnel.models import DefinitionsVersion
from tests.conftest import postgresql_only
from tests.factories import (
    AccountFactory,
    AccountStageChangeFactory,
    NpsResponseFactory,
    OpportunityFactory,
    OwnerFactory,
    ProgramFactory,
    SpendFactory,
    StakeholderFactory,
    TierFactory,
    TouchFactory,
    VisitorFactory,
)

from .kpi_fixtures import (
    END,
    MARCH,
    START,
    D,
    day,
    lost,
    make_customer,
    non_target,
    opp,
    target,
    touch,
    when,
    won,
)

pytestmark = pytest.mark.django_db

STAGES = ("target", "engaged", "opportunity", "customer", "retained", "expanded")
COHORTS = ("abm", "non_abm", "all")


def items(*ids, period=MARCH, filters=None, definitions="v2") -> dict[str, dict]:
    """id -> result item under ``definitions``; the result names the version it used."""
    result = compute(period, filters or Filters(), ids=list(ids), definitions=definitions)
    assert result["definitions"]["name"] == definitions
    return {item["id"]: item for item in result["kpis"]}


def item(kpi_id, **kw) -> dict:
    return items(kpi_id, **kw)[kpi_id]


def both(kpi_id, **kw) -> tuple[dict, dict]:
    """The item under version 1 and under version 2."""
    return item(kpi_id, definitions="v1", **kw), item(kpi_id, definitions="v2", **kw)


def drill(kpi_id, filters=None, definitions="v2") -> set[int]:
    rows = drilldown(kpi_id, MARCH, filters or Filters(), definitions=definitions)
    return set(rows.values_list("pk", flat=True))


# --- program filter ---------------------------------------------------------------------------


def _program_world():
    p, other = ProgramFactory(name="P"), ProgramFactory(name="Other")
    engaged = target()
    touch(engaged, "web_visit", day(5), program=p)  # an engagement touch of p in the period
    touch(engaged, "web_visit", day(6), program=other)  # another program's visit
    touch(engaged, "web_visit", day(7))  # a visit of no program
    mailed = target()
    touch(mailed, "email_sent", day(5), program=p)  # p only mailed it: not engagement
    touch(mailed, "web_visit", day(8))  # engaged in the period, but not by p
    earlier = target()
    touch(earlier, "meeting", D(2024, 2, 20), program=p)  # p engaged it before the period
    touch(earlier, "web_visit", day(9))
    later = target()
    touch(later, "web_visit", D(2024, 4, 2), program=p)  # after the period: neither version
    touch(later, "web_visit", day(9))
    touch(target(), "web_visit", day(10))  # never touched by p
    SpendFactory(program=p, spent_on=day(1), amount=300)
    SpendFactory(program=other, spent_on=day(1), amount=700)
    return p, engaged, mailed, earlier


def test_program_filter_v2_keeps_accounts_engaged_by_the_program_in_the_period():
    p, engaged, mailed, earlier = _program_world()
    only_p = Filters(program=(p.pk,))
    ids = ("target_accounts", "engaged_target_accounts", "cost_per_engaged_account")

    v1 = items(*ids, filters=only_p, definitions="v1")
    v2 = items(*ids, filters=only_p, definitions="v2")

    # v1: a touch of p at any time up to Mar 31, of any kind: engaged, mailed, earlier
    assert v1["target_accounts"]["value"] == 3
    assert v1["engaged_target_accounts"]["value"] == 3  # each engaged in March (any program)
    assert drill("engaged_target_accounts", only_p, "v1") == {engaged.pk, mailed.pk, earlier.pk}
    # v2: an engagement touch of p in March: engaged only
    assert v2["target_accounts"]["value"] == 1
    assert v2["engaged_target_accounts"]["value"] == 1
    assert drill("engaged_target_accounts", only_p, "v2") == {engaged.pk}
    # Spend under a program filter is that program's in both versions: 300
    assert v1["cost_per_engaged_account"]["numerator"] == 300.0
    assert v1["cost_per_engaged_account"]["value"] == 100.0  # 300 / 3
    assert v2["cost_per_engaged_account"]["value"] == 300.0  # 300 / 1


def test_program_with_touches_only_before_the_period_has_no_accounts_in_v2():
    stale = ProgramFactory()
    for _ in range(2):
        a = target()
        touch(a, "meeting", D(2024, 2, 1), program=stale)  # engaged by the program in February
        touch(a, "web_visit", day(3))  # and engaged in March by nothing in particular
        won(a, day(20), created_on=day(2))
    only_stale = Filters(program=(stale.pk,))

    v1 = items("engaged_target_accounts", "won_accounts", filters=only_stale, definitions="v1")
    v2 = items("engaged_target_accounts", "won_accounts", filters=only_stale, definitions="v2")

    assert (v1["engaged_target_accounts"]["value"], v1["won_accounts"]["value"]) == (2, 2)
    assert (v2["engaged_target_accounts"]["value"], v2["won_accounts"]["value"]) == (0, 0)


def test_touch_counts_under_a_program_filter_count_that_programs_touches_only():
    p, engaged, mailed, earlier = _program_world()
    touch(engaged, "ad_impression", day(11), program=p)
    touch(engaged, "ad_impression", day(11), program=None)
    touch(engaged, "ad_impression", day(12), program=p, hour=13)
    only_p = Filters(program=(p.pk,))

    v1 = items("web_visits", "ad_impressions", filters=only_p, definitions="v1")
    v2 = items("web_visits", "ad_impressions", filters=only_p, definitions="v2")

    # v1: every touch of the scoped accounts (engaged, mailed, earlier) in March:
    # web visits engaged 3 + mailed 1 + earlier 1 = 5; impressions 3
    assert v1["web_visits"]["value"] == 5
    assert v1["ad_impressions"]["value"] == 3
    # v2: p's touches only: one visit of engaged; impressions of p 2
    assert v2["web_visits"]["value"] == 1
    assert v2["ad_impressions"]["value"] == 2


# --- touch quantity ---------------------------------------------------------------------------


def test_touch_quantity_is_summed_in_v2_and_counts_one_row_in_v1():
    a = target()
    touch(a, "ad_impression", day(5), quantity=1200)  # an aggregated row: 1,200 impressions
    touch(a, "ad_impression", day(6))
    touch(a, "ad_click", day(6), quantity=3)
    won(a, day(20), created_on=day(1))  # touches before the win: 1200 + 1 + 3 (3 rows)
    ids = ("ad_impressions", "ad_clicks", "ad_click_through_rate", "touches_per_won_account")

    v1 = items(*ids, definitions="v1")
    v2 = items(*ids, definitions="v2")

    assert v1["ad_impressions"]["value"] == 2
    assert v2["ad_impressions"]["value"] == 1201
    assert (v1["ad_clicks"]["value"], v2["ad_clicks"]["value"]) == (1, 3)
    assert v1["ad_click_through_rate"]["value"] == 0.5  # 1 / 2
    assert v2["ad_click_through_rate"]["value"] == 0.0025  # 3 / 1201 = 0.002498
    assert (
        v2["ad_click_through_rate"]["numerator"],
        v2["ad_click_through_rate"]["denominator"],
    ) == (
        3,
        1201,
    )
    assert v1["touches_per_won_account"]["value"] == 3.0
    assert v2["touches_per_won_account"]["value"] == 1204.0


def test_touch_quantity_in_email_rates_view_through_and_content():
    a = target()
    touch(a, "email_sent", day(2), quantity=200)
    touch(a, "email_open", day(3), quantity=50)
    touch(a, "email_click", day(3), quantity=10)
    touch(a, "ad_impression", day(1), hour=9)
    touch(a, "web_visit", day(10), quantity=4)  # 9 days after an unclicked impression
    touch(a, "content_download", day(11), quantity=2, asset="guide.pdf", engagement_minutes=6)
    ids = (
        "email_open_rate",
        "email_click_rate",
        "view_through_visits",
        "view_through_conversions",
        "content_engagement_minutes",
    )

    v1 = items(*ids, definitions="v1")
    v2 = items(*ids, definitions="v2")

    def pair(kpi_id: str, field: str = "value") -> tuple:
        return v1[kpi_id][field], v2[kpi_id][field]

    assert pair("email_open_rate") == (1.0, 0.25)  # v2: 50 / 200
    assert pair("email_click_rate") == (1.0, 0.05)  # v2: 10 / 200
    assert pair("view_through_visits") == (1, 4)
    assert pair("view_through_conversions") == (1, 2)
    # Minutes are the row's minutes either way; the count of content touches sums quantities
    assert pair("content_engagement_minutes") == (6.0, 6.0)
    assert pair("content_engagement_minutes", "count") == (1, 2)


# --- spend allocation to slices ---------------------------------------------------------------


def _spend_world():
    """Program ``big`` spends 1,250 over 5 touch units in March; ``idle`` 200 with no touch."""
    alice, bob = OwnerFactory(name="Alice"), OwnerFactory(name="Bob")
    t1, t2, t3 = (
        TierFactory(name="T1", rank=1),
        TierFactory(name="T2", rank=2),
        TierFactory(name="T3", rank=3),
    )
    big, idle = ProgramFactory(name="Big"), ProgramFactory(name="Idle")
    a1 = target(tier=t1, owner=alice)
    a2 = target(tier=t2, owner=bob)
    a3 = non_target(tier=t2, owner=bob)  # allocation is by account, whatever the cohort
    target(tier=t3, owner=alice)  # never touched by a program
    touch(a1, "ad_impression", day(3), program=big, quantity=3)  # 3 of big's 5 units
    touch(a2, "web_visit", day(4), program=big)  # 1
    touch(a3, "email_sent", day(5), program=big)  # 1: any kind counts
    touch(a3, "web_visit", day(5))  # no program: no share of anything
    touch(a1, "web_visit", D(2024, 2, 20), program=big)  # before the period: no share
    touch(a2, "web_visit", D(2024, 2, 20), program=idle)  # idle's only touch: before the period
    SpendFactory(program=big, spent_on=day(1), amount=Decimal("1000.00"), category="marketing")
    SpendFactory(program=big, spent_on=END, amount=Decimal("250.00"), category="sales")
    SpendFactory(program=big, spent_on=day(2), amount=Decimal("40.00"), category="onboarding")
    SpendFactory(program=idle, spent_on=day(1), amount=Decimal("200.00"))  # unallocated
    SpendFactory(program=None, spent_on=day(1), amount=Decimal("500.00"))  # no program
    SpendFactory(program=big, spent_on=D(2024, 4, 1), amount=Decimal("999.00"))  # after
    return {"tiers": (t1, t2, t3), "owners": (alice, bob), "big": big, "idle": idle}


def _abm_spend(filters, definitions="v2") -> float:
    """The ABM spend of a slice: the numerator of cost per engaged account."""
    return item("cost_per_engaged_account", filters=filters, definitions=definitions)["numerator"]


def _context(filters, definitions="v2") -> Context:
    return Context(MARCH, filters, definitions=definitions_resolve(definitions))


def test_program_spend_is_allocated_to_tiers_by_the_programs_touches():
    world = _spend_world()
    t1, t2, t3 = world["tiers"]

    # big's 1,250 (marketing 1,000 + sales 250) over 5 units: a1 3/5 = 750, a2 and a3 1/5 = 250
    assert _abm_spend(Filters(tier=(t1.pk,))) == 750.0
    assert _abm_spend(Filters(tier=(t2.pk,))) == 500.0  # a2 250 + a3 250
    assert _abm_spend(Filters(tier=(t3.pk,))) == 0.0
    assert _abm_spend(Filters(tier=(t1.pk, t2.pk))) == 1250.0
    # Without a slice: all program spend, idle's included: 1,250 + 200
    assert _abm_spend(Filters()) == 1450.0
    # v1 charged the whole program spend to every tier
    assert _abm_spend(Filters(tier=(t1.pk,)), "v1") == 1450.0
    assert _abm_spend(Filters(tier=(t3.pk,)), "v1") == 1450.0


def test_tier_spend_plus_unallocated_is_total_spend_to_the_cent():
    world = _spend_world()
    tiers = world["tiers"]

    total = Decimal(str(_abm_spend(Filters())))
    by_tier = [Decimal(str(_abm_spend(Filters(tier=(t.pk,))))) for t in tiers]
    allocation = spend_allocated(_context(Filters(tier=(tiers[0].pk,))))

    assert allocation["abm"] == Decimal("750.00")
    assert allocation["abm_total"] == Decimal("1450.00")  # program spend of March
    assert allocation["abm_unallocated"] == Decimal("200.00")  # idle: no March touch
    assert allocation["acquisition_total"] == Decimal("1950.00")  # and 500 without a program
    assert allocation["acquisition_unallocated"] == Decimal("700.00")  # idle's 200 + 500
    assert allocation["retention"] == Decimal("24.00")  # onboarding 40 x 3/5
    assert allocation["retention_unallocated"] == Decimal("0.00")
    assert sum(by_tier) + allocation["abm_unallocated"] == total  # 750 + 500 + 0 + 200


def test_every_tier_s_allocation_in_one_query(django_assert_num_queries):
    """The grouped tiers (the nightly snapshots, the tier table) allocate once for all."""
    world = _spend_world()
    tiers = [t.pk for t in world["tiers"]]
    union = _context(Filters(tier=tuple(tiers)))
    groups = [_context(Filters(tier=(t,))) for t in tiers]
    each = [spend_allocated(g) for g in groups]
    with django_assert_num_queries(1):
        grouped = spend_allocated_grouped(union, groups)
    assert grouped == each
    assert [g["abm"] for g in grouped] == [Decimal("750.00"), Decimal("500.00"), Decimal("0.00")]


@postgresql_only
def test_the_allocation_filters_the_touches_by_an_array_of_the_spent_programs():
    """The allocation's touches: the spent programs' touches of the period, filtered by an
    array of those programs, which their (program, time) index can take (a bitmap scan at
    2,000 accounts: 0.6x of the statement), not semi-joined to the spent programs, which
    scanned every touch of the table. The plan at this size picks any index; the
    condition is the array either way."""
    world = _spend_world()
    tiers = [t.pk for t in world["tiers"]]
    union = _context(Filters(tier=tuple(tiers)))
    groups = [_context(Filters(tier=(t,))) for t in tiers]
    with CaptureQueriesContext(connection) as queries:
        spend_allocated_grouped(union, groups)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (COSTS OFF) " + queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    touches = plan.split(" on engagement_touch t", 1)[1].split("->", 1)[0]
    assert "(program_id = ANY ($" in touches, plan
    assert "spent" not in touches, plan


def test_owner_slices_partition_the_spend_too():
    world = _spend_world()
    alice, bob = world["owners"]

    assert _abm_spend(Filters(owner=(alice.pk,))) == 750.0  # a1
    assert _abm_spend(Filters(owner=(bob.pk,))) == 500.0  # a2 + a3
    unallocated = spend_allocated(_context(Filters(owner=(bob.pk,))))["abm_unallocated"]
    assert Decimal("750") + Decimal("500") + unallocated == Decimal("1450.00")


def test_tier_and_program_filters_together_allocate_that_programs_spend():
    world = _spend_world()
    t1, t2, _ = world["tiers"]
    big, idle = world["big"], world["idle"]

    assert _abm_spend(Filters(program=(idle.pk,))) == 200.0  # a program filter alone: all of it
    assert _abm_spend(Filters(program=(idle.pk,), tier=(t2.pk,))) == 0.0  # no touch: no share
    assert _abm_spend(Filters(program=(big.pk,), tier=(t2.pk,))) == 500.0


def test_tier_acquisition_spend_plus_unallocated_is_total_acquisition_spend():
    world = _spend_world()
    tiers = world["tiers"]

    def cac_spend(filters) -> Decimal:
        found = item("customer_acquisition_cost", filters=filters)
        return Decimal(str(found["numerator"]))

    total = cac_spend(Filters())  # marketing and sales, with or without a program: 1,950
    by_tier = sum(cac_spend(Filters(tier=(t.pk,))) for t in tiers)  # 750 + 500 + 0
    unallocated = spend_allocated(_context(Filters(tier=(tiers[0].pk,))))["acquisition_unallocated"]

    assert total == Decimal("1950.00")
    # KPIS.md v2: "Over any partition of accounts, slice spend + unallocated = total"; the
    # 500 without a program belongs to no slice, so it must be part of the unallocated.
    assert by_tier + unallocated == total


def test_an_odd_split_hands_out_every_cent_by_largest_remainder():
    program = ProgramFactory()
    tiers = [TierFactory(name=f"Odd {i}", rank=10 + i) for i in range(3)]
    accounts = [target(tier=t) for t in tiers]
    for account in accounts:
        touch(account, "web_visit", day(4), program=program)  # three equal shares
    SpendFactory(program=program, spent_on=day(1), amount=Decimal("100.00"))

    spent = {a.pk: Decimal(str(_abm_spend(Filters(tier=(a.tier_id,))))) for a in accounts}

    # 10,000 cents / 3 = 3,333 each and 1 cent left; equal remainders: the lowest account id
    first = min(spent)
    assert spent[first] == Decimal("33.34")
    assert [spent[pk] for pk in sorted(spent)[1:]] == [Decimal("33.33"), Decimal("33.33")]
    assert sum(spent.values()) == Decimal("100.00")


# --- funnel ------------------------------------------------------------------------------------


def _funnel_world():
    target()  # target: no engagement
    touch(target(), "web_visit", day(5))  # engaged
    touch(target(), "meeting", D(2024, 2, 10))  # engaged: 50 days before Mar 31, in the window
    touch(target(), "meeting", D(2023, 12, 1))  # 121 days before: target
    o = target()
    touch(o, "web_visit", day(6))
    opp(o, created_on=day(6))  # opportunity: open new business at Mar 31
    c = target()
    won(c, day(20), created_on=day(1))  # customer: won in March
    for first in (D(2023, 3, 10), D(2023, 2, 1)):
        r = make_customer(first)
        won(r, day(25), created_on=day(1), type="renewal")  # retained (renewal in March)
    x = make_customer(D(2022, 6, 1))
    won(x, D(2024, 1, 10), created_on=D(2024, 1, 2), type="expansion")  # expanded (in January)
    make_customer(D(2022, 1, 1), churned_on=day(10))  # churned: back to target
    won(non_target(), day(15), created_on=day(1))  # a customer off the list: non_abm


def test_funnel_v2_counts_accounts_at_or_beyond_each_stage_and_nests():
    _funnel_world()

    v1, v2 = both("funnel")

    # abm by stage at Mar 31: target 3 (plain, stale, churned), engaged 2, opportunity 1,
    # customer 1, retained 2, expanded 1; at or beyond: 10, 7, 5, 4, 3, 1
    assert v2["value"]["stages"] == dict(zip(STAGES, [10, 7, 5, 4, 3, 1], strict=True))
    assert v2["count"] == 10
    # 7/10, 5/7, 4/5, 3/4, 1/3
    assert list(v2["value"]["conversion"].values()) == [0.7, 0.7143, 0.8, 0.75, 0.3333]
    # v1 counted period events of different account sets: 2 renewals over 1 win = 2.0
    assert list(v1["value"]["stages"].values()) == [10, 2, 2, 1, 2, 0]
    assert list(v1["value"]["conversion"].values()) == [0.2, 1.0, 0.5, 2.0, 0.0]


def test_funnel_v2_applies_one_cohort_to_every_stage():
    _funnel_world()

    abm = item("funnel", filters=Filters(cohort="abm"))["value"]["stages"]
    non_abm = item("funnel", filters=Filters(cohort="non_abm"))["value"]["stages"]
    everyone = item("funnel", filters=Filters(cohort="all"))["value"]["stages"]

    assert list(non_abm.values()) == [1, 1, 1, 1, 0, 0]  # the customer off the list
    assert everyone == {s: abm[s] + non_abm[s] for s in STAGES}


#: Days of the property worlds: 2023-10-01 plus 0..210 (to the end of April 2024).
ORIGIN = D(2023, 10, 1)
DAYS = st.integers(min_value=0, max_value=210)
PERIODS = (
    Period(D(2024, 1, 1), D(2024, 1, 31)),
    MARCH,
    Period(D(2024, 1, 1), D(2024, 3, 31)),
    Period(D(2024, 2, 15), D(2024, 2, 15)),
)


@st.composite
def _opportunity(draw):
    created = draw(st.integers(min_value=0, max_value=180))
    status = draw(st.sampled_from(("open", "won", "won", "lost")))  # wins twice as likely
    closed = None if status == "open" else created + draw(st.integers(0, 45))
    return {
        "type": draw(st.sampled_from(("new_business", "new_business", "renewal", "expansion"))),
        "status": status,
        "created": created,
        "closed": closed,
    }


ACCOUNT = st.fixed_dictionaries(
    {
        "list": st.sampled_from(("always", "always", "never", "from", "until")),
        "listed_day": DAYS,
        "touches": st.lists(
            st.tuples(st.sampled_from(("web_visit", "meeting", "ad_impression")), DAYS),
            max_size=3,
        ),
        "opportunities": st.lists(_opportunity(), min_size=1, max_size=4),
        "churned": st.one_of(st.none(), st.none(), st.none(), DAYS),  # a churn in four
    }
)


def _date(offset: int) -> dt.date:
    return ORIGIN + dt.timedelta(days=offset)


def _build(spec: dict, tier=None) -> None:
    listed = _date(spec["listed_day"])
    dates = {
        "always": {},
        "never": {"is_target": False},
        "from": {"targeted_on": listed},
        "until": {"untargeted_on": listed},
    }[spec["list"]]
    churned = _date(spec["churned"]) if spec["churned"] is not None else None
    account = AccountFactory(churned_on=churned, tier=tier, **dates)
    for kind, offset in spec["touches"]:
        TouchFactory(account=account, kind=kind, occurred_at=when(_date(offset)))
    for o in spec["opportunities"]:
        OpportunityFactory(
            account=account,
            type=o["type"],
            status=o["status"],
            created_on=_date(o["created"]),
            closed_on=_date(o["closed"]) if o["closed"] is not None else None,
        )


ENGAGEMENT = {"web_visit", "meeting"}  # of the kinds drawn (an ad impression is not)


def _targeted(spec: dict, end: dt.date) -> bool:
    listed = _date(spec["listed_day"])
    return {
        "always": True,
        "never": False,
        "from": listed <= end,
        "until": listed > end,
    }[spec["list"]]


def _stage_by_hand(spec: dict, end: dt.date) -> str:
    """The stage ladder of KPIS.md v2 (the snapshots' rules), in Python, as of ``end``."""
    opps = [
        {
            **o,
            "created": _date(o["created"]),
            "closed": _date(o["closed"]) if o["closed"] is not None else None,
        }
        for o in spec["opportunities"]
    ]

    def won_by_end(type_: str) -> bool:
        return any(o["type"] == type_ and o["status"] == "won" and o["closed"] <= end for o in opps)

    churned = _date(spec["churned"]) if spec["churned"] is not None else None
    customer = won_by_end("new_business") and (churned is None or churned > end)
    targeted = _targeted(spec, end)
    if customer and won_by_end("expansion"):
        return "expanded"
    if customer and won_by_end("renewal"):
        return "retained"
    if customer:
        return "customer"
    if any(
        o["type"] == "new_business"
        and o["created"] <= end
        and (o["status"] == "open" or o["closed"] > end)
        for o in opps
    ):
        return "opportunity"
    window = end - dt.timedelta(days=89)
    if targeted and any(
        kind in ENGAGEMENT and window <= _date(offset) <= end for kind, offset in spec["touches"]
    ):
        return "engaged"
    return "target" if targeted else "none"


def _funnel_by_hand(specs: list[dict], end: dt.date, cohort: str) -> list[int]:
    """Accounts of ``cohort`` at or beyond each stage of the ladder at ``end``."""
    rank = {stage: i for i, stage in enumerate(STAGES)}
    counts = [0] * len(STAGES)
    for spec in specs:
        targeted = _targeted(spec, end)
        if (cohort == "abm" and not targeted) or (cohort == "non_abm" and targeted):
            continue
        stage = _stage_by_hand(spec, end)
        for i in range(rank[stage] + 1 if stage != "none" else 0):
            counts[i] += 1
    return counts


def _check_funnel(value: dict, expected: list[int], where) -> None:
    """The stage counts are the hand-computed ones, nest, and each conversion is in [0, 1]."""
    counts = [value["stages"][s] for s in STAGES]
    assert counts == expected, where
    assert counts == sorted(counts, reverse=True), where
    pairs = zip(counts[:-1], counts[1:], strict=True)
    for (before, after), rate in zip(pairs, value["conversion"].values(), strict=True):
        if before == 0:
            assert rate is None, where
        else:
            assert 0 <= rate <= 1, where
            assert rate == round(after / before, 4), where


@pytest.mark.django_db
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(ACCOUNT, min_size=1, max_size=6), st.lists(st.booleans(), min_size=6, max_size=6))
def test_funnel_v2_counts_nest_and_conversions_are_bounded_for_any_world(accounts, tiered):
    with transaction.atomic():
        tier = TierFactory(name="Drawn", rank=1)
        for spec, in_tier in zip(accounts, tiered, strict=False):
            _build(spec, tier if in_tier else None)
        in_tier = [spec for spec, flag in zip(accounts, tiered, strict=False) if flag]
        for period in PERIODS:
            by_cohort = {}
            for cohort in COHORTS:
                value = item("funnel", period=period, filters=Filters(cohort=cohort))["value"]
                expected = _funnel_by_hand(accounts, period.end, cohort)
                _check_funnel(value, expected, (period, cohort))
                by_cohort[cohort] = expected
            # The cohorts partition the accounts: abm + non_abm = all, stage by stage.
            assert [a + b for a, b in zip(by_cohort["abm"], by_cohort["non_abm"], strict=True)] == (
                by_cohort["all"]
            )
        for cohort in COHORTS:  # a tier filter: the same rules over the tier's accounts
            sliced = Filters(tier=(tier.pk,), cohort=cohort)
            value = item("funnel", filters=sliced)["value"]
            _check_funnel(value, _funnel_by_hand(in_tier, END, cohort), ("tier", cohort))
        transaction.set_rollback(True)


# --- funnel flow -------------------------------------------------------------------------------


def change(account, on, from_stage, to_stage):
    return AccountStageChangeFactory(
        account=account, changed_on=on, from_stage=from_stage, to_stage=to_stage
    )


def test_funnel_flow_moved_on_over_in_the_stage_during_the_period():
    a = target()  # engaged since February, to opportunity in March
    change(a, D(2024, 2, 20), "target", "engaged")
    change(a, day(10), "engaged", "opportunity")
    b = target()  # engaged at the start, back to target: moved, but not on
    change(b, day(5), "engaged", "target")
    c = target()  # target -> engaged -> opportunity -> customer, all in March
    change(c, day(3), "target", "engaged")
    change(c, day(15), "engaged", "opportunity")
    change(c, day(28), "opportunity", "customer")
    c2 = target()  # left target twice: one account
    change(c2, day(2), "target", "engaged")
    change(c2, day(4), "engaged", "target")
    change(c2, day(6), "target", "engaged")
    target()  # no history at all: in the target stage by the rules at Mar 31, stays
    e = target()  # moves only after the period
    change(e, D(2024, 4, 5), "target", "engaged")
    f = target()  # skips a stage
    change(f, day(8), "target", "opportunity")
    g = target()  # a customer since January
    change(g, D(2024, 1, 10), "opportunity", "customer")
    g2 = target()  # customer -> retained in March
    change(g2, day(20), "customer", "retained")
    h = target()  # retained -> expanded in March
    change(h, day(12), "retained", "expanded")
    outsider = non_target()  # not in the abm cohort
    change(outsider, day(3), "target", "engaged")

    flow = item("funnel_flow")

    # target: in it b (entered), c, c2, the quiet one, e, f (at the start) = 6; on: c, c2, f = 3
    # engaged: a, b (start), c, c2 (entered) = 4; on: a, c = 2 (b went back, c2 stayed)
    # opportunity: a, c, f (entered) = 3; on: c = 1
    # customer: g, g2 (start), c (entered) = 3; on: g2 = 1
    # retained: h (start), g2 (entered) = 2; on: h = 1
    assert flow["flows"] == {
        "target_to_engaged": {"moved": 3, "in_stage": 6},
        "engaged_to_opportunity": {"moved": 2, "in_stage": 4},
        "opportunity_to_customer": {"moved": 1, "in_stage": 3},
        "customer_to_retained": {"moved": 1, "in_stage": 3},
        "retained_to_expanded": {"moved": 1, "in_stage": 2},
    }
    assert flow["value"] == {
        "target_to_engaged": 0.5,
        "engaged_to_opportunity": 0.5,
        "opportunity_to_customer": 0.3333,
        "customer_to_retained": 0.3333,
        "retained_to_expanded": 0.5,
    }
    assert all(0 <= rate <= 1 for rate in flow["value"].values())


def test_funnel_flow_is_not_in_version_1_and_empty_stages_give_null():
    from funnel.kpis import UnknownKpi

    target()
    with pytest.raises(UnknownKpi, match="generation 1"):
        compute(MARCH, Filters(), ids=["funnel_flow"], definitions="v1")
    flow = item("funnel_flow")["value"]
    assert flow["target_to_engaged"] == 0.0  # 0 of 1 moved on
    assert flow["engaged_to_opportunity"] is None  # nobody was engaged: 0 / 0


# --- influenced pipeline -----------------------------------------------------------------------


def _influence_world():
    p = ProgramFactory()

    def deal(amount, created_on, type_="new_business", account=None):
        account = account or target()
        opp(account, amount=amount, created_on=created_on, type=type_)
        return account

    a = deal(1000, day(10))
    touch(a, "web_visit", day(10), program=p)  # a program touch on the creation day: counts
    b = deal(2000, day(20))
    touch(b, "meeting", day(20) - dt.timedelta(days=90), program=p)  # 90 days before: counts
    c = deal(4000, day(15))
    touch(c, "meeting", day(15) - dt.timedelta(days=91), program=p)  # 91 days before: no
    d = deal(8000, day(12))
    touch(d, "web_visit", day(5))  # engagement without a program: v1 only
    e = deal(16000, day(12), type_="expansion")
    touch(e, "web_visit", day(1), program=p)  # a program touch, but not new business: v1 only
    f = deal(32000, day(18))
    touch(f, "email_sent", day(17), program=p)  # a program touch that is not engagement
    g = deal(64000, day(25))
    touch(g, "web_visit", day(26), program=p)  # after the creation
    h = deal(128000, D(2024, 2, 25))
    touch(h, "web_visit", D(2024, 2, 25), program=p)  # created before the period
    n = deal(256000, day(10), account=non_target())
    touch(n, "web_visit", day(9), program=p)  # influenced, but not in the abm cohort


def test_influenced_pipeline_v2_needs_a_program_touch_in_the_90_days_and_new_business():
    _influence_world()

    v1, v2 = both("influenced_pipeline")

    assert v2["value"] == 3000.0  # 1,000 + 2,000
    assert v2["count"] == 2
    assert v1["value"] == 27000.0  # 1,000 + 2,000 + 8,000 + 16,000
    assert v1["count"] == 4
    everyone = item("influenced_pipeline", filters=Filters(cohort="all"))
    assert everyone["value"] == 259000.0  # + the non-target's 256,000


def test_influenced_pipeline_share_is_influenced_over_all_new_business_created():
    _influence_world()

    share = item("influenced_pipeline_share")

    # new business of abm created in March: 1,000 + 2,000 + 4,000 + 8,000 + 32,000 + 64,000
    assert (share["numerator"], share["denominator"]) == (3000.0, 111000.0)
    assert share["value"] == 0.027  # 3,000 / 111,000 = 0.02703
    assert item("influenced_pipeline_share", filters=Filters(cohort="non_abm"))["value"] == 1.0
    with pytest.raises(Exception, match="generation 1"):
        compute(MARCH, Filters(), ids=["influenced_pipeline_share"], definitions="v1")


def test_influenced_pipeline_share_without_new_business_is_null():
    target()
    share = item("influenced_pipeline_share")
    assert (share["value"], share["numerator"], share["denominator"]) == (None, 0, 0)


# --- conversion rate ---------------------------------------------------------------------------


def test_conversion_rate_v2_divides_by_the_touches_of_all_engaged_accounts():
    w = target()
    won(w, day(10), created_on=day(1))
    touch(w, "web_visit", day(3))
    touch(w, "web_visit", day(4))
    touch(w, "ad_impression", day(4), quantity=50)  # not engagement
    w2 = target()
    won(w2, day(11), created_on=day(1))
    won(w2, day(12), created_on=day(2))
    for i in range(3):
        touch(w2, "email_click", day(5 + i))
    w3 = target()
    won(w3, day(13), created_on=day(1))  # a win without a touch in the period
    e = target()  # engaged, no win: 4 rows, quantities 1 + 1 + 1 + 5 = 8
    for i in range(3):
        touch(e, "web_visit", day(6 + i))
    touch(e, "meeting", day(9), quantity=5)
    outsider = non_target()
    won(outsider, day(14), created_on=day(1))
    touch(outsider, "meeting", day(8))

    v1, v2 = both("conversion_rate")

    # v1: won opportunities of winners 4 / engagement touches of winners 2 + 3 = 0.8
    assert (v1["numerator"], v1["denominator"]) == (4, 5)
    assert v1["value"] == 0.8
    # v2: won new business of abm 4 / engagement touches of engaged abm 2 + 3 + 8 = 13
    assert (v2["numerator"], v2["denominator"]) == (4, 13)
    assert v2["value"] == 0.3077  # 0.307692


# --- renewal rate ------------------------------------------------------------------------------


def _contract(end: dt.date, renewed_on: dt.date | None = None):
    account = target()
    won(account, D(2020, 1, 1), created_on=D(2019, 12, 1), contract_end=end)
    if renewed_on is not None:
        won(account, renewed_on, created_on=renewed_on, type="renewal")
    return account


def test_renewal_rate_v2_leaves_contracts_inside_their_grace_window_pending():
    today = timezone.localdate()

    def ago(n: int) -> dt.date:
        return today - dt.timedelta(days=n)

    _contract(ago(50), renewed_on=ago(45))  # settled, renewed
    _contract(ago(40))  # grace closed 10 days ago: settled, not renewed
    _contract(ago(31))  # grace closed yesterday (its 30th day): settled, not renewed
    _contract(ago(30))  # its 30th grace day is today: a renewal may still come: pending
    _contract(ago(10))  # pending
    _contract(ago(5), renewed_on=ago(6))  # renewed early, inside its grace: settled, renewed
    period = Period(ago(60), ago(1))

    v1 = item("renewal_rate", period=period, definitions="v1")
    v2 = item("renewal_rate", period=period)

    assert (v1["numerator"], v1["denominator"], v1["value"]) == (2, 6, 0.3333)
    assert (v2["numerator"], v2["denominator"]) == (2, 4)  # the two pending left out
    assert v2["value"] == 0.5
    assert v2["pending"] == 2
    assert item("renewals_due", period=period)["value"] == 6


def test_renewal_rate_v2_of_a_future_period_is_null_not_zero():
    today = timezone.localdate()
    _contract(today + dt.timedelta(days=20))
    future = Period(today + dt.timedelta(days=10), today + dt.timedelta(days=40))

    v1 = item("renewal_rate", period=future, definitions="v1")
    v2 = item("renewal_rate", period=future)

    assert v1["value"] == 0.0  # v1: 0 renewed of 1 due
    assert (v2["value"], v2["numerator"], v2["denominator"], v2["pending"]) == (None, 0, 0, 1)


# --- annual contract value, lifetime value, addressable market -------------------------------


def test_annual_contract_value_v2_is_new_business_only():
    a = target()
    won(a, day(5), amount=120_000, created_on=day(1), term_months=24)  # ACV 60,000
    won(target(), day(6), amount=30_000, created_on=day(1))  # 12 months: 30,000
    won(a, day(7), amount=50_000, created_on=day(1), type="renewal")  # 50,000
    won(a, day(8), amount=12_000, created_on=day(1), type="expansion", term_months=6)  # 24,000

    v1, v2 = both("annual_contract_value")

    assert (v2["value"], v2["count"]) == (45000.0, 2)  # (60,000 + 30,000) / 2
    assert (v1["value"], v1["count"]) == (41000.0, 4)  # (60,000 + 30,000 + 50,000 + 24,000) / 4


def _lifetime_world():
    """Year to Mar 31 2024: Apr 2 2023 .. Mar 31 2024 (365 days); its start is Apr 1 2023."""
    make_customer(D(2022, 6, 1), churned_on=D(2023, 9, 15))  # a customer at the start, churned
    second, _, _ = [make_customer(D(2022, 6, 1)) for _ in range(3)]  # customers at the start
    make_customer(D(2021, 1, 1), churned_on=D(2023, 1, 10))  # churned before the year
    make_customer(D(2023, 6, 1))  # acquired during the year
    make_customer(D(2024, 1, 15))  # acquired during the year
    won(target(), day(10), amount=24_000, created_on=day(1), term_months=24)  # NB ACV 12,000
    won(second, day(12), amount=60_000, created_on=day(1), type="renewal")  # ACV 60,000


def test_customer_lifetime_value_v2_uses_new_business_acv_the_start_base_and_the_margin():
    _lifetime_world()

    v1, v2 = both("customer_lifetime_value")

    # v2: ACV of new business 12,000; churn 1 / 4 customers at the start = 0.25 -> 4 years;
    # margin 1.0: 12,000 x 1.0 x 4 = 48,000
    assert v2["value"] == 48000.0
    assert (v2["annual_contract_value"], v2["churn_rate"], v2["lifespan_years"]) == (
        12000.0,
        0.25,
        4.0,
    )
    assert v2["gross_margin"] == 1.0
    # v1: ACV of any type (12,000 + 60,000) / 2 = 36,000; churn 1 / 7 customers at any time
    # in the year (the four, the two acquired, the March winner) -> 7 years: 252,000
    assert (v1["annual_contract_value"], v1["churn_rate"], v1["lifespan_years"]) == (
        36000.0,
        0.1429,
        7.0,
    )
    assert v1["value"] == 252000.0
    assert "gross_margin" not in v1


def test_customer_lifetime_value_v2_takes_the_gross_margin_of_its_version():
    _lifetime_world()
    definitions_derive(definitions_resolve("v2"), name="v2-margin", params={"gross_margin": 0.8})

    clv = item("customer_lifetime_value", definitions="v2-margin")

    assert clv["value"] == 38400.0  # 12,000 x 0.8 x 4
    assert clv["gross_margin"] == 0.8
    assert "0.8" in clv["definition"]
    assert item("customer_lifetime_value")["value"] == 48000.0  # v2 itself: margin 1.0


def test_total_addressable_market_v2_annualises_new_business_only():
    a1 = target(fit_grade="A")
    won(a1, D(2023, 5, 1), amount=120_000, created_on=D(2023, 4, 1))  # 120,000
    a2 = target(fit_grade="B")
    won(a2, day(10), amount=60_000, created_on=day(1), term_months=24)  # 30,000
    won(a2, D(2023, 6, 1), amount=10_000, created_on=D(2023, 6, 1), type="renewal")  # 10,000
    won(a2, D(2024, 4, 2), amount=999_000, created_on=day(1))  # after Mar 31
    target(fit_grade="C")
    non_target(fit_grade="A")  # counts whatever its cohort
    target(fit_grade="")

    v1, v2 = both("total_addressable_market")

    assert v2["label"] == "Addressable market (ICP A/B accounts × ACV)"
    assert (v2["annual_contract_value"], v2["count"]) == (75000.0, 3)  # (120,000 + 30,000) / 2
    assert v2["value"] == 225000.0  # 75,000 x 3 accounts A or B
    assert v1["annual_contract_value"] == 53333.33  # (120,000 + 30,000 + 10,000) / 3
    assert v1["value"] == 160000.0  # 53,333.33 x 3 (exact: 160,000 / 3 x 3)


# --- engaged share of TAM, de-anonymization ----------------------------------------------------


def test_engaged_share_of_tam_v2_counts_engaged_accounts_of_the_tam_only():
    touch(target(fit_grade="A"), "web_visit", day(5))  # engaged, in the TAM
    touch(target(fit_grade="C"), "web_visit", day(5))  # engaged, outside it
    target(fit_grade="B")  # in the TAM, not engaged
    touch(non_target(fit_grade="A"), "web_visit", day(5))  # in the TAM, not a target account
    non_target(fit_grade="B")

    v1, v2 = both("engaged_share_of_tam")

    assert (v2["numerator"], v2["denominator"], v2["value"]) == (1, 4, 0.25)
    assert (v1["numerator"], v1["denominator"], v1["value"]) == (2, 4, 0.5)


def test_engaged_share_of_tam_v2_is_never_above_one():
    for _ in range(3):
        touch(target(fit_grade="C"), "meeting", day(5))  # engaged, outside the TAM
    target(fit_grade="A")

    v1, v2 = both("engaged_share_of_tam")

    assert v1["value"] == 3.0  # 3 engaged / 1 in the TAM: the v1 flaw
    assert (v2["numerator"], v2["denominator"], v2["value"]) == (0, 1, 0.0)


def test_deanonymization_v2_needs_an_identification_date_by_the_end_of_the_period():
    account = target()
    person = StakeholderFactory(account=account)
    seen = when(day(5))
    VisitorFactory(
        account=account, stakeholder=person, first_seen_at=seen, identified_at=when(day(20))
    )
    VisitorFactory(account=account, stakeholder=person, first_seen_at=seen, identified_at=None)
    VisitorFactory(
        account=account, stakeholder=person, first_seen_at=seen, identified_at=when(D(2024, 4, 5))
    )
    VisitorFactory(account=account, first_seen_at=seen)  # never linked
    VisitorFactory(account=account, first_seen_at=when(D(2024, 2, 20)))  # first seen before

    v1, v2 = both("deanonymization_rate")

    assert (v2["numerator"], v2["denominator"], v2["value"]) == (1, 4, 0.25)
    assert (v1["numerator"], v1["denominator"], v1["value"]) == (2, 4, 0.5)  # + the undated link


# --- query counts ------------------------------------------------------------------------------


def _busy_world(n: int, tier, program) -> None:
    """``n`` accounts with every kind of input the version-2 KPIs read."""
    for i in range(n):
        a = target(tier=tier if i % 2 else None, fit_grade="AB"[i % 2])
        touch(a, "web_visit", day(2), program=program)
        touch(a, "ad_impression", day(1), program=program, quantity=100 + i)
        touch(a, "meeting", day(3))
        won(a, day(10), amount=1000 + i, created_on=day(4), contract_end=day(20))
        won(a, day(25), created_on=day(21), type="renewal")
        opp(a, created_on=day(5), amount=500)
        lost(non_target(), day(11), created_on=day(1))
        NpsResponseFactory(account=a, score=i % 11, responded_on=day(5))
        SpendFactory(program=program, spent_on=day(6), amount=10)
        AccountStageChangeFactory(
            account=a, changed_on=day(2), from_stage="target", to_stage="engaged"
        )
        VisitorFactory(
            account=a,
            stakeholder=StakeholderFactory(account=a),
            first_seen_at=when(day(3)),
            identified_at=when(day(4)),
        )


def test_whole_v2_catalogue_query_count_is_constant_in_data_size():
    DefinitionsVersion.objects.filter(name="v2").update(used_at=None)
    tier, program = TierFactory(name="Busy", rank=9), ProgramFactory()
    slices = [
        Filters(),
        Filters(cohort="all"),
        Filters(tier=(tier.pk,)),
        Filters(program=(program.pk,)),
        Filters(tier=(tier.pk,), program=(program.pk,)),
    ]
    _busy_world(2, tier, program)

    with CaptureQueriesContext(connection) as first:
        compute(MARCH, Filters(), definitions="v2")
    small = {}
    for filters in slices:
        with CaptureQueriesContext(connection) as queries:
            compute(MARCH, filters, definitions="v2")
        small[filters] = len(queries)
    _busy_world(12, tier, program)
    for filters in slices:
        with CaptureQueriesContext(connection) as queries:
            compute(MARCH, filters, definitions="v2")
        assert len(queries) == small[filters], filters  # set-based: no query per row

    # The first computation under a version marks it used: one UPDATE, once.
    marks = [q["sql"] for q in first if q["sql"].startswith("UPDATE")]
    assert len(marks) == 1 and "funnel_definitionsversion" in marks[0]
    assert len(first) == small[Filters()] + 1
    assert DefinitionsVersion.objects.get(name="v2").used_at is not None


def test_a_kpi_id_means_the_same_in_both_versions_and_v2_only_adds():
    v1 = {spec.id: spec for spec in catalogue(1)}
    v2 = {spec.id: spec for spec in catalogue(2)}

    assert set(v2) - set(v1) == {
        "funnel_flow",
        "influenced_pipeline_share",
        # Multi-touch attribution (issue 14).
        "program_reached_accounts",
        "program_engaged_accounts",
        "attributed_pipeline",
        "cost_per_attributed_opportunity",
        "attributed_revenue",
        "attribution_roi",
        # Holdout lift (issue 20).
        "lift_engaged_rate",
        "lift_opportunity_rate",
        "lift_win_rate",
        "lift_pipeline_per_account",
        "lift_revenue_per_account",
    }
    assert set(v1) <= set(v2)
    for kpi_id, spec in v1.items():
        assert (v2[kpi_id].stage, v2[kpi_id].unit, v2[kpi_id].kind, v2[kpi_id].r) == (
            spec.stage,
            spec.unit,
            spec.kind,
            spec.r,
        ), kpi_id
    label = "Target accounts won (share of list)"
    assert v1["target_account_win_rate"].label == v2["target_account_win_rate"].label == label
    changed = {
        "funnel",
        "influenced_pipeline",
        "conversion_rate",
        "renewal_rate",
        "annual_contract_value",
        "customer_lifetime_value",
        "total_addressable_market",
        "engaged_share_of_tam",
        "deanonymization_rate",
    }
    params = definitions_resolve("v2").params
    for kpi_id in changed:
        assert v1[kpi_id].describe(params) != v2[kpi_id].describe(params), kpi_id


def test_every_v2_definition_reads_without_naming_a_version():
    for spec in catalogue(2):
        assert spec.definition, spec.id


def test_every_v2_kpi_names_version_2_and_its_own_definition():
    result = compute(Period(START, END), Filters())
    v2 = definitions_resolve("v2")
    assert result["definitions"] == {"id": v2.pk, "name": "v2", "generation": 2}
    by_id = {k["id"]: k for k in result["kpis"]}
    assert {"funnel_flow", "influenced_pipeline_share"} <= set(by_id)
    assert "program" in by_id["influenced_pipeline"]["definition"]
    assert "grace" in by_id["renewal_rate"]["definition"]
