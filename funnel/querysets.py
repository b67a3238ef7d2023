"""Opportunity conditions as ``Q`` builders.

The Q builders take a ``prefix`` so the same rule applies through a relation
(``"opportunities__"``) or inside a subquery; the KPI engine and the
selectors use them, so "open as of", "won in" and "closed in" mean one thing.
"""

import datetime as dt

from django.db.models import Q

from .choices import OpportunityStatus, OpportunityType


def open_as_of_q(day: dt.date, prefix: str = "") -> Q:
    """Open at the end of ``day``: created by then (or creation unknown), not yet closed.

    An opportunity closed after ``day`` was still open on it, so past periods
    see the pipeline they had.
    """
    created = Q(**{f"{prefix}created_on__isnull": True}) | Q(**{f"{prefix}created_on__lte": day})
    not_closed = Q(**{f"{prefix}status": OpportunityStatus.OPEN}) | Q(
        **{f"{prefix}closed_on__gt": day}
    )
    return created & not_closed


def closed_in_q(
    start: dt.date,
    end: dt.date,
    status: str | None = None,
    type: str | None = None,  # noqa: A002 - the model's field name
    prefix: str = "",
) -> Q:
    """Closed (won or lost, or ``status``) between ``start`` and ``end`` inclusive."""
    q = Q(**{f"{prefix}closed_on__gte": start, f"{prefix}closed_on__lte": end})
    q &= (
        Q(**{f"{prefix}status": status})
        if status
        else ~Q(**{f"{prefix}status": OpportunityStatus.OPEN})
    )
    if type:
        q &= Q(**{f"{prefix}type": type})
    return q


def created_in_q(
    start: dt.date,
    end: dt.date,
    type: str | None = None,  # noqa: A002
    prefix: str = "",
) -> Q:
    """Created between ``start`` and ``end`` inclusive (unknown creation dates never match)."""
    q = Q(**{f"{prefix}created_on__gte": start, f"{prefix}created_on__lte": end})
    if type:
        q &= Q(**{f"{prefix}type": type})
    return q


def won_new_business_q(prefix: str = "") -> Q:
    """Won new-business opportunities: the ones that make an account a customer."""
    return Q(
        **{f"{prefix}type": OpportunityType.NEW_BUSINESS, f"{prefix}status": OpportunityStatus.WON}
    )
