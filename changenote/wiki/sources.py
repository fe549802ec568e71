"""Where the wiki's documents come from: the store, or the notes' front matter.

Reading 10,000 notes' YAML takes seconds, so a build from notes keeps each note's
digest in the build state and parses again only the notes whose bytes changed
(``NotesCache``), on every CPU for large folders (``process_pool``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


def worker_init(parent: int) -> None:
    """In a pool worker: die with the parent, leave signals and the caller's pipes to it.

    A worker outliving its parent (killed with SIGKILL) would wait for work forever,
    holding the caller's pipes (``changenote wiki | cat`` would never end) and the
    output folder's files. Ctrl-C reaches the whole process group: the parent stops the
    build and ends the workers, which ignore SIGINT themselves (no traceback from each).
    Also collects cycles again (the parent may have paused that while forking).
    """
    import gc
    import os
    import signal

    gc.enable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):  # not the parent's handlers, inherited by fork
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # stderr stays, for a worker's dying words
        os.dup2(devnull, fd)
    os.close(devnull)
    if not _die_with_parent():
        import threading

        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the worker could ask
        os._exit(1)


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; whether it could."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, every: float = 0.2) -> None:
    """Where the kernel cannot do it: end this process soon after its parent is gone."""
    import os
    import time

    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def process_pool() -> Any:
    """A pool of worker processes, one per CPU (up to 8), or None on a single CPU.

    Its workers start now, while this process is small: a worker forked later, from a
    process holding every note's digest, would count all of that as its own memory.
    Ctrl-C while they start is held until all are: raised halfway, it could leave a
    worker the pool does not know of yet, which nothing would end.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = min(os.cpu_count() or 1, 8)
    if workers < 2:
        return None
    with _signals_held() as held:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=worker_init,
            initargs=(os.getpid(),),
        )
        try:
            pool.submit(os.getpid).result()  # starts every worker
        except BaseException:
            stop_pool(pool)
            raise
    if held:
        stop_pool(pool)
        handler, signum = held[0]
        handler(signum, None)  # raises KeyboardInterrupt, as the signal would have
        return None  # a handler that did not: the build goes on without a pool
    return pool


@contextlib.contextmanager
def _signals_held() -> Iterator[list[tuple[Any, int]]]:
    """Hold the signals Python handles (Ctrl-C; SIGTERM and SIGHUP, which the CLI turns
    into Ctrl-C) while the block runs; yields what arrived, with its handler."""
    import signal
    import threading

    held: list[tuple[Any, int]] = []
    previous: dict[int, Any] = {}

    def hold(handler: Any) -> Any:
        def later(signum: int, frame: Any) -> None:
            held.append((handler, signum))

        return later

    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            handler = signal.getsignal(sig) if sig is not None else None
            if sig is not None and callable(handler):
                previous[sig] = handler
                signal.signal(sig, hold(handler))
    try:
        yield held
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_pool(pool: Any) -> None:
    """End a pool's workers now, not after the work they hold (on Ctrl-C or a failure).

    Workers only compute (they write nothing), so killing them loses nothing. A worker
    killed while sending a result leaves half a message in the results pipe; closing
    this process's own (unused) end of it lets the pool's reader see the end of the
    pipe instead of waiting forever for the rest.
    """
    workers = list((getattr(pool, "_processes", None) or {}).values())
    for worker in workers:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            worker.kill()
    results: Any = getattr(pool, "_result_queue", None)
    with contextlib.suppress(OSError, AttributeError):
        results._writer.close()
    pool.shutdown(wait=True, cancel_futures=True)


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


def documents_from_store(store: Any, skipped: list[Any] | None = None) -> list[dict[str, Any]]:
    """Every change document in the store, oldest first; a change that cannot be read
    goes to ``skipped`` (when given: else it stops the build)."""
    from sqlmodel import col, select

    from changenote.errors import UnreadableChangeError
    from changenote.notebook import document
    from changenote.store.models import Change

    if not store.exists():
        return []
    docs = []
    with store.read() as session:
        for change_id in session.exec(select(Change.id).order_by(col(Change.id))).all():
            assert change_id is not None
            try:
                docs.append(document.load_id(session, change_id))
            except UnreadableChangeError as exc:
                if skipped is None:
                    raise
                skipped.append(exc)
        return docs
