"""Warm the KPI cache: compute what pages and the API ask for first, before anyone asks.

A cold computation of the whole catalogue on the default demo data takes
about a second on PostgreSQL; from the cache it takes milliseconds. Results
are cached under the data version (``funnel.kpis.data_version``), so they stay
exact: this only moves the computation from the first request after a
change to a background task. Beat runs it every minute; it does nothing
while the data version is unchanged.
"""

import logging
import time
from typing import Any

from django.core.cache import cache
from django.db import connection

from accounts.models import Tier
from funnel.kpis import (
    DEFAULT_PRESET,
    PRESETS,
    Filters,
    compute,
    data_version,
    data_version_compact,
    data_version_log_length,
    definitions_resolve,
    preset_period,
)

from . import selectors

logger = logging.getLogger(__name__)

#: The data version the cache was last warmed for.
WARMED_KEY = "kpis:warmed-version"
#: Fold the data-version log into its counter when it is longer than this.
COMPACT_ABOVE = 1000


def warm_kpi_cache(force: bool = False) -> dict[str, Any]:
    """Compute every preset period (and the one before it), the default dashboard's and
    stage pages' live trends and the default programs and tiers pages, unless they were
    already computed for the current data version."""
    if connection.vendor != "postgresql":
        return {"skipped": "the KPI cache needs PostgreSQL"}
    current = data_version()
    if current is None:
        return {"skipped": "the data version is not installed (run migrate)"}
    if not force and cache.get(WARMED_KEY) == current:
        return {"skipped": "already warm", "version": current}
    began = time.monotonic()
    computed = 0
    for preset, _label in PRESETS:
        if preset == "custom":
            continue
        period = preset_period(preset)
        for each in (period, period.previous()):  # the dashboard compares with the one before
            compute(each)
            computed += 1
    period = preset_period(DEFAULT_PRESET)
    # The default dashboard's live trends (#19): the cards' weeks and the month-over-month
    # table, each a series of a few seconds cold on the demo.
    headline = list(selectors.HEADLINE_KPIS.values())
    selectors.live_trend(period, Filters(), headline)
    selectors.month_over_month(period.end, Filters(), headline)
    # Its surging and at-risk lists (#18): seconds at 20,000 accounts, the first dashboard's
    # whole cost otherwise. Cached under the data version and the snapshot run they read.
    selectors.dashboard_lists(period, Filters(), definitions_resolve())
    # Each stage page's default trends: the live series where no snapshots answer them.
    for stage in selectors.HEADLINE_KPIS:  # the six stages
        selectors.card_trend(period, Filters(), selectors.stage_kpi_ids(stage))
    selectors.program_rows(period, Filters())
    tiers = list(Tier.objects.order_by("rank").values_list("pk", "name"))
    selectors.tier_rows(period, Filters(), tiers)
    cache.set(WARMED_KEY, current, timeout=None)
    folded = data_version_compact() if data_version_log_length() > COMPACT_ABOVE else 0
    elapsed = time.monotonic() - began
    logger.info("KPI cache warmed for data version %s in %.1fs.", current, elapsed)
    return {
        "version": current,
        "periods": computed,
        "seconds": round(elapsed, 1),
        "compacted": folded,
    }
