"""``bench/prom_windows.py`` runs, prints the JSON ``bench/run.py`` reads, and is
reproducible. Structural checks only: the false-verdict rate and the power are the
benchmark's to report, never this test's to assert."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "prom_windows.py"
sys.path.insert(0, str(REPO / "bench"))
from run import trailing_json  # noqa: E402  (the table's own reader)


def _run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--pairs", "20", "--jobs", "1", "--no-naive-noise",
         "--json", *args],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "false verdicts" in done.stdout.lower()  # the text report comes first
    return trailing_json(done.stdout)  # type: ignore[no-any-return]


def _tallies(node: Any) -> list[dict[str, Any]]:
    """Every {pairs, hits, rate, ci95} tally in the figures."""
    if isinstance(node, dict):
        if {"pairs", "hits", "rate"} <= node.keys():
            return [node]
        return [t for v in node.values() for t in _tallies(v)]
    return []


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return _run()


def test_the_figures_bench_run_reads_are_there(figures: dict[str, Any]):
    fig = figures["figures"]
    assert figures["meta"]["pairs"] == 20
    head = fig["headline"]
    for key in ("false_verdicts", "power_up_regressed", "power_down_improved"):
        assert {"windows", "naive"} <= head[key].keys()
    assert {"windows", "naive"} <= fig["no_min_effect_false"].keys()
    assert {"phi", "points_per_window", "headline_cv_pct"} <= fig["setup"].keys()
    assert set(fig["pass"]) == {"false_verdicts", "power"}
    assert all(isinstance(v, bool) for v in fig["pass"].values())


def test_every_rate_is_its_hits_over_its_pairs_inside_its_interval(figures: dict[str, Any]):
    tallies = _tallies(figures["figures"])
    assert len(tallies) >= 10
    for t in tallies:
        assert 0 <= t["hits"] <= t["pairs"] and t["pairs"] > 0
        assert t["rate"] == pytest.approx(t["hits"] / t["pairs"], abs=1e-4)
        low, high = t["ci95"]
        assert 0 <= low <= t["rate"] <= high <= 1


def test_the_same_seed_gives_the_same_figures(figures: dict[str, Any]):
    again = _run()
    assert again["figures"] == figures["figures"]
    other = _run("--seed", "7")
    assert other["figures"] != figures["figures"]
