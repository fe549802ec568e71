"""The core loop as a user runs it: baseline → change → ship, in a real git repo."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from changenote.notebook.notes import read_note
from tests.conftest import git, invoke, machine_flagged
from tests.servers import TestServer

pytestmark = pytest.mark.usefixtures("store_backend")


def _baseline(server: TestServer, *extra: str) -> dict:
    result = invoke(
        "baseline",
        "Slow /search on docs site",
        "--http",
        f"GET {server.url}/search?q=fastapi",
        "--route",
        "/search",
        "--input",
        "q=fastapi",
        "--noticed",
        "search results page",
        "--expect",
        "under 10 ms",
        "--runs",
        "12",
        "--json",
        *extra,
    )
    assert result.code == 0, result.stderr
    return result.json()


def test_faster_route_is_improved_and_note_has_everything(project: Path, server: TestServer):
    server.behaviour.delay = 0.030
    server.behaviour.headers = {"Server-Timing": 'db;desc="12";dur=25', "X-Cache": "MISS"}
    base = _baseline(server)
    assert base["status"] == "baseline"
    assert base["checklist"][0]["done"] is True  # capture ticked by the baseline

    (project / "app" / "search.py").write_text("def search(q):\n    return fast(q)\n")
    server.behaviour.delay = 0.003
    server.behaviour.headers = {"Server-Timing": 'db;desc="1";dur=1', "X-Cache": "MISS"}
    result = invoke(
        "ship",
        "--reason",
        "batch the title queries",
        "--rollback",
        "git revert HEAD",
        "--json",
    )
    assert result.code == 0, result.stderr
    doc = result.json()
    by_metric = {c["metric"]: c for c in doc["comparison"]}
    assert by_metric["time_ms"]["verdict"] == "improved"
    assert by_metric["time_ms"]["change_pct"] < -50
    assert by_metric["db_calls"]["verdict"] == "improved"
    assert by_metric["db_calls"]["before"] == 12 and by_metric["db_calls"]["after"] == 1
    assert by_metric["error_rate"]["verdict"] == "not-significant"
    assert doc["files_touched"] == ["app/search.py"]
    assert doc["status"] == "shipped"

    note = project / doc["note_path"]
    assert note.parent == project / "notes"
    text = note.read_text()
    for expected in (
        "batch the title queries",
        "app/search.py",
        "git revert HEAD",
        "Test Owner",
        "under 10 ms",
        "capture the current behavior",
        "write the final note",
        "| metric | before | after | change | verdict |",
        "improved",
    ):
        assert expected in text, expected
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["slug"] == doc["slug"] and front["uid"] == doc["uid"]
    assert front["verdicts"]["time_ms"].startswith("improved, -")
    assert len(text.split("---\n")[1].splitlines()) <= 25  # what a reader scans, no more
    record = read_note(project / doc["note_path"])
    assert record is not None and record["comparison"] == doc["comparison"]
    assert record["runs"][0]["metrics"][0]["samples"]


def test_nothing_changed_is_not_significant(project: Path, server: TestServer):
    server.behaviour.delay = 0.010
    _baseline(server)
    result = invoke("ship", "--reason", "nothing really", "--json")
    assert result.code == 0, result.stderr
    by_metric = {c["metric"]: c for c in result.json()["comparison"]}
    # nothing changed; a machine busier in one run than the other must at least be said
    assert by_metric["time_ms"]["verdict"] == "not-significant" or machine_flagged(result.json())
    assert result.json()["files_touched"] == []


def test_committed_and_uncommitted_files_are_touched(project: Path, server: TestServer):
    _baseline(server, "--runs", "3")
    (project / "app" / "search.py").write_text("changed\n")
    git(project, "commit", "-qam", "change search")
    (project / "app" / "cache.py").write_text("new file\n")
    (project / "README").write_text("dirty, not committed\n")
    doc = invoke("ship", "--reason", "r", "--file", "ops/deploy.sh", "--json").json()
    assert sorted(doc["files_touched"]) == [
        "README",
        "app/cache.py",
        "app/search.py",
        "ops/deploy.sh",
    ]
    assert not any(p.startswith("notes/") for p in doc["files_touched"])


def test_outside_git_files_come_only_from_file_option(tmp_path: Path, monkeypatch, server):
    folder = tmp_path / "plain"
    folder.mkdir()
    monkeypatch.chdir(folder)
    base = _baseline(server, "--runs", "3")
    assert base["base_commit"] is None
    doc = invoke("ship", "--reason", "r", "--file", "srv/app.py", "--json").json()
    assert doc["files_touched"] == ["srv/app.py"]
    if not os.environ.get("CHANGENOTE_DATABASE_URL"):  # the default store: SQLite in the root
        assert (folder / ".changenote" / "changenote.db").exists()


def test_measure_ticks_test_and_compares(project: Path, server: TestServer):
    server.behaviour.delay = 0.02
    base = _baseline(server)
    server.behaviour.delay = 0.002
    result = invoke("measure", str(base["id"]), "--label", "cache on", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["measured_run"] == "cache on"
    assert [r["label"] for r in doc["runs"]] == ["baseline", "cache on"]
    assert {c["metric"]: c["verdict"] for c in doc["comparison"]}["time_ms"] == "improved"
    test_item = next(i for i in doc["checklist"] if i["key"] == "test")
    assert test_item["done"] and "cache on" in test_item["evidence"]
    assert doc["status"] == "baseline"


def test_tick_with_command_and_prefix(project: Path, server: TestServer):
    base = _baseline(server, "--runs", "3")
    ok = invoke("tick", "back", "--cmd", "cp app/search.py /dev/null", "--json")
    assert ok.code == 0, ok.stderr
    item = next(i for i in ok.json()["checklist"] if i["key"] == "backup")
    assert item["done"] and "(exit 0," in item["evidence"]
    assert "cp app/search.py /dev/null" in ok.json()["commands"]

    failed = invoke("tick", str(base["id"]), "watch", "--cmd", "exit 4")
    assert failed.code != 0
    assert "not ticked" in failed.stderr and "exit 4" in failed.stderr
    shown = invoke("show", base["slug"], "--json").json()
    assert not next(i for i in shown["checklist"] if i["key"] == "watch")["done"]

    by_label = invoke("tick", str(base["id"]), "watch logs", "--note", "quiet for 10 min")
    assert by_label.code == 0, by_label.stderr


def test_ship_twice_and_render_reproduces_note(project: Path, server: TestServer):
    _baseline(server, "--runs", "3")
    doc = invoke("ship", "--reason", "r", "--json").json()
    note = project / doc["note_path"]
    first = note.read_text()
    again = invoke("ship", doc["slug"], "--reason", "r")
    assert again.code != 0 and "already shipped" in again.stderr
    # an edit that keeps the front matter is changenote's note still: render restores it
    note.write_text(first.replace("## ", "## scribbled ", 1))
    rendered = invoke("render")
    assert rendered.code == 0, rendered.stderr
    assert note.read_text() == first
    # a file without the change's uid is not changenote's to write over: refused, kept
    note.write_text("scribbled over")
    refused = invoke("render")
    assert refused.code == 1 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert "refusing to overwrite" in refused.stderr and "move that file away" in refused.stderr
    assert note.read_text() == "scribbled over"
    note.unlink()
    assert invoke("render").code == 0
    assert note.read_text() == first


def test_list_and_show(project: Path, server: TestServer):
    assert "no changes yet" in invoke("list").stdout
    base = _baseline(server, "--runs", "3")
    listed = invoke("list", "--json").json()
    assert [r["slug"] for r in listed] == [base["slug"]]
    assert base["slug"] in invoke("list").stdout
    shown = invoke("show", "--json").json()
    assert shown["id"] == base["id"]
    second = _baseline(server, "--runs", "3")
    assert second["slug"] == base["slug"] + "-2"


def test_manual_metrics_and_command_probe(project: Path):
    result = invoke(
        "baseline",
        "Slow report job",
        "--cmd",
        "echo 'changenote-metric: rows=120 count better=higher'; sleep 0.01",
        "--metric",
        "p95_ms=120ms",
        "--runs",
        "4",
        "--json",
    )
    assert result.code == 0, result.stderr
    metrics = {m["metric"]: m for m in result.json()["runs"][0]["metrics"]}
    assert metrics["rows"]["median"] == 120 and metrics["rows"]["better"] == "higher"
    assert metrics["p95_ms"]["samples"] == [120.0] and metrics["p95_ms"]["unit"] == "ms"
    assert metrics["time_ms"]["n"] == 4
    shipped = invoke("ship", "--reason", "index", "--metric", "p95_ms=40ms", "--json").json()
    manual = next(c for c in shipped["comparison"] if c["metric"] == "p95_ms")
    assert manual["before"] == 120 and manual["after"] == 40
    assert manual["verdict"] == "no-test"  # one figure each side: no test possible
    assert (
        "echo 'changenote-metric: rows=120 count better=higher'; sleep 0.01" in shipped["commands"]
    )


@pytest.mark.sqlite_only
def test_store_file_is_sqlite_with_wal(project: Path, server: TestServer):
    _baseline(server, "--runs", "3")
    db = project / ".changenote" / "changenote.db"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM change").fetchone()[0] == 1
    conn.close()
    assert (db.stat().st_mode & 0o777) == 0o600


def test_tick_after_ship_updates_the_note(project: Path, server: TestServer):
    _baseline(server, "--runs", "3")
    doc = invoke("ship", "--reason", "r", "--json").json()
    note = project / doc["note_path"]
    assert "- [ ] watch logs after release" in note.read_text()
    ticked = invoke("tick", doc["slug"], "watch", "--note", "no new errors for 10 min")
    assert ticked.code == 0, ticked.stderr
    assert "- [x] watch logs after release — no new errors for 10 min" in note.read_text()


def test_baseline_commit_gone_is_warned_not_guessed(project: Path, server: TestServer):
    _baseline(server, "--runs", "3")
    (project / "app" / "search.py").write_text("amended\n")
    git(project, "commit", "-qa", "--amend", "-m", "rewritten history")
    git(project, "reflog", "expire", "--expire-unreachable=now", "--all")
    git(project, "gc", "-q", "--prune=now")
    (project / "app" / "cache.py").write_text("uncommitted\n")
    doc = invoke("ship", "--reason", "r", "--json").json()
    assert doc["files_touched"] == ["app/cache.py"]  # not every tracked file
    warning = next(w for w in doc["warnings"] if w["code"] == "baseline-commit-missing")
    assert "add the rest with --file" in warning["message"]


def test_a_note_is_taken_back_when_the_transaction_fails(project: Path, server: TestServer):
    from changenote.config import load_config
    from changenote.notebook import notes

    _baseline(server, "--runs", "3")
    doc = invoke("ship", "--reason", "first", "--json").json()
    config = load_config(project)
    note = project / doc["note_path"]
    original = note.read_text()
    fresh = dict(doc, note_path="notes/2026-01-01-new.md", reason="second")
    with pytest.raises(RuntimeError), notes.Staged(config) as staged:
        staged.write(dict(doc, reason="changed"))
        staged.write(fresh)
        # before the commit, the notes are pending beside their place, not in it
        assert note.read_text() == original
        assert len(list(note.parent.glob(".*.pending"))) == 2
        raise RuntimeError("the commit failed")
    assert note.read_text() == original
    assert not (project / "notes" / "2026-01-01-new.md").exists()
    assert not list(note.parent.glob(".*.pending"))
    with notes.Staged(config) as staged:  # committed: both in place, nothing pending
        staged.write(dict(doc, reason="changed"))
        staged.write(fresh)
    assert "changed" in note.read_text()
    assert (project / "notes" / "2026-01-01-new.md").is_file()
    assert not list(note.parent.glob(".*.pending"))
