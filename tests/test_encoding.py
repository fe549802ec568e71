"""Odd output encodings and odd characters: a replacement or one line, never a traceback.

Issue 13, item 8, through the CLI in real processes: an emoji title under an ASCII
output encoding (``PYTHONIOENCODING=ascii``, or the C locale without UTF-8 mode), and
bytes that are not text in the arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TITLE = "Faster search \U0001f680 for Zürich"


def run(cwd: Path, args: list[str | bytes], **env: str) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "changenote", *args], cwd=cwd, env={**base, **env},
        capture_output=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def emoji_project(project: Path) -> Path:
    made = run(project, ["baseline", TITLE, "--metric", "p95_ms=9ms", "--tag", "zürich"])
    assert made.returncode == 0, made.stderr
    return project


@pytest.mark.parametrize(
    "env",
    [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}],
    ids=["ascii", "c-locale"],
)
@pytest.mark.parametrize("command", [["list"], ["show"], ["search", "search"]])
def test_an_output_encoding_without_the_character_shows_a_replacement(
    emoji_project: Path, env: dict[str, str], command: list[str]
):
    done = run(emoji_project, [*command], **env)
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")
    assert b"Traceback" not in done.stderr
    assert b"Faster search ? for Z?rich" in done.stdout


def test_json_under_an_ascii_encoding_escapes_instead_of_losing(emoji_project: Path):
    done = run(emoji_project, ["show", "--json"], PYTHONIOENCODING="ascii")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["title"] == TITLE  # lossless: \\u escapes


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([b"baseline", b"bad \xff title", b"--metric", b"p95_ms=3"], b"an argument"),
        ([b"baseline", b"ok", b"--owner", b"\xfe\xff", b"--metric", b"p95_ms=3"], b"--owner"),
        ([b"baseline", b"ok", b"--route=/x\xff", b"--metric", b"p95_ms=3"], b"--route"),
    ],
)
def test_bytes_that_are_not_text_are_refused_at_the_door(
    project: Path, args: list[bytes], named: bytes
):
    done = run(project, [*args])
    assert done.returncode == 2
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr
    assert named + b" is not valid UTF-8 text" in done.stderr
    assert not (project / ".changenote" / "changenote.db").exists()  # nothing recorded
