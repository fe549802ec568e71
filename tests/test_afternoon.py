"""Issue 14's afternoon, through the CLI in real processes, on SQLite and PostgreSQL.

A new user mistypes a port, measures an experiment and reverts it, leaves two changes
open; a baseline is refused; the id-less ship that once shipped an older, unrelated
change now refuses and names them; one is abandoned; a typo in the reason is fixed after
ship (the note rendered again, the history shown); the note is reviewed; a follow-up is
done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ANNOUNCED


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changenote", *args],
        cwd=project, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_afternoon(project: Path, store_backend: str, server) -> None:
    url = f"{server.url}/search?q=x"
    ok = _cli(project, "baseline", "Slow search", "--http", url, "--runs", "3")
    assert ok.returncode == 0, ok.stderr
    ok = _cli(project, "baseline", "Experiment", "--metric", "p95_ms=40ms")
    assert ok.returncode == 0, ok.stderr
    # the mistyped port: measured, every attempt refused, recorded with a warning
    wrong = _cli(project, "baseline", "Slow login", "--http", "http://127.0.0.1:9/login",
                 "--runs", "2")  # fmt: skip
    assert wrong.returncode == 0, wrong.stderr
    assert "2/2 attempts of GET http://127.0.0.1:9/login failed" in wrong.stdout
    # a baseline refused (a typo in --expect): nothing recorded
    refused = _cli(project, "baseline", "Slow export", "--metric", "p95_ms=9ms",
                   "--expect", "foo = 3")  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    listed = json.loads(_cli(project, "list", "--json").stdout)
    assert [r["slug"] for r in listed] == ["slow-login", "experiment", "slow-search"]
    # the id-less ship refuses, naming the open changes, instead of shipping the newest
    ship = _cli(project, "ship", "--reason", "batch teh queries")
    assert ship.returncode == 2
    assert ship.stderr == (
        "changenote: error: 3 changes are open: #1 slow-search, #2 experiment, "
        "#3 slow-login; give an id\n"
    )
    # the experiment was reverted, the port was wrong: both abandoned, kept
    for slug, why in (("experiment", "reverted"), ("slow-login", "measured the wrong port")):
        gone = _cli(project, "abandon", slug, "--reason", why)
        assert gone.returncode == 0, gone.stderr
    # now one change is open: the id-less ship takes it, and says so before measuring
    ship = _cli(project, "ship", "--reason", "batch teh queries", "--json")
    assert ship.returncode == 0, ship.stderr
    assert ANNOUNCED.match(ship.stderr) and ship.stderr.startswith("ship #1 slow-search: ")
    doc = json.loads(ship.stdout)
    note = project / doc["note_path"]
    assert "batch teh queries" in note.read_text()
    # the typo, fixed after ship: the note is rendered again and the history kept
    fixed = _cli(project, "edit", "slow-search", "--reason", "batch the queries")
    assert fixed.returncode == 0, fixed.stderr
    body = note.read_text().split("\n---\n", 1)[1]
    assert "batch the queries" in body and "teh" not in body.split("## Timeline")[0]
    shown = _cli(project, "show", "slow-search")
    assert "edit: reason: 'batch teh queries' → 'batch the queries'" in shown.stdout
    # reviewed, and a follow-up done
    assert _cli(project, "review", "--due", "--fail").returncode == 1
    reviewed = _cli(project, "review", "slow-search", "--status", "reviewed", "--by", "Grace")
    assert reviewed.returncode == 0, reviewed.stderr
    assert _cli(project, "review", "--due", "--fail").returncode == 0
    added = _cli(project, "follow-up", "slow-search", "index the title column", "--owner", "Ada")
    assert added.returncode == 0, added.stderr
    done = _cli(project, "follow-up", "slow-search", "--done", "1", "--note", "in #7", "--json")
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["review"]["status"] == "reviewed" and final["review"]["by"] == "Grace"
    assert final["follow_ups"][0]["done"] is True
    kinds = [e["kind"] for e in final["timeline"]]
    assert kinds == ["baseline", "ship", "edit", "review", "follow-up", "follow-up"]
    text = note.read_text()
    assert "Review: **reviewed** by Grace" in text
    assert "- [x] #1 index the title column — Ada — done: in #7" in text
    status = _cli(project, "status", "--json")
    assert json.loads(status.stdout) == {"open": [], "follow_ups_due": [], "reviews_due": []}
    # the abandoned experiment is still there, with its run, out of the way
    kept = json.loads(_cli(project, "show", "experiment", "--json").stdout)
    assert kept["status"] == "abandoned" and len(kept["runs"]) == 1
