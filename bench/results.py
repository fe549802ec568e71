"""Results files benchmark: how honest the summary test is, and what reading a file costs.

Run it as ``python bench/results.py [--pairs N] [--seed S] [--samples N] [--json]``.

1. **Summary verdicts** (``changenote.measure.stats.compare_summaries``, the test a
   results file without samples gets: Welch's t on n, mean and standard deviation).
   ``--pairs`` pairs per distribution and size whose before and after come from the
   *same* distribution: any verdict but ``not-significant`` is false (goal: at most 5%
   overall). Then a true 20% slowdown at n = 30: the share called ``regressed``, beside
   what the raw-sample test (``compare``, Mann-Whitney and the bootstrap) finds on the
   very same samples. Distributions: normal (sd 10% of the mean), log-normal sigma 0.25
   and 0.5 (skewed, as timings are); sizes 5, 10, 30 and 100 a side.
2. **Reading** (``changenote.measure.results.read_results``): a hyperfine file of
   ``--samples`` times and a pyperf file of 20 benchmarks of ``--samples / 20`` values,
   each read 20 times, against ``json.loads`` of the same bytes (the ratio is what the
   checking and the conversion to ms cost over parsing).
3. **Recording**: ``changenote baseline --results`` of that hyperfine file against
   ``changenote baseline --metric x=1`` (the same command with one figure), each in a
   fresh project, interleaved, 5 rounds: what storing every sample adds.

Every random figure comes from ``numpy.random.default_rng(--seed)``: the same seed gives
the same verdict rates. It always exits 0: it is a benchmark, not a test.
``tests/test_results_bench.py`` checks only the shape and the reproducibility of its
JSON output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without an install
    sys.path.insert(0, str(ROOT))

DISTRIBUTIONS = ("normal", "lognormal-0.25", "lognormal-0.5")
SIZES = (5, 10, 30, 100)
GOAL_FALSE_RATE = 0.05


def draw(rng: np.random.Generator, name: str, n: int, scale: float = 1.0) -> list[float]:
    """n timings in ms around 10 ms from distribution ``name``, multiplied by ``scale``."""
    if name == "normal":
        values = rng.normal(10.0, 1.0, n)
    else:
        sigma = float(name.split("-")[1])
        values = rng.lognormal(math.log(10.0), sigma, n)
    return [float(v) * scale for v in np.abs(values)]


def summary(samples: list[float]) -> dict[str, Any]:
    """What a summary-only file would say of these samples."""
    return {"samples": [], "n": len(samples), "mean": statistics.fmean(samples),
            "stdev": statistics.stdev(samples), "median": statistics.median(samples)}  # fmt: skip


def tally(hits: int, pairs: int) -> dict[str, Any]:
    from scipy.stats import binomtest

    ci = binomtest(hits, pairs).proportion_ci() if pairs else None
    return {"pairs": pairs, "hits": hits, "rate": hits / pairs if pairs else None,
            "ci95": [ci.low, ci.high] if ci else None}  # fmt: skip


def verdict_figures(pairs: int, seed: int) -> dict[str, Any]:
    from changenote.measure.stats import compare, compare_summaries

    rng = np.random.default_rng(seed)
    false: dict[str, dict[str, Any]] = {}
    wrong_all = total = 0
    for name in DISTRIBUTIONS:
        for n in SIZES:
            wrong = 0
            for _ in range(pairs):
                before, after = draw(rng, name, n), draw(rng, name, n)
                got = compare_summaries("sim", "time_ms", "ms", "lower", summary(before),
                                        summary(after)).verdict  # fmt: skip
                wrong += got != "not-significant"
            false[f"{name} n={n}"] = tally(wrong, pairs)
            wrong_all += wrong
            total += pairs
    power: dict[str, dict[str, Any]] = {}
    for name in DISTRIBUTIONS:
        welch = raw = 0
        for i in range(pairs):
            before, after = draw(rng, name, 30), draw(rng, name, 30, 1.2)
            welch += (
                compare_summaries("sim", "time_ms", "ms", "lower", summary(before),
                                  summary(after)).verdict == "regressed"
            )  # fmt: skip
            raw += compare(f"sim-{i}", "time_ms", "ms", "lower", before, after).verdict == (
                "regressed"
            )
        power[name] = {"summary": tally(welch, pairs), "raw": tally(raw, pairs)}
    overall = tally(wrong_all, total)
    return {"false_verdicts": false, "false_overall": overall, "power_20pct_n30": power,
            "pass": overall["rate"] <= GOAL_FALSE_RATE}  # fmt: skip


def hyperfine_file(path: Path, samples: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    times = [round(t / 1000, 6) for t in draw(rng, "lognormal-0.25", samples)]
    mean = statistics.fmean(times)
    entry = {"command": "work", "mean": mean, "stddev": statistics.stdev(times),
             "median": statistics.median(times), "user": mean / 2, "system": mean / 10,
             "min": min(times), "max": max(times), "times": times,
             "exit_codes": [0] * samples}  # fmt: skip
    path.write_text(json.dumps({"results": [entry]}), encoding="utf-8")
    return path


def pyperf_file(path: Path, samples: int, seed: int) -> Path:
    rng = np.random.default_rng(seed + 1)
    each = max(3, samples // 20)
    benchmarks = []
    for b in range(20):
        values = [t / 1000 for t in draw(rng, "lognormal-0.25", each)]
        runs = [{"metadata": {"date": "2026-12-01T10:00:00"}, "warmups": [[1, values[0]]],
                 "values": values[i : i + 3]} for i in range(0, each, 3)]  # fmt: skip
        benchmarks.append({"metadata": {"name": f"bench-{b}"}, "runs": runs})
    suite = {"hostname": "bench", "perf_version": "2.11.0", "unit": "second"}
    doc = {"version": "1.0", "benchmarks": benchmarks, "metadata": suite}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def read_figures(folder: Path, samples: int, seed: int, rounds: int = 20) -> dict[str, Any]:
    from changenote.measure.results import read_results

    found = {}
    for name, path in (("hyperfine", hyperfine_file(folder / "h.json", samples, seed)),
                       ("pyperf", pyperf_file(folder / "p.json", samples, seed))):  # fmt: skip
        ours, parse = [], []
        for _ in range(rounds):  # interleaved: drift hits both alike
            start = time.perf_counter()
            read_results(path)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            json.loads(path.read_bytes())
            parse.append(time.perf_counter() - start)
        a, b = statistics.median(ours), statistics.median(parse)
        found[name] = {"bytes": path.stat().st_size, "read_ms": a * 1000,
                       "json_loads_ms": b * 1000, "ratio": a / b}  # fmt: skip
    return found


def record_figures(folder: Path, samples: int, seed: int, rounds: int = 5) -> dict[str, Any]:
    given = hyperfine_file(folder / "record.json", samples, seed)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CHANGENOTE_DATABASE_URL", "PYTHONDONTWRITEBYTECODE")}  # fmt: skip
    timings: dict[str, list[float]] = {"results": [], "metric": []}
    for r in range(rounds):
        for kind, extra in (
            ("results", ["--results", str(given)]),
            ("metric", ["--metric", "x=1"]),
        ):
            project = folder / f"{kind}-{r}"
            project.mkdir()
            (project / "changenote.toml").write_text('service = "bench"\n')
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "changenote", "baseline", "Bench", *extra],
                           cwd=project, env=env, check=True, capture_output=True)  # fmt: skip
            timings[kind].append(time.perf_counter() - start)
    a, b = statistics.median(timings["results"]), statistics.median(timings["metric"])
    return {"samples": samples, "results_s": a, "metric_s": b, "ratio": a / b,
            "rounds": rounds}  # fmt: skip


def report(fig: dict[str, Any]) -> str:
    lines = ["Summary-only verdicts (Welch's t on n, mean, sd): false verdicts, before = after"]
    for key, t in fig["verdicts"]["false_verdicts"].items():
        lines.append(f"  {key:<22} {t['rate']:6.1%}  ({t['hits']}/{t['pairs']})")
    o = fig["verdicts"]["false_overall"]
    mark = "PASS" if fig["verdicts"]["pass"] else "MISS"
    lines.append(f"  overall                {o['rate']:6.1%}  goal <= 5%: {mark}")
    lines.append("Power: a true 20% slowdown at n = 30 called regressed")
    for name, p in fig["verdicts"]["power_20pct_n30"].items():
        lines.append(f"  {name:<22} summary {p['summary']['rate']:6.1%}, raw samples "
                     f"{p['raw']['rate']:6.1%}")  # fmt: skip
    for name, r in fig["read"].items():
        lines.append(f"Reading a {name} file of {r['bytes']:,} bytes: {r['read_ms']:.1f} ms, "
                     f"json.loads {r['json_loads_ms']:.1f} ms, {r['ratio']:.2f}x")  # fmt: skip
    if fig.get("record"):
        r = fig["record"]
        lines.append(f"baseline --results ({r['samples']:,} samples) {r['results_s']:.2f} s, "
                     f"--metric x=1 {r['metric_s']:.2f} s, {r['ratio']:.2f}x")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000, help="pairs per cell")
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--samples", type=int, default=10_000, help="samples in the files read")
    parser.add_argument("--no-record", action="store_true", help="skip the baseline timing")
    parser.add_argument("--json", action="store_true", help="the figures as JSON at the end")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="changenote-bench-results-") as tmp:
        folder = Path(tmp)
        fig: dict[str, Any] = {
            "verdicts": verdict_figures(args.pairs, args.seed),
            "read": read_figures(folder, args.samples, args.seed),
            "record": None if args.no_record else record_figures(folder, args.samples, args.seed),
        }
    fig_meta = {"pairs": args.pairs, "seed": args.seed, "samples": args.samples,
                "seconds": round(time.perf_counter() - began, 1)}  # fmt: skip
    print(report(fig))
    if args.json:
        print(json.dumps({"meta": fig_meta, "figures": fig}, indent=2))


if __name__ == "__main__":
    main()
