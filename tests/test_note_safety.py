"""Notes are changenote's only where changenote wrote them; commands run only if trusted.

Issue 13, items 1 and 3, through the CLI in real processes: an imported note path never
licenses writing over a file changenote did not write, and an imported open change's
commands do not run on this machine until someone here trusts them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git, invoke

CLI = [sys.executable, "-m", "changenote"]


def run(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, input=stdin,
        timeout=120,
    )  # fmt: skip


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "changenote.toml").write_text('service = "docs"\n')
    git(root, "init", "-q")
    git(root, "commit", "-q", "--allow-empty", "-m", "initial")
    return root


@pytest.fixture
def theirs(tmp_path: Path) -> Path:
    """A teammate's project with two shipped changes and one open change that would run
    a command; its export is ``theirs.jsonl`` beside it."""
    root = _project(tmp_path / "theirs")
    old = Path.cwd()
    os.chdir(root)
    try:
        for title in ("Slow search", "Cold cache"):
            assert invoke("baseline", title, "--metric", "p95_ms=9ms").code == 0
            assert invoke("ship", "--reason", "fixed", "--metric", "p95_ms=5ms").code == 0
        made = invoke("baseline", "Open one", "--cmd", "touch RAN-HERE", "--runs", "1",
                      "--warmup", "0")  # fmt: skip
        assert made.code == 0, made.stderr
        (root / "RAN-HERE").unlink()
        assert invoke("export", "--out", str(tmp_path / "theirs.jsonl")).code == 0
    finally:
        os.chdir(old)
    return tmp_path / "theirs.jsonl"


def _with_note_paths(export: Path, paths: list[str]) -> Path:
    lines = export.read_text().splitlines()
    out = []
    for line, path in zip(lines, [*paths, *[None] * len(lines)], strict=False):
        doc = json.loads(line)
        if path is not None:
            doc["note_path"] = path
        out.append(json.dumps(doc))
    target = export.with_name("edited.jsonl")
    target.write_text("\n".join(out) + "\n")
    return target


def _note_uid(path: Path) -> str | None:
    import re

    found = re.search(r"^uid: '?([0-9a-f]{32})'?$", path.read_text(), re.M)
    return found.group(1) if found else None


# -- 1. an import plus render never overwrites a file in notes/ ------------------------


def test_an_imported_note_path_never_overwrites_a_file_changenote_did_not_write(
    tmp_path: Path, theirs: Path
):
    ours = _project(tmp_path / "ours")
    notes = ours / "notes"
    notes.mkdir()
    readme = notes / "README.md"
    readme.write_text("# Our notes\n\nHand-written; keep.\n")
    # a teammate's note not imported yet: changenote's, but another change's
    other = notes / "2026-01-01-other.md"
    other.write_text("---\nuid: " + "a" * 32 + "\nslug: other\ntitle: Other\n---\n# Other\n")
    edited = _with_note_paths(theirs, ["notes/README.md", "notes/2026-01-01-other.md"])
    done = run(ours, "import", str(edited))
    assert done.returncode == 0, done.stderr
    rendered = run(ours, "render")
    assert rendered.returncode == 0, rendered.stderr
    assert readme.read_text() == "# Our notes\n\nHand-written; keep.\n"
    assert _note_uid(other) == "a" * 32
    listed = {r["slug"]: r for r in json.loads(run(ours, "list", "--json").stdout)}
    for slug in ("slow-search", "cold-cache"):
        path = listed[slug]["note_path"]
        assert path not in ("notes/README.md", "notes/2026-01-01-other.md"), path
        assert (ours / path).is_file()
        assert f"-{slug}" in path  # derived: date and slug


def test_a_derived_note_path_taken_by_a_foreign_file_gets_another_name(
    tmp_path: Path, theirs: Path
):
    ours = _project(tmp_path / "ours")
    docs = [json.loads(line) for line in theirs.read_text().splitlines()]
    first = docs[0]
    derived = Path(first["note_path"]).name
    (ours / "notes").mkdir()
    squatter = ours / "notes" / derived
    squatter.write_text("someone's own file with the same name\n")
    assert run(ours, "import", str(theirs)).returncode == 0
    assert run(ours, "render").returncode == 0
    assert squatter.read_text() == "someone's own file with the same name\n"
    placed = json.loads(run(ours, "show", first["slug"], "--json").stdout)["note_path"]
    assert placed.endswith(derived.replace(".md", "-2.md")), placed
    assert _note_uid(ours / placed) == first["uid"]


def test_render_refuses_in_one_line_to_write_over_a_file_without_the_uid(
    tmp_path: Path, theirs: Path
):
    ours = _project(tmp_path / "ours")
    assert run(ours, "import", str(theirs)).returncode == 0
    assert run(ours, "render").returncode == 0
    slug = json.loads(theirs.read_text().splitlines()[0])["slug"]
    note = ours / json.loads(run(ours, "show", slug, "--json").stdout)["note_path"]
    assert _note_uid(note) is not None
    note.write_text("replaced by hand\n")
    refused = run(ours, "render", slug)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "refusing to overwrite" in refused.stderr
    assert note.read_text() == "replaced by hand\n"


def test_the_next_writer_removes_what_a_killed_note_writer_left(project: Path):
    """A writer killed inside the atomic write of a note, or of its pending copy, cannot
    clean up; the next write of that note does, and leaves other files alone."""
    assert invoke("baseline", "Slow search", "--metric", "p95_ms=9ms").code == 0
    assert invoke("ship", "--reason", "fixed", "--metric", "p95_ms=5ms").code == 0
    note = project / json.loads(invoke("show", "1", "--json").stdout)["note_path"]
    uid = _note_uid(note)
    folder = note.parent
    left = [
        folder / f".{note.name}.k1ll3d.tmp",  # the note's own temporary
        folder / f"..{note.name}.{uid}.pending.k1ll3d.tmp",  # its pending copy's
    ]
    for stale in left:
        stale.write_text("half a note")
    kept = folder / ".other-note.md.zz.tmp"
    kept.write_text("another note's, not ours to judge")
    assert invoke("edit", "1", "--title", "Slow search, fixed").code == 0
    assert [p.name for p in left if p.exists()] == []
    assert kept.exists()
    assert "Slow search, fixed" in note.read_text()


def test_settle_removes_an_old_pending_temporary_but_not_a_young_one(project: Path):
    """One no writer will come back for (a ship killed and never run again) goes at the
    next command that settles; a young one may be a live writer's and stays."""
    assert invoke("baseline", "Slow search", "--metric", "p95_ms=9ms").code == 0
    assert invoke("ship", "--reason", "fixed", "--metric", "p95_ms=5ms").code == 0
    note = project / json.loads(invoke("show", "1", "--json").stdout)["note_path"]
    uid = _note_uid(note)
    old = note.parent / f"..{note.name}.{uid}.pending.k1ll3d.tmp"
    young = note.parent / f"..{note.name}.{uid}.pending.l1v3.tmp"
    for stale in (old, young):
        stale.write_text("half a note")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    assert invoke("render").code == 0
    assert not old.exists()
    assert young.exists()


# -- 3. an imported open change's commands do not run here until trusted ---------------


def test_an_imported_open_change_does_not_run_until_trusted(tmp_path: Path, theirs: Path):
    ours = _project(tmp_path / "ours")
    assert run(ours, "import", str(theirs)).returncode == 0
    db = ours / ".changenote" / "changenote.db"
    before = db.read_bytes()
    for args in (("ship", "--reason", "x"), ("measure",), ("ship", "open-one", "--reason", "x")):
        refused = run(ours, *args)
        assert refused.returncode == 1, (args, refused.stderr)
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "came from an import" in refused.stderr
        assert "changenote trust open-one" in refused.stderr
        assert not (ours / "RAN-HERE").exists(), "an untrusted command ran"
    assert db.read_bytes() == before  # nothing recorded
    # trust shows what it would run, and asks; without a terminal it needs --yes
    asked = run(ours, "trust", "open-one")
    assert asked.returncode == 2
    assert "command  touch RAN-HERE" in asked.stdout
    assert "add --yes" in asked.stderr and not (ours / "RAN-HERE").exists()
    trusted = run(ours, "trust", "open-one", "--yes", "--json")
    assert trusted.returncode == 0, trusted.stderr
    record = json.loads(trusted.stdout)
    assert record["trusted"] and record["origin"] == "imported" and record["trusted_by"]
    assert record["runs"] == [{"kind": "command", "what": "touch RAN-HERE"}]
    shipped = run(ours, "ship", "--reason", "trusted now")
    assert shipped.returncode == 0, shipped.stderr
    assert (ours / "RAN-HERE").exists()


def test_revoked_trust_stops_the_commands_again(tmp_path: Path, theirs: Path):
    ours = _project(tmp_path / "ours")
    assert run(ours, "import", str(theirs)).returncode == 0
    assert run(ours, "trust", "open-one", "--yes").returncode == 0
    revoked = run(ours, "trust", "open-one", "--revoke")
    assert revoked.returncode == 0 and "not trusted" in revoked.stdout
    assert run(ours, "measure").returncode == 1
    assert not (ours / "RAN-HERE").exists()


def _set(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def test_another_users_change_runs_only_in_a_team_store(tmp_path: Path):
    ours = _project(tmp_path / "ours")
    made = run(ours, "baseline", "Mine", "--cmd", "touch RAN-HERE", "--runs", "1",
               "--warmup", "0")  # fmt: skip
    assert made.returncode == 0, made.stderr
    (ours / "RAN-HERE").unlink()
    db = ours / ".changenote" / "changenote.db"
    _set(db, "UPDATE change SET recorded_by = 'bob'")
    refused = run(ours, "measure")
    assert refused.returncode == 1 and "was recorded by bob" in refused.stderr
    assert not (ours / "RAN-HERE").exists()
    (ours / "changenote.toml").write_text('service = "docs"\ntrust = "store"\n')
    assert run(ours, "measure").returncode == 0
    assert (ours / "RAN-HERE").exists()
    (ours / "changenote.toml").write_text('service = "docs"\ntrust = "everyone"\n')
    bad = run(ours, "list")
    assert bad.returncode == 2 and "'trust'" in bad.stderr and "own, store" in bad.stderr


def test_a_change_from_before_provenance_must_be_trusted(tmp_path: Path):
    ours = _project(tmp_path / "ours")
    made = run(ours, "baseline", "Old", "--cmd", "true", "--runs", "1", "--warmup", "0")
    assert made.returncode == 0, made.stderr
    _set(ours / ".changenote" / "changenote.db", "UPDATE change SET origin = 'unknown'")
    refused = run(ours, "measure")
    assert refused.returncode == 1
    assert "recorded before changenote kept who recorded" in refused.stderr


def test_a_change_recorded_here_by_its_user_runs_without_asking(project: Path):
    assert invoke("baseline", "Mine", "--cmd", "true", "--runs", "1", "--warmup", "0").code == 0
    state = invoke("trust", "mine", "--json").json()
    assert state["trusted"] and state["origin"] == "recorded" and state["trusted_by"] is None
    assert invoke("measure").code == 0
