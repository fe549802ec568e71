"""Start-up stays light: ``--help`` and ``list`` must not import the heavy libraries.

Each check runs the CLI in a fresh interpreter (this test process has imported
everything already), then inspects that interpreter's ``sys.modules``. The timing
side lives in ``bench/startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import changenote

HELP_FORBIDDEN = ("sqlmodel", "sqlalchemy", "httpx", "jinja2", "scipy", "numpy", "alembic")
LIST_FORBIDDEN = ("sqlmodel", "sqlalchemy", "httpx", "jinja2", "scipy")
MARKER = "--- loaded modules ---"
REPO = Path(__file__).resolve().parent.parent

# Runs `changenote ARGS` in-process, then prints the loaded modules after a marker.
PROBE = f"""
import json, sys
from changenote.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
print({MARKER!r})
print(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CHANGENOTE_DATABASE_URL", None)
    env["HOME"] = str(tmp_path / "home")
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    # The child imports this tree's changenote even where it is not installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _probe(tmp_path: Path, cwd: Path, *args: str) -> tuple[int, str, list[str]]:
    """Exit code, CLI output and sorted module names of ``changenote ARGS`` in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output, _, tail = done.stdout.rpartition(MARKER + "\n")
    report = json.loads(tail)
    print(f"changenote {' '.join(args)}: {len(report['modules'])} modules loaded")
    print("\n".join(report["modules"]))
    return report["code"], output, report["modules"]


def _heavy(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in forbidden)


def test_help_imports_no_heavy_library(tmp_path: Path) -> None:
    code, output, modules = _probe(tmp_path, tmp_path, "--help")

    assert code in (0, None)
    assert "Usage" in output and "baseline" in output
    assert _heavy(modules, HELP_FORBIDDEN) == []


def test_list_reads_the_store_without_heavy_libraries(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    made = subprocess.run(
        [sys.executable, "-m", "changenote", "baseline", "Slow start-up", "--metric", "x=1"],
        cwd=project,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (project / ".changenote" / "changenote.db").is_file()

    code, output, modules = _probe(tmp_path, project, "list")

    assert code in (0, None)
    assert "slow-start-up" in output
    assert "baseline" in output
    assert _heavy(modules, LIST_FORBIDDEN) == []


def test_module_version(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "changenote", "--version"],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"changenote {changenote.__version__}"
