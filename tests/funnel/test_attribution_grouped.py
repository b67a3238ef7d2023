"""Grouped attribution (#18): every tier's and every program's attributed pipeline and revenue
in one statement, exactly what one attribution statement per group gives.

The world: March 2024, two tiers and two programs (``p1.pk < p2.pk``), W-shaped credit (the
shipped model), 90 days of look-back. Pipeline opportunities are created in March; the one
won deal (A) closes on 20 March.

- A (tier 1, target), 1,000: p1 web visit 2 March, p2 form fill 8 March, created 10 March,
  p1 meeting 15 March, won 20 March. Pipeline: two instants, first and last, 50/50: p1 500,
  p2 500. Revenue: first (p1), last before creation (p2), last (p1) are three milestones,
  a third each: p1 2/3 = 666.666.. -> floor 666.66, p2 333.33; the cent left goes to the
  larger remainder (.67, p1): p1 666.67, p2 333.33.
- B (tier 2, target), 300: p2 web visit 11 March, created 12 March: p2 300.
- C (tier 1, target), 200: a web visit of no program, created 5 March: no program 200.
- D (tier 2, target): a p1 web visit 5 March (in p1's slice), but its deal was created on
  20 February: outside the period, in no KPI.
- E (tier 2, not a target), 400: p1 web visit 1 March, created 6 March: p1 400 (cohort
  "all" only).
- F (tier 1, target), 100: p2 form fill 20 February, p1 web visit 4 March, created 7 March:
  50/50, p1 50, p2 50. Version 2 slices p2 by an engagement touch *in the period*: F is not
  in p2's slice, so p2's credit on F counts under version 1 only (any touch up to the end).

Attributed pipeline (programs of the slice; target accounts unless "all"):
  tier 1: A 1,000 + F 100 = 1,100 (2 deals); tier 2: B 300 (1) ("all": + E 400 = 700, 2).
  p1: A 500 + F 50 = 550 (2) ("all": + E 400 = 950, 3).
  p2, version 2: A 500 + B 300 = 800 (2); version 1: + F 50 = 850 (3).
Attributed revenue: tier 1 and p1 666.67 / 1,000 (1); p2 333.33 (1); tier 2 0 (0).
With "no program" (C's 200) the tiers add up to the pipeline: 1,100 + 300 + 200 = 1,600.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from funnel.definitions import definitions_resolve
from funnel.kpis import Filters, compute, compute_grouped
from funnel.kpis.attribution import ATTRIBUTION, program_attribution
from funnel.kpis.context import Context
from tests.conftest import postgresql_only
from tests.factories import ProgramFactory, TierFactory

from .kpi_fixtures import MARCH, day, non_target, opp, target, touch, won

pytestmark = postgresql_only

D = Decimal
IDS = [
    "attributed_pipeline",
    "attributed_revenue",
    "cost_per_attributed_opportunity",
    "attribution_roi",
]
OUTPUTS = [
    "attributed_pipeline_amount",
    "attributed_pipeline_opportunities",
    "attributed_revenue_amount",
    "attributed_revenue_opportunities",
]


@pytest.fixture
def world(db):
    t1, t2 = TierFactory(), TierFactory()
    p1, p2 = ProgramFactory(name="P1"), ProgramFactory(name="P2")
    a = target(tier=t1)
    touch(a, "web_visit", day(2), program=p1)
    touch(a, "form_fill", day(8), program=p2)
    touch(a, "meeting", day(15), program=p1)
    won(a, day(20), amount=1000, created_on=day(10))
    b = target(tier=t2)
    touch(b, "web_visit", day(11), program=p2)
    opp(b, amount=300, created_on=day(12), type="new_business")
    c = target(tier=t1)
    touch(c, "web_visit", day(3))
    opp(c, amount=200, created_on=day(5), type="new_business")
    d = target(tier=t2)
    touch(d, "web_visit", day(5), program=p1)
    opp(d, amount=5000, created_on=dt.date(2024, 2, 20), type="new_business")
    e = non_target(tier=t2)
    touch(e, "web_visit", day(1), program=p1)
    opp(e, amount=400, created_on=day(6), type="new_business")
    f = target(tier=t1)
    touch(f, "form_fill", dt.date(2024, 2, 20), program=p2)
    touch(f, "web_visit", day(4), program=p1)
    opp(f, amount=100, created_on=day(7), type="new_business")
    return {"tiers": (t1.pk, t2.pk), "programs": (p1.pk, p2.pk)}


def _figures(result: dict) -> dict[str, tuple]:
    """KPI id -> (value, count) of the attribution KPIs of one result."""
    return {i["id"]: (i["value"], i.get("count")) for i in result["kpis"] if i["id"] in IDS[:2]}


def _contexts(rules, by: str, keys):
    """The union's context and each group's, as ``compute_grouped`` makes them."""
    union = Context(MARCH, Filters(**{by: tuple(keys)}), definitions=rules)
    groups = [Context(MARCH, Filters(**{by: (k,)}), definitions=rules) for k in keys]
    return union, groups


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cohort", "tier_1", "tier_2"),
    [
        (None, (1100.0, 2), (300.0, 1)),
        ("all", (1100.0, 2), (700.0, 2)),
    ],
)
def test_tiers_by_hand(world, cohort, tier_1, tier_2):
    t1, t2 = world["tiers"]
    grouped = compute_grouped(MARCH, Filters(cohort=cohort), "tier", [t1, t2], IDS, "v2")
    assert _figures(grouped[t1]) == {
        "attributed_pipeline": tier_1,
        "attributed_revenue": (1000.0, 1),
    }
    assert _figures(grouped[t2]) == {
        "attributed_pipeline": tier_2,
        "attributed_revenue": (0.0, 0),
    }
    for key in (t1, t2):
        assert grouped[key] == compute(MARCH, Filters(cohort=cohort, tier=(key,)), IDS, "v2")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cohort", "program_1", "program_2", "both"),
    [
        (None, (550.0, 2), (800.0, 2), (1400.0, 3)),
        ("all", (950.0, 3), (800.0, 2), (1800.0, 4)),
    ],
)
def test_programs_by_hand(world, cohort, program_1, program_2, both):
    p1, p2 = world["programs"]
    grouped = compute_grouped(
        MARCH, Filters(cohort=cohort), "program", [p1, p2], IDS, "v2", union=True
    )
    assert _figures(grouped[p1]) == {
        "attributed_pipeline": program_1,
        "attributed_revenue": (666.67, 1),
    }
    assert _figures(grouped[p2]) == {
        "attributed_pipeline": program_2,
        "attributed_revenue": (333.33, 1),
    }
    # Both programs (the programs page's totals): A whole, B, F whole (in p1's slice).
    assert _figures(grouped[None]) == {
        "attributed_pipeline": both,
        "attributed_revenue": (1000.0, 1),
    }
    for key in (p1, p2):
        assert grouped[key] == compute(MARCH, Filters(cohort=cohort, program=(key,)), IDS, "v2")
    assert grouped[None] == compute(MARCH, Filters(cohort=cohort, program=(p1, p2)), IDS, "v2")


@pytest.mark.django_db
def test_tier_credits_and_no_program_add_up_to_the_pipeline(world):
    t1, t2 = world["tiers"]
    grouped = compute_grouped(MARCH, Filters(), "tier", [t1, t2], IDS, "v2")
    attributed = sum(D(str(_figures(grouped[k])["attributed_pipeline"][0])) for k in (t1, t2))
    none = program_attribution(MARCH).programs[None]
    assert none.pipeline == D("200.00")
    pipeline = compute(MARCH, Filters(), ["influenced_pipeline_share"], "v2")["kpis"][0]
    assert attributed + none.pipeline == D(str(pipeline["denominator"])) == D("1600.00")


@pytest.mark.django_db
@pytest.mark.parametrize("definitions", ["v1", "v2"])
@pytest.mark.parametrize("by", ["tier", "program"])
@pytest.mark.parametrize("cohorts", [["abm"], ["abm", "non_abm", "all"]])
def test_grouped_runner_equals_the_runner_per_group(world, definitions, by, cohorts):
    """Every attribution output, for every group and cohort: the grouped statement gives
    what one statement per group gives (version 1 has no attribution KPIs, but its program
    slice is another: any touch up to the period's end)."""
    rules = definitions_resolve(definitions)
    union, groups = _contexts(rules, by, world[f"{by}s"])
    with CaptureQueriesContext(connection) as captured:
        grouped = ATTRIBUTION.grouped_runner(union, groups, cohorts)
    assert len(captured) == 1  # every group and cohort: one statement
    assert grouped == [ATTRIBUTION.runner(g, cohorts) for g in groups]
    assert all(set(r[c]) == set(OUTPUTS) for r in grouped for c in cohorts)


@pytest.mark.django_db
def test_version_1_slices_p2_by_any_touch(world):
    p1, p2 = world["programs"]
    for definitions, expected in (("v1", (D("850.00"), 3)), ("v2", (D("800.00"), 2))):
        union, groups = _contexts(definitions_resolve(definitions), "program", (p1, p2))
        values = ATTRIBUTION.grouped_runner(union, groups, ["abm"])[1]["abm"]
        assert (
            values["attributed_pipeline_amount"],
            values["attributed_pipeline_opportunities"],
        ) == expected, definitions
        assert values["attributed_revenue_amount"] == D("333.33")


@pytest.mark.django_db
def test_grouped_runner_keeps_the_other_filters(world):
    """A tier filter on the program groups (the programs page under a tier): each group's
    credit within that tier; the union (both programs) too."""
    t1, _ = world["tiers"]
    p1, p2 = world["programs"]
    rules = definitions_resolve("v2")
    base = Filters(tier=(t1,), cohort="all")
    grouped = compute_grouped(MARCH, base, "program", [p1, p2], IDS, rules, union=True)
    assert _figures(grouped[p2])["attributed_pipeline"] == (500.0, 1)  # A only
    for key, programs in ((p1, (p1,)), (p2, (p2,)), (None, (p1, p2))):
        expected = compute(MARCH, Filters(tier=(t1,), program=programs, cohort="all"), IDS, rules)
        assert grouped[key] == expected, key


@pytest.mark.django_db
def test_one_statement_whatever_the_number_of_groups(world):
    p1, p2 = world["programs"]
    more = [ProgramFactory().pk for _ in range(3)]
    rules = definitions_resolve("v2")
    counts = []
    for keys in ((p1,), (p1, p2, *more)):
        union, groups = _contexts(rules, "program", keys)
        with CaptureQueriesContext(connection) as captured:
            ATTRIBUTION.grouped_runner(union, groups, ["abm", "all"])
        counts.append(len(captured))
    assert counts == [1, 1]
