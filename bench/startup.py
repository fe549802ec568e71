"""Start-up benchmark: ``changenote --help`` and ``changenote list`` against sqlite-utils.

Run it as ``python bench/startup.py [--runs N] [--against REF] [--keep] [--json]``. It

1. builds a wheel of the project (``python -m build --wheel``, or ``pip wheel --no-deps``
   when ``build`` is not installed),
2. creates a fresh venv in a temporary folder and installs the wheel plus ``sqlite-utils``
   (pip compiles bytecode there, so no run pays for compiling; ``PYTHONDONTWRITEBYTECODE``
   is removed from the environment of the install and of every measured run),
3. makes a project folder whose store holds a few changes (``changenote baseline``),
4. times the candidates round-robin, calling the venv's binaries directly (with
   ``--against REF``, also the wheel of that git commit in a second venv, in the same
   rounds, so a change's effect on start-up is read side by side),
5. prints median and min wall time, the ratios against the goals, and which heavy
   modules ``changenote --help`` and ``changenote list`` import (``-X importtime``).

It always exits 0: it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "sqlmodel",
    "sqlalchemy",
    "httpx",
    "jinja2",
    "scipy",
    "numpy",
    "alembic",
    "pydantic",
    "rich",
)
BASELINES = 3  # changes in the benchmark store


class BenchFailed(RuntimeError):
    """A step of the benchmark failed: reported, never turned into an exit code."""


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        sys.stderr.write(f"command failed ({done.returncode}): {' '.join(cmd)}\n")
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise BenchFailed(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} exited {done.returncode}")
    return done


def clean_env(home: Path, venv_bin: Path | None = None) -> dict[str, str]:
    """The environment for installing and measuring: bytecode allowed, no shared store."""
    env = dict(os.environ)
    for key in ("PYTHONDONTWRITEBYTECODE", "CHANGENOTE_DATABASE_URL", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(key, None)
    env["HOME"] = str(home)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    if venv_bin is not None:
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv_bin.parent)
    return env


def build_wheel(out: Path, env: dict[str, str], source: Path = ROOT) -> Path:
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)]
    _run(cmd, env=env)
    wheels = sorted(out.glob("changenote-*.whl"))
    if not wheels:
        raise BenchFailed(f"no wheel was built in {out}")
    return wheels[-1]


def make_venv(folder: Path, wheel: Path, env: dict[str, str]) -> Path:
    # The base interpreter, not a venv's (nor the pyenv shim).
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", str(folder)], env=env)
    bin_dir = folder / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--compile", str(wheel), "sqlite-utils"],
        env=env,
    )
    return bin_dir


def make_store(project: Path, bin_dir: Path, env: dict[str, str]) -> Path:
    project.mkdir(parents=True)
    for i in range(BASELINES):
        _run(
            [str(bin_dir / "changenote"), "baseline", f"bench change {i + 1}", "--metric", "x=1"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    db = project / ".changenote" / "changenote.db"
    if not db.exists():
        raise BenchFailed(f"no store at {db} after the baselines")
    return db


@dataclass
class Setup:
    """A fresh venv with the project's wheel and sqlite-utils, and a project with a store."""

    wheel: Path
    bin_dir: Path
    env: dict[str, str]  # for every measured run: bytecode allowed, the venv first on PATH
    project: Path
    db: Path


def prepare(work: Path) -> Setup:
    """Build the wheel, the venv and the project under ``work`` (steps 1 to 3)."""
    home = work / "home"
    home.mkdir()
    env = clean_env(home)
    wheel = build_wheel(work / "dist", env)
    bin_dir = make_venv(work / "venv", wheel, env)
    run_env = clean_env(home, bin_dir)
    project = work / "project"
    db = make_store(project, bin_dir, run_env)
    return Setup(wheel, bin_dir, run_env, project, db)


def prepare_reference(work: Path, ref: str, env: dict[str, str]) -> Path:
    """A second venv with the wheel of commit ``ref`` of this repository (``git archive``):
    the same commands, timed in the same rounds, say what a change did to start-up."""
    source = work / "reference-src"
    source.mkdir()
    tar = work / "reference.tar"
    _run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(tar), ref], env=env)
    _run(["tar", "-xf", str(tar), "-C", str(source)], env=env)
    wheel = build_wheel(work / "reference-dist", env, source)
    return make_venv(work / "reference-venv", wheel, env)


def candidates(
    bin_dir: Path, db: Path, reference: Path | None = None, ref: str = ""
) -> dict[str, list[str]]:
    found = {
        "python -c pass": [str(bin_dir / "python"), "-c", "pass"],
        "changenote --help": [str(bin_dir / "changenote"), "--help"],
        "sqlite-utils --help": [str(bin_dir / "sqlite-utils"), "--help"],
        "changenote list": [str(bin_dir / "changenote"), "list"],
        "sqlite-utils tables": [str(bin_dir / "sqlite-utils"), "tables", str(db)],
    }
    if reference is not None:
        found[f"changenote --help @{ref}"] = [str(reference / "changenote"), "--help"]
        found[f"changenote list @{ref}"] = [str(reference / "changenote"), "list"]
    return found


def time_all(
    cands: dict[str, list[str]], runs: int, cwd: Path, env: dict[str, str]
) -> dict[str, list[float]]:
    """Milliseconds per run, the candidates interleaved so they share the machine's noise."""
    names = list(cands)
    # One checked warm-up round: fills the page cache and proves every command works.
    for name in names:
        _run(cands[name], cwd=cwd, env=env, stdin=subprocess.DEVNULL)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        order = names[i % len(names) :] + names[: i % len(names)]  # rotate: no fixed slot
        for name in order:
            start = time.perf_counter_ns()
            done = subprocess.run(
                cands[name],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            elapsed = time.perf_counter_ns() - start
            if done.returncode != 0:
                sys.stderr.write(f"warning: {name} exited {done.returncode}\n")
            times[name].append(elapsed / 1e6)
    return times


def import_times(python: Path, args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Modules imported by ``python -X importtime -m changenote ARGS``, and the costliest."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-m", "changenote", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    modules: list[str] = []
    top: list[tuple[int, str]] = []  # cumulative us of imports at the outermost level
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        # "import time:  self [us] | cumulative |   package.module" (2 spaces per level)
        parts = line.split(":", 1)[1].split("|", 2)
        if len(parts) != 3:
            continue
        cumulative, raw_name = parts[1], parts[2].rstrip()
        raw_name = raw_name[1:] if raw_name.startswith(" ") else raw_name
        module = raw_name.strip()
        modules.append(module)
        depth = (len(raw_name) - len(raw_name.lstrip())) // 2
        if depth == 0:
            top.append((int(cumulative.strip()), module))
    top.sort(reverse=True)
    roots = {m.split(".")[0] for m in modules}
    return {
        "exit_code": done.returncode,
        "modules": len(modules),
        "heavy": [h for h in HEAVY if h in roots],
        "top": [{"module": m, "cumulative_ms": round(us / 1000, 1)} for us, m in top[:12]],
    }


def summarise(times: dict[str, list[float]], against: str | None = None) -> dict[str, Any]:
    stats = {
        name: {"median_ms": statistics.median(v), "min_ms": min(v), "runs": len(v)}
        for name, v in times.items()
    }
    floor = stats["python -c pass"]["median_ms"]
    for s in stats.values():
        s["net_median_ms"] = s["median_ms"] - floor

    def ratio(a: str, b: str, key: str) -> float:
        return stats[a][key] / stats[b][key] if stats[b][key] > 0 else float("inf")

    goals = [
        {
            "goal": "changenote --help no slower than sqlite-utils --help",
            "ratio": ratio("changenote --help", "sqlite-utils --help", "median_ms"),
            "ratio_min": ratio("changenote --help", "sqlite-utils --help", "min_ms"),
            "net_ratio": ratio("changenote --help", "sqlite-utils --help", "net_median_ms"),
            "limit": 1.0,
        },
        {
            "goal": "changenote list within 2x of sqlite-utils tables DB",
            "ratio": ratio("changenote list", "sqlite-utils tables", "median_ms"),
            "ratio_min": ratio("changenote list", "sqlite-utils tables", "min_ms"),
            "net_ratio": ratio("changenote list", "sqlite-utils tables", "net_median_ms"),
            "limit": 2.0,
        },
    ]
    for cmd in ("changenote --help", "changenote list") if against else ():
        goals.append(
            {
                "goal": f"{cmd} within 10% of {cmd} @{against}",
                "ratio": ratio(cmd, f"{cmd} @{against}", "median_ms"),
                "ratio_min": ratio(cmd, f"{cmd} @{against}", "min_ms"),
                "net_ratio": ratio(cmd, f"{cmd} @{against}", "net_median_ms"),
                "limit": 1.1,
            }
        )
    for g in goals:
        g["result"] = "PASS" if g["ratio"] <= g["limit"] else "MISS"
    return {"candidates": stats, "goals": goals}


def print_report(summary: dict[str, Any], imports: dict[str, dict[str, Any]], runs: int) -> None:
    stats = summary["candidates"]
    width = max(len(n) for n in stats)
    print(f"\nstart-up, {runs} interleaved runs each (wall time of subprocess.run)\n")
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>7}  {'- python -c pass':>16}")
    for name, s in stats.items():
        net = "" if name == "python -c pass" else f"{s['net_median_ms']:+.1f}"
        print(f"{name:<{width}}  {s['median_ms']:>9.1f}  {s['min_ms']:>7.1f}  {net:>16}")
    print()
    for g in summary["goals"]:
        print(
            f"{g['result']}  {g['goal']}: median ratio {g['ratio']:.2f} (limit {g['limit']:.1f};"
            f" min ratio {g['ratio_min']:.2f}; net of python -c pass {g['net_ratio']:.2f})"
        )
    print("\nheavy modules imported (python -X importtime -m changenote ...; informative):")
    for label, info in imports.items():
        heavy = ", ".join(info["heavy"]) or "none"
        print(f"  {label}: {heavy}  ({info['modules']} modules, exit {info['exit_code']})")
    for label, info in imports.items():
        print(f"\ncostliest top-level imports, {label} (cumulative ms):")
        for entry in info["top"][:8]:
            print(f"  {entry['cumulative_ms']:>7.1f}  {entry['module']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="measured runs per command")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    parser.add_argument(
        "--against",
        metavar="REF",
        help="also time the wheel of this git commit, in the same rounds (e.g. HEAD~1)",
    )
    args = parser.parse_args(argv)
    runs = max(1, args.runs)

    work = Path(tempfile.mkdtemp(prefix="changenote-bench-"))
    try:
        print(f"building the wheel and the venv in {work} ...", flush=True)
        setup = prepare(work)
        bin_dir, run_env, project, db = setup.bin_dir, setup.env, setup.project, setup.db
        print(f"wheel {setup.wheel.name}; store {db} with {BASELINES} changes", flush=True)

        reference = prepare_reference(work, args.against, run_env) if args.against else None
        cands = candidates(bin_dir, db, reference, args.against or "")
        times = time_all(cands, runs, project, run_env)
        summary = summarise(times, args.against)
        python = bin_dir / "python"
        imports = {
            "changenote --help": import_times(python, ["--help"], project, run_env),
            "changenote list": import_times(python, ["list"], project, run_env),
        }
        print_report(summary, imports, runs)
        if args.json:
            print(json.dumps({**summary, "imports": imports, "times_ms": times}, indent=2))
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        main()
    except BenchFailed as exc:  # failures are reported, never an exit code
        sys.stderr.write(f"benchmark failed: {exc}\n")
    except SystemExit:
        pass
    sys.exit(0)
