"""Rendering templates (pure) and writing files atomically (separate).

Every template lives in the top-level ``templates/`` folder, shipped inside the
wheel as ``changenote/templates``. A project's override folder is searched first,
so it can replace one template without copying the rest.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from changenote.errors import ChangenoteError
from changenote.formatting import md_cell_code, md_code, md_inline

if TYPE_CHECKING:
    import jinja2


def builtin_templates() -> Path:
    """The built-in template folder: inside the installed package, else the source tree."""
    packaged = Path(__file__).with_name("templates")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


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
    env.filters["cell_code"] = md_cell_code
    from changenote.formatting import fmt_number

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
