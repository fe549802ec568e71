"""Rendering templates (pure) and writing files atomically (separate).

Every template lives in the top-level ``templates/`` folder, shipped inside the
wheel as ``changenote/templates``. A project's override folder is searched first,
so it can replace one template without copying the rest.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from changenote.errors import ChangenoteError

if TYPE_CHECKING:
    import jinja2


def builtin_templates() -> Path:
    """The built-in template folder: inside the installed package, else the source tree."""
    packaged = Path(__file__).with_name("templates")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


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


@lru_cache(maxsize=8)
def _environment(override: str | None) -> jinja2.Environment:
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if override:
        loaders.append(jinja2.FileSystemLoader(override))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_inline
    env.filters["code"] = md_code
    from changenote.document import fmt_number

    env.filters["figure"] = fmt_number
    return env


def markup(html: str) -> Any:
    """Mark HTML we produced ourselves (markdown-it output, raw HTML off) as safe."""
    from markupsafe import Markup

    return Markup(html)


def static(name: str, override_dir: Path | None = None) -> str:
    """A template folder file used as is (CSS, script): the override first, then built-in."""
    for folder in (override_dir, builtin_templates()):
        if folder is not None and (folder / name).is_file():
            return (folder / name).read_text(encoding="utf-8")
    raise ChangenoteError(f"template file {name!r} not found")


def render(name: str, context: dict[str, Any], override_dir: Path | None = None) -> str:
    """Render template ``name`` with ``context``; no side effects."""
    import jinja2

    env = _environment(str(override_dir) if override_dir else None)
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateNotFound:
        raise ChangenoteError(f"template {name!r} not found") from None
    except jinja2.TemplateError as exc:
        lineno = getattr(exc, "lineno", None)
        where = f" (line {lineno})" if lineno else ""
        raise ChangenoteError(f"template {name!r} failed{where}: {exc}") from None


def remove_stale_temporaries(folder: Path, name: str = "*") -> list[Path]:
    """Remove what a killed :func:`write_atomic` left behind in ``folder`` (for ``name``).

    A process killed between creating its temporary file and renaming it cannot clean
    up; the next writer of the same folder does. The pattern is ours alone.
    """
    removed = []
    if folder.is_dir():
        for stale in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
                removed.append(stale)
    return removed


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the new one, never half.

    ``durable`` also flushes the file to disk before it replaces the old one (so a power
    cut cannot leave it empty); files that can be made again (wiki pages) skip that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
