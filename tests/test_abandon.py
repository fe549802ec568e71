"""Abandon and reopen (issue 14): a change set aside is kept with its runs, leaves every
id-less default and the wiki's "waiting to ship", and comes back as it was."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from changenote.notebook import note_yaml, notes
from tests.conftest import invoke


def _open(*titles: str) -> None:
    for title in titles:
        made = invoke("baseline", title, "--metric", "p95_ms=9ms")
        assert made.code == 0, made.stderr


def _corrections(doc: dict) -> list[dict]:
    """The events that correct the record (not those of measuring it)."""
    return [e for e in doc["events"] if e["kind"] in ("abandon", "reopen", "edit")]


def _statuses() -> dict[str, str]:
    return {row["slug"]: row["status"] for row in invoke("list", "--json").json()}


def test_an_abandoned_change_keeps_its_runs_and_leaves_the_defaults(
    project: Path, store_backend: str
):
    _open("Wrong port", "Slow search")
    done = invoke(
        "abandon", "wrong-port", "--reason", "measured port 8001, not the service", "--json"
    )
    assert done.code == 0, done.stderr
    assert done.stderr == "abandon #1 wrong-port: setting it aside\n"
    doc = done.json()
    assert doc["status"] == "abandoned" and len(doc["runs"]) == 1
    (event,) = _corrections(doc)
    assert (event["kind"], event["note"], event["by"]) == (
        "abandon", "measured port 8001, not the service", "Test Owner",
    )  # fmt: skip
    assert _statuses() == {"wrong-port": "abandoned", "slow-search": "baseline"}
    # one change is open now: the id-less ship takes it, and says so first
    shipped = invoke("ship", "--reason", "an index", "--metric", "p95_ms=5ms", "--json")
    assert shipped.code == 0, shipped.stderr
    assert shipped.json()["slug"] == "slow-search"
    assert shipped.stderr.startswith("ship #2 slow-search: ")
    # an abandoned change is not measured, shipped or ticked until reopened
    for command in (
        ["measure", "wrong-port", "--metric", "p95_ms=5ms"],
        ["ship", "wrong-port", "--reason", "r", "--metric", "p95_ms=5ms"],
        ["tick", "wrong-port", "backup"],
    ):
        refused = invoke(*command)
        assert refused.code == 1, command
        assert refused.stderr == (
            "changenote: error: change 'wrong-port' is abandoned: "
            "`changenote reopen wrong-port` first\n"
        )
    listed = invoke("list")
    assert "abandoned" in listed.stdout


def test_reopen_brings_it_back_as_it_was_with_its_history(project: Path, store_backend: str):
    _open("Experiment")
    before = invoke("show", "experiment", "--json").json()
    assert invoke("abandon", "--reason", "reverted the experiment", "--by", "Ada").code == 0
    again = invoke("reopen", "experiment", "--reason", "trying it once more", "--json")
    assert again.code == 0, again.stderr
    doc = again.json()
    assert doc["status"] == "baseline"
    assert [(e["kind"], e["by"], e["note"]) for e in _corrections(doc)] == [
        ("abandon", "Ada", "reverted the experiment"),
        ("reopen", "Test Owner", "trying it once more"),
    ]
    kept = {k: v for k, v in doc.items() if k not in ("events", "timeline")}
    assert kept == {k: v for k, v in before.items() if k not in ("events", "timeline")}
    shown = invoke("show", "experiment")
    assert "UTC  abandon: reverted the experiment (Ada)\n" in shown.stdout
    assert "UTC  reopen: trying it once more (Test Owner)\n" in shown.stdout


E = "changenote: error: "


@pytest.mark.parametrize(
    "command, message",
    [
        (["abandon", "1"], E + "abandon needs --reason: say why the change is set aside"),
        (["abandon", "1", "--reason", "  "],
         E + "abandon needs --reason: say why the change is set aside"),
        (["abandon", "1", "--reason", "x", "--by", " "], E + "--by cannot be empty"),
        (["abandon", "1", "--reason", "x", "--by", "a" * 65],
         E + "--by is limited to 64 characters, got 65"),
        (["abandon", "shipped-one", "--reason", "x"],
         E + "change 'shipped-one' is shipped: its note stands, it is not abandoned"),
        (["reopen", "shipped-one"],
         E + "change 'shipped-one' is not abandoned: it is shipped: a shipped change stays "
         "shipped"),
        (["reopen", "open-one"], E + "change 'open-one' is not abandoned: it is open"),
        (["reopen", "open-one", "--reason", ""], E + "--reason cannot be empty"),
        (["reopen", "nothing-here"],
         E + "no change with id or slug 'nothing-here' (see `changenote list`)"),
        (["review", "open-one", "--status", "reviewed"],
         E + "change 'open-one' is not shipped: it has no note to review yet"),
        (["review", "1", "--status", "approved"],
         E + "--status 'approved': use one of drafted, in-review, reviewed, needs-update"),
        (["review", "1"], E + "review needs ID and --status (or --due to list what is due)"),
        (["review", "1", "--status", "reviewed", "--note", " "], E + "--note cannot be empty"),
        (["review", "--fail"], E + "--fail goes with --due"),
        (["edit", "1", "--supersedes", "1"], E + "change 'shipped-one' cannot supersede itself"),
        (["edit", "1", "--supersedes", "open-one"],
         E + "--supersedes 'open-one': only a shipped change is superseded (it is open)"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(project: Path, command, message):
    _open("Shipped one")
    assert invoke("ship", "--reason", "r", "--metric", "p95_ms=5ms").code == 0
    _open("Open one")
    before = [invoke("show", ref, "--json").json() for ref in ("1", "2")]
    done = invoke(*command)
    assert done.code in (1, 2)
    assert done.stderr == message + "\n"
    assert [invoke("show", ref, "--json").json() for ref in ("1", "2")] == before


def test_abandoning_twice_is_refused(project: Path):
    _open("Once")
    assert invoke("abandon", "once", "--reason", "gone").code == 0
    twice = invoke("abandon", "once", "--reason", "gone again")
    assert twice.code == 1
    assert twice.stderr == "changenote: error: change 'once' is already abandoned\n"
    assert len(_corrections(invoke("show", "once", "--json").json())) == 1


def test_secrets_in_the_reason_are_masked(project: Path):
    _open("Leaky")
    done = invoke("abandon", "leaky", "--reason", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789")
    assert done.code == 0, done.stderr
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in done.stdout
    store = sqlite3.connect(project / ".changenote" / "changenote.db")
    try:
        (note,) = store.execute("SELECT note FROM event WHERE kind = 'abandon'").fetchone()
    finally:
        store.close()
    assert note.startswith("token ") and "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in note


def test_the_wiki_lists_abandoned_changes_apart(project: Path):
    _open("Waiting one", "Set aside")
    assert invoke("abandon", "set-aside", "--reason", "reverted").code == 0
    built = invoke("wiki", "--out", "w")
    assert built.code == 0, built.stderr
    home = (project / "w" / "markdown" / "docs" / "index.md").read_text()
    waiting = home.split("## Waiting to ship", 1)[1].split("##", 1)[0]
    abandoned = home.split("## Abandoned", 1)[1].split("##", 1)[0]
    assert "Waiting one" in waiting and "Set aside" not in waiting
    assert "Set aside" in abandoned and "Waiting one" not in abandoned


def test_export_and_import_carry_the_history(project: Path, store_backend: str, new_store_url):
    _open("Experiment")
    assert invoke("abandon", "--reason", "reverted", "--by", "Ada").code == 0
    assert invoke("export", "--out", "all.jsonl").code == 0
    (line,) = (project / "all.jsonl").read_text().splitlines()
    exported = json.loads(line)
    assert exported["status"] == "abandoned"
    assert [(e["kind"], e["by"], e["note"]) for e in exported["events"]] == [
        ("baseline", "Test Owner", None),
        ("abandon", "Ada", "reverted"),
    ]
    url = new_store_url()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHANGENOTE_DATABASE_URL", url)
        imported = invoke("import", "all.jsonl")
        assert imported.code == 0, imported.stderr
        assert invoke("export", "--out", "again.jsonl").code == 0
    assert (project / "again.jsonl").read_text() == (project / "all.jsonl").read_text()


def test_an_export_from_before_events_still_imports(project: Path):
    _open("Old")
    assert invoke("export", "--out", "all.jsonl").code == 0
    doc = json.loads((project / "all.jsonl").read_text())
    del doc["events"], doc["timeline"]  # as changenote wrote exports before schema 0009
    doc["uid"] = doc["uid"][::-1]
    doc["slug"] = "old-from-elsewhere"
    (project / "old.jsonl").write_text(json.dumps(doc) + "\n")
    imported = invoke("import", "old.jsonl")
    assert imported.code == 0, imported.stderr
    shown = invoke("show", "old-from-elsewhere", "--json").json()
    assert shown["events"] == []
    # its timeline comes from what the document says, without names
    assert [(e["kind"], e["by"], e["what"]) for e in shown["timeline"]] == [
        ("baseline", None, None),
        ("tick", None, "capture"),  # baseline ticks "capture"
    ]


# -- edit ---------------------------------------------------------------------------------


def _ship_one(project: Path) -> dict:
    _open("Slow search")
    shipped = invoke("ship", "--reason", "batch teh queries", "--metric", "p95_ms=5ms", "--json")
    assert shipped.code == 0, shipped.stderr
    return shipped.json()


def test_a_typo_in_the_reason_is_fixed_with_its_history_and_the_note_rerendered(
    project: Path, store_backend: str
):
    doc = _ship_one(project)
    note = project / doc["note_path"]
    assert "batch teh queries" in note.read_text()
    edited = invoke("edit", "slow-search", "--reason", "batch the queries", "--json")
    assert edited.code == 0, edited.stderr
    assert edited.stderr == "edit #1 slow-search: reason\n"
    after = edited.json()
    assert after["reason"] == "batch the queries"
    assert after["note_path"] == doc["note_path"]  # same file, rendered again
    text = note.read_text()
    readable, record = text.split("## Timeline")[0], notes.read_note(note)
    assert "batch the queries" in readable and "batch teh queries" not in readable
    assert record is not None and record["reason"] == "batch the queries"
    (event,) = _corrections(after)
    assert (event["kind"], event["name"], event["old"], event["new"], event["by"]) == (
        "edit", "reason", "batch teh queries", "batch the queries", "Test Owner",
    )  # fmt: skip
    # what was measured is as it was
    for key in ("runs", "comparison", "created_at", "shipped_at", "slug", "status"):
        assert after[key] == doc[key], key
    shown = invoke("show", "slow-search")
    assert "edit: reason: 'batch teh queries' → 'batch the queries' (Test Owner)" in shown.stdout
    found = invoke("search", "batch", "the", "--json")
    assert [r["slug"] for r in found.json()] == ["slow-search"]


def test_tags_and_fields_at_once_each_leave_an_event(project: Path):
    _open("Slow search")
    assert invoke("edit", "1", "--tag", "db", "--tag", "perf").code == 0
    edited = invoke(
        "edit", "1", "--untag", "db", "--owner", "Grace", "--route", "", "--by", "Ada", "--json"
    )
    assert edited.code == 0, edited.stderr
    doc = edited.json()
    assert doc["tags"] == ["perf"] and doc["owner"] == "Grace" and doc["route"] is None
    assert [(e["name"], e["old"], e["new"], e["by"]) for e in _corrections(doc)] == [
        ("tags", "", "db, perf", "Test Owner"),
        ("owner", "Test Owner", "Grace", "Ada"),
        ("tags", "db, perf", "perf", "Ada"),
    ]


def test_an_edit_that_changes_nothing_records_nothing(project: Path):
    _open("Slow search")
    same = invoke("edit", "1", "--title", "Slow search", "--json")
    assert same.code == 0, same.stderr
    assert _corrections(same.json()) == [] and same.stderr == ""


def test_editing_the_expected_result_of_a_shipped_change_checks_it_again(project: Path):
    _open("Slow search")
    shipped = invoke("ship", "--reason", "r", "--metric", "p95_ms=5ms", "--json")
    assert shipped.json()["expectations"] == []
    edited = invoke("edit", "1", "--expect", "p95_ms < 4ms", "--json")
    assert edited.code == 0, edited.stderr
    (check,) = edited.json()["expectations"]
    assert (check["expect"], check["met"], check["actual"]) == ("p95_ms < 4ms", False, 5)


@pytest.mark.parametrize(
    "command, message",
    [
        (["edit", "1"], E + "edit needs something to change: --title, --reason, --rollback, "
         "--owner, --service, --route, --input, --noticed, --expect, --tag, --untag or "
         "--supersedes"),
        (["edit", "1", "--title", " "], E + "--title cannot be empty"),
        (["edit", "1", "--untag", "nope"], E + "change 'slow-search' has no tag 'nope'"),
        (["edit", "1", "--tag", "a", "--untag", "a"], E + "--tag and --untag both name 'a'"),
        (["edit", "1", "--tag", ""], E + "--tag cannot be empty"),
        (["edit", "1", "--expect", "rows = 3"], None),
        (["edit", "1", "--runs", "5"], None),
        (["edit", "1", "--shipped-at", "2020-01-01"], None),
    ],
)  # fmt: skip
def test_bad_edits_are_one_line_and_write_nothing(project: Path, command, message):
    _ship_one(project)
    before = invoke("show", "1", "--json").json()
    note = (project / before["note_path"]).read_bytes()
    done = invoke(*command)
    assert done.code == 2, (done.code, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(E), done.stderr
    if message is not None:
        assert done.stderr == message + "\n"
    assert invoke("show", "1", "--json").json() == before
    assert (project / before["note_path"]).read_bytes() == note


def test_editing_a_change_that_is_not_there_writes_nothing(project: Path):
    _open("Slow search")
    done = invoke("edit", "9", "--owner", "x")
    assert (done.code, done.stderr) == (
        1, "changenote: error: no change with id or slug '9' (see `changenote list`)\n",
    )  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [["edit", "1", "--owner", "x"], ["abandon", "--reason", "x"], ["reopen", "1"]],
    ids=["edit", "abandon", "reopen"],
)
def test_correcting_an_empty_notebook_makes_no_store(project: Path, command: list[str]):
    done = invoke(*command)
    assert (done.code, done.stderr) == (
        1, "changenote: error: the notebook is empty: start with `changenote baseline TITLE`\n",
    )  # fmt: skip
    assert not (project / ".changenote").exists()


def test_the_timeline_has_every_step_with_who_in_show_json_and_the_note(
    project: Path, store_backend: str
):
    _open("Slow search")
    assert invoke("measure", "--label", "smallest change", "--metric", "p95_ms=6ms").code == 0
    assert invoke("tick", "backup", "--note", "pg_dump").code == 0
    shipped = invoke("ship", "--reason", "an index", "--metric", "p95_ms=5ms", "--json")
    assert shipped.code == 0, shipped.stderr
    assert invoke("edit", "1", "--rollback", "drop the index", "--by", "Ada").code == 0
    doc = invoke("show", "1", "--json").json()
    assert [(e["kind"], e["what"], e["by"]) for e in doc["timeline"]] == [
        ("baseline", None, "Test Owner"),
        ("measure", "smallest change", "Test Owner"),
        ("tick", "backup", "Test Owner"),
        ("ship", None, "Test Owner"),
        ("edit", "rollback: — → 'drop the index'", "Ada"),
    ]
    assert [e["at"] for e in doc["timeline"]] == sorted(e["at"] for e in doc["timeline"])
    note = (project / doc["note_path"]).read_text()
    section = note.split("## Timeline", 1)[1].split(note_yaml.RECORD_MARK)[0]
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert [line.split(" — ", 1)[1] for line in lines] == [
        "baseline (Test Owner)",
        "measure: smallest change (Test Owner)",
        "tick: backup (Test Owner)",
        "ship (Test Owner)",
        "edit: rollback: — → 'drop the index' (Ada)",
    ]
    assert all(line[2:18] + " UTC" == line[2:22] for line in lines), lines


# -- delete -------------------------------------------------------------------------------


def test_delete_without_yes_says_what_goes_and_removes_nothing(project: Path):
    doc = _ship_one(project)
    note = project / doc["note_path"]
    done = invoke("delete", "slow-search")
    assert done.code == 2
    assert done.stdout.splitlines() == [
        "would delete: #1 slow-search (shipped, 2 run(s))",
        f"  and its note {doc['note_path']}",
        "  its wiki pages go at the next `changenote wiki`",
    ]
    assert done.stderr == (
        "changenote: error: nothing deleted: `changenote delete slow-search --yes` removes it "
        "for good\n"
    )
    assert note.is_file() and _statuses() == {"slow-search": "shipped"}


def test_delete_removes_the_change_its_note_and_its_wiki_pages(project: Path, store_backend: str):
    doc = _ship_one(project)
    _open("Kept")
    assert invoke("wiki", "--out", "w").code == 0
    pages = {p.name for p in (project / "w").rglob("*slow-search*")}
    assert pages, "the wiki had pages of the change"
    done = invoke("delete", "slow-search", "--yes", "--json")
    assert done.code == 0, done.stderr
    assert done.stderr == "delete #1 slow-search: removing it\n"
    assert done.json()["deleted"] is True and done.json()["note_removed"] is True
    assert not (project / doc["note_path"]).exists()
    assert list((project / "notes").iterdir()) == []  # nothing pending left either
    assert _statuses() == {"kept": "baseline"}
    assert invoke("search", "slow", "--json").json() == []
    rebuilt = invoke("wiki", "--out", "w")
    assert rebuilt.code == 0, rebuilt.stderr
    assert not list((project / "w").rglob("*slow-search*"))


def test_delete_leaves_a_note_it_did_not_write(project: Path):
    doc = _ship_one(project)
    note = project / doc["note_path"]
    note.write_text("# my own words\n")
    done = invoke("delete", "1", "--yes")
    assert done.code == 0, done.stderr
    assert note.read_text() == "# my own words\n"


def test_a_failed_delete_puts_the_note_back(project: Path, monkeypatch: pytest.MonkeyPatch):
    from changenote.errors import StoreError
    from changenote.store.db import Store

    doc = _ship_one(project)
    note = project / doc["note_path"]
    before = note.read_bytes()

    def broken(self, *args, **kwargs):
        raise StoreError("store write failed: disk I/O error")  # as Store.write says it

    monkeypatch.setattr(Store, "write", broken)
    done = invoke("delete", "1", "--yes")
    assert done.code == 1 and done.stderr.endswith("store write failed: disk I/O error\n")
    assert note.read_bytes() == before
    assert [p.name for p in (project / "notes").iterdir()] == [note.name]


# -- review and supersedes ----------------------------------------------------------------


def test_a_shipped_note_starts_drafted_and_is_reviewed(project: Path, store_backend: str):
    doc = _ship_one(project)
    assert doc["review"] == {"status": "drafted", "by": None, "at": None}
    note = project / doc["note_path"]
    assert "Review: **drafted**." in note.read_text()
    due = invoke("review", "--due", "--json")
    assert due.code == 0 and [r["why"] for r in due.json()] == ["never reviewed"]
    assert invoke("review", "--due", "--fail").code == 1
    done = invoke("review", "1", "--status", "reviewed", "--by", "Grace", "--note", "ok", "--json")
    assert done.code == 0, done.stderr
    review = done.json()["review"]
    assert (review["status"], review["by"]) == ("reviewed", "Grace") and review["at"]
    text = note.read_text()
    assert f"Review: **reviewed** by Grace, last reviewed {review['at'][:10]}." in text
    assert invoke("review", "--due", "--json").json() == []
    assert invoke("review", "--due", "--fail").code == 0
    (entry,) = [e for e in done.json()["timeline"] if e["kind"] == "review"]
    assert (entry["what"], entry["by"]) == ("reviewed: ok", "Grace")


def test_a_reviewed_note_is_due_again_after_review_after_days(project: Path):
    with (project / "changenote.toml").open("a") as config:
        config.write("review_after_days = 30\n")
    _ship_one(project)
    assert invoke("review", "1", "--status", "reviewed").code == 0
    store = sqlite3.connect(project / ".changenote" / "changenote.db")
    try:  # as if the review was 31 days ago
        store.execute("UPDATE change SET reviewed_at = datetime('now', '-31 days')")
        store.commit()
    finally:
        store.close()
    (row,) = invoke("review", "--due", "--json").json()
    assert row["why"].startswith("reviewed ") and row["why"].endswith("over 30 day(s) ago")


def test_supersedes_links_both_notes_and_leaves_the_old_one_out_of_review(
    project: Path, store_backend: str
):
    old = _ship_one(project)
    _open("Slow search again")
    new = invoke("ship", "--reason", "a cache", "--metric", "p95_ms=3ms", "--json").json()
    done = invoke("edit", "slow-search-again", "--supersedes", "slow-search", "--json")
    assert done.code == 0, done.stderr
    assert done.json()["supersedes"] == [{"uid": old["uid"], "slug": "slow-search"}]
    older = invoke("show", "slow-search", "--json").json()
    assert older["superseded_by"] == {"uid": new["uid"], "slug": "slow-search-again"}
    assert older["review"]["status"] == "superseded"
    assert (
        "Superseded by the change `slow-search-again`."
        in (project / older["note_path"]).read_text()
    )
    assert "Supersedes the change `slow-search`." in (project / new["note_path"]).read_text()
    assert [r["slug"] for r in invoke("review", "--due", "--json").json()] == ["slow-search-again"]
    refused = invoke("review", "slow-search", "--status", "reviewed")
    assert refused.code == 1 and "is superseded" in refused.stderr


# -- follow-ups ---------------------------------------------------------------------------


def test_follow_ups_are_numbered_done_and_shown_in_the_note_and_the_wiki(
    project: Path, store_backend: str
):
    doc = _ship_one(project)
    added = [
        invoke("follow-up", "1", "index the title column", "--owner", "Grace", "--due",
               "2020-01-31"),
        invoke("follow-up", "1", "drop the old cache", "--due", "2999-12-31"),
        invoke("follow-up", "1", "tell support", "--json"),
    ]  # fmt: skip
    assert [r.code for r in added] == [0, 0, 0], [r.stderr for r in added]
    assert added[0].stderr == "follow-up #1 slow-search: adding #1\n"
    items = added[2].json()["follow_ups"]
    assert [(f["n"], f["text"], f["owner"], f["due"], f["done"]) for f in items] == [
        (1, "index the title column", "Grace", "2020-01-31", False),
        (2, "drop the old cache", None, "2999-12-31", False),
        (3, "tell support", None, None, False),
    ]
    done = invoke("follow-up", "1", "--done", "2", "--note", "removed in #8", "--json")
    assert done.code == 0, done.stderr
    second = done.json()["follow_ups"][1]
    assert second["done"] is True and second["note"] == "removed in #8" and second["done_at"]
    note = (project / doc["note_path"]).read_text()
    assert "- [ ] #1 index the title column — Grace, due 2020-01-31" in note
    assert "- [x] #2 drop the old cache, due 2999-12-31 — done: removed in #8" in note
    timeline = [(e["kind"], e["what"]) for e in done.json()["timeline"]]
    assert ("follow-up", "#1 index the title column") in timeline
    assert ("follow-up", "#2 done: removed in #8") in timeline
    assert invoke("wiki", "--out", "w").code == 0
    page = (project / "w" / "markdown" / "docs" / "follow-ups.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| ") and "#" in line]
    assert [row.split(" | ")[1] for row in rows] == ["#1 index the title column", "#3 tell support"]
    assert rows[0].startswith("| **overdue** 2020-01-31 |")  # overdue first
    assert "(follow-ups.md)" in (project / "w" / "markdown" / "docs" / "index.md").read_text()


def test_follow_ups_travel_through_export_and_import(project: Path, new_store_url):
    _ship_one(project)
    assert invoke("follow-up", "1", "index it", "--owner", "Grace", "--due", "2027-01-15").code == 0
    assert invoke("follow-up", "1", "--done", "1").code == 0
    assert invoke("export", "--out", "all.jsonl").code == 0
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHANGENOTE_DATABASE_URL", new_store_url())
        assert invoke("import", "all.jsonl").code == 0
        assert invoke("export", "--out", "again.jsonl").code == 0
    assert (project / "again.jsonl").read_text() == (project / "all.jsonl").read_text()


@pytest.mark.parametrize(
    "command, message",
    [
        (["follow-up", "1"], E + 'follow-up needs its text: changenote follow-up ID "what to do"'),
        (["follow-up", "1", "x", "--due", "2026-02-30"],
         E + "--due '2026-02-30' is not a date: write it as 2026-12-31"),
        (["follow-up", "1", "x", "--due", "next week"],
         E + "--due 'next week' is not a date: write it as 2026-12-31"),
        (["follow-up", "1", "--done", "4"], E + "change 'shipped-one' has no follow-up #4"),
        (["follow-up", "1", "--done", "0"],
         E + "--done takes a follow-up number (1, 2, ...), got 0"),
        (["follow-up", "1", "x", "--note", "y"], E + "--note goes with --done N"),
        (["follow-up", "1", "x", "--owner", " "], E + "--owner cannot be empty"),
        (["follow-up", "1", "--done", "1", "--owner", "Ada"],
         E + "follow-up --done N takes only --note (and --by)"),
        (["follow-up", "1", "--done", "1", "--note", ""], E + "--note cannot be empty"),
    ],
)  # fmt: skip
def test_bad_follow_ups_are_one_line_and_write_nothing(project: Path, command, message):
    _open("Shipped one")
    assert invoke("ship", "--reason", "r", "--metric", "p95_ms=5ms").code == 0
    assert invoke("follow-up", "1", "first").code == 0
    before = invoke("show", "1", "--json").json()
    done = invoke(*command)
    assert done.code == 2, (done.code, done.stderr)
    assert done.stderr == message + "\n"
    assert invoke("show", "1", "--json").json() == before


# -- status -------------------------------------------------------------------------------


def test_status_names_each_open_change_its_next_step_and_what_is_due(
    project: Path, store_backend: str
):
    assert invoke("status").stdout == "no open change\n"
    _ship_one(project)
    assert invoke("follow-up", "1", "index it", "--due", "2020-01-01", "--owner", "Grace").code == 0
    assert invoke("follow-up", "1", "later", "--due", "2999-01-01").code == 0
    _open("Slow login", "Slow export")
    assert invoke("tick", "slow-login", "backup", "--note", "copied").code == 0
    assert invoke("measure", "slow-login", "--metric", "p95_ms=8ms").code == 0
    assert invoke("abandon", "slow-export", "--reason", "not ours").code == 0
    _open("Slow report")
    done = invoke("status")
    assert done.code == 0, done.stderr
    assert done.stdout.splitlines() == [
        '#2 slow-login: next, ship it: changenote ship slow-login --reason "..."',
        "#4 slow-report: next, create a safe backup: "
        'changenote tick slow-report backup --cmd "..."',
        "follow-up #1 of slow-search overdue (2020-01-01, Grace): index it",
        "review #1 slow-search: never reviewed: changenote review slow-search --status reviewed",
    ]
    found = invoke("status", "--json").json()
    assert [r["slug"] for r in found["open"]] == ["slow-login", "slow-report"]
    assert [f["n"] for f in found["follow_ups_due"]] == [1]
    assert [r["slug"] for r in found["reviews_due"]] == ["slow-search"]


# -- list filters -------------------------------------------------------------------------


def test_list_filters_by_status_service_owner_tag_since_and_review(
    project: Path, store_backend: str
):
    _ship_one(project)  # slow-search: shipped, drafted, owner Test Owner, service docs
    made = invoke("baseline", "Slow login", "--metric", "p95_ms=9ms", "--service", "auth",
                  "--owner", "Grace", "--tag", "db")  # fmt: skip
    assert made.code == 0, made.stderr
    _open("Slow export")
    assert invoke("abandon", "slow-export", "--reason", "not ours").code == 0

    def slugs(*options: str) -> list[str]:
        listed = invoke("list", *options, "--json")
        assert listed.code == 0, listed.stderr
        return [r["slug"] for r in listed.json()]

    assert slugs() == ["slow-export", "slow-login", "slow-search"]
    assert slugs("--status", "abandoned") == ["slow-export"]
    assert slugs("--status", "baseline") == ["slow-login"]
    assert slugs("--service", "auth") == ["slow-login"]
    assert slugs("--owner", "Grace", "--tag", "db") == ["slow-login"]
    assert slugs("--tag", "nope") == []
    assert slugs("--review", "drafted") == ["slow-search"]
    assert slugs("--since", "2000-01-01", "--status", "shipped") == ["slow-search"]
    assert slugs("--since", "2999-01-01") == []
    assert invoke("list", "--tag", "nope").stdout == "no change matches these filters\n"
    bad = invoke("list", "--review", "approved")
    assert (bad.code, bad.stderr) == (2, (
        "changenote: error: --review 'approved': use one of drafted, in-review, reviewed, "
        "needs-update, superseded\n"
    ))  # fmt: skip


def test_a_note_written_before_schema_0009_still_builds_a_wiki(project: Path):
    """Front matter without review, links, follow-ups, events or timeline (as the
    previous changenote wrote it) renders, with a timeline derived from the rest."""
    import yaml

    doc = _ship_one(project)
    note = project / doc["note_path"]
    record = notes.read_note(note)
    assert record is not None
    body = note.read_text().split("\n---\n", 1)[1].split(note_yaml.RECORD_MARK)[0]
    for key in ("review", "superseded_by", "supersedes", "follow_ups", "events", "timeline"):
        del record[key]
    del record["note_path"]
    # the whole record as front matter, no record block: how notes were written then
    note.write_text("---\n" + yaml.safe_dump(record, allow_unicode=True) + "---\n" + body)
    built = invoke("wiki", "--from-notes", "notes", "--out", "w")
    assert built.code == 0, built.stderr
    page = next((project / "w" / "markdown" / "docs").glob("note-slow-search*.md")).read_text()
    assert "## Timeline" in page and "— baseline\n" in page and "— ship\n" in page
    assert "Review:" not in page
    # and it imports: into a new store, then `render` writes it in today's format
    shown = invoke("show", "1", "--json").json()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHANGENOTE_DATABASE_URL", f"sqlite:///{project / 'new.db'}")
        imported = invoke("import", "notes")
        assert imported.code == 0, imported.stderr
        again = invoke("show", "slow-search", "--json").json()
        assert invoke("render").code == 0
    assert again["comparison"] == shown["comparison"] and again["runs"] == shown["runs"]
    text = note.read_text()
    assert note_yaml.RECORD_MARK in text and len(text.split("\n---\n")[0].splitlines()) < 25


def test_the_notes_round_trip_carries_review_follow_ups_and_history(project: Path, new_store_url):
    """Import the notes folder into a new store, render: the same notes, byte for byte."""
    doc = _ship_one(project)
    assert invoke("edit", "1", "--rollback", "drop the index", "--by", "Ada").code == 0
    assert invoke("review", "1", "--status", "reviewed", "--by", "Grace").code == 0
    assert invoke("follow-up", "1", "index it", "--owner", "Grace", "--due", "2027-01-15").code == 0
    assert invoke("follow-up", "1", "--done", "1", "--note", "in #7").code == 0
    note = project / doc["note_path"]
    before = note.read_bytes()
    shown = invoke("show", "1", "--json").json()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHANGENOTE_DATABASE_URL", new_store_url())
        imported = invoke("import", "notes")
        assert imported.code == 0, imported.stderr
        again = invoke("show", shown["slug"], "--json").json()
        assert invoke("render").code == 0
    assert note.read_bytes() == before
    for key in ("review", "follow_ups", "events", "timeline", "supersedes", "superseded_by"):
        assert again[key] == shown[key], key
