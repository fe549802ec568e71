"""A store in trouble: one clear line naming it, no traceback, nothing written or lost.

Every case runs changenote as its own process (``python -m changenote``), as a user
would: a store of a newer schema, old stores whose JSON keeps ``\\u`` escapes, damaged
pages behind a valid header, a read-only mount, a dangling link, a file that is not
changenote's, a 0-byte file, a full disk. Read-only mounts and full disks are tmpfs
mounts, so those tests need root (CI runs as root; root ignores file permissions, so a
``chmod`` would prove nothing); they are skipped with the reason where mounting fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from changenote.store.db import HEAD_REVISION, Store
from tests.conftest import (
    after_announcement,
    inside,
    invoke,
    new_repository,
    store_with_an_old_change,
)
from tests.test_store import _revisions

STORE = Path(".changenote") / "changenote.db"


# -- running changenote -------------------------------------------------------------------


@dataclass
class Ran:
    args: list[str]
    code: int
    stdout: str
    stderr: str


def _env(url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CHANGENOTE_DATABASE_URL", None)
    if url is not None:
        env["CHANGENOTE_DATABASE_URL"] = url
    return env


def run_all(cwd: Path, commands: list[list[str]], url: str | None = None) -> list[Ran]:
    """Each command as its own ``changenote`` process, all at once (each starts slowly)."""
    procs = [
        (
            args,
            subprocess.Popen(
                [sys.executable, "-m", "changenote", *args],
                cwd=cwd,
                env=_env(url),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args in commands
    ]
    ran = []
    for args, proc in procs:
        out, err = proc.communicate(timeout=120)
        ran.append(Ran(args, proc.returncode, out, err))
    return ran


def run(cwd: Path, *args: str, url: str | None = None) -> Ran:
    return run_all(cwd, [list(args)], url)[0]


def refused(ran: Ran, *fragments: str) -> str:
    """The one line a refused command printed, checked: non-zero exit, no traceback."""
    assert ran.code != 0, (ran.args, ran.stdout)
    assert "Traceback" not in ran.stdout + ran.stderr, (ran.args, ran.stderr)
    lines = after_announcement(ran.stderr)
    assert len(lines) == 1, (ran.args, ran.stderr)
    assert lines[0].startswith("changenote: error: "), (ran.args, lines[0])
    for fragment in fragments:
        assert fragment in lines[0], (ran.args, fragment, lines[0])
    return lines[0]


def files(db: Path) -> bytes:
    """The store file's bytes (unchanged: nothing written)."""
    return db.read_bytes()


# -- a project with a store ---------------------------------------------------------------

READERS = [
    ["list", "--json"],
    ["search", "zürich"],
    ["show", "1", "--json"],
    ["export"],
    ["wiki", "--out", "wiki-out"],
    ["render", "1"],
]
WRITERS = [
    ["baseline", "new one", "--metric", "x=1"],
    ["tick", "2", "backup"],
    ["ship", "2", "--reason", "r", "--metric", "p95_ms=5ms"],
    ["import", "theirs.jsonl"],
]


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose store holds a shipped change (tag ``zürich``) and an open one, and
    an export of another store's changes to import."""
    root = tmp_path_factory.mktemp("safety") / "template"
    with inside(new_repository(root)):
        made = [
            invoke("baseline", "Brücke über 🚀", "--metric", "p95_ms=9ms", "--tag", "zürich"),
            invoke("ship", "--reason", "cache the bridge", "--metric", "p95_ms=5ms"),
            invoke("baseline", "Open change", "--metric", "p95_ms=9ms"),
            invoke("export", "--out", str(root / "ours.jsonl")),
        ]
        assert all(r.code == 0 for r in made), [r.stderr for r in made]
    theirs = []
    for line in (root / "ours.jsonl").read_text().splitlines():
        doc = json.loads(line)
        doc["uid"] = doc["uid"][::-1]
        theirs.append(json.dumps(doc) + "\n")
    (root / "theirs.jsonl").write_text("".join(theirs))
    # Everything in the store file itself (this process may still hold a connection).
    conn = sqlite3.connect(root / STORE)
    try:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
    finally:
        conn.close()
    return root


@pytest.fixture
def copy(template: Path, tmp_path: Path) -> Path:
    """A copy of the template project of one's own."""
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    return root


# -- mounts -------------------------------------------------------------------------------


@dataclass
class Mount:
    path: Path

    def read_only(self) -> None:
        _mount("-o", "remount,ro", str(self.path))

    def fill(self, leave: int = 0) -> None:
        """Fill the disk, then free ``leave`` bytes of it."""
        filler = self.path / "filler"
        fd = os.open(filler, os.O_CREAT | os.O_WRONLY)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 65536)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 512)
        os.close(fd)
        if leave:
            os.truncate(filler, filler.stat().st_size - leave)


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({' '.join(args)}): {done.stderr.strip()}")


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    """A 1 MiB tmpfs of the test's own, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where = tmp_path / "mnt"
    where.mkdir()
    _mount("-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(where))
    try:
        yield Mount(where)
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def _on_mount(project: Path, mount: Mount) -> tuple[Path, str]:
    db = mount.path / "changenote.db"
    shutil.copy(project / STORE, db)
    return db, f"sqlite:///{db}"


# -- 6. a store of a newer schema; one copy per upgrade step ------------------------------


def _sql(url: str, *statements: str) -> list[Any]:
    """Run the statements in one transaction; the rows of each SELECT."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            results = [conn.execute(sa.text(s)) for s in statements]
            return [r.all() for r, s in zip(results, statements, strict=True)
                    if s.startswith("SELECT")]  # fmt: skip
    finally:
        engine.dispose()


def test_a_newer_schema_is_refused_without_copying_it(new_store_url, project: Path):
    url = new_store_url()
    store_with_an_old_change(url)
    _sql(url, "UPDATE alembic_version SET version_num = '0099'")
    db = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite") else None
    before = files(db) if db else None
    for ran in run_all(project, [["list"], ["show", "old-change"], ["search", "old"],
                                 ["baseline", "x", "--metric", "x=1"]], url):  # fmt: skip
        refused(ran, "schema 0099", f"up to {HEAD_REVISION}", "upgrade changenote")
    assert _sql(url, "SELECT version_num FROM alembic_version") == [[("0099",)]]
    assert _sql(url, "SELECT slug FROM change") == [[("old-change",)]]
    if db is not None:
        assert files(db) == before
        assert not (db.parent / "backups").exists()


def test_an_upgrade_keeps_one_copy_per_step_however_often_it_is_tried(project: Path):
    db = project / STORE
    store_with_an_old_change(f"sqlite:///{db}", "0005")
    # Something in the way of migration 0006 makes the upgrade fail (and change nothing).
    _sql(f"sqlite:///{db}", "CREATE TABLE change_fts (x)")
    for _ in range(2):
        refused(run(project, "list"), "cannot migrate the store", "change_fts")
    backups = db.parent / "backups"
    kept = sorted(p.name for p in backups.iterdir())
    assert kept == [f"changenote-schema-0005-to-{HEAD_REVISION}.db"]
    _sql(f"sqlite:///{db}", "DROP TABLE change_fts")
    done = run(project, "list", "--json")
    assert done.code == 0, done.stderr
    assert [r["slug"] for r in json.loads(done.stdout)] == ["old-change"]
    assert f"store upgraded from schema 0005 to {HEAD_REVISION}" in done.stderr
    assert sorted(p.name for p in backups.iterdir()) == kept
    assert run(project, "list").stderr == ""  # upgraded once


# -- 7. JSON columns without \u escapes after an upgrade ----------------------------------

NON_ASCII = {
    "tags": ["zürich", "🚀"],
    "settings": {"runs": 3, "label": "größe"},
    "base_dirty_files": {"app/café.py": "abc"},
    "environment": {"host": "zürich-🚀"},
}


def _json_columns() -> dict[str, list[str]]:
    """Every JSON column of every table, from the models."""
    import sqlalchemy as sa
    from sqlmodel import SQLModel

    import changenote.store.models  # noqa: F401

    return {
        table.name: [c.name for c in table.columns if isinstance(c.type, sa.JSON)]
        for table in SQLModel.metadata.sorted_tables
    }


def _fill_old_store(url: str, revision: str) -> None:
    """A change, a run with a metric and (since 0003) a check result, their JSON written
    as the changenote of ``revision`` wrote it: with ``\\u`` escapes before 0008."""
    import sqlalchemy as sa

    def _escaped(value: Any) -> str:
        return json.dumps(value, ensure_ascii=revision < "0008")

    postgres = url.startswith("postgresql")
    j = (lambda name: f"CAST(:{name} AS json)") if postgres else (lambda name: f":{name}")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO change (id, uid, slug, title, status, tags, probes, settings,"
                " base_dirty, base_dirty_files, comparison, warnings, created_at) VALUES"
                f" (1, 'u1', 'bruecke', 'Brücke über 🚀', 'baseline', {j('tags')},"
                f" {j('probes')}, {j('settings')}, FALSE, {j('files')}, {j('empty')},"
                f" {j('empty')}, '2026-01-01 00:00:00')"
            ),
            {
                "tags": _escaped(NON_ASCII["tags"]),
                "probes": _escaped([{"kind": "metric", "label": "größe"}]),
                "settings": _escaped(NON_ASCII["settings"]),
                "files": _escaped(NON_ASCII["base_dirty_files"]),
                "empty": "[]",
            },
        )
        environment = ", environment" if revision >= "0002" else ""
        conn.execute(
            sa.text(
                "INSERT INTO run (id, change_id, position, label, started_at, finished_at,"
                f" git_dirty, probes, settings{environment}) VALUES (1, 1, 0, 'baseline',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:01', FALSE, "
                f"{j('probes')}, {j('settings')}{', ' + j('env') if environment else ''})"
            ),
            {
                "probes": _escaped([{"label": "größe", "attempts": 1}]),
                "settings": _escaped(NON_ASCII["settings"]),
                "env": _escaped(NON_ASCII["environment"]),
            },
        )
        conn.execute(
            sa.text(
                "INSERT INTO metric (run_id, probe_index, probe, name, unit, n, samples)"
                f" VALUES (1, 0, 'größe', 'x', '', 1, {j('samples')})"
            ),
            {"samples": "[1.0]"},
        )
        if revision >= "0003":
            conn.execute(
                sa.text(
                    "INSERT INTO check_result (name, checked_at, state, probe, attempts,"
                    " errors, metrics, environment) VALUES ('zürich', '2026-01-01 00:00:00',"
                    f" 'ok', 'größe', 1, 0, {j('metrics')}, {j('env')})"
                ),
                {
                    "metrics": _escaped({"time_ms": {"median": 1.0, "unit": "ms", "n": "ü"}}),
                    "env": _escaped(NON_ASCII["environment"]),
                },
            )
    engine.dispose()


@pytest.mark.parametrize("revision", [r for r in _revisions() if r != HEAD_REVISION])
def test_an_old_store_is_found_by_its_non_ascii_words(new_store_url, project: Path, revision):
    import sqlalchemy as sa

    url = new_store_url()
    store = Store(url)
    store.migrate(revision)
    store.close()
    _fill_old_store(url, revision)

    found = run(project, "search", "zürich", "--json", url=url)
    assert found.code == 0, found.stderr
    assert "Traceback" not in found.stderr
    assert [r["slug"] for r in json.loads(found.stdout)] == ["bruecke"]

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        for table, columns in _json_columns().items():
            if table not in tables:
                continue
            for column in columns:
                texts = conn.execute(sa.text(f"SELECT CAST({column} AS TEXT) FROM {table}"))
                for (text,) in texts:
                    assert "\\u" not in (text or ""), (table, column, text)
        tags, settings = conn.execute(sa.text("SELECT tags, settings FROM change")).one()
    engine.dispose()
    if isinstance(tags, str):  # SQLite hands back the text
        tags, settings = json.loads(tags), json.loads(settings)
    assert tags == NON_ASCII["tags"] and settings == NON_ASCII["settings"]


# -- 8. a damaged store -------------------------------------------------------------------


def _garbage_pages(db: Path) -> None:
    """Random bytes over every page but the first: a valid header, damaged pages."""
    data = bytearray(db.read_bytes())
    size = int.from_bytes(data[16:18], "big")
    rng = random.Random(20261202)
    data[size:] = bytes(rng.randrange(256) for _ in range(len(data) - size))
    db.write_bytes(bytes(data))


def _garbled_schema(db: Path) -> None:
    """A byte that is not UTF-8 inside the schema's own text (SQLite's message quotes it)."""
    data = bytearray(db.read_bytes())
    at = data.index(b"NOT NULL", data.index(b"CREATE TABLE change"))
    data[at + 5] = 0xEB  # NOT N\xebLL
    db.write_bytes(bytes(data))


def _random_file(db: Path) -> None:
    """Random bytes as the whole store file."""
    rng = random.Random(7)
    db.write_bytes(bytes(rng.randrange(256) for _ in range(db.stat().st_size)))


#: One command of each way into the store: the list and search fast paths, a session
#: for reading, one for writing.
EACH_WAY = [["list"], ["search", "zürich"], ["show", "1"], WRITERS[0]]
DAMAGE = {
    "garbage-pages": (_garbage_pages, READERS + WRITERS),
    "garbled-schema": (_garbled_schema, EACH_WAY),
    "random-file": (_random_file, EACH_WAY),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_store_is_said_on_every_command(copy: Path, damage: str):
    db = copy / STORE
    spoil, commands = DAMAGE[damage]
    spoil(db)
    before = files(db)
    for ran in run_all(copy, commands):
        line = refused(ran, f"the store {db} is damaged (SQLite: ", f"`sqlite3 {db} .recover`")
        assert line.endswith("can save what is left"), line
    assert files(db) == before
    assert not (db.parent / "backups").exists()


# -- 9. read-only, a dangling link, not changenote's, 0 bytes, a full disk ----------------


def test_a_read_only_store_is_read_and_not_written(copy: Path, mount: Mount):
    db, url = _on_mount(copy, mount)
    mount.read_only()
    before = files(db)
    readers = run_all(copy, READERS, url)
    for ran in readers:
        assert ran.code == 0, (ran.args, ran.stderr)
        assert ran.stderr == "", (ran.args, ran.stderr)
    listed = json.loads(readers[0].stdout)
    assert [r["slug"] for r in listed] == ["open-change", "brucke-uber"]
    assert "brucke-uber" in readers[1].stdout
    for ran in run_all(copy, WRITERS, url):
        refused(ran, f"the store {db} is read-only")
    assert files(db) == before
    assert sorted(p.name for p in mount.path.iterdir()) == ["changenote.db"]


def test_a_read_only_store_that_needs_an_upgrade_says_so(tmp_path: Path, mount: Mount):
    old = tmp_path / "old.db"
    store_with_an_old_change(f"sqlite:///{old}", "0007")
    db = mount.path / "changenote.db"
    shutil.copy(old, db)
    mount.read_only()
    for ran in run_all(tmp_path, [["list"], ["show", "old-change"]], f"sqlite:///{db}"):
        refused(
            ran, f"the store {db} is read-only", f"upgraded from schema 0007 to {HEAD_REVISION}"
        )


def _with_unmerged_wal(project: Path, mount: Mount, shm: bool) -> tuple[Path, str]:
    """The store on the mount with a -wal holding a change not merged into it yet."""
    src = project / STORE
    conn = sqlite3.connect(src, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("UPDATE change SET title = 'Only in the log' WHERE id = 2")
        for suffix in ("", "-wal", "-shm") if shm else ("", "-wal"):
            shutil.copy(f"{src}{suffix}", mount.path / f"changenote.db{suffix}")
    finally:
        conn.close()
    db = mount.path / "changenote.db"
    return db, f"sqlite:///{db}"


def test_a_read_only_store_with_an_unmerged_log(copy: Path, mount: Mount):
    db, url = _with_unmerged_wal(copy, mount, shm=False)
    mount.read_only()
    for ran in run_all(copy, [["list"], ["show", "2"], ["search", "change"]], url):
        refused(ran, f"the store {db} has changes in changenote.db-wal", "read-only")


def test_a_read_only_store_with_its_log_and_index_reads_the_log(copy: Path, mount: Mount):
    _, url = _with_unmerged_wal(copy, mount, shm=True)
    mount.read_only()
    listed, shown = run_all(copy, [["list", "--json"], ["show", "2", "--json"]], url)
    assert listed.code == 0 and shown.code == 0, listed.stderr + shown.stderr
    assert json.loads(listed.stdout)[0]["title"] == "Only in the log"
    assert json.loads(shown.stdout)["title"] == "Only in the log"


ALL = [["list"], ["search", "zürich"], ["show"], ["baseline", "x", "--metric", "x=1"]]


def test_a_dangling_link_as_the_store_is_named(copy: Path):
    db = copy / STORE
    db.unlink()
    db.symlink_to(copy / "elsewhere" / "changenote.db")
    for ran in run_all(copy, ALL):
        refused(ran, f"the store {db} is a symbolic link to {copy / 'elsewhere'}", "not exist")
    assert not (copy / "elsewhere").exists()


def test_an_sqlite_file_of_something_else_is_not_touched(copy: Path):
    db = copy / STORE
    db.unlink()
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE users (id); CREATE TABLE orders (id); INSERT INTO users VALUES (1);"
    )
    conn.close()
    before = files(db)
    for ran in run_all(copy, ALL):
        refused(ran, f"the store {db} is an SQLite database of something else", "orders, users")
    assert files(db) == before


def test_changenote_tables_without_their_version_are_not_touched(new_store_url, project: Path):
    url = new_store_url()
    store_with_an_old_change(url)
    _sql(url, "DROP TABLE alembic_version")
    for ran in run_all(project, ALL, url):
        refused(ran, "holds changenote's tables but no alembic_version table")
    assert _sql(url, "SELECT slug FROM change") == [[("old-change",)]]


def test_a_zero_byte_store_is_refused(copy: Path):
    db = copy / STORE
    db.write_bytes(b"")
    for ran in run_all(copy, ALL):
        refused(ran, f"the store {db} is empty (0 bytes)", "delete the file to start a new store")
    assert db.stat().st_size == 0


@pytest.mark.parametrize("leave", [0, 36 * 1024], ids=["nothing-left", "a-little-left"])
def test_a_full_disk_is_said_with_the_path(copy: Path, mount: Mount, leave: int):
    db, url = _on_mount(copy, mount)
    before = files(db)
    mount.fill(leave)
    for ran in run_all(copy, WRITERS[:3], url):
        refused(ran, f"disk full: no space left for the store {db}", "nothing was changed")
    assert files(db) == before
    (mount.path / "filler").unlink()
    listed = run(copy, "list", "--json", url=url)
    assert [r["slug"] for r in json.loads(listed.stdout)] == ["open-change", "brucke-uber"]


def test_a_new_store_on_a_full_disk_leaves_no_empty_file(copy: Path, mount: Mount):
    db = mount.path / "new.db"
    mount.fill()
    refused(run(copy, "baseline", "x", "--metric", "x=1", url=f"sqlite:///{db}"), "disk full")
    assert not db.exists()
    assert [p.name for p in mount.path.iterdir() if p.name.startswith(".new.db")] == []
