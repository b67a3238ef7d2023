"""Reads of the funnel app: customers, cohorts and the first-win date of accounts."""

import datetime as dt

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateField,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.utils import timezone

from accounts.models import member_q, target_q

from .choices import Cohort
from .models import FunnelSnapshot, Opportunity, RecomputeRun
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


def cohort_flag(day: dt.date, prefix: str = "", list_id: int | None = None) -> Case:
    """Boolean expression: the account is in the ABM cohort at the end of ``day``.

    On the target list (``targeted_expression``), or with ``list_id`` a member
    of that account list. Stages stay defined by the target list either way.
    """
    if list_id is None:
        return targeted_expression(day, prefix)
    return Case(
        When(member_q(list_id, day, prefix), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def cohort_q(cohort: str, day: dt.date, prefix: str = "", list_id: int | None = None) -> Q:
    """Accounts of ``cohort`` (abm, non_abm, all) as of ``day``, optionally through ``prefix``.

    With ``list_id`` the members of that account list as of ``day`` take the
    target list's place (abm: members, non_abm: the others).
    """
    if cohort == Cohort.ALL:
        return Q()
    targeted = cohort_flag(day, prefix, list_id)
    if cohort == Cohort.ABM:
        return Q(targeted)
    if cohort == Cohort.NON_ABM:
        return ~Q(targeted)
    raise ValueError(f"Unknown cohort {cohort!r}: use abm, non_abm or all.")


def recompute_health() -> dict:
    """The last successful nightly run, for ``/healthz`` and the status page.

    Not "ok" when no nightly run succeeded within two days: the schedule or
    the worker is not running. A fresh install (no nightly run attempted, and
    its first recompute, if any, less than two days old) is "waiting", not failing.
    One query whatever the state.
    """
    nightly = Q(kind=RecomputeRun.Kind.NIGHTLY)
    succeeded = nightly & Q(status=RecomputeRun.Status.SUCCEEDED)
    runs = RecomputeRun.objects.aggregate(
        last_success=Max("date", filter=succeeded),
        finished_at=Max("finished_at", filter=succeeded),
        nightly=Count("pk", filter=nightly),
        first=Min("started_at"),
    )
    if runs["last_success"] is None:
        fresh = runs["first"] is None or timezone.now() - runs["first"] < dt.timedelta(days=2)
        if not runs["nightly"] and fresh:
            return {
                "ok": True,
                "waiting": True,
                "last_success": None,
                "message": f"Waiting for the first nightly run (daily at "
                f"{settings.ABM_NIGHTLY_HOUR:02d}:15, {settings.TIME_ZONE}).",
            }
        return {
            "ok": False,
            "last_success": None,
            "message": "No nightly recompute has succeeded yet.",
        }
    age = (timezone.localdate() - runs["last_success"]).days
    return {
        "ok": age <= 2,
        "last_success": runs["last_success"].isoformat(),
        "finished_at": runs["finished_at"].isoformat() if runs["finished_at"] else None,
        "days_ago": age,
    }


# --- published funnel snapshots -------------------------------------------------------------


def latest_revisions(snapshots: QuerySet[FunnelSnapshot]) -> QuerySet[FunnelSnapshot]:
    """The latest revision of each (date, window, slice, definitions) among ``snapshots``.

    One query: a window over the rows keeps each group's highest revision.
    """
    group = [F("date"), F("window_days"), F("slice"), F("definitions_id")]
    return snapshots.annotate(top=Window(Max("revision"), partition_by=group)).filter(
        revision=F("top")
    )


def first_revisions(snapshots: QuerySet[FunnelSnapshot]) -> QuerySet[FunnelSnapshot]:
    """What was first published for each (date, window, slice, definitions)."""
    return snapshots.filter(revision=1)


def restated_kpis(before: dict, after: dict) -> list[dict]:
    """The KPIs whose value differs between two published results: id, label, from, to."""
    old = {item["id"]: item for item in (before or {}).get("kpis", [])}
    changes = []
    for item in (after or {}).get("kpis", []):
        prior = old.get(item["id"])
        if prior is None or prior.get("value") != item.get("value"):
            changes.append(
                {
                    "id": item["id"],
                    "label": item.get("label", item["id"]),
                    "unit": item.get("unit"),
                    "from": prior.get("value") if prior else None,
                    "to": item.get("value"),
                }
            )
    return changes


def snapshot_restatements(
    day: dt.date, slice_name: str, window_days: int, definitions_id: int
) -> list[dict]:
    """Every revision of one published snapshot, oldest first, each with what it changed.

    One query (a snapshot has a handful of revisions).
    """
    rows = list(
        FunnelSnapshot.objects.filter(
            date=day, slice=slice_name, window_days=window_days, definitions_id=definitions_id
        ).order_by("revision")
    )
    history = []
    for previous, row in zip([None, *rows[:-1]], rows, strict=True):  # revisions: a handful
        history.append(
            {
                "revision": row.revision,
                "reason": row.reason,
                "published_at": row.created_at,
                "changes": restated_kpis(previous.kpis, row.kpis) if previous else [],
            }
        )
    return history
