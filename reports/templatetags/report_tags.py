"""Formatting of KPI values and server-rendered SVG charts for the report pages.

Charts are inline SVG with presentation attributes only (no ``style=``), so
the Content-Security-Policy ('self' only) allows them; each has a
``<title>`` and an ``aria-label``.
"""

from __future__ import annotations

import datetime as dt
from numbers import Number

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from funnel.choices import STAGE_NAMES, stage_name
from funnel.kpis import (
    format_basis,
    format_count,
    format_days,
    format_map,
    format_money,
    format_ratio,
    format_score,
    format_value,
)

register = template.Library()

NO_DATA = "no data: the denominator is 0"


def dash(reason: str = NO_DATA) -> SafeString:
    return format_html('<span class="nodata" title="{}" tabindex="0">—</span>', reason)


def _or_dash(text: str | None) -> str:
    return dash() if text is None else text


@register.filter
def money(value) -> str:
    return _or_dash(format_money(value))


@register.filter
def pct(value) -> str:
    """A fraction as a percentage with one decimal (0.2512 -> 25.1 %)."""
    return _or_dash(format_ratio(value))


@register.filter
def days(value) -> str:
    return _or_dash(format_days(value))


@register.filter
def num(value, decimals: int | None = None) -> str:
    """Integers with thousands separators; other numbers with up to one or two decimals."""
    return _or_dash(format_count(value, decimals))


@register.filter
def score(value) -> str:
    return _or_dash(format_score(value))


def format_unit(value, unit: str) -> str:
    return _or_dash(format_value(value, unit))


@register.filter
def unit_value(value, unit: str) -> str:
    """A value formatted by its unit (for values outside a KPI item)."""
    return format_unit(value, unit)


@register.filter
def kpi_value(item: dict | None) -> str:
    """The value of a KPI result item, formatted by its unit."""
    if not item:
        return dash("not computed")
    if item.get("reason"):  # null for a reason (attribution on SQLite, lift without a list)
        return dash(item["reason"])
    if item["unit"] == "map":
        parts = [(k, _or_dash(v)) for k, v in format_map(item)]
        return format_html_join(", ", "{}: {}", parts) or dash("no data in the period")
    return format_unit(item.get("value"), item["unit"])


@register.filter
def kpi_map(item: dict | None) -> list[tuple[str, str]]:
    """(key, formatted value) pairs of a map KPI (flat maps only)."""
    return [(k, _or_dash(v)) for k, v in format_map(item or {})]


@register.filter
def kpi_parts(item: dict | None) -> str:
    """What the value was computed from: ``numerator / denominator`` or ``n = count``; for
    a KPI this database cannot compute, why."""
    if item and item.get("reason"):
        return item["reason"]
    return format_basis(item) if item else ""


def change(current, previous, unit: str) -> tuple[str, str, str]:
    """(text, css class, title) of the change from ``previous`` to ``current``."""
    if not isinstance(current, Number) or not isinstance(previous, Number):
        return "—", "flat", "no value to compare in one of the periods"
    if unit == "ratio":
        delta = (float(current) - float(previous)) * 100
        text = f"{delta:+.1f} pts"
        title = f"previous period: {pct(previous)}"
    else:
        if previous == 0:
            return (
                ("new" if current else "±0"),
                ("up" if current else "flat"),
                ("previous period: 0"),
            )
        delta = (float(current) - float(previous)) / abs(float(previous)) * 100
        text = f"{delta:+.1f} %"
        title = f"previous period: {format_unit(previous, unit)}"
    css = "up" if delta > 0.05 else "down" if delta < -0.05 else "flat"
    return text, css, title


@register.simple_tag
def kpi_change(
    current: dict | None, previous: dict | None, against: str = "the previous period"
) -> str:
    if not current or not previous or current.get("unit") == "map":
        return ""
    text, css, title = change(current.get("value"), previous.get("value"), current["unit"])
    arrow = {"up": "▲", "down": "▼", "flat": "●"}[css]
    return format_html(
        '<span class="change {}" title="{}"><span aria-hidden="true">{}</span> {}'
        '<span class="sr-only"> against {} ({})</span></span>',
        css,
        title,
        arrow,
        text,
        against,
        title,
    )


@register.simple_tag
def qs(rq, **extra) -> str:
    """``?query`` of the page's period and filters plus ``extra`` keys."""
    query = rq.with_params(**extra)
    return f"?{query}" if query else "?"


@register.simple_tag(takes_context=True)
def sort_link(context, key: str, label: str, ascending_first: bool = False) -> str:
    """A sortable column header: toggles ascending/descending, marks the current order; a
    first click sorts the largest first, or A to Z for names and ``ascending_first``."""
    rq = context["rq"]
    current = context.get("sort", "name")
    extra = dict(context.get("list_params", {}))
    if current == key:
        target, mark, aria = f"-{key}", " ▲", "ascending"
    elif current == f"-{key}":
        target, mark, aria = key, " ▼", "descending"
    else:
        first = key == "name" or ascending_first
        target, mark, aria = (key if first else f"-{key}"), "", "none"
    extra["sort"] = target
    return format_html(
        '<a href="{}" aria-sort="{}">{}{}</a>', "?" + rq.with_params(**extra), aria, label, mark
    )


# --- charts -------------------------------------------------------------------------


def _points(values: list, width: float, height: float, pad: float = 2) -> list[tuple[float, float]]:
    known = [float(v) for v in values if v is not None]
    if not known:
        return []
    lo, hi = min(known), max(known)
    span = hi - lo
    n = len(values)
    step = (width - 2 * pad) / max(n - 1, 1)
    out = []
    for i, v in enumerate(values):
        if v is None:
            continue
        x = pad + i * step
        # A flat series is drawn as a line through the middle.
        y = height - pad - (float(v) - lo) / span * (height - 2 * pad) if span else height / 2
        out.append((round(x, 1), round(y, 1)))
    return out


@register.simple_tag
def sparkline(
    values, label: str, dates=None, unit: str = "count", width: int = 120, height: int = 32
) -> str:
    """A small line chart of ``values`` (None gaps skipped)."""
    values = [None if v is None else float(v) for v in (values or [])]
    points = _points(values, width, height)
    if len(points) < 2:
        return format_html(
            '<span class="muted small">{}</span>', "no trend: fewer than 2 points with a value"
        )
    first = next(v for v in values if v is not None)
    last = next(v for v in reversed(values) if v is not None)
    when = ""
    if dates:
        when = f" from {dates[0]:%b %-d} to {dates[-1]:%b %-d, %Y}"
    description = f"{label}: trend{when}, {format_unit(first, unit)} to {format_unit(last, unit)}"
    polyline = " ".join(f"{x},{y}" for x, y in points)
    lx, ly = points[-1]
    return format_html(
        '<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{d}"><title>{d}</title>'
        '<polyline points="{p}" fill="none" stroke="#2451c7" stroke-width="1.5" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
        '<circle cx="{lx}" cy="{ly}" r="2.5" fill="#2451c7"/></svg>',
        w=width,
        h=height,
        d=description,
        p=polyline,
        lx=lx,
        ly=ly,
    )


@register.simple_tag
def trend_chart(
    values, dates, label: str, unit: str = "count", width: int = 640, height: int = 180
) -> str:
    """A larger line chart with axis labels (first/last date, min/max value)."""
    values = [None if v is None else float(v) for v in (values or [])]
    left, bottom, top = 70, 22, 10
    inner_w, inner_h = width - left - 10, height - bottom - top
    points = _points(values, inner_w, inner_h, pad=4)
    if len(points) < 2:
        return format_html('<p class="muted small">{}</p>', "Not enough snapshots for a trend yet.")
    known = [v for v in values if v is not None]
    lo, hi = min(known), max(known)
    desc = (
        f"{label} from {dates[0]:%b %-d, %Y} to {dates[-1]:%b %-d, %Y}: "
        f"between {format_unit(lo, unit)} and {format_unit(hi, unit)}, "
        f"last {format_unit(known[-1], unit)}"
    )
    poly = " ".join(f"{x + left},{y + top}" for x, y in points)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5" fill="#2451c7"><title>{}: {}</title></circle>',
        (
            (x + left, y + top, f"{d:%b %-d, %Y}", format_unit(v, unit))
            for (x, y), d, v in zip(
                points,
                [d for d, v in zip(dates, values, strict=False) if v is not None],
                known,
                strict=False,
            )
        ),
    )
    label = '<text x="{}" y="{}" text-anchor="end" font-size="11" fill="#5b6475">{}</text>'
    if hi == lo:  # a flat series: one label, level with the line
        ylabels = format_html(label, left - 6, top + inner_h / 2 + 4, format_unit(hi, unit))
    else:
        ylabels = format_html(label, left - 6, top + 10, format_unit(hi, unit)) + format_html(
            label, left - 6, top + inner_h, format_unit(lo, unit)
        )
    return format_html(
        '<svg class="trend" viewBox="0 0 {w} {h}" role="img" aria-label="{d}"><title>{d}</title>'
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#dde2ea"/>'
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#dde2ea"/>'
        "{ylabels}"
        '<text x="{l}" y="{dy}" font-size="11" fill="#5b6475">{d0}</text>'
        '<text x="{r}" y="{dy}" text-anchor="end" font-size="11" fill="#5b6475">{d1}</text>'
        '<polyline points="{p}" fill="none" stroke="#2451c7" stroke-width="2" '
        'stroke-linejoin="round"/>{dots}</svg>',
        w=width,
        h=height,
        d=desc,
        l=left,
        t=top,
        b=top + inner_h,
        r=left + inner_w,
        ylabels=ylabels,
        dy=height - 4,
        d0=f"{dates[0]:%b %-d}",
        d1=f"{dates[-1]:%b %-d, %Y}",
        p=poly,
        dots=dots,
    )


def _bucket_day(point: dict) -> dt.date:
    day = point["to"]
    return dt.date.fromisoformat(day) if isinstance(day, str) else day


def _numbers(points) -> list[float | None]:
    return [float(p["value"]) if isinstance(p.get("value"), Number) else None for p in points or []]


@register.simple_tag
def series_chart(
    points, previous, label: str, unit: str = "count", bucket: str = "week", width: int = 720
) -> str:
    """A KPI's live series (solid, a dot per bucket) over the previous period's (dashed), on
    one scale: y labels at the top, middle and bottom, x labels at the first, middle and
    last bucket (its last day). Dots carry the bucket and value as a tooltip.

    ``width`` is the drawing's own width: the pages draw it at 720 and at 360 (class
    ``narrow``), and the style sheet shows the narrow one on phones, where scaling the
    wide one down would shrink its labels below reading size."""
    values, before = _numbers(points), _numbers(previous)
    height, left, right, top, bottom = 240, 84, 12, 26, 30
    inner_w, inner_h = width - left - right, height - top - bottom
    known = [v for v in values + before if v is not None]
    if len([v for v in values if v is not None]) < 2:
        if width < 500:  # the narrow twin: the wide one says it
            return ""
        return format_html(
            '<p class="muted small">{}</p>',
            "Not enough buckets with a value for a trend: widen the period or pick weeks.",
        )
    lo, hi = min(known), max(known)
    if lo > 0 and unit != "ratio":
        lo = 0.0  # counts and amounts read from zero
    span = hi - lo
    n = len(values)
    step = inner_w / max(n - 1, 1)

    def y(v: float) -> float:
        return round(top + (inner_h / 2 if not span else inner_h - (v - lo) / span * inner_h), 1)

    def line(series: list[float | None]) -> str:
        return " ".join(
            f"{round(left + i * step, 1)},{y(v)}" for i, v in enumerate(series) if v is not None
        )

    noun = "week ending" if bucket == "week" else "month to"
    days = [_bucket_day(p) for p in points]
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3" fill="#2451c7"><title>{} {}: {}</title></circle>',
        (
            (round(left + i * step, 1), y(v), noun, f"{days[i]:%b %-d, %Y}", format_unit(v, unit))
            for i, v in enumerate(values)
            if v is not None
        ),
    )
    text = '<text x="{}" y="{}" text-anchor="{}" font-size="12" fill="#5b6475">{}</text>'
    levels = [hi] if not span else [hi, lo + span / 2, lo]
    ylabels = format_html_join(
        "", text, ((left - 8, y(v) + 4, "end", format_unit(v, unit)) for v in levels)
    )
    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#eef1f5"/>',
        ((left, y(v), left + inner_w, y(v)) for v in levels),
    )
    ticks = sorted({0, n // 2, n - 1})
    anchors = {0: "start", n - 1: "end"}
    xlabels = format_html_join(
        "",
        text,
        (
            (round(left + i * step, 1), height - 8, anchors.get(i, "middle"), f"{days[i]:%b %-d}")
            for i in ticks
        ),
    )
    dashed = ""
    if len([v for v in before if v is not None]) >= 2:
        dashed = format_html(
            '<polyline class="previous" points="{}" fill="none" stroke="#8a93a6" '
            'stroke-width="2" stroke-dasharray="6 4" stroke-linejoin="round"/>',
            line(before),
        )
    last = next(v for v in reversed(values) if v is not None)
    description = (
        f"{label} by {bucket} from {days[0]:%b %-d, %Y} to {days[-1]:%b %-d, %Y}: between "
        f"{format_unit(min(v for v in values if v is not None), unit)} and "
        f"{format_unit(max(v for v in values if v is not None), unit)}, last "
        f"{format_unit(last, unit)}" + ("; previous period dashed" if dashed else "")
    )
    legend = format_html(
        '<line x1="{l}" y1="12" x2="{l2}" y2="12" stroke="#2451c7" stroke-width="2"/>'
        '<text x="{t1}" y="16" font-size="12" fill="#2b3140">This period</text>{prev}',
        l=left,
        l2=left + 22,
        t1=left + 28,
        prev=format_html(
            '<line x1="{a}" y1="12" x2="{b}" y2="12" stroke="#8a93a6" stroke-width="2" '
            'stroke-dasharray="6 4"/><text x="{c}" y="16" font-size="12" fill="#2b3140">'
            "Previous period</text>",
            a=left + 110,
            b=left + 132,
            c=left + 138,
        )
        if dashed
        else "",
    )
    return format_html(
        '<svg class="trend series {size}" viewBox="0 0 {w} {h}" role="img" aria-label="{d}">'
        "<title>{d}</title>{legend}{grid}"
        '<line x1="{l}" y1="{t}" x2="{l}" y2="{b}" stroke="#dde2ea"/>'
        '<line x1="{l}" y1="{b}" x2="{r}" y2="{b}" stroke="#dde2ea"/>'
        "{ylabels}{xlabels}{dashed}"
        '<polyline class="current" points="{p}" fill="none" stroke="#2451c7" stroke-width="2.5" '
        'stroke-linejoin="round"/>{dots}</svg>',
        size="narrow" if width < 500 else "wide",
        w=width,
        h=height,
        d=description,
        legend=legend,
        grid=grid,
        l=left,
        t=top,
        b=top + inner_h,
        r=left + inner_w,
        ylabels=ylabels,
        xlabels=xlabels,
        dashed=dashed,
        p=line(values),
        dots=dots,
    )


#: One set of stage names everywhere (``funnel.choices.STAGE_NAMES``).
STAGE_LABELS = STAGE_NAMES


@register.simple_tag
def funnel_chart(item: dict | None, rq=None) -> str:
    """The six-stage funnel as horizontal bars with counts and stage-to-stage conversion.

    Bar widths and text positions are percentages of the chart's width, so the
    text keeps its size on a phone and on a wide screen. With the page's query
    ``rq`` each stage is a link to the accounts it counts (the funnel KPI's
    drill-down of that stage, same period and filters).
    """
    if not item or not isinstance(item.get("value"), dict):
        return ""
    stages = item["value"].get("stages", {})
    conversion = item["value"].get("conversion", {})
    names = list(stages)
    top = max([int(v or 0) for v in stages.values()] + [1])
    row = 52
    parts = []
    for i, name in enumerate(names):
        count = int(stages[name] or 0)
        y = i * row
        width = max(0.4, 80 * count / top)
        label = STAGE_LABELS.get(name, name.title())
        rate_text = ""
        if i > 0:
            rate = conversion.get(f"{names[i - 1]}_to_{name}")
            above = STAGE_LABELS.get(names[i - 1], names[i - 1]).lower()
            rate_text = f"{pct(rate)} of {above}" if rate is not None else "— (none above)"
        group = format_html(
            "<g><title>{label}: {count}{sep}{rate}{hint}</title>"
            '<text x="0" y="{ty}" font-size="13" fill="#1d2330">{n}. {label}</text>'
            '<text x="100%" y="{ty}" font-size="12" fill="#5b6475" '
            'text-anchor="end">{rate}</text>'
            '<rect x="0" y="{by}" width="{w}%" height="20" rx="3" fill="{fill}"/>'
            '<text x="{cx}%" y="{cy}" font-size="13" font-weight="600" '
            'fill="#1d2330">{count}</text></g>',
            label=label,
            count=f"{count:,}",
            sep=" — " if rate_text else "",
            rate=rate_text,
            hint=" (list the accounts)" if rq is not None else "",
            ty=y + 14,
            n=i + 1,
            by=y + 21,
            w=f"{width:.2f}",
            fill=("#2451c7", "#3b68d9", "#5a82e0", "#067647", "#2f8f5b", "#55a878")[i % 6],
            cx=f"{width + 1:.2f}",
            cy=y + 36,
        )
        if rq is not None:
            href = reverse("reports:kpi_part_drilldown", args=[item["id"], name])
            href += "?" + rq.with_params()
            group = format_html(
                '<a class="stage-link" href="{}" data-stage="{}">{}</a>', href, name, group
            )
        parts.append(group)
    desc = "ABM funnel: " + "; ".join(
        f"{STAGE_LABELS.get(n, n)} {int(stages[n] or 0):,}" for n in names
    )
    return format_html(
        '<svg class="funnel" width="100%" height="{h}" role="img" aria-label="{d}">'
        "<title>{d}</title>{parts}</svg>",
        h=row * len(names),
        d=desc,
        parts=format_html("{}" * len(parts), *parts),  # each part is already format_html
    )


@register.simple_tag
def velocity_chart(item: dict | None) -> str:
    """Stage velocity (stage -> mean days in it) as horizontal bars, longest = 70 % of the
    width; the days are written beside each bar, so the chart reads in print and on a phone."""
    if not item or not isinstance(item.get("value"), dict) or not item["value"]:
        return ""
    values = item["value"]
    top = max([float(v or 0) for v in values.values()] + [1.0])
    row = 26
    parts = []
    for i, (name, value) in enumerate(values.items()):
        label = STAGE_LABELS.get(name, name.title())
        text = _or_dash(format_days(value))
        width = max(0.4, 70 * float(value or 0) / top)
        y = i * row
        parts.append(
            format_html(
                "<g><title>{label}: {text}</title>"
                '<text x="0" y="{ty}" font-size="13" fill="#1d2330">{label}</text>'
                '<rect x="24%" y="{by}" width="{w}%" height="16" rx="3" fill="#3b68d9"/>'
                '<text x="{cx}%" y="{ty}" font-size="12" fill="#1d2330">{text}</text></g>',
                label=label,
                text=text,
                ty=y + 17,
                by=y + 5,
                w=f"{width * 0.76:.2f}",
                cx=f"{24 + width * 0.76 + 1:.2f}",
            )
        )
    desc = "Stage velocity: " + "; ".join(
        f"{STAGE_LABELS.get(n, n)} {format_days(v) or 'no data'}" for n, v in values.items()
    )
    return format_html(
        '<svg class="velocity" width="100%" height="{h}" role="img" aria-label="{d}">'
        "<title>{d}</title>{parts}</svg>",
        h=row * len(values) + 4,
        d=desc,
        parts=format_html("{}" * len(parts), *parts),
    )


#: The programs chart's two series: (row value, label, fill).
PROGRAM_SERIES = (
    (lambda row: row["credit"].revenue, "Attributed revenue", "#2451c7"),
    (lambda row: row["spend"], "Spend", "#d97706"),
)


@register.simple_tag
def program_chart(rows: list[dict], model_label: str = "") -> str:
    """Attributed revenue and spend per program as paired horizontal bars (the "no program"
    row has no spend and is left out). Widths are percentages of the largest figure and each
    bar has its amount written beside it, so the chart reads in print and on a phone."""
    rows = [r for r in rows if r["program"].pk is not None and "credit" in r]
    if not rows:
        return ""
    top = max([float(f(r) or 0) for r in rows for f, _, _ in PROGRAM_SERIES] + [1.0])
    row_h, bar_h, head = 58, 16, 26
    legend = format_html_join(
        "",
        '<rect x="{}%" y="4" width="12" height="12" rx="2" fill="{}"/>'
        '<text x="{}%" y="15" font-size="12" fill="#1d2330">{}</text>',
        (
            (f"{i * 30}", fill, f"{i * 30 + 3}", label)
            for i, (_, label, fill) in enumerate(PROGRAM_SERIES)
        ),
    )
    parts = []
    for i, row in enumerate(rows):
        y = head + i * row_h
        name = row["program"].name
        bars = []
        for j, (value_of, label, fill) in enumerate(PROGRAM_SERIES):
            value = value_of(row)
            width = max(0.3, 70 * float(value or 0) / top)
            bars.append(
                format_html(
                    '<rect x="0" y="{by}" width="{w}%" height="{h}" rx="3" fill="{fill}">'
                    "<title>{name}: {label} {text}</title></rect>"
                    '<text x="{tx}%" y="{ty}" font-size="12" fill="#1d2330">{text}</text>',
                    by=y + 18 + j * (bar_h + 2),
                    w=f"{width:.2f}",
                    h=bar_h,
                    fill=fill,
                    name=name,
                    label=label.lower(),
                    text=format_money(value) or "—",
                    tx=f"{width + 1:.2f}",
                    ty=y + 30 + j * (bar_h + 2),
                )
            )
        parts.append(
            format_html(
                '<g class="program-bar" data-program="{pk}">'
                '<text x="0" y="{ty}" font-size="13" font-weight="600" fill="#1d2330">{name}</text>'
                "{bars}</g>",
                pk=row["program"].pk,
                ty=y + 13,
                name=name,
                bars=format_html("{}" * len(bars), *bars),
            )
        )
    desc = (
        f"Attributed revenue{f' ({model_label})' if model_label else ''} and spend per program: "
        + "; ".join(
            f"{r['program'].name} revenue {format_money(r['credit'].revenue) or 'none'}, "
            f"spend {format_money(r['spend']) or 'none'}"
            for r in rows
        )
    )
    return format_html(
        '<svg class="programs-chart" width="100%" height="{h}" role="img" aria-label="{d}">'
        "<title>{d}</title>{legend}{parts}</svg>",
        h=head + row_h * len(rows),
        d=desc,
        legend=legend,
        parts=format_html("{}" * len(parts), *parts),
    )


@register.filter
def flow_label(key: str) -> str:
    """``target_to_engaged`` -> ``Target → Engaged`` (the funnel's stage names)."""
    return stage_name(key)


@register.filter
def isodate(value) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return ""


@register.filter
def get(mapping, key):
    """``mapping[key]`` in templates (None when missing)."""
    if mapping is None:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def duration(run) -> str:
    """How long a recompute run took (or has been running)."""
    if not getattr(run, "finished_at", None) or not getattr(run, "started_at", None):
        return "—"
    seconds = (run.finished_at - run.started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
