"""Small pure helpers that turn figures and user text into what a page shows.

Numbers for tables, verdict words, and user text made inert as inline markdown or
as a code span. The note, the wiki, the terminal and the check report all use them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

VERDICT_MARK = {
    "improved": "improved ✅",
    "regressed": "regressed ❌",
    "not-significant": "not significant",
    "no-test": "no test",
    "not-measured": "not measured",
    "not-comparable": "not comparable",
    "changed": "changed",
}


def fmt_number(value: float | None, unit: str = "") -> str:
    """A figure for a table: three significant digits, the unit attached."""
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if value == 0:
        text = "0"
    elif float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip() if unit and unit not in ("count",) else text


_MD_ESCAPE = re.compile(
    r"[\\`*\[\]<>|]"  # characters that can start markup anywhere
    r"|^[#+=~-]"  # ... or only at the start of a line (headings, lists, rules)
    r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"  # underscores that could open or close emphasis
    r"|&(?=#?[A-Za-z0-9]+;)"  # ampersands that would form an entity
)


def md_inline(value: Any) -> str:
    """User text as inert inline markdown: no HTML, links, emphasis or table breaks.

    Punctuation that could start markup is backslash-escaped (CommonMark shows it as
    itself); ``snake_case`` words stay readable in the raw file.
    """
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return _MD_ESCAPE.sub(lambda m: "\\" + m.group(0), text)


def md_code(value: Any) -> str:
    """User text as an inline code span, fenced with more backticks than it holds."""
    text = "" if value is None else str(value).replace("\r", " ").replace("\n", " ")
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, whatever the database handed back."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"
