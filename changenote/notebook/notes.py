"""Notes: where a change's note goes, its text (pure), and writing it atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from changenote.config import Config
from changenote.errors import ChangenoteError


def relpath(config: Config, doc: dict[str, Any]) -> str:
    """``notes/<date>-<slug>.md`` relative to the project root (absolute if outside it)."""
    from changenote.notebook import document

    path = config.notes_path / document.note_filename(doc)
    try:
        return path.relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return str(path)


def place(config: Config, doc: dict[str, Any]) -> str | None:
    """Where an imported change's note goes: the note path it brings when that is a
    markdown file inside the notes folder, else the usual ``notes/<date>-<slug>.md``.
    None for a change without a note."""
    given = doc.get("note_path")
    if given is None or given == "":
        return None if given is None else relpath(config, doc)
    if isinstance(given, str) and given.endswith(".md") and "\x00" not in given:
        target = Path(given)
        if not target.is_absolute():
            target = config.root / target
        try:
            resolved = target.resolve()
            if config.notes_path.resolve() in resolved.parents:
                # as relpath gives it: relative to the root, no `..`, no machine's own path
                try:
                    return resolved.relative_to(config.root.resolve()).as_posix()
                except ValueError:
                    return str(resolved)
        except (OSError, ValueError, RuntimeError):
            pass
    return relpath(config, doc)


def text(config: Config, doc: dict[str, Any], with_record: bool = True) -> str:
    """The rendered note of a change document (pure).

    ``with_record=False`` leaves out the YAML front matter (the wiki shows only the
    readable part, and dumping the record is the slowest step of a note).
    """
    from changenote.notebook import document
    from changenote.render import render

    override = config.templates_path
    if override is not None and not override.is_dir():
        raise ChangenoteError(
            f"templates_dir {config.templates_dir!r} is not a folder ({override})"
        )
    context = document.note_context(doc, document.front_matter(doc) if with_record else "")
    return render("note.md.j2", context, override)


def write(config: Config, doc: dict[str, Any]) -> Path:
    """Render and write the note of ``doc`` to its ``note_path``, inside the notes folder."""
    from changenote.files import remove_stale_temporaries, write_atomic

    target = Path(doc["note_path"])
    if not target.is_absolute():
        target = config.root / target
    folder = config.notes_path
    if folder not in target.resolve().parents:
        raise ChangenoteError(f"refusing to write a note outside {folder}: {target}")
    try:
        remove_stale_temporaries(target.parent, target.name)
        write_atomic(target, text(config, doc))
    except OSError as exc:
        raise ChangenoteError(f"cannot write the note {target}: {exc.strerror}") from None
    return target


class Staged:
    """Write notes inside a store transaction and take them back if it fails.

    Use as ``with Staged(config) as staged, store.write() as session: ...``: the
    store commits first (inner), then this closes; if anything raised, each note
    written is restored to what it was before (or removed if it was new).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._previous: list[tuple[Path, str | None]] = []

    def __enter__(self) -> Staged:
        return self

    def write(self, doc: dict[str, Any]) -> Path:
        target = Path(doc["note_path"])
        if not target.is_absolute():
            target = self.config.root / target
        before = target.read_text(encoding="utf-8") if target.is_file() else None
        path = write(self.config, doc)
        self._previous.append((path, before))
        return path

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        if exc is None:
            return
        from changenote.files import write_atomic

        for path, before in reversed(self._previous):
            try:
                if before is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomic(path, before)
            except OSError:
                pass  # the original error matters more than a failed clean-up


def read_note(path: Path) -> dict[str, Any] | None:
    """The change document in a note's front matter; None for a file without one."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ChangenoteError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ChangenoteError(f"{path.name}: front matter has no closing '---'")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        doc = yaml.load(text[4 : end + 1], Loader=loader)
    except yaml.YAMLError as exc:
        raise ChangenoteError(f"{path.name}: front matter is not valid YAML: {exc}") from None
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as exc:
        # PyYAML's constructors leak these on bad values: "2024-13-45", "!!int x", "!!bool x"
        raise ChangenoteError(
            f"{path.name}: front matter is not valid YAML: {type(exc).__name__}: {exc}"
        ) from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("slug"), str)
        or not isinstance(doc.get("title"), str)
    ):
        raise ChangenoteError(f"{path.name}: front matter is not a changenote record")
    doc.setdefault("note_path", path.name)
    return doc
