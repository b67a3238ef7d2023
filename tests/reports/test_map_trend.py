"""The map KPI target_accounts_by_tier has a trend line on its stage card (#19 item 1):
its total over tiers, the ``count`` its snapshots store beside the map; live, the series
of target_accounts, whose value is that same total."""

import datetime as dt
import re

import pytest

from funnel.kpis import Filters, Period, compute
from reports.selectors import MAP_TOTALS, card_trend
from tests.factories import FunnelSnapshotFactory
from tests.reports.test_pages import MARCH, body, build_world

D = dt.date
Q_MARCH = Period(D(2024, 3, 1), D(2024, 3, 31))
MAP = "target_accounts_by_tier"


def _snapshot(day: dt.date, tiers: dict[str, int]) -> None:
    item = {"id": MAP, "unit": "map", "value": tiers, "count": sum(tiers.values())}
    FunnelSnapshotFactory(date=day, slice="all", kpis={"kpis": [item]})


@pytest.mark.django_db
def test_the_snapshot_trend_is_the_total_over_tiers(client, viewer):
    build_world(3)  # no snapshots of its own
    _snapshot(D(2024, 3, 10), {"Tier 1": 2, "none": 1})  # 3
    _snapshot(D(2024, 3, 20), {"Tier 1": 2, "Tier 2": 2})  # 4
    _snapshot(D(2024, 3, 31), {"Tier 1": 3, "Tier 2": 2})  # 5
    trend = card_trend(Q_MARCH, Filters(), [MAP])
    assert trend.slice == "all"
    assert trend.series[MAP] == [3, 4, 5]
    client.force_login(viewer)
    html = body(client.get(f"/stages/1/?{MARCH}"))
    card = re.search(r'id="kpi-target_accounts_by_tier".*?</article>', html, re.S).group(0)
    assert (
        'aria-label="Target accounts by tier (total): trend from Mar 10 to Mar 31, 2024, 3 to 5"'
        in card
    )


@pytest.mark.django_db
def test_the_live_trend_is_the_target_accounts_series(client, viewer):
    build_world(6)  # six target accounts in two tiers, no published snapshots
    trend = card_trend(Q_MARCH, Filters(), [MAP])
    assert trend.slice == "live"
    assert MAP in trend.series and "target_accounts" not in trend.series  # not asked for
    (item,) = compute(Q_MARCH, Filters(), ids=[MAP])["kpis"]
    assert item["count"] == 6 and trend.series[MAP][-1] == 6  # the map's own total
    both = card_trend(Q_MARCH, Filters(), [MAP, MAP_TOTALS[MAP]])
    assert both.series[MAP] == both.series["target_accounts"]
    client.force_login(viewer)
    html = body(client.get(f"/stages/1/?{MARCH}"))
    card = re.search(r'id="kpi-target_accounts_by_tier".*?</article>', html, re.S).group(0)
    assert re.search(
        r'<svg class="spark"[^>]*aria-label="Target accounts by tier \(total\): trend from .* to 6"',
        card,
    )
