"""The HTML site's markdown renderer: markdown-it-py, raw HTML off, made for reading.

What it adds to CommonMark and GFM tables, all from the markdown the markdown wiki
also has (so the two never say different things):

- links limited to relative ones and ``http:``, ``https:``, ``mailto:``; ``.md`` links
  become ``.html``;
- every table in a wrapper that scrolls sideways, and inside cells, words that hold
  punctuation a browser may break at (``2026-12-01``, ``not-significant``, a URL)
  kept whole, so a narrow screen scrolls the table instead of splitting words; a
  long cell's column is given room;
- a cell of a ``verdict`` column that holds a verdict (``improved ✅``) as a
  coloured badge carrying its word; a ``review`` column's state likewise;
- ``- [x]`` / ``- [ ]`` list items as disabled checkboxes (mdit-py-plugins' tasklists);
- an image of one of the page's own charts replaced by the chart itself, inline SVG
  (see :func:`changenote.wiki.charts.trend_svg`), so its tooltips can be reached.

Every piece of markup added here is fixed text or escaped user text.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

SAFE_SCHEMES = ("http:", "https:", "mailto:")

#: A word with a character a browser may break a line after (UAX #14: hyphens and
#: dashes, a slash, ``?``, ``!``, ``|``, a soft hyphen).
_BREAKABLE = re.compile(r"\S*[-\u00ad\u2010-\u2015/?!|]\S*")
#: A cell with more characters than this (of markdown) gets the class ``long``: its
#: column is given room instead of being squeezed to a word a line.
LONG_CELL = 24
#: The state words that ``review`` columns show as badges.
REVIEW_WORDS = ("drafted", "in-review", "reviewed", "needs-update", "superseded")


def safe_link(url: str) -> bool:
    """Relative links and http(s)/mailto only: no javascript:, data:, file: or the like."""
    text = url.strip().lower()
    scheme = re.match(r"^[a-z][a-z0-9+.-]*:", text)
    return scheme is None or text.startswith(SAFE_SCHEMES)


def _verdicts() -> dict[str, str]:
    """Each way a verdict is written in markdown (``improved ✅``, ``not significant``,
    ``not-significant``) -> its key."""
    from changenote.formatting import VERDICT_MARK

    words = {key: key for key in VERDICT_MARK}
    words.update({label: key for key, label in VERDICT_MARK.items()})
    return words


def badge(kind: str, key: str) -> str:
    """A badge: ``<span class="verdict verdict-improved">improved</span>``."""
    word = key.replace("-", " ") if kind == "verdict" else key
    return f'<span class="{kind} {kind}-{key}">{escape(word)}</span>'


def whole_words(text: str) -> str:
    """``text`` escaped, each word with breakable punctuation kept on one line."""
    out: list[str] = []
    last = 0
    for match in _BREAKABLE.finditer(text):
        out.append(escape(text[last : match.start()], quote=False))
        out.append(f'<span class="nobr">{escape(match.group(0), quote=False)}</span>')
        last = match.end()
    out.append(escape(text[last:], quote=False))
    return "".join(out)


def _cells(state: Any) -> None:
    """A core rule: badges in verdict and review columns, whole words in every cell."""
    from markdown_it.token import Token

    verdicts = _verdicts()
    headers: list[str] = []
    in_head = False
    column = -1
    tokens = state.tokens
    for i, token in enumerate(tokens):
        kind = token.type
        if kind == "thead_open":
            headers, in_head = [], True
        elif kind == "thead_close":
            in_head = False
        elif kind == "tr_open":
            column = -1
        elif kind in ("th_open", "td_open"):
            column += 1
        elif kind == "inline" and i > 0 and tokens[i - 1].type in ("th_open", "td_open"):
            if in_head:
                headers.append(token.content.strip().lower())
            header = headers[column] if 0 <= column < len(headers) else ""
            content = token.content.strip()
            if len(content) > LONG_CELL:  # its column gets room: a line holds a few words
                tokens[i - 1].attrSet("class", "long")
            if header == "verdict" and content in verdicts:
                replaced = badge("verdict", verdicts[content])
            elif header == "review" and content in REVIEW_WORDS:
                replaced = badge("review", content)
            else:
                for child in token.children or []:
                    if child.type == "text" and _BREAKABLE.search(child.content):
                        child.type, child.content = "html_inline", whole_words(child.content)
                    elif child.type == "code_inline" and _BREAKABLE.search(child.content):
                        child.type = "html_inline"
                        child.content = f"<code>{whole_words(child.content)}</code>"
                continue
            html = Token("html_inline", "", 0)
            html.content = replaced
            token.children = [html]


def renderer() -> Any:
    """A markdown-it renderer for the HTML site (one per process is enough)."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.tasklists import tasklists_plugin

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = safe_link  # type: ignore[method-assign]
    # disabled boxes inside a <label>: the item's text names its box (no random ids)
    md.use(tasklists_plugin, label=True)
    md.core.ruler.push("changenote_cells", _cells)

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        href = str(tokens[idx].attrGet("href") or "")
        if href.endswith(".md") and "://" not in href and not href.startswith("/"):
            tokens[idx].attrSet("href", href[:-3] + ".html")
        return str(renderer.renderToken(tokens, idx, options, env))

    def table_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        # focusable, so a keyboard can scroll a table wider than the screen
        return '<div class="table-wrap" tabindex="0">\n<table>\n'

    def table_close(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return "</table>\n</div>\n"

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        src = str(tokens[idx].attrGet("src") or "")
        embeds = (env or {}).get("embeds") or {}
        if src in embeds:
            return f'<span class="chart">{embeds[src]}</span>'
        return str(renderer.image(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("table_open", table_open)
    md.add_render_rule("table_close", table_close)
    md.add_render_rule("image", image)
    return md


#: How a table ends in this renderer's HTML (the long-table slicing relies on it).
TABLE_END = "</tbody>\n</table>\n</div>\n"
