"""Celery tasks of the reports app: thin wrappers over its services."""

from celery import shared_task

from . import warm


@shared_task(name="reports.warm_kpi_cache", ignore_result=True, soft_time_limit=240, time_limit=300)
def warm_kpi_cache() -> dict:
    """Beat's every-minute entry: recompute the cached KPI results after a data change."""
    return warm.warm_kpi_cache()


@shared_task(name="reports.schedules_send", acks_late=True, reject_on_worker_lost=True)
def schedules_send() -> int:
    """Beat's every-5-minutes entry: e-mail the scheduled reports that are due."""
    from . import services

    return services.schedules_send()
