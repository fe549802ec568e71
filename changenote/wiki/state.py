"""What the last wiki build read and wrote: a small SQLite file in the output folder.

It holds the content hash of every file the wiki wrote (so a rebuild writes only what
changed and never touches anyone else's file), each page's input hash and files, and,
for builds from notes, each note's digest by file size and modification time (so only
edited notes are parsed again). A rebuild reads it whole and writes back only the rows
that changed, in one transaction; the file also serves as a lock, so two builds into
one folder cannot interleave.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from changenote.errors import ChangenoteError

STATE = ".changenote-wiki.db"
VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (name TEXT PRIMARY KEY, input TEXT NOT NULL,
                                  files TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notes (name TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL,
                                  size INTEGER NOT NULL, digest TEXT NOT NULL);
"""


class NoteEntry(NamedTuple):
    """A note file as last parsed: its stat key and its digest (JSON)."""

    mtime_ns: int
    size: int
    digest: str


@dataclass
class WikiState:
    """The state of one output folder, as read at the start of a build."""

    out: Path
    meta: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    #: Page name -> (input hash, the files it made).
    pages: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    notes: dict[str, NoteEntry] = field(default_factory=dict)
    _db: sqlite3.Connection | None = None

    @classmethod
    def open(cls, out: Path) -> WikiState:
        """Lock and read the state of ``out``; a foreign, non-empty folder is refused."""
        path = out / STATE
        if not path.is_file() and out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ChangenoteError(
                f"{out} is not empty and was not written by changenote wiki; give a new folder"
            )
        out.mkdir(parents=True, exist_ok=True)
        state = cls(out)
        try:
            db = sqlite3.connect(path, timeout=0.5, isolation_level=None)
            state._db = db
            db.execute("BEGIN IMMEDIATE")  # the lock: held until save() or close()
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            state.meta = dict(db.execute("SELECT key, value FROM meta"))
            if state.meta.get("version", VERSION) != VERSION:
                raise ChangenoteError(
                    f"{path} was written by another changenote version; rebuild with --full"
                )
            state.files = dict(db.execute("SELECT path, hash FROM files"))
            state.pages = {
                name: (input_hash, files.split("\n"))
                for name, input_hash, files in db.execute("SELECT name, input, files FROM pages")
            }
            state.notes = {
                row[0]: NoteEntry._make(row[1:])
                for row in db.execute("SELECT name, mtime_ns, size, digest FROM notes")
            }
        except sqlite3.OperationalError as exc:
            state.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise ChangenoteError(f"another wiki build is writing to {out}") from None
            raise _failure(path, exc) from None
        except (sqlite3.DatabaseError, ValueError) as exc:
            state.close()
            raise _failure(path, exc) from None
        except BaseException:
            state.close()
            raise
        return state

    @property
    def is_new(self) -> bool:
        return not self.files

    def save(
        self,
        meta: dict[str, str],
        files: dict[str, str],
        pages: dict[str, tuple[str, list[str]]],
        notes: dict[str, NoteEntry] | None,
    ) -> None:
        """Write what changed since :meth:`open`, in the transaction it began; unlock."""
        db = self._db
        assert db is not None, "save() after close()"
        try:
            self._save(db, meta, files, pages, notes)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise _failure(self.out / STATE, exc) from None
        finally:
            self.close()

    def _save(
        self,
        db: sqlite3.Connection,
        meta: dict[str, str],
        files: dict[str, str],
        pages: dict[str, tuple[str, list[str]]],
        notes: dict[str, NoteEntry] | None,
    ) -> None:
        _sync(db, "meta", "key", self.meta, {**meta, "version": VERSION}, lambda v: (v,))
        _sync(db, "files", "path", self.files, files, lambda h: (h,))
        _sync(
            db,
            "pages",
            "name",
            self.pages,
            pages,
            lambda p: (p[0], "\n".join(p[1])),
        )
        if notes is not None:
            _sync(db, "notes", "name", self.notes, notes, lambda e: (e.mtime_ns, e.size, e.digest))
        db.execute("COMMIT")

    def save_written(self, written: dict[str, str | None], pages: Iterable[str]) -> None:
        """After a build that stopped midway: keep what it wrote, forget what it touched.

        ``written`` is each file the build wrote with its content hash (None: not there);
        the rows of ``pages`` are dropped, so the next build renders those pages again
        rather than trust files that may be older or newer than the inputs recorded.
        The rest stays as the last finished build left it. If even this cannot be
        written (a full disk), the state stays as it was; unlock either way.
        """
        db = self._db
        if db is None:
            return
        try:
            db.executemany("DELETE FROM pages WHERE name = ?", [(name,) for name in pages])
            db.executemany(
                "DELETE FROM files WHERE path = ?",
                [(path,) for path, digest in written.items() if digest is None],
            )
            db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?, ?)",
                [(path, digest) for path, digest in written.items() if digest is not None],
            )
            db.execute("COMMIT")
        except sqlite3.Error:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Unlock without saving (a failed build keeps the last state)."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _failure(path: Path, exc: Exception) -> ChangenoteError:
    """The one line for a state file that cannot be read or written: a full disk is not
    damage (free some space and build again); anything else is."""
    import errno

    full = (
        getattr(exc, "sqlite_errorname", None) == "SQLITE_FULL"
        or "database or disk is full" in str(exc)
        or getattr(exc, "errno", None) == errno.ENOSPC
    )
    if full:
        return ChangenoteError(
            f"disk full: cannot write {path}; free some space and run the build again"
        )
    return ChangenoteError(f"{path} is damaged ({exc}); remove the folder")


def _sync(
    db: sqlite3.Connection,
    table: str,
    key: str,
    old: dict[str, Any],
    new: dict[str, Any],
    values: Any,
) -> None:
    """Make ``table`` hold ``new`` given that it holds ``old``: only the rows that differ."""
    gone = [(k,) for k in old.keys() - new.keys()]
    if gone:
        db.executemany(f"DELETE FROM {table} WHERE {key} = ?", gone)
    changed = [(k, *values(v)) for k, v in new.items() if old.get(k) != v]
    if changed:
        marks = ", ".join("?" * len(changed[0]))
        db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({marks})", changed)
