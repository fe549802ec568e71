"""SIGKILL at random moments of ship, import, wiki and baseline: the store and the files survive.

Each round copies a prepared project, starts one command as its own process, kills it
with SIGKILL after a random delay, then checks: ``PRAGMA integrity_check`` is ok, every
note and wiki page on disk is whole (old or new, never cut), and the same command run
again completes and leaves the store consistent with the files.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import inside, invoke, new_repository

#: The campaign in the closing notes sets more (CHANGENOTE_CRASH_ROUNDS=100).
ROUNDS = int(os.environ.get("CHANGENOTE_CRASH_ROUNDS", "32"))  # a quarter of each command
COMMANDS = ("ship", "import", "wiki", "baseline")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with open changes to ship, an export to import and notes for a wiki."""
    root = tmp_path_factory.mktemp("crash") / "template"
    with inside(new_repository(root)):
        for i in range(40):
            assert invoke("baseline", f"shipped {i}", "--metric", "p95_ms=9ms").code == 0
            assert invoke("ship", "--reason", f"fix {i}", "--metric", "p95_ms=5ms").code == 0
        assert invoke("export", "--out", str(root.parent / "all.jsonl")).code == 0
        assert invoke("baseline", "to ship", "--metric", "p95_ms=9ms", "--tag", "x").code == 0
    # what import will read: the 40 shipped changes under new ids (a teammate's export)
    import json

    theirs = []
    for line in (root.parent / "all.jsonl").read_text().splitlines():
        doc = json.loads(line)
        doc["uid"] = doc["uid"][::-1]  # another store's changes: other uids, same slugs
        theirs.append(json.dumps(doc) + "\n")
    (root.parent / "theirs.jsonl").write_text("".join(theirs))
    return root


def _command(kind: str, project: Path) -> list[str]:
    base = [sys.executable, "-m", "changenote"]
    if kind == "ship":
        return [*base, "ship", "to-ship", "--reason", "crash test", "--metric", "p95_ms=4ms"]
    if kind == "import":
        return [*base, "import", str(project.parent.parent / "template.theirs.jsonl")]
    if kind == "baseline":
        return [*base, "baseline", "crash baseline", "--metric", "p95_ms=4ms", "--tag", "k"]
    return [*base, "wiki", "--out", "wiki", "--format", "both"]


def _whole_notes(project: Path) -> None:
    for note in (project / "notes").glob("*.md"):
        text = note.read_text()
        assert text.startswith("---\n") and "\n---\n" in text[4:], note.name
        assert "## Checklist" in text and text.endswith("\n"), f"{note.name} is cut"


def _whole_wiki(project: Path) -> None:
    for page in (project / "wiki" / "html").glob("*.html"):
        assert page.read_text().rstrip().endswith("</html>"), f"{page.name} is cut"
    for page in (project / "wiki" / "markdown" / "docs").glob("*.md"):
        assert page.read_text().endswith("\n"), f"{page.name} is cut"


def _integrity(project: Path) -> None:
    conn = sqlite3.connect(project / ".changenote" / "changenote.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO change_fts(change_fts) VALUES ('integrity-check')")
    finally:
        conn.close()


def _no_temporaries(project: Path) -> None:
    left = [p for p in project.rglob(".*.tmp")]
    assert left == [], left


def test_sigkill_at_random_moments_leaves_everything_whole(template: Path, tmp_path: Path):
    rng = random.Random(20261128)
    shutil.copy(template.parent / "theirs.jsonl", tmp_path / "template.theirs.jsonl")
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    killed_midway = 0
    cut = dict.fromkeys(COMMANDS, 0)
    took = {}
    for kind in COMMANDS:  # how long each command runs uncut, to kill within that
        project = tmp_path / f"timing-{kind}" / "p"
        shutil.copytree(template, project)
        start = time.monotonic()
        subprocess.run(_command(kind, project), cwd=project, env=env, check=True,
                       capture_output=True)  # fmt: skip
        took[kind] = time.monotonic() - start
    for round_ in range(ROUNDS):
        kind = COMMANDS[round_ % len(COMMANDS)]
        project = tmp_path / f"r{round_}" / "p"
        shutil.copytree(template, project)
        proc = subprocess.Popen(
            _command(kind, project),
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 0.9) * took[kind])
        if proc.poll() is None:
            killed_midway += 1
            cut[kind] += 1
            proc.send_signal(signal.SIGKILL)
        else:  # it ran faster than when timed (the machine is less busy now): aim earlier
            took[kind] *= 0.7
        proc.wait(timeout=60)
        _integrity(project)
        _whole_notes(project)
        if (project / "wiki").exists():
            _whole_wiki(project)
        again = subprocess.run(
            _command(kind, project), cwd=project, env=env, capture_output=True, text=True
        )
        if kind == "ship" and "already shipped" in again.stderr:
            pass  # the killed run had finished: its note must be there
        else:
            assert again.returncode == 0, (round_, kind, again.stderr)
        _integrity(project)
        _whole_notes(project)
        _no_temporaries(project)
        listed = {r["slug"]: r for r in _list(project, env)}
        shipped = listed["to-ship"]
        assert shipped["status"] == "shipped" if kind == "ship" else shipped["status"]
        if kind == "ship":
            assert (project / shipped["note_path"]).is_file()
        if kind == "import":
            assert len(listed) == 81  # 41 of ours, 40 of theirs, each once
        if kind == "wiki":
            _whole_wiki(project)
        if kind == "baseline":  # the killed one committed whole or not at all
            made = [r for r in listed.values() if r["title"] == "crash baseline"]
            assert 1 <= len(made) <= 2 and all(r["status"] == "baseline" for r in made)
    print(f"\n{killed_midway} of {ROUNDS} rounds killed mid-command: {cut}")
    # most were really cut (the timing runs may have met a busier machine than the rounds:
    # 20 of 32 once on CI; aiming earlier after each miss keeps that rare)
    assert killed_midway >= ROUNDS // 2, (killed_midway, cut)


def _list(project: Path, env: dict[str, str]) -> list[dict]:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "changenote", "list", "--json"],
        cwd=project, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return list(json.loads(done.stdout))


NOTE_WINDOW_KILLS = int(os.environ.get("CHANGENOTE_NOTE_WINDOW_KILLS", "25"))


def _note_uids(notes: Path) -> dict[str, list[str]]:
    import re

    found: dict[str, list[str]] = {}
    for note in notes.glob("*.md"):
        uid = re.search(r"^uid: '?([0-9a-f]{32})'?$", note.read_text(), re.M)
        assert uid is not None, f"{note.name} has no uid"
        found.setdefault(uid.group(1), []).append(note.name)
    return found


def _store_notes(project: Path) -> dict[str, tuple[str, str | None]]:
    conn = sqlite3.connect(project / ".changenote" / "changenote.db")
    try:
        rows = conn.execute("SELECT uid, status, note_path FROM change").fetchall()
    finally:
        conn.close()
    return {uid: (status, path) for uid, status, path in rows}


def _consistent(project: Path) -> None:
    """Every shipped change has its note, with its uid, at its note path; no open change
    has one; no uid has two notes; nothing pending is left."""
    store = _store_notes(project)
    on_disk = _note_uids(project / "notes")
    assert all(len(names) == 1 for names in on_disk.values()), on_disk
    for uid, (status, path) in store.items():
        if status == "shipped":
            assert path and on_disk.get(uid) == [Path(path).name], (uid, path, on_disk.get(uid))
        else:
            assert path is None and uid not in on_disk, (uid, status, path)
    assert set(on_disk) <= set(store)
    assert not list((project / "notes").glob(".*.pending"))


def test_kill_at_the_instant_the_note_appears(project: Path):
    """SIGKILL ship the moment anything appears in notes/: store and notes agree once
    the next command has run, and shipping again leaves one note per change."""
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    notes = project / "notes"
    notes.mkdir()
    cli = [sys.executable, "-m", "changenote"]
    seen = {"open, note pending": 0, "shipped, note not yet in place": 0, "shipped, note": 0,
            "ended before the kill": 0}  # fmt: skip
    for i in range(NOTE_WINDOW_KILLS):
        assert invoke("baseline", f"kill {i}", "--metric", "p95_ms=9ms").code == 0
        before = set(os.listdir(notes))
        proc = subprocess.Popen(
            [*cli, "ship", "--reason", "kill test", "--metric", "p95_ms=5ms"],
            cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while proc.poll() is None and set(os.listdir(notes)) == before:
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if proc.returncode == 0:  # this process was descheduled and ship ran to its end
            seen["ended before the kill"] += 1
            _consistent(project)
            continue
        assert proc.returncode == -signal.SIGKILL, f"ship exited {proc.returncode}"
        opened = invoke("list", "--json").json()[0]
        in_place = [n for n in os.listdir(notes) if n.endswith(".md") and n not in before]
        if opened["status"] != "shipped":
            seen["open, note pending"] += 1
            assert not in_place, "a note of a change the store has not shipped"
        else:
            seen["shipped, note" if in_place else "shipped, note not yet in place"] += 1
        # the next writer finishes or removes what the kill left
        repaired = invoke("render")
        assert repaired.code == 0, repaired.stderr
        _consistent(project)
        if opened["status"] != "shipped":  # ship again, uncut: one note, one uid
            again = invoke("ship", "--reason", "again", "--metric", "p95_ms=5ms")
            assert again.code == 0, again.stderr
            _consistent(project)
    print(f"\nkills in the note window: {seen}")
    assert seen["ended before the kill"] <= NOTE_WINDOW_KILLS // 2  # most were cut
    assert seen["open, note pending"] > 0  # the kill did land before the commit
