"""Charts as PNG images, for e-mail: mail clients show neither the pages' SVG nor scripts.

Drawn with Pillow's built-in bitmap font so nothing is fetched or installed
besides the package; small, flat and legible on a phone.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH = 560
BAR = (47, 91, 211)
MUTED = (107, 114, 128)
INK = (31, 41, 55)
GRID = (229, 231, 235)
LINES = [(47, 91, 211), (217, 119, 6), (5, 150, 105), (190, 24, 93)]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def funnel_png(stages: Sequence[tuple[str, int | None]]) -> bytes:
    """Horizontal bars, one per stage (label, count), widths relative to the first stage."""
    row, top = 34, 10
    image = Image.new("RGB", (WIDTH, top * 2 + row * len(stages)), "white")
    draw = ImageDraw.Draw(image)
    font = _font(14)
    bar_x = 160
    widest = max([count or 0 for _, count in stages] + [1])
    for i, (label, count) in enumerate(stages):
        y = top + i * row
        draw.text((0, y + 8), label, fill=INK, font=font)
        width = int((WIDTH - bar_x - 70) * (count or 0) / widest)
        draw.rectangle((bar_x, y + 4, bar_x + max(width, 1), y + row - 6), fill=BAR)
        shown = "n/a" if count is None else f"{count:,}"  # the bitmap font has no dash
        draw.text((bar_x + max(width, 1) + 8, y + 8), shown, fill=INK, font=font)
    return _png(image)


def trend_png(dates: Sequence[dt.date], series: dict[str, Sequence[float | None]]) -> bytes:
    """Lines over snapshot days, one per named series, on a shared axis from zero."""
    height, left, right, top, bottom = 220, 48, 16, 12, 56
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    font = _font(12)
    values = [v for points in series.values() for v in points if v is not None]
    peak = max(values + [1])
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    for step in range(5):
        y = top + plot_h - plot_h * step / 4
        draw.line((left, y, WIDTH - right, y), fill=GRID)
        draw.text((4, y - 7), f"{peak * step / 4:,.0f}", fill=MUTED, font=font)
    span = max(len(dates) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + plot_w * i / span, top + plot_h - plot_h * v / peak

    legend_x = left
    for n, (name, points) in enumerate(series.items()):
        colour = LINES[n % len(LINES)]
        drawn = [xy(i, v) for i, v in enumerate(points) if v is not None]
        if len(drawn) > 1:
            draw.line(drawn, fill=colour, width=3)
        for x, y in drawn:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
        draw.rectangle((legend_x, height - 18, legend_x + 10, height - 8), fill=colour)
        draw.text((legend_x + 14, height - 20), name, fill=INK, font=font)
        legend_x += 14 + int(draw.textlength(name, font=font)) + 18
    if dates:
        draw.text((left, top + plot_h + 6), f"{dates[0]:%b %-d}", fill=MUTED, font=font)
        last = f"{dates[-1]:%b %-d, %Y}"
        last_x = WIDTH - right - int(draw.textlength(last, font=font))
        draw.text((last_x, top + plot_h + 6), last, fill=MUTED, font=font)
    return _png(image)
