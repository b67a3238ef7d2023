"""Pages of a rate's two sides and of a mean's deals (#19 item 2), on the hand-built world
of test_funnel_drill: in March one new-business deal won (account 3, 24,000, created
February 1, closed March 20: 48 days) and one lost (account 4)."""

import re

import pytest

from tests.reports.test_funnel_drill import viewer_client, world  # noqa: F401 - fixtures
from tests.reports.test_pages import MARCH, body

pytestmark = pytest.mark.usefixtures("world")


def listed(html: str) -> int:
    return int(re.search(r"<strong>([\d,]+)</strong> (?:opportunit|account)", html).group(1))


def test_win_rate_sides_list_the_won_and_the_decided_deals(viewer_client):  # noqa: F811
    top = body(viewer_client.get(f"/kpis/opportunity_win_rate/numerator/accounts/?{MARCH}"))
    assert "<h1>Opportunity win rate: numerator</h1>" in top
    assert "<strong>1</strong> opportunity in the rate's numerator" in top
    assert "Acme 003" in top and "Acme 004" not in top
    bottom = body(viewer_client.get(f"/kpis/opportunity_win_rate/denominator/accounts/?{MARCH}"))
    assert "<strong>2</strong> opportunities in the rate's denominator" in bottom
    assert "Acme 003" in bottom and "Acme 004" in bottom
    csv = viewer_client.get(f"/kpis/opportunity_win_rate/denominator/accounts/?{MARCH}&format=csv")
    rows = b"".join(csv.streaming_content if csv.streaming else [csv.content]).decode()
    assert rows.count("\n") == 3  # header and the two deals
    assert "cycle_days" in rows.splitlines()[0]


def test_stage_page_and_the_rate_page_link_to_both_sides(viewer_client):  # noqa: F811
    stage4 = body(viewer_client.get(f"/stages/4/?{MARCH}"))
    for side in ("numerator", "denominator"):
        assert f"/kpis/opportunity_win_rate/{side}/accounts/?from=2024-03-01" in stage4
    rate = viewer_client.get(f"/kpis/engaged_rate/accounts/?{MARCH}")
    assert rate.status_code == 200  # a rate has no single list, but names its two
    assert "/kpis/engaged_rate/numerator/accounts/?from=2024-03-01" in body(rate)
    assert "/kpis/engaged_rate/denominator/accounts/?from=2024-03-01" in body(rate)
    engaged = body(viewer_client.get(f"/kpis/engaged_rate/numerator/accounts/?{MARCH}"))
    everyone = body(viewer_client.get(f"/kpis/engaged_rate/denominator/accounts/?{MARCH}"))
    assert (listed(engaged), listed(everyone)) == (6, 6)  # build_world: all six engaged


def test_a_mean_lists_its_deals_with_the_mean_recomputed(
    viewer_client,  # noqa: F811
    django_assert_max_num_queries,
):
    with django_assert_max_num_queries(14):
        cycle = body(viewer_client.get(f"/kpis/sales_cycle_days/accounts/?{MARCH}"))
    assert "<strong>1</strong> opportunity behind this number" in cycle
    assert re.search(r'class="drill-mean">48(\.0)? days<', cycle)
    deal = body(viewer_client.get(f"/kpis/average_deal_value/accounts/?{MARCH}"))
    assert '<strong class="drill-mean">USD 24,000' in deal
    assert "Acme 004" not in deal  # the lost deal is not averaged


def test_no_sides_for_a_count_and_no_other_part_for_a_rate(viewer_client):  # noqa: F811
    assert (
        viewer_client.get(f"/kpis/target_accounts/numerator/accounts/?{MARCH}").status_code == 404
    )
    assert viewer_client.get(f"/kpis/engaged_rate/customer/accounts/?{MARCH}").status_code == 404


def test_account_sides_show_stage_and_scores_and_sort(viewer_client):  # noqa: F811
    html = body(
        viewer_client.get(f"/kpis/engaged_rate/denominator/accounts/?{MARCH}&sort=-engagement")
    )
    for header in ("Stage", "Engagement", "Relationship", "Owner", "Tier"):
        assert f">{header}" in html, header
    assert 'aria-sort="descending">Engagement' in html
    names = re.findall(r'<th scope="row"><a href="/accounts/\d+/[^"]*">(Acme \d+)</a>', html)
    assert len(names) == 6
