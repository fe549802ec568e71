"""Trend charts as small, self-contained SVG: no library, no script, no CDN.

One drawing serves two places. As a file (``metric-….svg``, shown as an image by
GitHub and MkDocs) it has a 640-unit viewBox and its own white background. Inline in
the HTML site it has no viewBox: it is as wide as the page and its units are CSS
pixels, so its text keeps its size on a phone instead of shrinking with the drawing.
Horizontal positions are percentages of the width, which both cases resolve; the
colours are presentation attributes (the file's) that the site's stylesheet overrides
by class (``s0``…, ``axis``, ``hollow``), light and dark.

Every piece of text in it (titles, probes, dates) is escaped.
"""

from __future__ import annotations

import itertools
import math
from html import escape
from typing import Any

WIDTH = 640  # of the file; the inline chart is as wide as the page
#: Where the first and last change sit, as percentages of the width (the axis labels
#: stand left of the first).
X_FIRST, X_LAST = 18.0, 95.0
PLOT_H = 170
LEGEND_ROW = 18
FONT_PX = 13

#: One colour per probe (Okabe-Ito, darkened: each >= 4.8:1 on white). style.css holds
#: the lighter ones of the dark scheme.
PALETTE = ("#0b6e4f", "#1f5fa8", "#b0520f", "#8a3d8f", "#5d6b00", "#a61c3c", "#00707a")
TEXT = "#3d444d"
AXIS = "#59636e"
#: Log scale when the figures span more than this.
LOG_SPAN = 10.0


def _fmt(value: float, unit: str) -> str:
    from changenote.formatting import fmt_number

    return fmt_number(value, unit)


def _ticks(low: float, high: float, log: bool) -> list[float]:
    """A few round values between ``low`` and ``high``."""
    if log:
        ticks: list[float] = []
        for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
            for mantissa in (1, 2, 5):
                value = mantissa * 10.0**exponent
                if low <= value <= high:
                    ticks.append(value)
        if len(ticks) > 6:  # many decades: the powers of ten only
            ticks = [t for t in ticks if math.log10(t).is_integer()]
        return ticks
    raw = (high - low) / 4 or 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def scale(values: list[float]) -> tuple[bool, float, float]:
    """(log, low, high) of the vertical axis for ``values``: log when every value is
    positive and the largest is more than LOG_SPAN times the smallest."""
    positive = [v for v in values if v > 0]
    if values and len(positive) == len(values) and max(values) > LOG_SPAN * min(values):
        low, high = min(values), max(values)
        return (
            True,
            10 ** (math.floor(math.log10(low) * 4) / 4),
            10 ** (math.ceil(math.log10(high) * 4) / 4),
        )
    top = max(values) if values else 1.0
    return False, 0.0, top * 1.1 if top > 0 else 1.0


#: At most this many changes in a chart (the newest): more would make neither a
#: readable chart nor a page a phone opens (1,000 points are 1.6 MB of inline SVG).
CHART_CHANGES = 200


def trend_svg(metric: str, points: list[dict[str, Any]], inline: bool = False) -> str:
    """Before and after medians of ``metric`` per shipped change, one series per probe.

    Each probe (its label: a route, a command, a check) is its own line with its own
    legend entry, solid for the after figure and dashed for the before one (hollow
    points); every point has a tooltip (``<title>``) with its date, note, probe and
    figure. Points are placed by their change's order, so probes measured by different
    changes never share a line. Points in another unit than the first are left out of
    the chart (the table lists them). The axis is logarithmic, and says so, when the
    figures span more than 10x.
    """
    unit = points[0]["unit"] if points else ""
    points = [p for p in points if p["unit"] == unit]
    order = list(dict.fromkeys((p["date"], p["page"]) for p in points))
    captions = []
    if len(order) > CHART_CHANGES:  # a readable chart, a page a phone can open
        captions.append(
            f"the newest {CHART_CHANGES} of {len(order):,} changes; the table lists every one"
        )
        order = order[-CHART_CHANGES:]
        kept = set(order)
        points = [p for p in points if (p["date"], p["page"]) in kept]
    slot = {key: i for i, key in enumerate(order)}
    probes = list(dict.fromkeys(p["probe"] for p in points))
    log, low, high = scale([v for p in points for v in (p["before"], p["after"])])
    top = 8 + LEGEND_ROW * len(probes) + 8
    bottom = top + PLOT_H
    kind = "log scale" if log else "linear scale"
    captions = [kind, "after: solid · before: dashed, hollow", *captions]
    height = bottom + 28 + 18 * len(captions)

    def x(i: int) -> str:
        span = X_LAST - X_FIRST
        share = i / (len(order) - 1) if len(order) > 1 else 0.5
        return f"{X_FIRST + share * span:.2f}%"

    def y(v: float) -> float:
        if log:
            where = (math.log10(max(v, low)) - math.log10(low)) / (
                math.log10(high) - math.log10(low)
            )
        else:
            where = (max(v, 0.0) - low) / (high - low)
        return bottom - where * PLOT_H

    title = escape(
        f"{metric}: the figure compared (the median; the mean of a window or a summary) "
        f"before and after each shipped change, per probe ({kind})"
    )
    size = (
        f'width="100%" height="{height}"'
        if inline
        else f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"'
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" {size} role="img" aria-label="{title}" '
        f'class="trend" font-family="system-ui, sans-serif" font-size="{FONT_PX}">',
        f"<title>{title}</title>",
    ]
    if not inline:
        parts.append(f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>')
    for value in _ticks(low, high, log):
        at = y(value)
        parts.append(
            f'<line class="axis grid" x1="0" y1="{at:.1f}" x2="100%" y2="{at:.1f}" '
            f'stroke="{AXIS}" stroke-width="0.5" stroke-dasharray="2 3"/>'
        )
        parts.append(
            f'<text class="label" x="0" y="{at - 4:.1f}" fill="{TEXT}">'
            f"{escape(_fmt(value, unit))}</text>"
        )
    parts.append(
        f'<line class="axis" x1="0" y1="{bottom}" x2="100%" y2="{bottom}" stroke="{AXIS}"/>'
    )
    for n, probe in enumerate(probes):
        colour, series = PALETTE[n % len(PALETTE)], f"s{n % len(PALETTE)}"
        mine = sorted((p for p in points if p["probe"] == probe),
                      key=lambda p: slot[(p["date"], p["page"])])  # fmt: skip
        for key, dash in (("before", ' stroke-dasharray="5 4"'), ("after", "")):
            spots = [(x(slot[(p["date"], p["page"])]), y(p[key])) for p in mine]
            for (x1, y1), (x2, y2) in itertools.pairwise(spots):
                parts.append(
                    f'<line class="{series} line" x1="{x1}" y1="{y1:.1f}" x2="{x2}" '
                    f'y2="{y2:.1f}" stroke="{colour}" stroke-width="2"{dash}/>'
                )
        for key in ("before", "after"):
            for p in mine:
                label = escape(f"{p['date']} {p['title']}, {probe}: {key} {_fmt(p[key], unit)}")
                hollow = key == "before"
                parts.append(
                    f'<circle class="{series}{" hollow" if hollow else ""}" '
                    f'cx="{x(slot[(p["date"], p["page"])])}" cy="{y(p[key]):.1f}" r="5" '
                    f'fill="{"#fff" if hollow else colour}" stroke="{colour}" '
                    f'stroke-width="2"><title>{label}</title></circle>'
                )
        shown = probe if len(probe) <= 44 else probe[:43] + "…"
        parts.append(
            f'<text class="{series} key" x="0" y="{8 + LEGEND_ROW * (n + 1) - 4}" '
            f'fill="{colour}">● {escape(shown)}</text>'
        )
    if order:
        # the first date under its point (room enough on its left), the last ending at
        # the right edge: neither is ever cut
        dates = [(0, f"{X_FIRST}%", "middle"), (len(order) - 1, "100%", "end")]
        if len(order) == 1:
            dates = [(0, "50%", "middle")]
        for i, where, anchor in dates:
            parts.append(
                f'<text class="label" x="{where}" y="{bottom + 18}" text-anchor="{anchor}" '
                f'fill="{TEXT}">{escape(order[i][0])}</text>'
            )
    # two short lines: each fits a phone's width at this size
    for n, words in enumerate(captions):
        at = bottom + 38 + 18 * n
        parts.append(f'<text class="label" x="0" y="{at}" fill="{TEXT}">{escape(words)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
