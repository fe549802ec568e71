"""Where the wiki's documents come from: the store, or the notes' front matter.

Reading 10,000 notes' YAML takes seconds, so a build from notes keeps each note's
digest in the build state and parses again only the notes whose bytes changed
(``NotesCache``), on every CPU for large folders (``process_pool``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from changenote.errors import ChangenoteError
from changenote.notebook.notes import read_note
from changenote.wiki.pages import changed_dependencies, dependencies, digest


def documents_from_notes(folder: Path) -> list[dict[str, Any]]:
    """The change documents kept in the front matter of every note under ``folder``."""
    if not folder.is_dir():
        raise ChangenoteError(f"no notes folder at {folder}")
    docs = [read_note(path) for path in sorted(folder.glob("*.md"))]
    return [d for d in docs if d is not None]


#: Below this many notes to parse or pages to render, a process pool costs more than it
#: saves.
PARALLEL_MIN = 200


def _load_note(args: tuple[Path, Any]) -> tuple[str, dict[str, Any] | None, bytes | None]:
    """Parse one note into its digest and (with a config) its rendered body, compressed."""
    import zlib

    from changenote.notebook import notes

    path, config = args
    doc = read_note(path)
    if doc is None:
        return path.name, None, None
    body = notes.text(config, doc, with_record=False) if config is not None else None
    packed = zlib.compress(body.encode(), 1) if body is not None else None
    return path.name, {**digest(doc), "source": path.name}, packed


def worker_init() -> None:
    """In a pool worker: collect cycles (the parent may have paused that while forking)."""
    import gc

    gc.enable()


def process_pool() -> Any:
    """A pool of worker processes, one per CPU (up to 8), or None on a single CPU.

    Its workers start now, while this process is small: a worker forked later, from a
    process holding every note's digest, would count all of that as its own memory.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = min(os.cpu_count() or 1, 8)
    if workers < 2:
        return None
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=worker_init,
    )
    pool.submit(os.getpid).result()  # starts every worker
    return pool


def load_notes(
    paths: list[Path], config: Any, pool: Any = None
) -> list[tuple[str, dict[str, Any] | None, bytes | None]]:
    """Parse notes, on every CPU when there are many (YAML parsing dominates a build)."""
    jobs = [(path, config) for path in paths]
    if len(jobs) < PARALLEL_MIN or pool is None:
        return [_load_note(job) for job in jobs]
    return list(pool.map(_load_note, jobs, chunksize=64))


class NotesCache:
    """Digests of notes, remembered by file size and modification time between builds.

    Parsing 10,000 notes' YAML takes seconds; an unchanged note's digest is taken
    from the cache, and its whole record is read again only if its page must be
    rendered again. ``dirty`` names what the notes that changed since the last build
    (new, edited or removed) touch before and after, for :func:`build_pages`.
    """

    def __init__(
        self, folder: Path, cached: dict[str, Any] | None, config: Any = None, pool: Any = None
    ) -> None:
        if not folder.is_dir():
            raise ChangenoteError(f"no notes folder at {folder}")
        self.folder = folder
        #: With a config, note bodies are rendered while parsing and kept (compressed);
        #: whole records are not (10,000 parsed records would need about 850 MB).
        self.config = config
        self.pool = pool
        self._bodies: dict[str, bytes] = {}
        #: Note file name -> NoteEntry as last parsed (``wikistate``), to compare with.
        self._cached: dict[str, Any] = cached or {}
        self.entries: dict[str, Any] = {}
        #: Dependency keys (see ``dependencies``) of every note that changed.
        self.dirty: set[str] = set()
        #: Set by ``scan``: each note file's stat key, and those that must be parsed.
        self._keys: dict[str, tuple[int, int]] | None = None
        self._stale: list[Path] = []

    def scan(self) -> int:
        """Look at every note file; the number that must be parsed (new or edited)."""
        import os

        self._keys, self._stale = {}, []
        with os.scandir(self.folder) as found_files:
            entries = sorted(
                (e for e in found_files if e.name.endswith(".md") and e.is_file()),
                key=lambda e: e.name,
            )
        for entry in entries:
            stat = entry.stat()
            key = self._keys[entry.name] = (stat.st_mtime_ns, stat.st_size)
            cached = self._cached.get(entry.name)
            if not (cached and (cached.mtime_ns, cached.size) == key):
                self._stale.append(self.folder / entry.name)
        return len(self._stale)

    def documents(self) -> list[dict[str, Any]]:
        """The digest of every note: parsed again if stale, else as cached."""
        import json

        from changenote.wiki.state import NoteEntry

        if self._keys is None:
            self.scan()
        assert self._keys is not None
        keys, stale = self._keys, self._stale
        parsed = load_notes(stale, self.config, self.pool)
        loaded = {name: (light, body) for name, light, body in parsed}
        found = []
        for name, key in keys.items():
            old = self._cached.get(name)
            if name in loaded:
                light, body = loaded[name]
                if light is None:
                    if old is not None:
                        self.dirty |= dependencies(json.loads(old.digest))
                    continue
                if body is not None:
                    self._bodies[name] = body
                text = json.dumps(light, separators=(",", ":"))
                if old is None:
                    self.dirty |= dependencies(light)
                elif old.digest != text:
                    self.dirty |= changed_dependencies(json.loads(old.digest), light)
                self.entries[name] = NoteEntry(key[0], key[1], text)
            elif old is not None:
                light = json.loads(old.digest)
                self.entries[name] = old
            else:
                continue
            found.append(light)
        for name in self._cached.keys() - self.entries.keys():
            self.dirty |= dependencies(json.loads(self._cached[name].digest))
        return found

    def body(self, light: dict[str, Any]) -> str:
        """The note body of a digest: rendered while parsing, or now from the file."""
        import zlib

        name = light["source"]
        if name not in self._bodies:
            _, light_again, packed = _load_note((self.folder / name, self.config))
            if light_again is None or packed is None:
                raise ChangenoteError(f"{name}: the note lost its front matter during the build")
            self._bodies[name] = packed
        return zlib.decompress(self._bodies.pop(name)).decode()


def documents_from_store(store: Any) -> list[dict[str, Any]]:
    """Every change document in the store, oldest first."""
    from sqlmodel import col, select

    from changenote.notebook import document
    from changenote.store.models import Change

    if not store.exists():
        return []
    with store.read() as session:
        changes = session.exec(select(Change).order_by(col(Change.id))).all()
        return [document.load(session, c) for c in changes]
