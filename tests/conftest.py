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
