"""How a KPI number reads: one rule per unit, for the pages, the e-mails and the ``kpis`` command.

Each function returns plain text, or None for a missing value (a ratio whose
denominator is 0, a mean of no rows): the caller shows that its own way.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from funnel.choices import stage_name


def _is_missing(value: Any) -> bool:
    return value is None or value == ""


def format_count(value: Any, decimals: int | None = None) -> str | None:
    """Whole numbers with thousands separators; others with up to one or two decimals."""
    if _is_missing(value):
        return None
    v = float(value)
    if decimals is not None:
        return f"{v:,.{int(decimals)}f}" if decimals else f"{round(v):,}"
    if v == int(v):
        return f"{int(v):,}"
    return f"{v:,.1f}" if abs(v) >= 100 else f"{v:,.2f}"


def format_money(value: Any, currency: str | None = None) -> str | None:
    """``USD 12,500``: no cents from 1,000 up or on whole amounts."""
    if _is_missing(value):
        return None
    v = float(value)
    decimals = 0 if abs(v) >= 1000 or v == int(v) else 2
    amount = f"{v:,.{decimals}f}" if decimals else f"{round(v):,}"
    return f"{currency or settings.ABM_CURRENCY} {amount}"


def format_ratio(value: Any) -> str | None:
    """A fraction as a percentage with one decimal (0.2512 -> ``25.1 %``)."""
    if _is_missing(value):
        return None
    return f"{float(value) * 100:,.1f} %"


def format_days(value: Any) -> str | None:
    if _is_missing(value):
        return None
    return f"{float(value):,.1f} days"


def format_score(value: Any) -> str | None:
    if _is_missing(value):
        return None
    return f"{float(value):,.1f}"


_BY_UNIT = {
    "ratio": format_ratio,
    "money": format_money,
    "days": format_days,
    "score": format_score,
}


def format_value(value: Any, unit: str) -> str | None:
    """``value`` formatted by its KPI unit (counts and anything else as counts)."""
    return _BY_UNIT.get(unit, format_count)(value)


def format_map(item: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(key, formatted value) pairs of a flat map KPI (days for velocity, ratios for flow)."""
    value = item.get("value")
    if not isinstance(value, dict):
        return []
    kpi_id = item.get("id")
    unit = {"stage_velocity_days": "days", "funnel_flow": "ratio"}.get(kpi_id, "count")
    staged = kpi_id in ("stage_velocity_days", "funnel_flow")
    return [
        (stage_name(k) if staged else str(k), format_value(v, unit))
        for k, v in value.items()
        if not isinstance(v, dict)
    ]


def _text(value: Any, unit: str) -> str:
    return format_value(value, unit) or "—"


def format_basis(item: dict[str, Any]) -> str:
    """What a value was computed from: ``numerator / denominator`` or ``n = count``."""
    money_or_count = "money" if item["unit"] == "money" else "count"
    if item.get("treated") and item.get("held_out"):  # a lift KPI: both groups

        def group(g: dict[str, Any]) -> str:
            part = g["numerator"] if "numerator" in g else g.get("total")
            return f"{_text(part, money_or_count)} / {_text(g['n'], 'count')}"

        return f"treated {group(item['treated'])}, held out {group(item['held_out'])}"
    if "numerator" in item and "denominator" in item:
        return f"{_text(item['numerator'], money_or_count)} / {_text(item['denominator'], 'count')}"
    if "count" in item:
        if "total" in item:
            total = _text(item["total"], money_or_count)
            return f"n = {_text(item['count'], 'count')}, total {total}"
        if item["unit"] == "count" and item.get("value") == item.get("count"):
            return ""
        return f"n = {_text(item['count'], 'count')}"
    return ""
