"""Reads of the funnel app: customers, cohorts and the first-win date of accounts."""

import datetime as dt

from django.db.models import BooleanField, Case, DateField, Min, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from accounts.models import target_q

from .choices import Cohort
from .models import Opportunity, RecomputeRun
from .querysets import won_new_business_q


def first_won_new_business(account_ref: str = "pk") -> Subquery:
    """The close date of the account's first won new-business opportunity (or NULL)."""
    first = (
        Opportunity.objects.filter(won_new_business_q(), account_id=OuterRef(account_ref))
        .order_by()
        .values("account_id")
        .annotate(first=Min("closed_on"))
        .values("first")
    )
    return Subquery(first, output_field=DateField())


def customer_q(day: dt.date, first_won: str = "first_won", churned_on: str = "churned_on") -> Q:
    """Customer at the end of ``day`` (KPIS.md), on a queryset annotated with the first-win date.

    First won new-business opportunity closed on or before ``day``, and not
    churned by then (``churned_on`` empty or after ``day``).
    """
    return Q(**{f"{first_won}__lte": day}) & (
        Q(**{f"{churned_on}__isnull": True}) | Q(**{f"{churned_on}__gt": day})
    )


def targeted_expression(day: dt.date, prefix: str = "") -> Case:
    """Boolean expression: the account is on the target list at the end of ``day``.

    A ``Case`` rather than the bare ``Q`` so that negating it (non-ABM) is
    exact with NULL dates.
    """
    return Case(
        When(target_q(day, prefix), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def cohort_q(cohort: str, day: dt.date, prefix: str = "") -> Q:
    """Accounts of ``cohort`` (abm, non_abm, all) as of ``day``, optionally through ``prefix``."""
    if cohort == Cohort.ALL:
        return Q()
    targeted = targeted_expression(day, prefix)
    if cohort == Cohort.ABM:
        return Q(targeted)
    if cohort == Cohort.NON_ABM:
        return ~Q(targeted)
    raise ValueError(f"Unknown cohort {cohort!r}: use abm, non_abm or all.")


def recompute_health() -> dict:
    """The last successful nightly run, for ``/healthz`` and the status page.

    Not "ok" when no nightly run succeeded within two days: the schedule or
    the worker is not running.
    """
    last = (
        RecomputeRun.objects.filter(
            kind=RecomputeRun.Kind.NIGHTLY, status=RecomputeRun.Status.SUCCEEDED
        )
        .order_by("-date", "-finished_at")
        .values("date", "finished_at")
        .first()
    )
    if last is None:
        return {
            "ok": False,
            "last_success": None,
            "message": "No nightly recompute has succeeded yet.",
        }
    age = (timezone.localdate() - last["date"]).days
    return {
        "ok": age <= 2,
        "last_success": last["date"].isoformat(),
        "finished_at": last["finished_at"].isoformat() if last["finished_at"] else None,
        "days_ago": age,
    }
