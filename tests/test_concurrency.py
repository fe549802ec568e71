"""Several changenote processes writing to one store at once: nothing lost, no lock errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke

pytestmark = pytest.mark.usefixtures("store_backend")

WRITER = """
import contextlib, functools, io, sys
import typer.main
from changenote.cli import main
# main() builds the Click command from the Typer app on every call (a twentieth of a second,
# outside any transaction); built once, this writer spends its time on the store instead.
typer.main.get_command = functools.cache(typer.main.get_command)
who, count = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # all writers start together
failed = []
for i in range(count):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            # half the writers use the same titles: their slugs must still come out unique
            title = f"shared change {i}" if int(who[-1]) % 2 else f"{who} change {i}"
            main(["baseline", title, "--metric", f"x={i}", "--tag", who])
            code = 0
        except SystemExit as exc:
            code = exc.code
    if code:
        failed.append(f"{i}: {err.getvalue().strip()}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_eight_processes_record_twenty_changes_each(project: Path):
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"writer{n}", "20"],
            cwd=project,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(8)
    ]
    for p in procs:
        ready = p.stdout.readline() if p.stdout else ""
        assert ready == "ready\n", ready + p.communicate(timeout=60)[0]
    for p in procs:
        assert p.stdin
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    listed = invoke("list", "--json").json()
    assert len(listed) == 160
    assert len({r["slug"] for r in listed}) == 160
    for n in range(0, 8, 2):
        mine = [r for r in listed if r["slug"].startswith(f"writer{n}-change-")]
        assert len(mine) == 20, n
    assert len([r for r in listed if r["slug"].startswith("shared-change-")]) == 80
