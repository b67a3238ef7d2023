"""Reads for the drill-down lists: the rows behind a number in the order the page asks for,
by any column including the row's figure (its contribution: amount, days, touches, score),
for the page and its CSV alike (part of ``reports.selectors``, split for size)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import (
    Case,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    QuerySet,
    Value,
    When,
)

from accounts.models import Account
from funnel.choices import Stage

#: The sort key of the row's figure (the KPI's contribution column).
FIGURE = "figure"

#: An account's stage in funnel order (not alphabetical): "Not in the funnel" first.
_STAGE_ORDER = Case(
    *(When(snap_stage=value, then=Value(i)) for i, value in enumerate(Stage.values)),
    default=Value(None),
    output_field=IntegerField(),
)

#: The drill-down's account sorts: the account list's (``SORTS``) plus domain, owner and
#: stage; the figure sorts in ``drill_ids``.
_ACCOUNT_EXTRA: dict[str, Any] = {
    "domain": F("domain"),
    "owner": F("owner__name"),
    "stage": _STAGE_ORDER,
}

#: The drill-down's opportunity sorts (newest close first by default, as before).
OPPORTUNITY_SORTS: dict[str, Any] = {
    "name": F("name"),
    "account": F("account__name"),
    "type": F("type"),
    "status": F("status"),
    "amount": F("amount"),
    "created": F("created_on"),
    "closed": F("closed_on"),
    "cycle": ExpressionWrapper(F("closed_on") - F("created_on"), output_field=DurationField()),
}
OPPORTUNITY_DEFAULT = "-closed"


def _account_sorts() -> dict[str, Any]:
    from . import SORTS  # the account list's sorts, shared with the drill-down

    return {**{key: F(field) for key, (field, _) in SORTS.items()}, **_ACCOUNT_EXTRA}


def _ordered(qs: QuerySet, sorts: dict[str, Any], sort: str, default: str) -> QuerySet:
    """``qs`` ordered by ``sort`` (``-`` for descending), empty values last either way, then
    by id; an unknown key (or the figure, sorted in Python) orders by ``default``."""
    if sort.lstrip("-") not in sorts:
        sort = default
    expression = sorts[sort.lstrip("-")]
    descending = sort.startswith("-")
    order = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return qs.order_by(order, "pk")


def drill_accounts(rows: QuerySet, sort: str, day: dt.date | None) -> QuerySet[Account]:
    """The accounts of a drill-down with their snapshot of ``day`` (stage, scores), sorted by
    any column key (``-`` for descending); by name for the figure (``drill_ids`` sorts it).
    The drill-down's own rows, ordered: their ``figure`` comes along (``drill_ids``)."""
    from . import with_latest_snapshot

    qs = with_latest_snapshot(rows, day)
    return _ordered(qs.select_related("tier", "owner"), _account_sorts(), sort, "name")


def drill_opportunities(rows: QuerySet, sort: str) -> QuerySet:
    """The opportunities of a drill-down with their account, sorted by any column key;
    newest close first by default (the drill-down's own rows, with their ``figure``)."""
    return _ordered(rows.select_related("account"), OPPORTUNITY_SORTS, sort, OPPORTUNITY_DEFAULT)


def _figure_key(value: Any) -> Any:
    return None if isinstance(value, dict | list) else value


def drill_ids(ordered: QuerySet, sort: str) -> tuple[list[int], dict[int, Any] | None]:
    """The ids behind the number in the page's order and each row's figure (``None`` for
    lists without figures), in one query: the drill-down runs once. Sorted by the figure,
    the rows are ordered by their figure as a number, rows without one last, ties in
    ``ordered``'s order."""
    if "figure" not in ordered.query.annotations:
        return list(ordered.values_list("pk", flat=True)), None
    pairs = list(ordered.values_list("pk", "figure"))
    ids = [pk for pk, _ in pairs]
    figures = dict(pairs)
    if sort.lstrip("-") != FIGURE:
        return ids, figures
    known = [pk for pk in ids if _figure_key(figures.get(pk)) is not None]
    blank = [pk for pk in ids if _figure_key(figures.get(pk)) is None]
    known.sort(key=lambda pk: figures[pk], reverse=sort.startswith("-"))
    return known + blank, figures


def drill_figures(rows: QuerySet) -> dict[int, Any] | None:
    """Each listed row's contribution to its KPI (``figure``, annotated by the engine's
    drill-down for KPIs that declare one): one query; None for lists without figures."""
    if "figure" not in rows.query.annotations:
        return None
    return dict(rows.order_by().values_list("pk", "figure"))


def with_figures(rows: Iterable[Any], figures: dict[int, Any] | None) -> Iterator[Any]:
    """``rows`` with each one's ``figure`` set from ``drill_figures`` (for re-selected rows)."""
    for row in rows:
        if figures is not None:
            row.figure = figures.get(row.pk)
        yield row


def _fetch(model: type, day: dt.date | None) -> QuerySet:
    from . import with_latest_snapshot

    if model is Account:  # with the snapshot of ``day`` the list shows (stage, scores)
        return with_latest_snapshot(Account.objects.select_related("tier", "owner"), day)
    return model.objects.select_related("account")


def drill_page(
    ids: list[int],
    model: type,
    number: Any,
    per_page: int = 50,
    day: dt.date | None = None,
    figures: dict[int, Any] | None = None,
):
    """A page of a drill-down from its ordered ids (``drill_ids``: the heavy drill-down
    query runs once), the page's rows fetched by id in one query."""
    from django.core.paginator import Paginator

    page = Paginator(ids, per_page).get_page(number)
    by_id = _fetch(model, day).in_bulk(list(page.object_list))
    page.object_list = list(
        with_figures((by_id[pk] for pk in page.object_list if pk in by_id), figures)
    )
    return page


def drill_rows(
    ids: list[int],
    model: type,
    day: dt.date | None = None,
    figures: dict[int, Any] | None = None,
    chunk: int = 2000,
) -> Iterator[Any]:
    """Every row of a drill-down in the order of ``ids`` (the page's), for the CSV export:
    one query per ``chunk`` rows, streamed."""
    fetch = _fetch(model, day)
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        by_id = fetch.in_bulk(part)
        yield from with_figures((by_id[pk] for pk in part if pk in by_id), figures)
