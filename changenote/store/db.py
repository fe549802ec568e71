"""The store: engine, migrations, transactions and the queries the workflow needs.

SQLite (the default, one file under ``.changenote/``) runs in WAL mode with a busy
timeout; write transactions start with ``BEGIN IMMEDIATE`` so two writers queue
instead of failing half-way. Any SQLAlchemy URL works (PostgreSQL for a team).
The schema is built and upgraded only through the Alembic migrations.

Reading commands such as ``list`` use :func:`list_changes`, which for SQLite goes
through the stdlib ``sqlite3`` module: importing SQLModel costs more than the
whole command should.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from changenote.errors import NotFoundError, StoreError, UsageError
from changenote.store.sqlite_file import (
    file_size,
    os_failure,
    read_only_line,
    readonly_uri,
    remove_sqlite_files,
    sidecar,
    sqlite_failure,
    sqlite_path,
    store_file_exists,
    writable,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from changenote.store.models import Change

#: The newest migration; tests check it matches the migration scripts.
HEAD_REVISION = "0009"


@contextlib.contextmanager
def _upgrade_lock(path: Path | None) -> Iterator[None]:
    """One upgrade of an SQLite store at a time (its backup, then its migration).

    A lock file next to the store, held with ``flock``; where there is none (another
    platform, another database), the database's own locking is all there is.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on this platform
        yield
        return
    if path is None:
        yield
        return
    lock = os.open(path.with_name(path.name + ".upgrade-lock"), os.O_CREAT | os.O_WRONLY, 0o600)
    os.fchmod(lock, 0o600)  # one an older version made is 0644
    with os.fdopen(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _notice(message: str) -> None:
    import sys

    sys.stderr.write(f"changenote: {message}\n")


#: Where the store says what it did on its own (an upgrade); stderr unless replaced.
NOTICE: Callable[[str], None] | None = _notice
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 30.0


def _json_text(value: Any) -> str:
    """JSON columns keep text as written (not \\u-escaped), so full-text search finds a
    tag like ``zürich``."""
    return json.dumps(value, ensure_ascii=False)


def _prepare_folder(path: Path) -> None:
    """Create the store folder readable by the owner only, and keep it out of git."""
    folder = path.parent
    if folder.exists():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process made it first
        folder.mkdir(mode=0o700)
    ignore = folder / ".gitignore"
    if folder.name == ".changenote" and not ignore.exists():
        ignore.write_text("# created by changenote\n*\n")


def _known_revisions() -> set[str]:
    """The revisions this changenote has migrations for (their files' number prefixes)."""
    return {p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py")}


#: changenote's own tables (and the full-text index's, on SQLite).
OWN_TABLES = frozenset(
    {
        "change",
        "run",
        "metric",
        "command",
        "file_touched",
        "checklist_item",
        "check_result",
        "event",
        "follow_up",
    }
)


def _own(table: str) -> bool:
    return table in OWN_TABLES or table.startswith("change_fts")


def _peek(path: Path) -> tuple[str | None, set[str]]:
    """The schema revision of the SQLite store and its tables, through a read-only
    connection of the standard library's ``sqlite3``."""
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {row[0] for row in rows}
            if "alembic_version" not in tables:
                return None, tables
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            return (version[0] if version else None), tables
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        failure = sqlite_failure(exc, path)
        if failure is None:
            raise StoreError(f"cannot open the store {path}: {exc}") from None
        raise failure from None


#: What reading an SQLite store that was never made says.
EMPTY = "the notebook is empty: start with `changenote baseline TITLE`"


class Store:
    """A database of changes; open once per command."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        #: The engine opens the SQLite file read-only (it cannot be written).
        self.read_only = False
        #: The path lines about the file name (a store being built under a temporary name
        #: is named by the path it will have).
        self._shown: Path | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        import logging

        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        # The store never prints: what SQLAlchemy logs while cleaning up after a failure
        # (a cursor it cannot close after Ctrl-C) would reach stderr as a traceback
        # through logging's last resort; the failure itself is reported, once.
        quiet = logging.getLogger("sqlalchemy")
        if not any(isinstance(h, logging.NullHandler) for h in quiet.handlers):
            quiet.addHandler(logging.NullHandler())

        if self.url.startswith("sqlite") and sqlite_path(self.url) is None:
            raise StoreError("an in-memory SQLite store would forget everything: give a file")
        path = sqlite_path(self.url)
        existed = True
        try:
            if self.url.startswith("sqlite"):
                assert path is not None
                _prepare_folder(path)
                existed = store_file_exists(path)
                # A store that cannot be written is read through a read-only connection:
                # a read-write one fails on a read-only mount or folder before reading.
                self.read_only = existed and not writable(path)
                shown = self._shown or path
                options: dict[str, Any] = {}
                if self.read_only:
                    uri = readonly_uri(path)
                    options["creator"] = lambda: sqlite3.connect(
                        uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False
                    )
                engine = create_engine(
                    self.url,
                    connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
                    json_serializer=_json_text,
                    **options,
                )
                if not existed:
                    # Create the file owner-only before SQLite creates it world-readable.
                    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                    os.close(fd)
                read_only = self.read_only

                @event.listens_for(engine, "connect")
                def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                    # Take transaction control away from pysqlite so BEGIN is ours.
                    dbapi_conn.isolation_level = None
                    cur = dbapi_conn.cursor()
                    try:
                        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                        if read_only:
                            cur.execute("PRAGMA query_only = ON")
                        else:
                            cur.execute("PRAGMA journal_mode = WAL")
                            cur.execute("PRAGMA synchronous = NORMAL")
                        cur.execute("PRAGMA foreign_keys = ON")
                    except (sqlite3.Error, UnicodeDecodeError) as exc:
                        failure = sqlite_failure(exc, shown)
                        if failure is None:
                            raise
                        raise failure from None
                    finally:
                        cur.close()

                @event.listens_for(engine, "handle_error")
                def _on_error(context: Any) -> None:
                    # A damaged, full or read-only store is said as such, wherever the
                    # statement that met it ran (in a room's query too).
                    failure = sqlite_failure(context.original_exception, shown)
                    if failure is not None:
                        raise failure

                @event.listens_for(engine, "begin")
                def _on_begin(conn: Any) -> None:
                    mode = conn.get_execution_options().get("changenote_begin", "DEFERRED")
                    conn.exec_driver_sql(f"BEGIN {mode}")

                return engine
            return create_engine(self.url, pool_pre_ping=True, json_serializer=_json_text)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise StoreError(f"cannot use database URL: {exc}") from None
        except ImportError as exc:
            raise StoreError(
                f"the database driver is not installed ({exc.name or exc}): install it, "
                "e.g. pip install 'psycopg[binary]' for postgresql+psycopg://"
            ) from None
        except OSError as exc:
            raise os_failure(exc, path or Path(), "cannot create the store folder") from None

    # -- schema -----------------------------------------------------------------------

    def current_revision(self) -> str | None:
        from sqlalchemy import inspect, text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return None
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store: {_reason(exc)}") from None

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` in one transaction."""
        from alembic import command
        from alembic.config import Config as AlembicConfig
        from alembic.util import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.connect() as conn:
                # One migration at a time: SQLite's BEGIN IMMEDIATE takes the write lock
                # before alembic reads the version; on PostgreSQL an advisory lock for the
                # transaction does (two first commands at once would both create tables).
                conn = conn.execution_options(changenote_begin="IMMEDIATE")
                if conn.dialect.name == "postgresql":
                    from sqlalchemy import text

                    conn.execute(text("SELECT pg_advisory_xact_lock(7428164215)"))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate the store: {_reason(exc)}") from None
        except CommandError as exc:
            raise StoreError(
                f"the store's schema is newer than this changenote knows ({exc}); "
                "upgrade changenote to use it"
            ) from None

    def _tables(self) -> set[str]:
        from sqlalchemy import inspect
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                return set(inspect(conn).get_table_names())
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store: {_reason(exc)}") from None

    def _where(self) -> str:
        path = sqlite_path(self.url)
        return f" {path}" if path is not None else ""

    def _revision_and_tables(self, path: Path | None) -> tuple[str | None, set[str] | None]:
        """The store's schema revision, and for SQLite its tables (read without changing
        the file: not even its journal mode, in a file that may not be changenote's)."""
        if path is None:
            return self.current_revision(), None
        return _peek(path)

    def _check_upgrade(
        self, current: str | None, path: Path | None, tables: set[str] | None
    ) -> None:
        """Refuse an upgrade that must not happen: from a schema this changenote does not
        know (a newer one), of a database that is not changenote's, of a store that cannot
        be written. Nothing is copied or changed before this passes."""
        where = self._where()
        if current is not None and current not in _known_revisions():
            raise StoreError(
                f"the store{where} is at schema {current}, newer than this changenote knows "
                f"(it knows schemas up to {HEAD_REVISION}): upgrade changenote to use it"
            )
        if current is None:
            tables = self._tables() if tables is None else tables
            ours = sorted(t for t in tables if _own(t))
            others = sorted(t for t in tables if not _own(t) and not t.startswith("sqlite_"))
            if ours and self._revision_and_tables(path)[0] is not None:
                return  # another process made the schema between our two looks at it
            if ours:
                raise StoreError(
                    f"the store{where} holds changenote's tables but no alembic_version table "
                    "(or no version in it), so which schema they are at is unknown; not "
                    "touching it: restore the store from a copy (backups/ next to it) or put "
                    "that table back"
                )
            if others and path is not None:
                shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
                raise StoreError(
                    f"the store {path} is an SQLite database of something else (tables: "
                    f"{shown}); not touching it: give changenote a file of its own"
                )
        if path is not None and not writable(path):
            step = "created" if current is None else f"upgraded from schema {current}"
            raise StoreError(
                f"the store {path} is read-only, and this changenote needs its schema {step} "
                f"to {HEAD_REVISION}: run changenote once where the store can be written"
            )

    def ensure_schema(self, writing: bool = True) -> None:
        """Create or upgrade the schema if it is not at the newest revision.

        ``writing``: the caller writes next, so a store that cannot be written is refused
        now (``Store.read`` passes False: a read-only store at the newest schema is read).
        A new SQLite store is made whole under a temporary name, then linked into place.
        Before an existing SQLite store is upgraded, a copy of it is kept under
        ``backups/`` next to it (one per upgrade step), and :data:`NOTICE` says so.
        """
        path = sqlite_path(self.url)
        if path is not None:
            if not store_file_exists(path):
                if not writing:
                    raise NotFoundError(EMPTY)
                self._create(path)
            elif writing and not writable(path):
                raise StoreError(read_only_line(path))
        current, tables = self._revision_and_tables(path)
        if current == HEAD_REVISION:
            return
        self._check_upgrade(current, path, tables)
        try:
            with _upgrade_lock(path):
                # another process may have done it meanwhile
                current, tables = self._revision_and_tables(path)
                if current == HEAD_REVISION:
                    return
                self._check_upgrade(current, path, tables)
                backup = None
                if current is not None and path is not None:
                    backup = self._backup(path, current)
                self.migrate()
        except OSError as exc:  # the lock file
            raise os_failure(exc, path or Path(), "cannot upgrade the store") from None
        if current is not None and NOTICE is not None:
            kept = f"; the store as it was is kept in {backup}" if backup else ""
            NOTICE(f"store upgraded from schema {current} to {HEAD_REVISION}{kept}")

    def _create(self, path: Path) -> None:
        """A new SQLite store at ``path``, whole or not at all: its schema is built in a
        file next to it under a temporary name, which is then linked into place. So no
        one ever sees (or is left) a store file without the schema, and a 0-byte store
        file is never changenote's doing."""
        try:
            _prepare_folder(path)
            with _upgrade_lock(path):
                if path.exists() or path.is_symlink():
                    return  # another process made it meanwhile
                temp = path.with_name(f".{path.name}.new.tmp")
                remove_sqlite_files(temp)
                fresh = Store(f"sqlite:///{temp}")
                fresh._shown = path
                try:
                    fresh.migrate()
                    fresh.close()  # the last connection: what is in the -wal is merged
                    if file_size(sidecar(temp, "-wal")):  # pragma: no cover
                        raise StoreError(f"cannot create the store {path}: its log was not merged")
                    try:
                        os.link(temp, path)
                    except FileExistsError:
                        pass
                    except OSError:  # a file system without hard links
                        if not path.exists():
                            os.replace(temp, path)
                finally:
                    fresh.close()
                    remove_sqlite_files(temp)
        except OSError as exc:
            raise os_failure(exc, path, f"cannot create the store {path}") from None

    def _backup(self, path: Path, revision: str) -> Path:
        """A consistent copy of the SQLite store (the backup API, so WAL content is in).

        One per upgrade step, ``backups/NAME-schema-FROM-to-TO.db``, written under a
        temporary name and renamed when whole: a second attempt from the same schema (after
        a failed upgrade, which changed nothing) keeps the copy the first one made.
        """
        folder = path.parent / "backups"
        target = folder / f"{path.stem}-schema-{revision}-to-{HEAD_REVISION}{path.suffix}"
        if target.is_file() and target.stat().st_size > 0:
            return target
        temp = folder / f".{target.name}.tmp"
        no_space = (
            f"disk full: not upgrading the store {path}: no space for a copy of it in {folder} "
            "first; nothing was changed"
        )
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(temp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            os.close(fd)
            try:
                with (
                    contextlib.closing(sqlite3.connect(path)) as source,
                    contextlib.closing(sqlite3.connect(temp)) as copy,
                ):
                    source.backup(copy)
                os.replace(temp, target)
            except BaseException:
                remove_sqlite_files(temp)  # no half copy that looks like a backup
                raise
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreError(no_space) from None
            raise StoreError(
                f"not upgrading the store {path}: could not keep a copy of it first ({exc})"
            ) from None
        except sqlite3.Error as exc:
            failure = sqlite_failure(exc, path)
            if failure is not None and str(failure).startswith("disk full"):
                raise StoreError(no_space) from None
            raise failure or StoreError(
                f"not upgrading the store {path}: could not keep a copy of it first ({exc})"
            ) from None
        return target

    # -- sessions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """One user action, one transaction: commit at the end, roll back on any exception."""
        from sqlalchemy.exc import SQLAlchemyError
        from sqlmodel import Session

        self.ensure_schema()
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(changenote_begin="IMMEDIATE")
                with Session(bind=conn, expire_on_commit=False) as session:
                    try:
                        if conn.dialect.name == "postgresql":
                            # Writers take turns, as BEGIN IMMEDIATE makes them on SQLite:
                            # a new change's unique slug is chosen from what the store
                            # holds. (Through the session, so its commit commits it.)
                            from sqlalchemy import text

                            session.execute(text("SELECT pg_advisory_xact_lock(7428164216)"))
                        yield session
                        session.commit()
                    except BaseException:
                        session.rollback()
                        raise
        except SQLAlchemyError as exc:
            raise StoreError(f"store write failed, nothing was changed: {_reason(exc)}") from None

    def exists(self) -> bool:
        """False for an SQLite store whose file was never created (nothing recorded yet);
        what is there but cannot be a store (a 0-byte file, a dangling link) is refused."""
        path = sqlite_path(self.url)
        return path is None or store_file_exists(path)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; an SQLite store that does not exist yet is not created,
        and one that cannot be written is read through a read-only connection."""
        from sqlalchemy.exc import SQLAlchemyError
        from sqlmodel import Session

        if not self.exists():
            raise NotFoundError(EMPTY)
        self.ensure_schema(writing=False)
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except SQLAlchemyError as exc:
            raise StoreError(f"store read failed: {_reason(exc)}") from None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).splitlines()[0]


# -- queries ----------------------------------------------------------------------------


#: The status of a change measured but not shipped yet: the only one a command without
#: an id may act on.
OPEN = "baseline"
#: Every status a change can have, in the order a change meets them.
STATUSES = (OPEN, "shipped", "abandoned")
#: How many open changes a refusal names before it counts the rest.
NAMED = 6


def resolve_change(session: Session, ref: str | None, any_status: bool = False) -> Change:
    """The change named by id or slug; without ``ref``, the open change, when exactly
    one change is open (with several, a line naming them: the user says which).

    With ``any_status`` (reading), no ``ref`` is the newest open change, else the newest
    change of all.
    """
    from sqlmodel import col, func, select

    from changenote.store.models import Change

    if ref is None:
        newest = session.exec(
            select(Change.id, Change.slug)
            .where(Change.status == OPEN)
            .order_by(col(Change.id).desc())
            .limit(NAMED)
        ).all()
        if len(newest) > 1 and not any_status:
            count = session.exec(select(func.count()).where(Change.status == OPEN)).one()
            raise UsageError(ambiguous_line(count, [(i, s) for i, s in reversed(newest)]))
        if newest:
            found = session.get(Change, newest[0][0])
        elif any_status:
            found = session.exec(select(Change).order_by(col(Change.id).desc())).first()
        else:
            found = None
        if found is None:
            raise NotFoundError("no open change: give an id or slug, or start with a baseline")
        return found
    text = ref.strip()
    if text.isascii() and text.isdigit():
        found = session.get(Change, int(text)) if len(text) < 18 else None
    else:
        found = session.exec(select(Change).where(Change.slug == text)).first()
    if found is None:
        raise NotFoundError(f"no change with id or slug {ref!r} (see `changenote list`)")
    return found


def day_bound(text: str | None, what: str, end: bool = False) -> datetime | None:
    """The first (or, with ``end``, the last) moment of the day ``text`` names."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what} {text!r}: expected a date such as 2026-11-28") from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def filter_clauses(
    service: str | None,
    owner: str | None,
    tag: str | None,
    start: datetime | None,
    end: datetime | None,
    tag_sql: str,
    when: Any,
    status: str | None = None,
    review: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """`` AND ...`` clauses (and their parameters) keeping the changes that match: the
    filters ``list`` and ``search`` share. ``tag_sql`` tests a tag in the database's
    JSON; ``when`` turns a moment into what the driver compares."""
    clauses, params = [], {}
    for key, value in (
        ("service", service), ("owner", owner), ("status", status), ("review_status", review)
    ):  # fmt: skip
        if value is not None:
            clauses.append(f"change.{key} = :{key}")
            params[key] = value
    if tag is not None:
        clauses.append(tag_sql)
        params["tag"] = tag
    if start is not None:
        clauses.append("COALESCE(change.shipped_at, change.created_at) >= :start")
        params["start"] = when(start)
    if end is not None:
        clauses.append("COALESCE(change.shipped_at, change.created_at) <= :end")
        params["end"] = when(end)
    return "".join(f" AND {c}" for c in clauses), params


def ambiguous_line(count: int, named: list[tuple[int | None, str]]) -> str:
    """``3 changes are open: #4 slow-search, #5 ..., #7 ...; give an id``."""
    listed = ", ".join(f"#{i} {slug}" for i, slug in named)
    if count > len(named):
        listed = f"{listed} and {count - len(named)} older (`changenote list`)"
    return f"{count} changes are open: {listed}; give an id"


def slugify(title: str, limit: int = 60) -> str:
    """A file-name-safe slug: ASCII letters, digits and single dashes only."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:limit].rstrip("-")
    if not slug:  # a title with no Latin letters: keep it recognisable by a short hash
        import hashlib

        slug = "change-" + hashlib.sha1(title.encode()).hexdigest()[:8] if title.strip() else ""
    return slug or "change"


def unique_slug(session: Session, title: str) -> str:
    from sqlmodel import col, select

    from changenote.store.models import Change

    base = slugify(title)
    taken = set(session.exec(select(Change.slug).where(col(Change.slug).like(f"{base}%"))).all())
    if base not in taken and not base.isdigit():
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


_LIST_SQL = (
    "SELECT id, slug, title, status, service, owner, created_at, shipped_at, note_path,"
    " comparison FROM change WHERE 1 = 1{where} ORDER BY id DESC"
)
#: How a tag is looked for in the stored JSON, by database.
TAG_SQL = {
    "sqlite": "EXISTS (SELECT 1 FROM json_each(change.tags) WHERE value = :tag)",
    "postgresql": "change.tags::jsonb ? :tag",
}


def _stamp(value: Any) -> str | None:
    """A stored timestamp as ISO 8601 UTC with a Z, as in the change document."""
    if not value:
        return None
    if hasattr(value, "tzinfo") and value.tzinfo is not None:  # PostgreSQL: in its zone
        from datetime import UTC

        value = value.astimezone(UTC).replace(tzinfo=None)
    return str(value)[:19].replace(" ", "T") + "Z"


def _list_row(row: tuple[Any, ...]) -> dict[str, Any]:
    comparison = row[9]
    if isinstance(comparison, str):
        comparison = json.loads(comparison)
    verdicts: dict[str, int] = {}
    for item in comparison or []:
        verdicts[item["verdict"]] = verdicts.get(item["verdict"], 0) + 1
    return {
        "id": row[0],
        "slug": row[1],
        "title": row[2],
        "status": row[3],
        "service": row[4],
        "owner": row[5],
        "created_at": _stamp(row[6]),
        "shipped_at": _stamp(row[7]),
        "note_path": row[8],
        "verdicts": verdicts,
    }


def read_fast(path: Path, sql: str, params: dict[str, Any] | None = None) -> list[Any] | None:
    """Rows of ``sql`` through the standard library's ``sqlite3``, read-only, without
    importing SQLAlchemy (most of a short command's start-up); None when the store is
    not at the newest schema (the full path migrates it). What SQLite says about the
    file itself (damaged, full disk...) is a :class:`StoreError` naming it; other database
    errors propagate."""
    try:
        conn = sqlite3.connect(readonly_uri(path), uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if not version or version[0] != HEAD_REVISION:
                return None
            return conn.execute(sql, params or {}).fetchall()
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        failure = sqlite_failure(exc, path)
        if failure is None:
            raise
        raise failure from None


def list_changes(url: str, limit: int | None = None, **filters: str | None) -> list[dict[str, Any]]:
    """Rows for ``changenote list``, newest first, without creating a missing store.

    ``filters``: ``status``, ``service``, ``owner``, ``tag``, ``review`` (each equal to
    the value), ``since`` and ``until`` (dates: shipped, or started, on or after /
    before), as ``search`` has them.
    """
    start = day_bound(filters.pop("since", None), "--since")
    end = day_bound(filters.pop("until", None), "--until", end=True)
    path = sqlite_path(url)
    where, params = filter_clauses(
        filters.pop("service", None), filters.pop("owner", None), filters.pop("tag", None),
        start, end, TAG_SQL["sqlite" if path is not None else "postgresql"],
        (lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S.%f")) if path is not None
        else (lambda moment: moment),
        status=filters.pop("status", None), review=filters.pop("review", None),
    )  # fmt: skip
    assert not filters, filters
    sql = _LIST_SQL.format(where=where) + (f" LIMIT {int(limit)}" if limit else "")
    if path is not None:
        if not store_file_exists(path):
            return []
        try:
            rows = read_fast(path, sql, params)
            if rows is not None:
                return [_list_row(r) for r in rows]
        except sqlite3.DatabaseError:
            pass  # an old or unusual store: take the full path, which migrates or explains
    store = Store(url)
    try:
        store.ensure_schema(writing=False)
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with store.engine.connect() as sa_conn:
                return [_list_row(tuple(r)) for r in sa_conn.execute(text(sql), params)]
        except SQLAlchemyError as exc:
            raise StoreError(f"store read failed: {_reason(exc)}") from None
    finally:
        store.close()
