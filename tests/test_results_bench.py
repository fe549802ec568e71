"""``bench/results.py`` runs, prints the JSON ``bench/run.py`` reads, and its verdict
figures are reproducible. Structural checks only: the false-verdict rate and the timings
are the benchmark's to report, never this test's to assert."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "bench" / "results.py"
sys.path.insert(0, str(REPO / "bench"))
from run import trailing_json  # noqa: E402  (the table's own reader)


def _run(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--pairs", "10", "--samples", "300", "--json", *args],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "false verdicts" in done.stdout  # the text report comes first
    return trailing_json(done.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return _run()


def test_the_figures_bench_run_reads_are_there(figures: dict[str, Any]):
    fig = figures["figures"]
    assert figures["meta"]["pairs"] == 10
    verdicts = fig["verdicts"]
    assert len(verdicts["false_verdicts"]) == 12  # 3 distributions x 4 sizes
    assert verdicts["false_overall"]["pairs"] == 120
    assert set(verdicts["power_20pct_n30"]["lognormal-0.25"]) == {"summary", "raw"}
    for name in ("hyperfine", "pyperf"):
        read = fig["read"][name]
        assert read["bytes"] > 0 and read["read_ms"] > 0 and read["ratio"] > 0
    record = fig["record"]
    assert record["samples"] == 300 and record["results_s"] > 0 and record["metric_s"] > 0


def test_the_verdict_figures_are_reproducible(figures: dict[str, Any]):
    again = _run("--no-record")
    assert again["figures"]["verdicts"] == figures["figures"]["verdicts"]
    assert again["figures"]["record"] is None
