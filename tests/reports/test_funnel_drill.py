"""The clickable funnel, the stage-velocity chart and the drill-downs of money KPIs (#19).

Each funnel stage links to the accounts it counts (the funnel KPI's drill-down of that
stage, same period and filters), and the list has as many rows as the stage's count.
A money KPI lists the opportunities behind it; their amounts add up to the KPI value.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest

from funnel.kpis import Filters, compute, drilldown, spec_for
from funnel.kpis.base import NoDrilldown, Period
from tests.factories import AccountStageChangeFactory, OpportunityFactory, TouchFactory, at
from tests.reports.test_pages import MARCH, body, build_world

D = dt.date
Q_MARCH = Period(D(2024, 3, 1), D(2024, 3, 31))
STAGES = ("target", "engaged", "opportunity", "customer", "retained", "expanded")
MONEY = ("influenced_pipeline", "new_revenue_won", "target_account_pipeline")


@pytest.fixture
def world(db):
    """build_world(6) plus a won deal of 24,000 (account 3, closed March 20) and a lost
    one (account 4), so every money KPI has rows and some opportunities are left out."""
    w = build_world(6)
    OpportunityFactory(
        account=w["accounts"][3],
        status="won",
        created_on=D(2024, 2, 1),
        closed_on=D(2024, 3, 20),
        amount=Decimal("24000"),
    )
    OpportunityFactory(
        account=w["accounts"][4],
        status="lost",
        created_on=D(2024, 2, 1),
        closed_on=D(2024, 3, 21),
        amount=Decimal("7000"),
    )
    AccountStageChangeFactory(
        account=w["accounts"][3],
        changed_on=D(2024, 3, 20),
        from_stage="engaged",
        to_stage="customer",
    )
    # Account 0 (engaged on March 10, build_world) opens a deal: 8 days in engaged.
    AccountStageChangeFactory(
        account=w["accounts"][0],
        changed_on=D(2024, 3, 18),
        from_stage="engaged",
        to_stage="opportunity",
    )
    # A program touch two days before account 0's deal (created March 5): influenced.
    TouchFactory(account=w["accounts"][0], program=w["programs"][0], occurred_at=at(D(2024, 3, 3)))
    return w


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def funnel_counts(html: str) -> dict[str, int]:
    """Stage -> count as the funnel chart writes it ("ABM funnel: Target 6; Engaged 6; ...")."""
    label = re.search(r'aria-label="ABM funnel: ([^"]*)"', html).group(1)
    return {
        name.lower(): int(n.replace(",", "")) for name, n in re.findall(r"(\w+) ([\d,]+)", label)
    }


def test_every_funnel_stage_links_to_its_accounts_with_the_query(viewer_client, world):
    t1 = world["tiers"][0]
    html = body(viewer_client.get(f"/?{MARCH}&tier={t1.pk}"))
    for stage in STAGES:
        href = f"/kpis/funnel/{stage}/accounts/?from=2024-03-01&amp;to=2024-03-31&amp;tier={t1.pk}"
        assert f'<a class="stage-link" href="{href}" data-stage="{stage}">' in html, stage
    assert "Click a stage to list its accounts." in html


@pytest.mark.parametrize("definitions", ["v1", "v2"])
def test_each_stage_list_has_the_stage_count(viewer_client, world, definitions):
    """Two ways to one number: the chart's count of a stage and the rows of its list."""
    html = body(viewer_client.get(f"/?{MARCH}&definitions={definitions}"))
    counts = funnel_counts(html)
    # Six target accounts, all in the ABM cohort; account 3 won a deal in March (a customer).
    assert counts["target"] == 6 and counts["customer"] == 1
    for stage in STAGES:
        page = viewer_client.get(
            f"/kpis/funnel/{stage}/accounts/?{MARCH}&definitions={definitions}"
        )
        assert page.status_code == 200
        listed = re.search(r"<strong>([\d,]+)</strong> accounts?", body(page)).group(1)
        assert int(listed) == counts[stage], (definitions, stage)


def test_stage_list_names_its_stage_and_keeps_filters(viewer_client, world):
    t2 = world["tiers"][1]
    html = body(viewer_client.get(f"/kpis/funnel/customer/accounts/?{MARCH}&tier={t2.pk}"))
    # Account 3 (odd: tier 2) is the one customer.
    assert "<h1>ABM funnel: Customer</h1>" in html
    assert "<strong>1</strong> account behind the customer stage" in html
    assert "Acme 003" in html and "Acme 001" not in html
    assert 'href="/?from=2024-03-01&amp;to=2024-03-31&amp;tier=' in html  # back to the dashboard
    csv = viewer_client.get(f"/kpis/funnel/customer/accounts/?{MARCH}&format=csv")
    assert csv["Content-Disposition"].startswith('attachment; filename="funnel-customer-20240301-')


def test_unknown_stage_or_part_of_a_kpi_without_parts_is_404(viewer_client, world):
    assert viewer_client.get(f"/kpis/funnel/nowhere/accounts/?{MARCH}").status_code == 404
    assert viewer_client.get(f"/kpis/target_accounts/engaged/accounts/?{MARCH}").status_code == 404
    # The whole funnel is a map: no single list; its page links each stage's list.
    whole = viewer_client.get(f"/kpis/funnel/accounts/?{MARCH}")
    assert whole.status_code == 200
    assert "/kpis/funnel/customer/accounts/?from=2024-03-01" in whole.content.decode()


def test_engine_drilldown_of_a_part(world):
    rows = drilldown("funnel", Q_MARCH, part="customer")
    assert [a.name for a in rows] == ["Acme 003"]
    with pytest.raises(NoDrilldown):
        drilldown("funnel", Q_MARCH)
    with pytest.raises(NoDrilldown):
        drilldown("funnel", Q_MARCH, part="nowhere")


def test_velocity_is_a_bar_chart(viewer_client, world):
    html = body(viewer_client.get(f"/?{MARCH}"))
    # Account 0: target -> engaged on March 10, engaged -> opportunity on March 18: 8 days
    # in engaged. Account 3's one change has no earlier change: left out.
    velocity = compute(Q_MARCH, ids=["stage_velocity_days"])["kpis"][0]["value"]
    assert velocity == {"engaged": 8.0}
    chart = html.split('id="velocity-h"')[1]
    assert '<svg class="velocity"' in chart and "Stage velocity: Engaged 8.0 days" in chart
    assert '<dl class="facts">' not in chart


def test_velocity_chart_bars_and_days():
    from reports.templatetags.report_tags import velocity_chart

    svg = velocity_chart({"value": {"target": 10.0, "engaged": 5.0}})
    # The longest stage is 70 % of the bar area (76 % of the width): 53.2 %; half of it 26.6 %.
    assert 'width="53.20%"' in svg and 'width="26.60%"' in svg
    assert "Target: 10.0 days" in svg and "Engaged: 5.0 days" in svg
    assert velocity_chart({"value": {}}) == ""


# --- money KPIs -------------------------------------------------------------------------------


@pytest.mark.parametrize("definitions", ["v1", "v2"])
@pytest.mark.parametrize("kpi_id", MONEY)
def test_money_kpi_lists_opportunities_adding_up_to_its_value(world, kpi_id, definitions):
    """Two ways to one number: the KPI's sum and the sum of its listed amounts."""
    generation = int(definitions[1])
    assert spec_for(kpi_id, generation).drilldown == "opportunity"
    item = compute(Q_MARCH, ids=[kpi_id], definitions=definitions)["kpis"][0]
    rows = list(drilldown(kpi_id, Q_MARCH, definitions=definitions))
    assert Decimal(str(item["value"])) == sum((o.amount for o in rows), Decimal(0))
    assert len(rows) == item["count"]


def test_money_kpi_values_by_hand(world):
    values = {
        i["id"]: i["value"] for i in compute(Q_MARCH, ids=list(MONEY), definitions="v2")["kpis"]
    }
    # Won in March: account 3's 24,000 (the 7,000 is lost). Open at March 31: the deals of
    # accounts 0 and 3 created March 5 (5,000 each); the won and lost ones are closed.
    # Influenced (v2): of the deals created in March, only account 0's has a program touch
    # (March 3) on or before its creation day; build_world's touches are on March 10.
    assert values["new_revenue_won"] == 24000
    assert values["target_account_pipeline"] == 10000
    assert values["influenced_pipeline"] == 5000


def test_money_drill_page_states_the_total(viewer_client, world):
    html = body(viewer_client.get(f"/kpis/new_revenue_won/accounts/?{MARCH}"))
    assert "<strong>1</strong> opportunity behind this number" in html
    assert '<strong class="drill-total">USD 24,000</strong>' in html
    assert "Acme 003" in html and "Acme 004" not in html  # the lost deal is not revenue
    stage4 = body(viewer_client.get(f"/stages/4/?{MARCH}"))
    assert "/kpis/new_revenue_won/accounts/?from=2024-03-01&amp;to=2024-03-31" in stage4


def test_money_drill_with_a_filter(viewer_client, world):
    t1 = world["tiers"][0]
    # Tier 1 = even accounts: account 0's open deal only (account 3 is tier 2).
    html = body(viewer_client.get(f"/kpis/target_account_pipeline/accounts/?{MARCH}&tier={t1.pk}"))
    assert '<strong class="drill-total">USD 5,000</strong>' in html
    assert (
        compute(Q_MARCH, Filters(tier=[t1.pk]), ids=["target_account_pipeline"])["kpis"][0]["value"]
        == 5000
    )


def test_stage_list_without_a_query_uses_the_default_period(viewer_client, world):
    assert viewer_client.get("/kpis/funnel/target/accounts/").status_code == 200
