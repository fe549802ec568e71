"""Shared fixtures: a project in a real git repository, a real HTTP server, a CLI runner."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import TestServer

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Owner",
    "GIT_AUTHOR_EMAIL": "owner@example.invalid",
    "GIT_COMMITTER_NAME": "Test Owner",
    "GIT_COMMITTER_EMAIL": "owner@example.invalid",
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config, store or git identity."""
    monkeypatch.delenv("CHANGENOTE_DATABASE_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


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


@pytest.fixture
def new_store_url(store_backend: str, tmp_path: Path) -> Iterator[Any]:
    """A factory of URLs of new, empty stores of the backend under test."""
    if store_backend == "sqlite":
        count = iter(range(1_000_000))
        yield lambda: f"sqlite:///{tmp_path / f'store{next(count)}.db'}"
        return
    with _postgres_databases() as new_database:
        yield new_database


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
    root = tmp_path / "service"
    (root / "app").mkdir(parents=True)
    (root / "app" / "search.py").write_text("def search(q):\n    return slow(q)\n")
    (root / "changenote.toml").write_text('service = "docs"\nowner = "Test Owner"\nruns = 8\n')
    (root / ".gitignore").write_text(".changenote/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def server() -> Iterator[TestServer]:
    srv = TestServer()
    try:
        yield srv
    finally:
        srv.close()
