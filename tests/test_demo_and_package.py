"""`changenote demo` end to end, and the built wheel working in a fresh venv."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from changenote.formatting import fmt_number
from changenote.notebook.demo_text import cells, command_lines, fit
from changenote.service.sample import SEARCH_AFTER, SEARCH_BEFORE
from tests.conftest import invoke

ROOT = Path(__file__).resolve().parent.parent


RULE = "-" * 80


@pytest.fixture
def temp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary-files folder of the test's own, and an empty current folder."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("COLUMNS", "80")
    return temp


def _shown(root: Path) -> dict[str, Any]:
    """The demo's change as its own store holds it (read the way the user would)."""
    with contextlib.chdir(root):
        result = invoke("show", "1", "--json")
    assert result.code == 0, result.stderr
    return result.json()


def test_demo_teaches_the_cycle_in_a_temporary_folder(
    temp_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANGENOTE_DATABASE_URL", "sqlite:////nonexistent/ignored.db")
    result = invoke("demo", "--runs", "6")
    assert result.code == 0, result.stderr
    assert os.environ["CHANGENOTE_DATABASE_URL"] == "sqlite:////nonexistent/ignored.db"
    assert list(Path.cwd().iterdir()) == []  # nothing written into the current folder
    (root,) = temp_home.glob("changenote-demo-*")  # kept afterwards
    out = result.stdout
    lines = out.splitlines()
    assert f"   cd {root}" in lines
    # the store was the demo's own, and `list` there needs the variable emptied
    assert "   CHANGENOTE_DATABASE_URL= changenote list" in lines
    assert (root / ".changenote" / "changenote.db").is_file()
    monkeypatch.delenv("CHANGENOTE_DATABASE_URL")
    doc = _shown(root)
    assert doc["status"] == "shipped"

    # every step in order, each with the command a user would type for it
    order = [
        "Step 1 of 6: capture the current behavior (baseline)",
        '   $ changenote baseline "Slow /search on the docs site" \\',
        "Step 2 of 6: create a safe backup (tick backup)",
        "   $ changenote tick backup \\",
        "Step 3 of 6: test the smallest change (measure)",
        '   $ changenote measure --label "smallest change"',
        "Step 4 of 6: ship: measure again and write the final note (ship)",
        "   $ changenote ship \\",
        "Step 5 of 6: watch logs after release (watch)",
        "   $ changenote watch --log app.log --pattern ERROR --duration 10m",
        "Step 6 of 6: the team wiki (wiki)",
        "   $ changenote wiki --out wiki",
        "# Slow /search on the docs site",
        "   changenote init --service NAME --owner YOU",
        '   changenote baseline "What is slow" \\',
        '   changenote ship --reason "what you changed" --rollback "how to undo it"',
    ]
    at = [lines.index(line) for line in order]
    assert at == sorted(at), [order[i] for i in range(len(at)) if at[i] != sorted(at)[i]]
    assert lines[-2:][0].startswith("   changenote ship ")  # it ends with the next step

    # the baseline's numbers, as the store holds them, under step 1
    step1 = "\n".join(lines[at[0] : at[2]])
    baseline = doc["runs"][0]
    assert baseline["label"] == "baseline" and baseline["metrics"]
    for m in baseline["metrics"]:
        figures = rf"\n   {m['metric']} +{re.escape(fmt_number(m['median'], m['unit']))} +"
        assert re.search(figures + re.escape(fmt_number(m["p95"], m["unit"])) + "\n", step1), m
    assert re.search(r"\n   time_ms .* improved", "\n".join(lines[at[6] : at[8]]))

    # only commands that ran: the backup's, whose copy is there; no `git diff`
    assert doc["commands"] == ["mkdir -p backup && cp app/search.py backup/search.py"]
    assert (root / "backup" / "search.py").read_text() == SEARCH_BEFORE
    assert (root / "app" / "search.py").read_text() == SEARCH_AFTER
    note = root / doc["note_path"]
    assert "git diff" not in note.read_text() and "git diff" not in out
    # the wiki was built from the demo's store, whatever the environment named
    assert (root / "wiki" / "html" / f"note-{doc['slug']}.html").is_file()

    # the readable note, without its front matter, between two rules
    assert lines.count(RULE) == 3
    first, _, last = (i for i, line in enumerate(lines) if line == RULE)
    printed = lines[first + 1 : last]
    title = printed.index("# Slow /search on the docs site")
    shown = printed[title:]
    assert shown[0] == "# Slow /search on the docs site" and "---" not in printed[:title]
    assert "## Baseline" in shown and "### Commands used" in shown
    assert doc["uid"] not in out and not any(line.startswith("uid:") for line in lines)
    assert f"({doc['note_path']};" in " ".join(printed[:title])

    # 80 columns, however wide the characters (the folder's name is one word: its own line)
    assert [line for line in lines if str(root) not in line and cells(line) > 80] == []
    assert lines[lines.index("Demo folder (nothing is written outside it):") + 1] == f"   {root}"


def test_demo_dir_new_then_earlier_demo_is_rebuilt(tmp_path: Path, temp_home: Path) -> None:
    folder = tmp_path / "here"
    folder.mkdir()
    assert invoke("demo", "--dir", str(folder), "--runs", "3").code == 0
    assert (folder / "notes").is_dir() and list(temp_home.iterdir()) == []
    again = invoke("demo", "--dir", str(folder), "--runs", "3")
    assert again.code == 0, again.stderr
    assert f"   {folder}" in again.stdout.splitlines()
    assert len(list((folder / "notes").glob("*.md"))) == 1  # rebuilt, not mixed
    with contextlib.chdir(folder):
        listed = invoke("list")
    assert listed.code == 0 and len(listed.stdout.splitlines()) == 1, listed.stdout
    # a file of someone else's in the demo's folder: it is no longer only a demo
    (folder / "mine.txt").write_text("keep me")
    refused = invoke("demo", "--dir", str(folder), "--runs", "3")
    assert refused.code != 0 and refused.stdout == ""
    assert (folder / "mine.txt").read_text() == "keep me" and (folder / "notes").is_dir()


@pytest.mark.parametrize(
    "content",
    [
        {"x": "keep me"},
        {"changenote.toml": 'service = "docs"\n', "app": None},  # a project, not a demo
    ],
)
def test_demo_refuses_a_folder_that_is_not_empty(
    tmp_path: Path, temp_home: Path, content: dict[str, str | None]
) -> None:
    folder = tmp_path / "busy"
    folder.mkdir()
    for name, text in content.items():
        (folder / name).mkdir() if text is None else (folder / name).write_text(text)
    before = sorted(p.name for p in folder.iterdir())
    result = invoke("demo", "--dir", str(folder))
    assert result.code != 0
    assert result.stderr == (
        f"changenote: error: --dir {folder} is not empty and holds no earlier demo; "
        "give an empty or new folder\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == before
    assert list(temp_home.iterdir()) == []


def test_demo_refuses_a_file_as_its_folder(tmp_path: Path, temp_home: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    result = invoke("demo", "--dir", str(target))
    assert result.code != 0 and result.stderr.startswith("changenote: error: --dir ")
    assert "not a folder" in result.stderr and len(result.stderr.splitlines()) == 1
    assert target.read_text() == "keep me"


def test_commands_are_shown_as_typed_and_fit() -> None:
    words = ["changenote", "baseline", "Slow /search"]
    options = [
        ("--http", "GET http://127.0.0.1:8000/search?q=fastapi&page=2"),
        ("--cmd", 'echo "$HOME" && ls'),
        ("--tag", "perf"),
        ("--noticed", "it's slow " * 4),  # quoted, it fits a line only without its option
    ]
    lines = command_lines(words, options, 60)
    assert max(len(line) for line in lines) <= 60 and len(lines) > 1
    assert "       --noticed \\" in lines
    assert all(line.endswith(" \\") for line in lines[:-1])
    typed = " ".join(line.rstrip("\\").strip() for line in lines)
    assert shlex.split(typed.removeprefix("$ ")) == words + [w for o in options for w in o]
    assert '"Slow /search"' in lines[0]  # double quotes where they are plain


def test_fit_wraps_prose_and_lists_and_keeps_tables_that_fit() -> None:
    long_item = "- [x] create a safe backup — " + "evidence " * 12
    wide = "| metric | change |\n|---|---:|\n| `time_ms` | " + "-87.4% (95% CI) " * 6 + "|"
    text = "\n".join(
        [
            *["# Title", "", "word " * 30, "", long_item, "", "| a | b |", "|---|---|"],
            *["| 1 | 2 |", "", "```", "x" * 100, "```", "", wide],
        ]
    )
    out = fit(text, 40).splitlines()
    assert "# Title" in out and "x" * 100 in out  # headings and code untouched
    assert "| a | b |" in out and "|---|---|" in out  # a table that fits stays markdown
    assert [line for line in out if line != "x" * 100 and cells(line) > 40] == []
    item = out.index(next(line for line in out if line.startswith("- [x] ")))
    assert out[item + 1].startswith("      evidence")  # continued under its text
    assert not any(line.startswith("| `time_ms`") for line in out)  # too wide: columns
    assert any(line.startswith("`time_ms`") for line in out)
    assert " ".join(fit(text, 40).split()).count("evidence") == 12  # nothing lost


def test_wheel_ships_templates_and_runs_in_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("changenote-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "changenote/templates/note.md.j2" in names
    assert "changenote/notebook/export.schema.json" in names  # import checks against it
    migrations = ROOT / "changenote" / "store" / "migrations"
    shipped = sorted(p.relative_to(ROOT).as_posix() for p in migrations.rglob("*.py"))
    assert "changenote/store/migrations/versions/0001_initial.py" in shipped
    assert [n for n in shipped if n not in names] == []  # Alembic finds every revision
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)  # pip comes from this interpreter (--python)
    py = env_dir / "bin" / "python"
    # Dependencies come from this interpreter's site-packages (no network in tests);
    # changenote itself only from the wheel, which sits earlier on sys.path.
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    where = subprocess.run(
        [py, "-c", "import changenote.render as r; print(r.builtin_templates())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(env_dir)), where
    temp = tmp_path / "tmp"
    temp.mkdir()
    _installed_schema_checks_an_export(env_dir / "bin" / "changenote", tmp_path / "schema", env)
    done = subprocess.run(
        [env_dir / "bin" / "changenote", "demo", "--runs", "4"],
        cwd=work,
        env={**env, "TMPDIR": str(temp), "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert list(work.iterdir()) == []  # the demo builds in a temporary folder
    assert list(temp.glob("changenote-demo-*/notes/*.md"))
    # a real process without a terminal, 80 columns: no line is wider
    wide = [line for line in done.stdout.splitlines() if len(line) > 80]
    assert [line for line in wide if str(temp) not in line] == []


def _installed_schema_checks_an_export(changenote: Path, work: Path, env: dict[str, str]) -> None:
    """``changenote export --schema`` from the installed wheel prints the shipped schema
    byte for byte, and an export line of that install validates against it."""
    import json

    import jsonschema

    work.mkdir()
    shown = subprocess.run(
        [changenote, "export", "--schema"], cwd=work, env=env, capture_output=True, check=True
    )
    assert shown.stdout == (ROOT / "changenote" / "notebook" / "export.schema.json").read_bytes()
    schema = json.loads(shown.stdout)
    made = subprocess.run(
        [changenote, "baseline", "Wheel check", "--metric", "p95_ms=12ms", "--tag", "wheel"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    exported = subprocess.run(
        [changenote, "export"], cwd=work, env=env, capture_output=True, text=True, check=True
    )
    (line,) = exported.stdout.splitlines()
    jsonschema.validate(json.loads(line), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(line), "title": 3}, schema)
