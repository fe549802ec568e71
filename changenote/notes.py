"""Notes: where a change's note goes, its text (pure), and writing it atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from changenote.config import Config
from changenote.errors import ChangenoteError


def relpath(config: Config, doc: dict[str, Any]) -> str:
    """``notes/<date>-<slug>.md`` relative to the project root (absolute if outside it)."""
    from changenote import document

    path = config.notes_path / document.note_filename(doc)
    try:
        return path.relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return str(path)


def text(config: Config, doc: dict[str, Any]) -> str:
    """The rendered note of a change document (pure)."""
    from changenote import document
    from changenote.render import render

    context = document.note_context(doc, document.front_matter(doc))
    return render("note.md.j2", context, config.templates_path)


def write(config: Config, doc: dict[str, Any]) -> Path:
    """Render and write the note of ``doc`` to its ``note_path``, inside the notes folder."""
    from changenote.render import write_atomic

    target = Path(doc["note_path"])
    if not target.is_absolute():
        target = config.root / target
    folder = config.notes_path
    if folder not in target.resolve().parents:
        raise ChangenoteError(f"refusing to write a note outside {folder}: {target}")
    try:
        write_atomic(target, text(config, doc))
    except OSError as exc:
        raise ChangenoteError(f"cannot write the note {target}: {exc.strerror}") from None
    return target
