"""No silent target (issue 14): a command without an id acts on the open change only when
exactly one change is open, and every command that measures or writes names its change
before it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke


def _open(*titles: str) -> None:
    for title in titles:
        made = invoke("baseline", title, "--metric", "p95_ms=9ms")
        assert made.code == 0, made.stderr


def _statuses() -> dict[str, str]:
    listed = invoke("list", "--json")
    assert listed.code == 0, listed.stderr
    return {row["slug"]: row["status"] for row in listed.json()}


@pytest.mark.parametrize(
    "command",
    [
        ["ship", "--reason", "r", "--metric", "p95_ms=5ms"],
        ["measure", "--metric", "p95_ms=5ms"],
        ["tick", "backup", "--note", "copied"],
    ],
    ids=["ship", "measure", "tick"],
)
def test_without_an_id_several_open_changes_are_named_and_nothing_is_done(
    project: Path, store_backend: str, command: list[str]
):
    _open("Slow search", "Slow login", "Slow export")
    before = invoke("show", "1", "--json").json()
    done = invoke(*command)
    assert done.code == 2, (done.code, done.stderr)
    assert done.stderr == (
        "changenote: error: 3 changes are open: #1 slow-search, #2 slow-login, #3 slow-export; "
        "give an id\n"
    )
    assert done.stdout == ""
    assert _statuses() == dict.fromkeys(["slow-search", "slow-login", "slow-export"], "baseline")
    assert not (project / "notes").exists() or not list((project / "notes").glob("*.md"))
    for ref in ("1", "2", "3"):
        doc = invoke("show", ref, "--json").json()
        assert len(doc["runs"]) == 1 and not any(i["done"] for i in doc["checklist"][1:2])
    assert invoke("show", "1", "--json").json() == before


def test_many_open_changes_name_the_newest_and_count_the_rest(project: Path):
    _open(*(f"Change {i}" for i in range(1, 10)))
    done = invoke("ship", "--reason", "r", "--metric", "p95_ms=5ms")
    assert done.code == 2
    assert done.stderr == (
        "changenote: error: 9 changes are open: #4 change-4, #5 change-5, #6 change-6, "
        "#7 change-7, #8 change-8, #9 change-9 and 3 older (`changenote list`); give an id\n"
    )


def test_with_an_id_the_named_change_is_shipped_and_said_first(project: Path, store_backend: str):
    _open("Slow search", "Slow login")
    done = invoke("ship", "slow-search", "--reason", "an index", "--metric", "p95_ms=5ms")
    assert done.code == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        "ship #1 slow-search: recording the figures given (no probes to run)"
    )
    assert _statuses() == {"slow-search": "shipped", "slow-login": "baseline"}


def test_one_open_change_is_the_default_and_is_named_before_it_is_measured(
    project: Path, store_backend: str, server
):
    _open("Old one")
    assert invoke("ship", "--reason", "done", "--metric", "p95_ms=5ms").code == 0
    made = invoke("baseline", "Search", "--http", f"{server.url}/x", "--runs", "3")
    assert made.code == 0, made.stderr
    measured = invoke("measure")
    assert measured.code == 0, measured.stderr
    assert measured.stderr.splitlines()[0] == "measure #2 search: measuring 1 probe, 3 runs each"
    ticked = invoke("tick", "backup", "--note", "pg_dump to /backups")
    assert ticked.code == 0, ticked.stderr
    assert ticked.stderr.splitlines()[0] == "tick #2 search: backup"
    shipped = invoke("ship", "--reason", "cache", "--json")
    assert shipped.code == 0, shipped.stderr
    assert shipped.stderr.splitlines()[0] == "ship #2 search: measuring 1 probe, 3 runs each"
    assert shipped.json()["slug"] == "search"  # stdout is the document alone


def test_no_open_change_says_so(project: Path):
    _open("Only")
    assert invoke("ship", "--reason", "r", "--metric", "p95_ms=5ms").code == 0
    done = invoke("measure", "--metric", "p95_ms=4ms")
    assert done.code == 1
    assert done.stderr == (
        "changenote: error: no open change: give an id or slug, or start with a baseline\n"
    )


def test_reading_without_an_id_shows_the_newest_open_change(project: Path):
    _open("Slow search", "Slow login")
    shown = invoke("show", "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["slug"] == "slow-login"
    assert shown.stderr == ""  # reading names nothing: it acts on nothing


def test_watch_names_the_change_it_watches(project: Path, tmp_path: Path):
    _open("Slow search")
    assert invoke("ship", "--reason", "r", "--metric", "p95_ms=5ms").code == 0
    log = tmp_path / "app.log"
    log.write_text("started\n")
    watched = invoke("watch", "--log", str(log), "--duration", "1s")
    assert watched.code == 1, watched.stderr  # the log stayed silent: no all-clear
    assert watched.stderr.splitlines()[0] == "watch #1 slow-search: watching 1 log(s) for 1 s"
    timeline = invoke("show", "1", "--json").json()["timeline"]
    assert [e["kind"] for e in timeline][-1] == "watch"
    assert timeline[-1]["by"] == "Test Owner" and "no new lines" in timeline[-1]["what"]
