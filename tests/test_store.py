"""The store: migrations as history, one transaction per action, Ctrl-C safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from changenote.store.db import HEAD_REVISION, MIGRATIONS, Store, list_changes
from tests.conftest import invoke, store_with_an_old_change
from tests.servers import TestServer

pytestmark = pytest.mark.usefixtures("store_backend")


def _revisions() -> list[str]:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _columns(url: str) -> dict[str, list[str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            t: [c["name"] for c in inspector.get_columns(t)]
            for t in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def _snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, in key order: equal snapshots, equal stores."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sorted(sa.inspect(conn).get_table_names())
            return {
                t: [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1"))]
                for t in names
            }
    finally:
        engine.dispose()


def test_head_revision_constant_matches_scripts():
    assert _revisions()[-1] == HEAD_REVISION


def test_blank_database_gets_exact_schema(new_store_url):
    url = new_store_url()
    store = Store(url)
    store.ensure_schema()
    store.close()
    columns = _columns(url)
    search = {t: columns.pop(t) for t in list(columns) if t.startswith("change_fts")}
    if url.startswith("sqlite"):  # FTS5 and its shadow tables
        assert search["change_fts"][:2] == ["title", "reason"]
    assert columns == {
        "alembic_version": ["version_num"],
        "change": [
            "id",
            "uid",
            "slug",
            "title",
            "status",
            "service",
            "owner",
            "route",
            "input",
            "noticed",
            "expected",
            "reason",
            "rollback",
            "tags",
            "probes",
            "settings",
            "base_commit",
            "base_dirty",
            "base_dirty_files",
            "head_commit",
            "comparison",
            "warnings",
            "note_path",
            "created_at",
            "shipped_at",
            "expectations",
            "watches",
            "origin",
            "recorded_by",
            "trusted_by",
            "trusted_at",
            "review_status",
            "reviewed_by",
            "reviewed_at",
            "superseded_by",
        ],
        "checklist_item": [
            "id",
            "change_id",
            "position",
            "key",
            "label",
            "done",
            "evidence",
            "done_at",
        ],
        "event": ["id", "change_id", "at", "by", "kind", "name", "old", "new", "note"],
        "follow_up": [
            "id",
            "change_id",
            "number",
            "text",
            "owner",
            "due",
            "done",
            "done_at",
            "done_note",
            "created_at",
            "created_by",
        ],
        "command": [
            "id",
            "change_id",
            "position",
            "command",
            "source",
            "exit_status",
            "recorded_at",
        ],
        "file_touched": ["id", "change_id", "path", "source"],
        "check_result": [
            "id",
            "name",
            "checked_at",
            "state",
            "probe",
            "attempts",
            "errors",
            "metrics",
            "reference",
            "environment",
        ],
        "metric": [
            "id",
            "run_id",
            "probe_index",
            "probe",
            "name",
            "unit",
            "better",
            "n",
            "median",
            "p95",
            "mean",
            "stdev",
            "min",
            "max",
            "samples",
        ],
        "run": [
            "id",
            "change_id",
            "position",
            "label",
            "started_at",
            "finished_at",
            "git_commit",
            "git_dirty",
            "probes",
            "settings",
            "environment",
        ],
    }


def test_models_match_migrations(new_store_url):
    """A model change without a migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import changenote.store.models  # noqa: F401

    store = Store(new_store_url())
    store.ensure_schema()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                # the search index lives outside the models: FTS5 tables, a GIN index
                "include_name": lambda name, kind, _: (
                    not ((name or "").startswith("change_fts") or name == "ix_change_search")
                )
            },
        )
        diff = compare_metadata(context, SQLModel.metadata)
    store.close()
    assert diff == []


def test_upgrade_from_every_revision_keeps_data(new_store_url, monkeypatch, project: Path):
    """Build each released schema, put a change in it, upgrade to head, read it back."""

    for revision in _revisions():
        url = new_store_url()
        store_with_an_old_change(url, revision)
        before = _snapshot(url)
        store = Store(url)
        store.ensure_schema()
        store.close()
        assert [r["slug"] for r in list_changes(url)] == ["old-change"]
        if url.startswith("sqlite") and revision != HEAD_REVISION:
            # the store as it was is kept, whole, before the upgrade
            db = Path(url.removeprefix("sqlite:///"))
            (kept,) = (db.parent / "backups").glob(f"{db.stem}-schema-{revision}-*.db")
            assert _snapshot(f"sqlite:///{kept}") == before
            assert kept.stat().st_mode & 0o777 == 0o600
        monkeypatch.setenv("CHANGENOTE_DATABASE_URL", url)
        shown = invoke("show", "old-change", "--json")
        assert shown.code == 0, shown.stderr
        assert shown.json()["title"] == "Old change"


def test_failed_write_rolls_back(new_store_url):
    from changenote.store.models import Change

    store = Store(new_store_url())
    with pytest.raises(RuntimeError), store.write() as session:
        session.add(Change(uid="a" * 32, slug="x", title="x"))
        session.flush()
        raise RuntimeError("boom")
    assert list_changes(store.url) == []
    store.close()


@pytest.mark.sqlite_only
def test_list_does_not_create_a_store(tmp_path: Path):
    db = tmp_path / "none" / "c.db"
    assert list_changes(f"sqlite:///{db}") == []
    assert not db.exists()


@pytest.mark.sqlite_only
def test_store_folder_is_private_and_ignored(project: Path):
    assert invoke("baseline", "t", "--metric", "x=1").code == 0
    folder = project / ".changenote"
    assert folder.stat().st_mode & 0o777 == 0o700
    for path in folder.glob("changenote.db*"):  # the database, its WAL and shared memory
        assert path.stat().st_mode & 0o077 == 0, path.name
    assert (folder / ".gitignore").read_text().strip().endswith("*")


@pytest.mark.sqlite_only
def test_store_folder_made_by_another_process_meanwhile_is_fine(tmp_path: Path, monkeypatch):
    # Two first commands race: both see no folder, one makes it, the other must not fail.
    folder = tmp_path / "svc" / ".changenote"
    real_mkdir = Path.mkdir

    def mkdir_after_a_rival(self: Path, *args, **kwargs):
        if self == folder and not folder.exists():
            real_mkdir(self, mode=0o700)
            (folder / ".gitignore").write_text("rival\n")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir_after_a_rival)
    store = Store(f"sqlite:///{folder / 'changenote.db'}")
    store.engine.dispose()
    assert (folder / "changenote.db").exists()
    assert (folder / ".gitignore").read_text() == "rival\n"


def test_ctrl_c_while_measuring_leaves_store_as_it_was(project: Path, server: TestServer):
    from changenote.config import load_config

    assert invoke("baseline", "first", "--metric", "x=1").code == 0
    url = load_config(project).store_url()
    before = _snapshot(url)
    server.behaviour.delay = 0.2
    env = dict(os.environ)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "changenote",
            "baseline",
            "second",
            "--http",
            f"{server.url}/",
            "--runs",
            "50",
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a background job (nohup, `&` in a script) starts with SIGINT ignored, and Python
        # keeps it so: give the child the default, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while len(server.behaviour.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() == "changenote: error: interrupted; nothing was recorded"
    assert "Traceback" not in err
    assert _snapshot(url) == before


def test_times_survive_a_server_in_another_time_zone(project: Path, monkeypatch):
    """Stored as UTC, read back as UTC, whatever the database session's zone is."""
    from datetime import UTC, datetime

    monkeypatch.setenv("PGTZ", "America/New_York")  # libpq sets the session's TimeZone
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert invoke("baseline", "zones", "--metric", "x=1").code == 0
        shown = invoke("show", "zones", "--json").json()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    created = datetime.fromisoformat(shown["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 120, shown["created_at"]


@pytest.mark.sqlite_only
def test_an_upgrade_says_so_and_where_the_copy_is(project: Path):
    import sqlalchemy as sa

    db = project / ".changenote" / "changenote.db"
    store = Store(f"sqlite:///{db}")
    store.migrate("0004")  # a store made by the 0004 release
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO change (uid, slug, title, status, tags, probes, settings,"
                " base_dirty, base_dirty_files, comparison, warnings, created_at, watches)"
                " VALUES ('u1', 'old', 'Old', 'baseline', '[]', '[]', '{}', FALSE, '{}', '[]',"
                " '[]', '2026-01-01 00:00:00', '[]')"
            )
        )
    store.close()
    shown = invoke("show", "old", "--json")
    assert shown.code == 0, shown.stderr
    assert f"store upgraded from schema 0004 to {HEAD_REVISION}" in shown.stderr
    assert ".changenote/backups/changenote-schema-0004-" in shown.stderr
    assert invoke("show", "old").stderr == ""  # once
    assert [r["slug"] for r in invoke("search", "old", "--json").json()] == ["old"]
