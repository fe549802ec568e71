"""The help reads like Click's: no Python types, no braces, whole sentences, integer
defaults; ``changenote`` alone prints its usage; shell completion works in real bash."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke

LEAKS = ("<str>", "<int>", "<float>", "<list", "<bool>", "{", "}")


def _commands() -> list[str]:
    from changenote.cli.app import _click_command

    return list(_click_command().commands)


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def _usage_and_arguments(text: str) -> list[str]:
    """The usage line and the lines of the Arguments section."""
    lines = text.splitlines()
    picked = [line for line in lines if line.startswith("Usage:")]
    if "Arguments:" in lines:
        start = lines.index("Arguments:") + 1
        for line in lines[start:]:
            if not line.strip():
                break
            picked.append(line)
    return picked


@pytest.mark.parametrize("command", _commands())
def test_help_has_no_python_types_or_braces(command: str) -> None:
    result = invoke(command, "--help")

    assert result.code == 0, result.stderr
    picked = _usage_and_arguments(result.stdout)
    assert picked[0].startswith(f"Usage: changenote {command} [OPTIONS]")
    leaks = [line for line in picked if any(leak in line for leak in LEAKS)]
    assert leaks == []
    # every default is a figure as people write it: 3600, not 3600.0
    assert re.findall(r"default: \d+\.0\b", result.stdout) == []


def test_usage_lines_read_like_click() -> None:
    def usage(command: str) -> str:
        return invoke(command, "--help").stdout.splitlines()[0]

    assert usage("baseline") == "Usage: changenote baseline [OPTIONS] TITLE"
    assert usage("measure") == "Usage: changenote measure [OPTIONS] [ID]"
    assert usage("tick") == "Usage: changenote tick [OPTIONS] [ID] ITEM"
    assert usage("follow-up") == "Usage: changenote follow-up [OPTIONS] ID [TEXT]"
    assert usage("search") == "Usage: changenote search [OPTIONS] WORDS..."
    assert usage("import") == "Usage: changenote import [OPTIONS] FILE|DIR"
    arguments = _usage_and_arguments(invoke("baseline", "--help").stdout)[1:]
    assert arguments == ["  TITLE  What is wrong, in a few words.  [required]"]
    assert "[default: 3600]" in invoke("tick", "--help").stdout


def test_command_list_has_whole_sentences_at_80_columns() -> None:
    result = invoke("--help")

    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    cut = [line for line in lines[1:] if line.rstrip().endswith("...")]  # not the usage
    assert cut == []
    assert max(len(line) for line in lines) <= 80
    rows = lines[lines.index("Commands:") + 1 :]
    listed = {}
    for row in rows:
        name, _, text = row.strip().partition(" ")
        assert row.startswith("  ") and not row.startswith("   "), f"wrapped: {row!r}"
        listed[name] = text.strip()
    assert list(listed) == _commands()
    for name, text in listed.items():
        assert text.endswith("."), f"{name}: {text!r} is not a whole sentence"
        assert text[0].isupper(), f"{name}: {text!r}"


def test_changenote_alone_prints_its_usage_and_exits_2() -> None:
    result = invoke()

    assert result.code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Usage: changenote [OPTIONS] COMMAND [ARGS]..."
    assert "Commands:" in lines and len(lines) > 20
    assert "changenote: error:" not in result.stderr


def _bin_with_changenote(tmp_path: Path) -> Path:
    """A folder whose ``changenote`` runs this tree's CLI with this interpreter."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "changenote"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m changenote "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_script_completes_commands(tmp_path: Path) -> None:
    folder = _bin_with_changenote(tmp_path)
    env = {
        **os.environ,
        "SHELL": "/bin/bash",
        "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    # From a bash, as a user asks: Typer finds the shell in the process tree (shellingham),
    # not in $SHELL, and pytest's own parents need not hold one.
    shown = subprocess.run(
        ["bash", "-c", "changenote --show-completion; exit $?"],  # not exec-ed: bash stays
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    script = tmp_path / "changenote-complete.bash"
    script.write_text(shown.stdout)
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    assert "_CHANGENOTE_COMPLETE" in shown.stdout

    # What bash does on TAB after `changenote ba`: the script's function, run for real.
    completing = (
        f"source {script}; COMP_WORDS=(changenote ba); COMP_CWORD=1; "
        '_changenote_completion changenote; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-c", completing], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["baseline"]

    completing = completing.replace(
        "(changenote ba); COMP_CWORD=1", "(changenote baseline --wa); COMP_CWORD=2"
    )
    done = subprocess.run(
        ["bash", "-c", completing], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["--warmup"]


def test_completion_options_are_in_the_help() -> None:
    text = invoke("--help").stdout
    assert "--install-completion" in text and "--show-completion" in text
