"""Celery tasks of the reports app: thin wrappers over its services."""

from celery import shared_task

from . import warm


@shared_task(name="reports.warm_kpi_cache", ignore_result=True, soft_time_limit=240, time_limit=300)
def warm_kpi_cache() -> dict:
    """Beat's every-minute entry: recompute the cached KPI results after a data change."""
    return warm.warm_kpi_cache()
