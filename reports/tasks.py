"""Celery tasks of the reports app: thin wrappers over its services."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import warm

logger = logging.getLogger(__name__)

#: Seconds after which a warm starts no new part: one more part fits in the soft limit.
WARM_BUDGET_SECONDS = 150


@shared_task(name="reports.warm_kpi_cache", ignore_result=True, soft_time_limit=240, time_limit=300)
def warm_kpi_cache() -> dict:
    """Beat's every-minute entry: recompute the cached KPI results after a data change.

    A warm longer than the budget stops between parts and the next tick goes on from
    there; a part cut short by the soft limit is simply done again next time."""
    try:
        return warm.warm_kpi_cache(budget=WARM_BUDGET_SECONDS)
    except SoftTimeLimitExceeded:
        logger.warning(
            "The KPI cache warm hit its time limit in a part; the next run continues from it."
        )
        return {"stopped": "time limit"}


@shared_task(name="reports.schedules_send", acks_late=True, reject_on_worker_lost=True)
def schedules_send() -> int:
    """Beat's every-5-minutes entry: e-mail the scheduled reports that are due."""
    from . import services

    return services.schedules_send()
