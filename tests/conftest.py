"""Shared fixtures: a project in a real git repository, a real HTTP server, a CLI runner."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.servers import TestServer

if TYPE_CHECKING:
    from tests.prometheus_server import PrometheusServer

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Owner",
    "GIT_AUTHOR_EMAIL": "owner@example.invalid",
    "GIT_COMMITTER_NAME": "Test Owner",
    "GIT_COMMITTER_EMAIL": "owner@example.invalid",
}


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.delenv("CHANGENOTE_DATABASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config, store or git identity."""
    _isolate(monkeypatch, tmp_path / "home")


@contextlib.contextmanager
def inside(root: Path) -> Iterator[pytest.MonkeyPatch]:
    """cwd in ``root``, isolated as a test is, for fixtures of module or session scope
    (set up before the isolation of any one test reaches them)."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, root.parent / "home")
        mp.chdir(root)
        yield mp


#: The config of the projects tests record in, unless they need another.
ADA = 'service = "docs"\nowner = "Ada"\n'


def new_repository(root: Path, config: str = ADA) -> Path:
    """A git repository at ``root`` with one empty commit and ``config`` as its
    changenote.toml (not committed)."""
    root.mkdir(parents=True)
    (root / "changenote.toml").write_text(config)
    git(root, "init", "-q")
    git(root, "commit", "-q", "--allow-empty", "-m", "initial")
    return root


def new_service(root: Path) -> Path:
    """A git repository at ``root`` with one committed file and a changenote.toml."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "search.py").write_text("def search(q):\n    return slow(q)\n")
    (root / "changenote.toml").write_text('service = "docs"\nowner = "Test Owner"\nruns = 8\n')
    (root / ".gitignore").write_text(".changenote/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


POSTGRES_ENV = "CHANGENOTE_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: reads the SQLite file itself; not run on PostgreSQL"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test against the default SQLite store, then against a real PostgreSQL.

    The PostgreSQL server comes from ``CHANGENOTE_TEST_POSTGRES_URL`` (an admin URL;
    ``.ci/postgres start DIR`` gives one); each test gets a new database of its own, as
    ``CHANGENOTE_DATABASE_URL``. Without a server the PostgreSQL runs are skipped,
    except under ``CI=true``, where they fail.
    """
    if request.param == "sqlite":
        yield "sqlite"
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("reads the SQLite file itself")
    with _postgres_databases() as new_database:
        monkeypatch.setenv("CHANGENOTE_DATABASE_URL", new_database())
        yield "postgresql"


@contextlib.contextmanager
def _postgres_databases() -> Iterator[Any]:
    """A factory of new, empty PostgreSQL databases, all dropped at the end."""
    import uuid

    import sqlalchemy as sa

    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        message = f"no PostgreSQL server: set {POSTGRES_ENV} (`.ci/postgres start DIR`)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def new_database() -> str:
        name = f"cn_{uuid.uuid4().hex[:12]}"
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return admin.rsplit("/", 1)[0] + f"/{name}"

    try:
        yield new_database
    finally:
        with engine.connect() as conn:
            for name in made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus on 127.0.0.1, one per test worker, stopped at the session's end.

    It scrapes every second whatever a test adds with ``add_target("127.0.0.1:PORT",
    job="svc")``; ``query``, ``value`` and ``wait_for(promql, timeout)`` read it. The
    program is Debian's ``/usr/bin/prometheus`` (or ``CHANGENOTE_TEST_PROMETHEUS``);
    without one the tests are skipped, except under ``CI=true``, where they fail.
    """
    from tests.prometheus_server import BINARY_ENV, PrometheusServer, binary

    program = binary()
    if program is None:
        message = f"no prometheus program (Debian's prometheus package, or set {BINARY_ENV})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PrometheusServer(program, tmp_path_factory.mktemp("prometheus"))
    with server:
        yield server


@pytest.fixture
def new_store_url(store_backend: str, tmp_path: Path) -> Iterator[Any]:
    """A factory of URLs of new, empty stores of the backend under test."""
    if store_backend == "sqlite":
        count = iter(range(1_000_000))
        yield lambda: f"sqlite:///{tmp_path / f'store{next(count)}.db'}"
        return
    with _postgres_databases() as new_database:
        yield new_database


def store_with_an_old_change(url: str, revision: str | None = None) -> None:
    """A store at schema ``revision`` (the newest when None) holding one change,
    ``old-change``, inserted with SQL as an older changenote wrote it."""
    import sqlalchemy as sa

    from changenote.store.db import Store

    store = Store(url)
    if revision is None:
        store.ensure_schema()
    else:
        store.migrate(revision)
    store.close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO change (uid, slug, title, status, tags, probes, settings,"
                " base_dirty, base_dirty_files, comparison, warnings, created_at) VALUES"
                " ('u1', 'old-change', 'Old change', 'baseline', '[]', '[]', '{}', FALSE,"
                " '{}', '[]', '[]', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()


#: The line a command acting on a change says before it starts (``ship #4 slow-search: ...``).
ANNOUNCED = re.compile(
    r"(measure|ship|tick|watch|abandon|reopen|edit|delete|review|follow-up) #\d+ [a-z0-9-]+: "
)


def after_announcement(stderr: str) -> list[str]:
    """The lines of ``stderr`` after the one naming the change (when it was said): a
    failure met once the command has started is the one line that follows it."""
    lines = stderr.strip().splitlines()
    return lines[1:] if lines and ANNOUNCED.match(lines[0]) else lines


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def invoke(*args: str) -> Result:
    """Run the CLI in-process, as `changenote ARGS` would, capturing everything."""
    from changenote.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Result(code, out.getvalue(), err.getvalue())


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV},
    )
    return done.stdout


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one committed file and a changenote.toml; cwd is inside it."""
    root = new_service(tmp_path / "service")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer()
    try:
        yield srv
    finally:
        srv.close()


def machine_flagged(doc: dict[str, Any]) -> bool:
    """Whether a comparison says the machine was busier in one run than the other."""
    return any(
        w["code"] == "environment-changed"
        and ("machine load" in w["message"] or "the CPUs were contended" in w["message"])
        for w in doc["warnings"]
    )
