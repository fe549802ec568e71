"""SIGKILL at random moments of ship, import and wiki: the store and the files survive.

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

from tests.conftest import git, invoke

ROUNDS = 54  # 18 of each command
COMMANDS = ("ship", "import", "wiki")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with open changes to ship, an export to import and notes for a wiki."""
    root = tmp_path_factory.mktemp("crash") / "template"
    root.mkdir()
    (root / "changenote.toml").write_text('service = "docs"\nowner = "Ada"\n')
    git(root, "init", "-q")
    git(root, "commit", "-q", "--allow-empty", "-m", "initial")
    old = Path.cwd()
    saved = os.environ.pop("CHANGENOTE_DATABASE_URL", None)
    os.chdir(root)
    try:
        for i in range(40):
            assert invoke("baseline", f"shipped {i}", "--metric", "p95_ms=9ms").code == 0
            assert invoke("ship", "--reason", f"fix {i}", "--metric", "p95_ms=5ms").code == 0
        assert invoke("export", "--out", str(root.parent / "all.jsonl")).code == 0
        assert invoke("baseline", "to ship", "--metric", "p95_ms=9ms", "--tag", "x").code == 0
    finally:
        os.chdir(old)
        if saved is not None:
            os.environ["CHANGENOTE_DATABASE_URL"] = saved
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
        time.sleep(rng.uniform(0.05, 1.0) * took[kind])
        if proc.poll() is None:
            killed_midway += 1
            proc.send_signal(signal.SIGKILL)
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
    assert killed_midway >= ROUNDS * 3 // 4, killed_midway  # most rounds were really cut


def _list(project: Path, env: dict[str, str]) -> list[dict]:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "changenote", "list", "--json"],
        cwd=project, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return list(json.loads(done.stdout))
