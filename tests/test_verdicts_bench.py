"""``bench/verdicts.py`` runs, prints well-formed JSON and is reproducible.

Structural checks only: the statistical goals (false-verdict rate, power) are the
benchmark's to report, never this test's to assert.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "verdicts.py"
DISTRIBUTIONS = {
    "normal",
    "lognormal-0.15",
    "lognormal-0.25",
    "lognormal-0.6",
    "bimodal-80/20",
    "bimodal-50/50",
    "bimodal-95/5",
    "rounded-30ms",
    "rounded-4ms",
}
SIZES = {"5", "10", "20", "30", "50", "10v30"}
#: The runs here: --quick of 600 pairs is 60 null pairs (each of the 54 cells of distribution
#: and size gets one), 15 per distribution for power, 930 comparisons in all: enough for
#: --jobs 2 to use its pool, and for a verdict that depends on the run (a bootstrap seeded
#: by chance, a worker's state) to change the figures.
PAIRS = 600


def _run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--pairs", str(PAIRS), *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    start = done.stdout.find("\n{\n")
    assert start >= 0, f"no JSON after the table:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    data: dict[str, Any] = json.loads(done.stdout[start + 1 :])
    return data


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _run()


def test_quick_is_a_tenth_of_the_default(monkeypatch, capsys) -> None:
    """`--quick` alone: the default 2,000 pairs divided by ten (the plan is not run here)."""
    spec = importlib.util.spec_from_file_location("bench_verdicts", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    planned = []

    def build_plan(pairs: int, power_pairs: int, seed: int) -> Any:
        planned.append((pairs, power_pairs))
        return bench.Plan()

    monkeypatch.setattr(bench, "build_plan", build_plan)
    assert bench.main(["--quick", "--json"]) == 0
    out = capsys.readouterr().out
    meta = json.loads(out[out.find("\n{\n") + 1 :])["meta"]
    assert planned == [(200, 50)]
    assert (meta["quick"], meta["pairs"], meta["power_pairs"]) == (True, 200, 50)


def _tallies(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict that carries a rate, with where it sits."""
    if isinstance(node, dict):
        if "rate" in node:
            yield path, node
        for key, value in node.items():
            yield from _tallies(value, f"{path}/{key}")


def test_meta(report: dict[str, Any]) -> None:
    meta = report["meta"]
    assert meta["quick"] is True
    assert meta["pairs"] == PAIRS // 10
    assert meta["power_pairs"] >= 1
    assert meta["comparisons"] > meta["pairs"]
    assert meta["runtime_s"] > 0
    assert len(meta["stats_sha256"]) == 64


def test_expected_keys(report: dict[str, Any]) -> None:
    fig = report["figures"]
    assert set(fig) >= {"false_verdicts", "power", "small_shift", "error_rate", "compare_errors"}

    fv = fig["false_verdicts"]
    assert set(fv) >= {"goal_max_rate", "pass", "overall", "by_distribution", "by_n"}
    assert isinstance(fv["pass"], bool)
    assert set(fv["by_distribution"]) == DISTRIBUTIONS
    assert set(fv["by_n"]) == SIZES
    assert set(fv["by_distribution_and_n"]) == DISTRIBUTIONS
    assert all(set(row) == SIZES for row in fv["by_distribution_and_n"].values())
    assert fv["overall"]["pairs"] == report["meta"]["pairs"]
    assert sum(t["pairs"] for t in fv["by_distribution"].values()) == fv["overall"]["pairs"]
    assert sum(t["pairs"] for t in fv["by_n"].values()) == fv["overall"]["pairs"]

    power = fig["power"]
    assert power["n"] == 30
    assert isinstance(power["pass"], bool)
    assert set(power["goal_distributions"]) == {"normal", "lognormal-0.15"}
    assert set(power["faster_improved"]) == DISTRIBUTIONS
    assert set(power["slower_regressed"]) == DISTRIBUTIONS
    assert set(power["faster_improved_other_n"]) == {"10", "50"}
    for row in power["faster_improved_other_n"].values():
        assert set(row) == DISTRIBUTIONS
    for tally in (*power["faster_improved"].values(), *power["slower_regressed"].values()):
        assert tally["pairs"] == report["meta"]["power_pairs"]

    small = fig["small_shift"]
    assert small["shift"] == pytest.approx(0.02)
    for block in small["by_n"].values():
        assert set(block["by_distribution"]) == DISTRIBUTIONS
        assert "overall" in block

    errors = fig["error_rate"]
    assert set(errors["same_rate_false"]) == {"0.01", "0.05", "0.2"}
    assert "detect_0_to_0.1_regressed" in errors
    assert set(fig["compare_errors"]) == {"count", "first"}


def test_rates_are_proportions(report: dict[str, Any]) -> None:
    tallies = list(_tallies(report["figures"]))
    assert len(tallies) > 100
    for where, t in tallies:
        assert t["pairs"] > 0, where
        assert 0 <= t["hits"] <= t["pairs"], where
        assert 0.0 <= t["rate"] <= 1.0, where
        assert t["rate"] == pytest.approx(t["hits"] / t["pairs"], abs=1e-6), where
        low, high = t["ci95"]
        assert 0.0 <= low <= t["rate"] <= high <= 1.0, where
        assert sum(t["verdicts"].values()) + t["errors"] == t["pairs"], where


def test_same_seed_same_figures(report: dict[str, Any]) -> None:
    # One worker this time: the figures must not depend on --jobs either.
    again = _run("--seed", str(report["meta"]["seed"]), "--jobs", "1")
    assert again["meta"]["stats_sha256"] == report["meta"]["stats_sha256"], (
        "changenote/stats.py changed between the two runs; rerun the test"
    )
    for key in ("seed", "pairs", "power_pairs", "comparisons"):
        assert again["meta"][key] == report["meta"][key]
    assert again["figures"] == report["figures"]
