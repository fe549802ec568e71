"""Bad input: one clear line on stderr, a non-zero exit, no traceback, the store intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.servers import TestServer


def _dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def seeded(project: Path, server: TestServer) -> Path:
    """A project whose store already holds one change."""
    result = invoke("baseline", "existing", "--http", f"{server.url}/x", "--runs", "3")
    assert result.code == 0, result.stderr
    return project / ".changenote" / "changenote.db"


BAD = [
    (["baseline", "t", "--http", "GET http//nohost"], "malformed URL"),
    (["baseline", "t", "--http", "GET http://127.0.0.1:99999/"], "malformed URL"),
    (["baseline", "t", "--http", "FETCH http://127.0.0.1/"], "unknown method"),
    (["baseline", "t", "--metric", "x=1", "--runs", "0"], "--runs must be at least 1"),
    (["baseline", "t", "--metric", "x=1", "--runs", "many"], "Invalid value for '--runs'"),
    (["baseline", "t", "--metric", "p95=fast"], "expected NAME=VALUE"),
    (["baseline", "t", "--metric", "p95="], "expected NAME=VALUE"),
    (["baseline", "t", "--check", "helth"], "unknown check 'helth'"),
    (
        ["baseline", "t", "--header", "NoColon", "--http", "http://127.0.0.1/"],
        "expected 'Name: value'",
    ),
    (["baseline", "t", "--metric", "x=1", "--timeout", "0"], "--timeout must be a finite number"),
    (["baseline", "t", "--metric", "x=1", "--timeout", "nan"], "--timeout must be a finite number"),
    (["baseline", "t", "--metric", "x=1", "--timeout", "inf"], "--timeout must be a finite number"),
    (["show", "²"], "no change with id or slug '²'"),
    (["show", "99999999999999999999999"], "no change with id or slug"),
    (["baseline", "  ", "--metric", "x=1"], "title cannot be empty"),
    (["baseline"], "Missing argument"),
    (["baseline", "t", "--bogus"], "No such option"),
    (["show", "999"], "no change with id or slug '999'"),
    (["show", "no-such-slug"], "no change with id or slug"),
    (["ship", "999", "--reason", "r"], "no change with id or slug '999'"),
    (["ship", "--reason", "  "], "--reason"),
    (["ship"], "--reason"),
    (["tick", "nonsense-item"], "no checklist item 'nonsense-item'"),
    (["tick", "1", "backup", "extra"], "tick takes [ID] ITEM"),
    (["measure", "1", "--label", "baseline"], "reserved"),
    (["render", "1"], "not shipped yet"),
    (["frobnicate"], "No such command"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_no_traceback_store_intact(seeded: Path, args: list[str], message: str):
    before = _dump(seeded)
    result = invoke(*args)
    assert result.code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("changenote: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert _dump(seeded) == before


def test_unknown_config_key_suggests(project: Path):
    (project / "changenote.toml").write_text('serivce = "docs"\n')
    result = invoke("list")
    assert result.code != 0
    assert result.stderr.strip() == (
        "changenote: error: changenote.toml: unknown key 'serivce'; did you mean 'service'?"
    )


def test_invalid_toml_is_one_line(project: Path):
    (project / "changenote.toml").write_text("service = \n")
    result = invoke("list")
    assert result.code != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not valid TOML" in result.stderr


def test_pyproject_table_typo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "pyproject.toml").write_text('[tool.changenote]\nnotes_dri = "n"\n')
    monkeypatch.chdir(tmp_path)
    result = invoke("list")
    assert "pyproject.toml [tool.changenote]: unknown key 'notes_dri'" in result.stderr
    assert "did you mean 'notes_dir'" in result.stderr


def test_unreachable_url_is_measured_not_a_crash(project: Path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = invoke(
        "baseline", "down", "--http", f"http://127.0.0.1:{port}/", "--runs", "3", "--json"
    )
    assert result.code == 0, result.stderr
    metrics = {m["metric"]: m for m in result.json()["runs"][0]["metrics"]}
    assert metrics["error_rate"]["median"] == 1.0
    assert "time_ms" not in metrics
    warning = next(w for w in result.json()["warnings"] if w["code"] == "probe-errors")
    assert "3/3 attempts" in warning["message"] and "connection refused" in warning["message"]


def test_hung_command_times_out_as_error(project: Path):
    result = invoke(
        "baseline",
        "hang",
        "--cmd",
        "sleep 30",
        "--timeout",
        "0.3",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--json",
    )
    assert result.code == 0, result.stderr
    run = result.json()["runs"][0]
    assert run["probe_results"][0]["last_status"] == "timeout"
    assert {m["metric"]: m["median"] for m in run["metrics"]}["error_rate"] == 1.0


def test_failing_clear_cache_stops_and_records_nothing(seeded: Path, server: TestServer):
    before = _dump(seeded)
    result = invoke("baseline", "t", "--http", f"{server.url}/", "--clear-cache", "exit 7")
    assert result.code != 0
    assert "--clear-cache command failed (exit 7)" in result.stderr
    assert _dump(seeded) == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "in-memory SQLite store"),
        ("sqlite:///:memory:", "in-memory SQLite store"),
        ("mysql://u@127.0.0.1/db", "database driver is not installed"),
        ("foo://x", "cannot use database URL"),
    ],
)
def test_unusable_store_urls_are_one_line(project: Path, monkeypatch, url: str, message: str):
    monkeypatch.setenv("CHANGENOTE_DATABASE_URL", url)
    result = invoke("baseline", "t", "--metric", "x=1")
    assert result.code != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_reading_an_empty_notebook_creates_nothing(project: Path):
    result = invoke("show")
    assert result.code != 0 and "notebook is empty" in result.stderr
    assert not (project / ".changenote").exists()


def test_store_from_a_newer_changenote_is_explained(project: Path):
    assert invoke("baseline", "t", "--metric", "x=1").code == 0
    conn = sqlite3.connect(project / ".changenote" / "changenote.db")
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    result = invoke("show")
    assert result.code != 0
    assert "newer than this changenote knows" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_notes_folder_is_one_line_and_nothing_shipped(project: Path, server):
    assert invoke("baseline", "t", "--http", f"{server.url}/", "--runs", "3").code == 0
    (project / "notes").write_text("a file where the folder should be")
    db = project / ".changenote" / "changenote.db"
    before = _dump(db)
    result = invoke("ship", "--reason", "r")
    assert result.code != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert _dump(db) == before


def test_init_with_control_characters_writes_valid_toml(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("init", "--owner", "x\ny\u0001", "--service", 'a "quoted" name')
    assert result.code == 0, result.stderr
    from changenote.config import load_config

    config = load_config(tmp_path)
    assert (config.owner, config.service) == ("x\ny\u0001", 'a "quoted" name')


def test_pyproject_with_a_non_table_tool_key_is_ignored(tmp_path: Path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('tool = "x"\n')
    monkeypatch.chdir(tmp_path)
    result = invoke("list")
    assert result.code == 0, result.stderr
