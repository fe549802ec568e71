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
import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from changenote.errors import NotFoundError, StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from changenote.store.models import Change

#: The newest migration; tests check it matches the migration scripts.
HEAD_REVISION = "0007"


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


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or None for other databases and memory."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("///", 1)[1] if "///" in url else ""
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


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


class Store:
    """A database of changes; open once per command."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        if self.url.startswith("sqlite") and sqlite_path(self.url) is None:
            raise StoreError("an in-memory SQLite store would forget everything: give a file")
        path = sqlite_path(self.url)
        existed = True
        try:
            if self.url.startswith("sqlite"):
                if path is not None:
                    _prepare_folder(path)
                    existed = path.exists()
                engine = create_engine(
                    self.url,
                    connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
                    json_serializer=_json_text,
                )
                if path is not None and not existed:
                    # Create the file owner-only before SQLite creates it world-readable.
                    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                    os.close(fd)

                @event.listens_for(engine, "connect")
                def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                    # Take transaction control away from pysqlite so BEGIN is ours.
                    dbapi_conn.isolation_level = None
                    cur = dbapi_conn.cursor()
                    cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                    cur.execute("PRAGMA journal_mode = WAL")
                    cur.execute("PRAGMA synchronous = NORMAL")
                    cur.execute("PRAGMA foreign_keys = ON")
                    cur.close()

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
            raise StoreError(f"cannot create the store folder: {exc.strerror}: {path}") from None

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

    def ensure_schema(self) -> None:
        """Create or upgrade the schema if it is not at the newest revision.

        Before an existing SQLite store is upgraded, a copy of it is kept under
        ``backups/`` next to it, and :data:`NOTICE` says so.
        """
        current = self.current_revision()
        if current == HEAD_REVISION:
            return
        path = sqlite_path(self.url)
        with _upgrade_lock(path):
            current = self.current_revision()  # another process may have done it meanwhile
            if current == HEAD_REVISION:
                return
            backup = None
            if current is not None and path is not None and path.exists():
                backup = self._backup(path, current)
            self.migrate()
        if current is not None and NOTICE is not None:
            kept = f"; the store as it was is kept in {backup}" if backup else ""
            NOTICE(f"store upgraded from schema {current} to {HEAD_REVISION}{kept}")

    def _backup(self, path: Path, revision: str) -> Path:
        """A consistent copy of the SQLite store (the backup API, so WAL content is in)."""
        from datetime import UTC, datetime

        folder = path.parent / "backups"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            target = folder / f"{path.stem}-schema-{revision}-{stamp}{path.suffix}"
            n = 1
            while target.exists():  # two upgrades in one second (after a downgrade...)
                n += 1
                target = folder / f"{path.stem}-schema-{revision}-{stamp}-{n}{path.suffix}"
            fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            os.close(fd)
            try:
                source = sqlite3.connect(path)
                copy = sqlite3.connect(target)
                try:
                    source.backup(copy)
                finally:
                    copy.close()
                    source.close()
            except BaseException:
                target.unlink(missing_ok=True)  # no half copy that looks like a backup
                raise
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"not upgrading the store: could not keep a copy of it first ({exc})"
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
        """False for an SQLite store whose file was never created (nothing recorded yet)."""
        path = sqlite_path(self.url)
        return path is None or path.exists()

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; an SQLite store that does not exist yet is not created."""
        from sqlalchemy.exc import SQLAlchemyError
        from sqlmodel import Session

        if not self.exists():
            raise NotFoundError("the notebook is empty: start with `changenote baseline TITLE`")
        self.ensure_schema()
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


def resolve_change(session: Session, ref: str | None, any_status: bool = False) -> Change:
    """The change named by id or slug; without ``ref``, the newest one not shipped yet.

    With ``any_status``, no ``ref`` falls back to the newest change of all (for reading).
    """
    from sqlmodel import col, select

    from changenote.store.models import Change

    if ref is None:
        found = session.exec(
            select(Change).where(Change.status != "shipped").order_by(col(Change.id).desc())
        ).first()
        if found is None and any_status:
            found = session.exec(select(Change).order_by(col(Change.id).desc())).first()
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
    " comparison FROM change ORDER BY id DESC"
)


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
    not at the newest schema (the full path migrates it). Database errors propagate."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if not version or version[0] != HEAD_REVISION:
            return None
        return conn.execute(sql, params or {}).fetchall()
    finally:
        conn.close()


def list_changes(url: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows for ``changenote list``, newest first, without creating a missing store."""
    sql = _LIST_SQL + (f" LIMIT {int(limit)}" if limit else "")
    path = sqlite_path(url)
    if path is not None:
        if not path.exists():
            return []
        try:
            rows = read_fast(path, sql)
            if rows is not None:
                return [_list_row(r) for r in rows]
        except sqlite3.DatabaseError:
            pass  # an old or unusual store: take the full path, which migrates or explains
    store = Store(url)
    try:
        store.ensure_schema()
        from sqlalchemy import text

        with store.engine.connect() as sa_conn:
            return [_list_row(tuple(r)) for r in sa_conn.execute(text(sql))]
    finally:
        store.close()
