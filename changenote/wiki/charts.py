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


def trend_svg(metric: str, points: list[dict[str, Any]]) -> str:
    """Before (grey) and after (green) medians of ``metric``, one pair per shipped change."""
    unit = points[0]["unit"] if points else ""
    values = [v for p in points for v in (p["before"], p["after"])]
    top = max(values) if values else 1.0
    top = top * 1.1 if top > 0 else 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(points) - 1) if len(points) > 1 else 0

    def x(i: int) -> float:
        return LEFT + (i * step if len(points) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - (max(v, 0.0) / top) * plot_h

    title = escape(f"{metric}: median before and after each shipped change")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{title}" font-family="sans-serif" font-size="11">',
        f"<title>{title}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#999"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        value = top * frac
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#555">'
            f"{escape(_fmt(value, unit))}</text>"
        )
    for key, colour in (("before", "#9a9a9a"), ("after", "#1a7f37")):
        coords = " ".join(f"{x(i):.1f},{y(p[key]):.1f}" for i, p in enumerate(points))
        if len(points) > 1:
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for i, p in enumerate(points):
            label = escape(f"{p['date']} {p['title']}: {key} {_fmt(p[key], unit)}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(p[key]):.1f}" r="4" fill="{colour}">'
                f"<title>{label}</title></circle>"
            )
    if points:
        for i in sorted({0, len(points) - 1}):
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 12}" text-anchor="middle" fill="#555">'
                f"{escape(points[i]['date'])}</text>"
            )
    parts.append(
        f'<text x="{LEFT}" y="14" fill="#9a9a9a">● before</text>'
        f'<text x="{LEFT + 70}" y="14" fill="#1a7f37">● after</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
