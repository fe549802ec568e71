"""Trend charts as small, self-contained SVG: no library, no script, no CDN."""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 24, 40


def _fmt(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value * 100:.0f}%"
    text = f"{value:.3g}"
    return f"{text} {unit}" if unit and unit != "count" else text


#: One colour per probe (colour-blind safe, dark enough on white: Okabe-Ito, darkened).
PALETTE = ("#0b6e4f", "#1f5fa8", "#b0520f", "#8a3d8f", "#5d6b00", "#a61c3c", "#00707a")
BEFORE_OPACITY = "0.55"


def trend_svg(metric: str, points: list[dict[str, Any]]) -> str:
    """Before and after medians of ``metric`` per shipped change, one series per probe.

    Each probe (its label: a route, a command, a check) is its own line with its own
    legend entry, solid for the after figure and dashed for the before one; points are
    placed by their change's order, so probes measured by different changes never share
    a line. Points in another unit than the first are left out of the chart (the table
    lists them)."""
    unit = points[0]["unit"] if points else ""
    points = [p for p in points if p["unit"] == unit]
    order = list(dict.fromkeys((p["date"], p["page"]) for p in points))
    slot = {key: i for i, key in enumerate(order)}
    probes = list(dict.fromkeys(p["probe"] for p in points))
    values = [v for p in points for v in (p["before"], p["after"])]
    top = max(values) if values else 1.0
    top = top * 1.1 if top > 0 else 1.0
    legend_rows = (len(probes) + 1) // 2
    top_pad = TOP + 16 * legend_rows
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - top_pad - BOTTOM
    step = plot_w / max(1, len(order) - 1) if len(order) > 1 else 0

    def x(i: int) -> float:
        return LEFT + (i * step if len(order) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - (max(v, 0.0) / top) * plot_h

    title = escape(f"{metric}: median before and after each shipped change, per probe")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{title}" font-family="sans-serif" font-size="11">',
        f"<title>{title}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<line x1="{LEFT}" y1="{top_pad + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{top_pad + plot_h}" stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{top_pad}" x2="{LEFT}" y2="{top_pad + plot_h}" stroke="#999"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        value = top * frac
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#555">'
            f"{escape(_fmt(value, unit))}</text>"
        )
    for n, probe in enumerate(probes):
        colour = PALETTE[n % len(PALETTE)]
        mine = sorted((p for p in points if p["probe"] == probe),
                      key=lambda p: slot[(p["date"], p["page"])])  # fmt: skip
        for key, dash, opacity in (("before", ' stroke-dasharray="4 3"', BEFORE_OPACITY),
                                   ("after", "", "1")):  # fmt: skip
            coords = " ".join(
                f"{x(slot[(p['date'], p['page'])]):.1f},{y(p[key]):.1f}" for p in mine
            )
            if len(mine) > 1:
                parts.append(
                    f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                    f'stroke-opacity="{opacity}" stroke-width="2"{dash}/>'
                )
            for p in mine:
                label = escape(f"{p['date']} {p['title']}, {probe}: {key} {_fmt(p[key], unit)}")
                fill = colour if key == "after" else "#fff"
                parts.append(
                    f'<circle cx="{x(slot[(p["date"], p["page"])]):.1f}" cy="{y(p[key]):.1f}" '
                    f'r="4" fill="{fill}" stroke="{colour}" stroke-width="1.5">'
                    f"<title>{label}</title></circle>"
                )
        row, column = divmod(n, 2)
        shown = probe if len(probe) <= 40 else probe[:39] + "…"
        parts.append(
            f'<text x="{LEFT + column * 290}" y="{14 + 16 * row}" fill="{colour}">'
            f"● {escape(shown)}</text>"
        )
    if order:
        for i in sorted({0, len(order) - 1}):
            # the last date ends at its point, so the chart's edge never clips it
            anchor = "end" if i and i == len(order) - 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 22}" text-anchor="{anchor}" fill="#555">'
                f"{escape(order[i][0])}</text>"
            )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 6}" fill="#555">'
        "solid line: after the change · dashed: before</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
