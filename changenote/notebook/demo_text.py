"""The demo's words for a terminal: commands as people type them, aligned figures,
and a note's markdown fitted to a width. Pure: strings in, strings out."""

from __future__ import annotations

import re
import shlex
import textwrap
import unicodedata
from collections.abc import Sequence

# -- lines -------------------------------------------------------------------

_PLAIN = re.compile(r"^[\w@%+=:,./-]+$")


def _quote(word: str) -> str:
    """A shell word as people type it: bare, in double quotes, or in single quotes."""
    if _PLAIN.match(word):
        return word
    if not re.search(r'["$`\\!]', word):
        return f'"{word}"'
    return shlex.quote(word)


def command_lines(
    words: Sequence[str], options: Sequence[tuple[str, ...]], width: int, indent: str = "   "
) -> list[str]:
    """``$ changenote ...`` as typed, continued with `` \\`` so no line passes ``width``
    (unless one word is longer); an option stays on its value's line when they fit."""
    lines = [indent + "$ " + " ".join(_quote(w) for w in words)]
    more = indent + "    "
    for option in options:
        piece = " ".join(_quote(w) for w in option)
        if len(lines[-1]) + 1 + len(piece) + 2 <= width:
            lines[-1] += " " + piece
        elif len(more) + len(piece) + 2 <= width or len(option) == 1:
            lines[-1] += " \\"
            lines.append(more + piece)
        else:  # the option, then its value on a line of its own
            lines[-1] += " \\"
            lines += [more + _quote(w) + " \\" for w in option[:-1]]
            lines.append(more + _quote(option[-1]))
    return lines


def wrap(text: str, width: int, indent: str = "   ", hang: str = "") -> list[str]:
    """``text`` in lines of at most ``width`` columns, each starting with ``indent``."""
    return textwrap.wrap(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent + hang,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [indent]


def columns(rows: list[list[str]], words_last: bool = False, indent: str = "   ") -> list[str]:
    """Rows of cells as aligned columns: the metric left, figures right, and the last
    column left too when it holds words (a verdict)."""
    n = len(rows[0])
    widths = [max(len(r[i]) for r in rows) for i in range(n)]
    out = []
    for row in rows:
        shown = []
        for i, cell in enumerate(row):
            left = i == 0 or (words_last and i == n - 1)
            shown.append(cell.ljust(widths[i]) if left else cell.rjust(widths[i]))
        out.append((indent + "  ".join(shown)).rstrip())
    return out


# -- the note for a terminal --------------------------------------------------------------


def cells(text: str) -> int:
    """How many terminal columns ``text`` takes (wide characters such as ✅ take two)."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


_PREFIX = re.compile(r"^(\s*(?:[-*+] (?:\[[ xX]\] )?|\d+[.)] |>\s?)?)")
_CELL = re.compile(r"(?<!\\)\|")


def fit(text: str, width: int) -> str:
    """Markdown for a terminal of ``width`` columns: long paragraphs and list items are
    wrapped (still valid markdown); a table too wide becomes aligned columns with its
    cells wrapped; code blocks and everything that fits are left as they are."""
    out: list[str] = []
    lines = text.splitlines()
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if fence is not None or stripped.startswith(("```", "~~~")):
            if fence is None:
                fence = stripped[:3]
            elif stripped.startswith(fence):
                fence = None
            out.append(line)
            i += 1
            continue
        if stripped.startswith("|"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append(lines[i])
                i += 1
            fits = max(cells(b) for b in block) <= width
            out += block if fits else _table(block, width)
            continue
        if cells(line) <= width or stripped.startswith("#"):
            out.append(line)
        else:
            found = _PREFIX.match(line)
            prefix = found.group(1) if found else ""
            out += textwrap.wrap(
                line[len(prefix) :],
                width,
                initial_indent=prefix,
                subsequent_indent=" " * len(prefix),
                break_long_words=False,
                break_on_hyphens=False,
            )
        i += 1
    return "\n".join(out)


def _table(block: list[str], width: int) -> list[str]:
    """A markdown table as aligned columns no wider than ``width``, cells wrapped."""
    rows = []
    for line in block:
        row = [c.strip().replace("\\|", "|") for c in _CELL.split(line.strip().strip("|"))]
        if all(re.fullmatch(r":?-+:?", c) for c in row if c):
            continue  # the header's rule
        rows.append(row)
    n = max(len(r) for r in rows)
    rows = [r + [""] * (n - len(r)) for r in rows]
    widths = [max(cells(r[j]) for r in rows) for j in range(n)]
    room = width - 2 * (n - 1)
    while sum(widths) > room and max(widths) > 8:
        widths[widths.index(max(widths))] -= 1
    out = []
    for k, row in enumerate(rows):
        wrapped = [
            textwrap.wrap(cell, w, break_on_hyphens=False) or [""]
            for cell, w in zip(row, widths, strict=True)
        ]
        for depth in range(max(len(c) for c in wrapped)):
            parts = [c[depth] if depth < len(c) else "" for c in wrapped]
            out.append("  ".join(map(_pad, parts, widths)).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cells(text))
