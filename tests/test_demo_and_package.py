"""`changenote demo` end to end, and the built wheel working in a fresh venv."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import invoke

ROOT = Path(__file__).resolve().parent.parent


def test_demo_prints_note_and_improvement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHANGENOTE_DATABASE_URL", "sqlite:////nonexistent/ignored.db")
    result = invoke("demo", "--runs", "6")
    assert result.code == 0, result.stderr
    folder = tmp_path / "changenote-demo"
    notes = list((folder / "notes").glob("*-slow-search-on-the-docs-site.md"))
    assert len(notes) == 1
    assert f"note written: {notes[0]}" in " ".join(result.stdout.split())
    assert "time_ms" in result.stdout and "improved" in result.stdout
    text = notes[0].read_text()
    assert "app/search.py" in text and "batch the per-result title queries" in text
    assert (folder / ".changenote" / "changenote.db").exists()  # the embedded store, not the env's
    second = invoke("demo", "--runs", "3")
    assert second.code == 0, second.stderr
    assert (tmp_path / "changenote-demo-2" / "notes").is_dir()


def test_demo_refuses_non_empty_dir(tmp_path: Path):
    (tmp_path / "x").write_text("keep me")
    result = invoke("demo", "--dir", str(tmp_path))
    assert result.code != 0 and "not empty" in result.stderr
    assert (tmp_path / "x").read_text() == "keep me"


def test_wheel_ships_templates_and_runs_in_fresh_venv(tmp_path: Path):
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
    _installed_schema_checks_an_export(env_dir / "bin" / "changenote", tmp_path / "schema", env)
    done = subprocess.run(
        [env_dir / "bin" / "changenote", "demo", "--runs", "4"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert list((work / "changenote-demo" / "notes").glob("*.md"))


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
