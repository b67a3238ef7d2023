"""Warm the KPI cache: compute what pages and the API ask for first, before anyone asks.

A cold computation of the whole catalogue on the default demo data takes
about a second on PostgreSQL; from the cache it takes milliseconds. Results
are cached under the data version (``funnel.kpis.data_version``), so they stay
exact: this only moves the computation from the first request after a
change to a background task. Beat runs it every minute; it does nothing
while the data version is unchanged.

At 20,000 accounts a whole warm takes minutes, longer than beat's minute and,
at larger sizes, than the task's time limit. So it runs in parts (a preset
period, the dashboard's trends, a stage page, ...), what users open first
first; each finished part is recorded under the data version, a run stops
starting parts past its time budget, and the next run goes on where the last
stopped. One warm runs at a time: a second one (beat's next tick) skips.
"""

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection

from accounts.models import Tier
from funnel.kpis import (
    DEFAULT_PRESET,
    PRESETS,
    Filters,
    attribution_available,
    attribution_version_model,
    compute,
    data_version,
    data_version_compact,
    data_version_log_length,
    definitions_resolve,
    preset_period,
    program_attribution,
)

from . import selectors

logger = logging.getLogger(__name__)

#: The data version the cache was last warmed for (every part done).
WARMED_KEY = "kpis:warmed-version"
#: The parts done so far for one data version: ``{"version": v, "done": [names]}``.
PROGRESS_KEY = "kpis:warm-progress"
#: Held while a warm runs, so beat's next tick does not compute the same beside it.
LOCK_KEY = "kpis:warming"
#: How long the lock lasts if its holder dies: the task's hard time limit.
LOCK_SECONDS = 300
#: Fold the data-version log into its counter when it is longer than this.
COMPACT_ABOVE = 1000


def _warm_period(preset: str) -> int:
    """The preset period and the one before it (the dashboard compares with it)."""
    period = preset_period(preset)
    for each in (period, period.previous()):
        compute(each)
    return 2


def _warm_trends() -> int:
    """The default dashboard's live trends: the cards' weeks and the month-over-month
    table (#19), each a series of a few seconds cold on the demo."""
    period = preset_period(DEFAULT_PRESET)
    headline = list(selectors.HEADLINE_KPIS.values())
    selectors.live_trend(period, Filters(), headline)
    selectors.month_over_month(period.end, Filters(), headline)
    return 0


def _warm_lists() -> int:
    """The default dashboard's surging and at-risk lists (#18): seconds at 20,000 accounts,
    the first dashboard's whole cost otherwise. Cached under the data version and the
    snapshot run they read."""
    selectors.dashboard_lists(preset_period(DEFAULT_PRESET), Filters(), definitions_resolve())
    return 0


def _warm_stage(stage: int) -> int:
    """A stage page's default trends: the live series where no snapshots answer them."""
    period = preset_period(DEFAULT_PRESET)
    selectors.card_trend(period, Filters(), selectors.stage_kpi_ids(stage))
    return 0


def _warm_programs() -> int:
    """The Programs page's rows and, under a version with attribution, its credits under
    the version's model: without them a warm page still ran the attribution statement
    (0.13 s of 0.16 s at 20,000 accounts, #18)."""
    period = preset_period(DEFAULT_PRESET)
    selectors.program_rows(period, Filters())
    rules = definitions_resolve()
    if rules.generation >= 2 and attribution_available():
        model = attribution_version_model(rules.params)
        program_attribution(period, Filters(), model, definitions=rules)
    return 0


def _warm_tiers() -> int:
    tiers = list(Tier.objects.order_by("rank").values_list("pk", "name"))
    selectors.tier_rows(preset_period(DEFAULT_PRESET), Filters(), tiers)
    return 0


def parts() -> list[tuple[str, Callable[[], int]]]:
    """The warm's parts in the order users reach them: the dashboard (its period, lists and
    trends), the stage pages, programs and tiers, then the other presets. Each returns the
    number of periods it computed in full."""
    steps: list[tuple[str, Callable[[], int]]] = [
        (f"period:{DEFAULT_PRESET}", lambda: _warm_period(DEFAULT_PRESET)),
        ("dashboard-lists", _warm_lists),
        ("dashboard-trends", _warm_trends),
    ]
    steps += [
        (f"stage:{stage}", lambda stage=stage: _warm_stage(stage))
        for stage in selectors.HEADLINE_KPIS
    ]
    steps += [("programs", _warm_programs), ("tiers", _warm_tiers)]
    steps += [
        (f"period:{preset}", lambda preset=preset: _warm_period(preset))
        for preset, _label in PRESETS
        if preset not in ("custom", DEFAULT_PRESET)
    ]
    return steps


def warm_kpi_cache(force: bool = False, budget: float | None = None) -> dict[str, Any]:
    """Warm the parts not yet warm for the current data version (all of them with
    ``force``), starting no new part once ``budget`` seconds have passed.

    Returns what was done: the version, the parts computed, the periods among them, the
    parts left for the next run (empty when the cache is warm) and the seconds taken.
    """
    if connection.vendor != "postgresql":
        return {"skipped": "the KPI cache needs PostgreSQL"}
    current = data_version()
    if current is None:
        return {"skipped": "the data version is not installed (run migrate)"}
    if not force and cache.get(WARMED_KEY) == current:
        return {"skipped": "already warm", "version": current}
    token = uuid.uuid4().hex
    if not cache.add(LOCK_KEY, token, timeout=LOCK_SECONDS):
        return {"skipped": "another warm is running", "version": current}
    try:
        return _warm(current, force, budget)
    finally:
        if cache.get(LOCK_KEY) == token:
            cache.delete(LOCK_KEY)


def _warm(current: int, force: bool, budget: float | None) -> dict[str, Any]:
    began = time.monotonic()
    progress = cache.get(PROGRESS_KEY)
    done: list[str] = []
    if not force and progress and progress.get("version") == current:
        done = list(progress["done"])
    computed, periods = [], 0
    left = [name for name, _step in parts() if name not in done]
    for name, step in parts():
        if name in done:
            continue
        if budget is not None and computed and time.monotonic() - began >= budget:
            break
        periods += step()
        computed.append(name)
        done.append(name)
        left.remove(name)
        cache.set(PROGRESS_KEY, {"version": current, "done": done}, timeout=None)
    elapsed = time.monotonic() - began
    if left:
        logger.info(
            "KPI cache warm for data version %s: %d parts in %.1fs, %d left for the next run.",
            current,
            len(computed),
            elapsed,
            len(left),
        )
        folded = 0
    else:
        cache.set(WARMED_KEY, current, timeout=None)
        folded = data_version_compact() if data_version_log_length() > COMPACT_ABOVE else 0
        logger.info("KPI cache warmed for data version %s in %.1fs.", current, elapsed)
    return {
        "version": current,
        "parts": computed,
        "periods": periods,
        "left": left,
        "seconds": round(elapsed, 1),
        "compacted": folded,
    }
