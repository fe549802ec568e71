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


#: What could start markup in CommonMark/GFM (cmark-gfm, markdown-it) or in
#: Python-Markdown (MkDocs), and how to make it inert in both. Backslash escapes only
#: for the punctuation both accept (Python-Markdown shows ``\\<`` or ``\\|`` as is); an
#: entity for the rest.
_MD_ESCAPE = re.compile(
    r"[\\`*\[\]{]"  # markup anywhere: code, emphasis, links, attr_list
    r"|<(?=[A-Za-z/!?])"  # an HTML tag or autolink (a lone "<" stays as it is)
    r"|[|~]"  # table cell breaks, GFM strikethrough
    r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"  # underscores that could open or close emphasis
    r"|&(?=#?[A-Za-z0-9]+;)"  # ampersands that would form an entity
    r"|^(?:#|>|[-+](?= |$)|-(?=-)|\d+[.)](?= |$)|=)"  # headings, quotes, lists, rules
    r"|#$"  # a closing heading sequence (Python-Markdown strips it even after a letter)
)
_ENTITY = {"<": "&lt;", "|": "&#124;", "~": "&#126;", "&": "&amp;", "=": "&#61;"}


def _escape(match: re.Match[str]) -> str:
    text = match.group(0)
    entity = _ENTITY.get(text)
    if entity is not None:
        return entity
    if text[0].isdigit():  # "2024." at the start: escape the dot, not the digits
        return text[:-1] + "\\" + text[-1]
    return "\\" + text


def md_inline(value: Any) -> str:
    """User text as inert inline markdown: no HTML, links, emphasis or table breaks.

    Only what could start markup is escaped, so the text reads as itself in the raw
    file and renders the same in GFM (GitHub, cmark-gfm), markdown-it and
    Python-Markdown (MkDocs): a backslash before the punctuation all of them honour,
    an entity for ``<`` before a letter, ``|``, ``~`` and ``&`` before an entity name.
    ``snake_case`` words and ``a < b`` stay as they are.
    """
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return _MD_ESCAPE.sub(_escape, text)


def md_cell_code(value: Any) -> str:
    """A code span for a table cell; text holding ``|`` becomes inert plain text instead
    (GFM splits cells at a pipe even inside a code span, Python-Markdown does not)."""
    text = "" if value is None else str(value)
    return md_inline(text) if "|" in text else md_code(text)


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
