"""Autocorrelated windows benchmark: ``compare_windows`` against a naive rank test.

Run it as ``python bench/prom_windows.py [--pairs N] [--seed S] [--cv PCT] [--jobs J]
[--json]``. It simulates what a Prometheus range query returns for a steady service: a
p95 latency at a 15 s step over two adjacent 30-minute windows (120 points each), as
one AR(1) series with phi = 0.8 around 100 ms (each point is 100 ms x (1 + cv x z_t),
z a stationary AR(1) of unit variance, so ``--cv`` is the points' marginal coefficient
of variation), cut in two at the change. A change multiplies the after window's level.

For each of ``--pairs`` pairs (default 1,000) it runs, on the *same* points:

- ``changenote.measure.windows.compare_windows`` (Welch t on the means with effective
  sample sizes from the bias-corrected lag-1 autocorrelation), and
- the naive reference: ``changenote.measure.stats.compare`` with metric ``p95``, which
  treats the points as independent samples (Mann-Whitney U, bootstrap interval of the
  median's change),

both with ``better="lower"`` and the default 5% minimum effect, and reports:

1. **False verdicts** on no-change pairs: any ``improved``, ``regressed`` or ``changed``.
   Goal: at most 5%. Also with no minimum effect (p < 0.05 alone), which is what tells
   whether the test itself is valid: it should say "significant" 5% of the time.
2. **Power**: ``regressed`` for a true +10% step in the level, ``improved`` for -10%.
   Goal: at least 80% at the headline noise.
3. **Noise**: the same for compare_windows (and the naive false rate) at CV 2.5%, 5%,
   10% and 20%, because power depends on noise far more than on the method.
4. **The autocorrelation the estimator sees**: the mean plain and bias-corrected lag-1
   r over the no-change before windows, against the true 0.8.
5. **Other memory** (information): how often the test alone (no minimum effect) says
   "significant" on no-change pairs at CV 5% when the series is AR(1) with phi 0.5, 0.9
   or 0.95, or AR(2) (0.5, 0.3), whose memory fades slower than AR(1)'s; and how often
   it declines (``no-test``, fewer than 3 effective points a side).

The headline CV is 3%: the p95 of a steady, well-used service from
``histogram_quantile`` over a 1-minute rate moves by a few percent from step to step;
a quiet service, or a shorter rate window, is noisier (section 3 shows what that
costs). Every rate carries its exact 95% interval. Seeded (``numpy.random.default_rng``,
one stream per scenario); the naive test's bootstrap is seeded by the probe name. It
always exits 0: it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without an install
    sys.path.insert(0, str(ROOT))

PHI = 0.8
STEP_S = 15
POINTS = 120  # 30 minutes at a 15 s step
LEVEL_MS = 100.0
HEADLINE_CV = 3.0
NOISE_CVS = (2.5, 5.0, 10.0, 20.0)
STEP = 0.10
MIN_EFFECT = 5.0
GOAL_FALSE = 0.05
GOAL_POWER = 0.80
CLAIMS = frozenset({"improved", "regressed", "changed"})

Pair = tuple[str, list[float], list[float], float]


def ar1(rng: np.random.Generator, pairs: int, n: int, phi: float = PHI) -> np.ndarray:
    """``pairs`` stationary AR(1) series of unit variance, ``n`` points each."""
    z = np.empty((pairs, n))
    z[:, 0] = rng.standard_normal(pairs)
    shocks = rng.standard_normal((pairs, n)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        z[:, t] = phi * z[:, t - 1] + shocks[:, t]
    return z


def scenario(seed: int, pairs: int, cv_pct: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Before and after windows: one series, cut at the change, the after level scaled."""
    z = ar1(np.random.default_rng(seed), pairs, 2 * POINTS)
    series = LEVEL_MS * (1 + cv_pct / 100 * z)
    return series[:, :POINTS], series[:, POINTS:] * (1 + step)


def other_memory(seed: int, pairs: int, model: str) -> tuple[np.ndarray, np.ndarray]:
    """No-change windows at CV 5% from series that are not AR(1) with phi 0.8."""
    rng = np.random.default_rng(seed)
    n = 2 * POINTS
    if model.startswith("ar1-"):
        z = ar1(rng, pairs, n, float(model[4:]))
    else:  # "ar2": x_t = 0.5 x_{t-1} + 0.3 x_{t-2} + e_t, memory fading slower than AR(1)'s
        burn = 100
        x = np.zeros((pairs, n + burn))
        e = rng.standard_normal((pairs, n + burn))
        for t in range(2, n + burn):
            x[:, t] = 0.5 * x[:, t - 1] + 0.3 * x[:, t - 2] + e[:, t]
        z = x[:, burn:] / np.sqrt((1 - 0.3) / ((1 + 0.3) * ((1 - 0.3) ** 2 - 0.5**2)))
    series = LEVEL_MS * (1 + 0.05 * z)
    return series[:, :POINTS], series[:, POINTS:]


OTHER_MEMORY = ("ar1-0.5", "ar1-0.9", "ar1-0.95", "ar2")


def _windows(task: Pair) -> str:
    from changenote.measure.windows import compare_windows

    probe, before, after, min_effect = task
    try:
        return compare_windows(probe, "p95", "ms", "lower", before, after, min_effect).verdict
    except Exception as exc:  # a benchmark reports, it does not crash
        return f"error:{type(exc).__name__}: {exc}"[:200]


def _naive(task: Pair) -> str:
    from changenote.measure.stats import compare

    probe, before, after, min_effect = task
    try:
        return compare(probe, "p95", "ms", "lower", before, after, min_effect).verdict
    except Exception as exc:
        return f"error:{type(exc).__name__}: {exc}"[:200]


def _tasks(before: np.ndarray, after: np.ndarray, min_effect: float, tag: str) -> list[Pair]:
    return [
        (f"sim-{tag}-{i}", b.tolist(), a.tolist(), min_effect)
        for i, (b, a) in enumerate(zip(before, after, strict=True))
    ]


def _interval(k: int, n: int) -> list[float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return [round(float(ci.low), 4), round(float(ci.high), 4)]


def _tally(verdicts: list[str], hit: frozenset[str]) -> dict[str, Any]:
    counts = Counter(verdicts)
    k = sum(c for v, c in counts.items() if v in hit)
    return {
        "pairs": len(verdicts),
        "hits": k,
        "rate": round(k / len(verdicts), 4),
        "ci95": _interval(k, len(verdicts)),
        "verdicts": dict(sorted(counts.items())),
    }


class Runner:
    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self.comparisons = 0
        ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
        self.pool = ctx.Pool(jobs) if jobs > 1 else None

    def run(self, func: Any, tasks: list[Pair]) -> list[str]:
        self.comparisons += len(tasks)
        if self.pool is None:
            return [func(t) for t in tasks]
        return list(self.pool.map(func, tasks, chunksize=max(8, len(tasks) // (self.jobs * 8))))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()


def measure(runner: Runner, pairs: int, seed: int, cv: float, naive: bool) -> dict[str, Any]:
    """False verdicts and power at one noise level, for compare_windows (and the naive test)."""
    out: dict[str, Any] = {"cv_pct": cv}
    plan = (
        ("false_verdicts", 0.0, CLAIMS),
        ("power_up_regressed", STEP, frozenset({"regressed"})),
        ("power_down_improved", -STEP, frozenset({"improved"})),
    )
    for offset, (name, step, hit) in enumerate(plan):
        before, after = scenario(seed + offset, pairs, cv, step)
        tasks = _tasks(before, after, MIN_EFFECT, f"{name}-{cv}")
        block = {"windows": _tally(runner.run(_windows, tasks), hit)}
        if naive:
            block["naive"] = _tally(runner.run(_naive, tasks), hit)
        out[name] = block
    return out


def figures(pairs: int, seed: int, jobs: int, naive_noise: bool) -> dict[str, Any]:
    from changenote.measure.windows import inflation, lag1, window

    runner = Runner(jobs)
    try:
        headline = measure(runner, pairs, seed, HEADLINE_CV, naive=True)
        # The test's own validity: significant (p < 0.05) on no-change pairs, no minimum effect.
        before, after = scenario(seed, pairs, HEADLINE_CV, 0.0)
        tasks = _tasks(before, after, 0.0, "no-min-effect")
        any_claim = frozenset({"improved", "regressed", "changed"})
        significance = {
            "windows": _tally(runner.run(_windows, tasks), any_claim),
            "naive": _tally(runner.run(_naive, tasks), any_claim),
        }
        noise = [
            measure(runner, pairs, seed + 10 * (i + 1), cv, naive=naive_noise)
            for i, cv in enumerate(NOISE_CVS)
        ]
        # The test's validity (no minimum effect) when the memory is not AR(1) phi 0.8.
        memory = {}
        for i, model in enumerate(OTHER_MEMORY):
            b, a = other_memory(seed + 100 + i, pairs, model)
            verdicts = runner.run(_windows, _tasks(b, a, 0.0, f"memory-{model}"))
            memory[model] = {
                "significant": _tally(verdicts, any_claim),
                "no_test": _tally(verdicts, frozenset({"no-test"})),
            }
    finally:
        runner.close()
    raw = [lag1(b.tolist()) for b in before]
    corrected = [window(b.tolist()).rho for b in before]
    n_eff = [window(b.tolist()).n_eff for b in before]
    w = headline
    passed = {
        "false_verdicts": w["false_verdicts"]["windows"]["rate"] <= GOAL_FALSE,
        "power": min(
            w["power_up_regressed"]["windows"]["rate"], w["power_down_improved"]["windows"]["rate"]
        )
        >= GOAL_POWER,
    }
    return {
        "setup": {
            "phi": PHI,
            "step_s": STEP_S,
            "points_per_window": POINTS,
            "level_ms": LEVEL_MS,
            "headline_cv_pct": HEADLINE_CV,
            "change_step_pct": STEP * 100,
            "min_effect_pct": MIN_EFFECT,
        },
        "headline": headline,
        "no_min_effect_false": significance,
        "noise": noise,
        "other_memory_no_min_effect": memory,
        "lag1": {
            "true": PHI,
            "mean_plain_r": round(float(np.mean(raw)), 4),
            "mean_corrected_r": round(float(np.mean(corrected)), 4),
            "mean_n_eff": round(float(np.mean(n_eff)), 2),
            "true_n_eff": round(POINTS / inflation(PHI, POINTS), 2),
        },
        "goals": {"false_verdicts_max": GOAL_FALSE, "power_min": GOAL_POWER},
        "pass": passed,
        "comparisons": runner.comparisons,
    }


def _cell(t: dict[str, Any]) -> str:
    low, high = t["ci95"]
    return f"{100 * t['rate']:5.1f}% [{100 * low:.1f}-{100 * high:.1f}]"


def report(fig: dict[str, Any], runtime: float) -> None:
    s, h = fig["setup"], fig["headline"]
    p = print
    p(
        f"AR(1) phi {s['phi']}, {s['points_per_window']} points a window at {s['step_s']} s, "
        f"level {s['level_ms']:g} ms, better=lower, min_effect {s['min_effect_pct']:g}%"
    )
    p(f"{h['false_verdicts']['windows']['pairs']:,} pairs a scenario; rates with exact 95% CI")
    p("")
    p(f"1-2. Headline noise: marginal CV {s['headline_cv_pct']:g}%")
    p(f"   {'':34}{'compare_windows':>26}{'naive Mann-Whitney':>26}")
    rows = (
        ("false verdicts, no change", "false_verdicts"),
        (f"regressed, true +{s['change_step_pct']:g}%", "power_up_regressed"),
        (f"improved, true -{s['change_step_pct']:g}%", "power_down_improved"),
    )
    for label, key in rows:
        p(f"   {label:<34}{_cell(h[key]['windows']):>26}{_cell(h[key]['naive']):>26}")
    sig = fig["no_min_effect_false"]
    label = "no change, min_effect 0 (p<0.05)"
    p(f"   {label:<34}{_cell(sig['windows']):>26}{_cell(sig['naive']):>26}")
    p("")
    p("3. Noise (compare_windows; naive false verdicts where run)")
    p(f"   {'CV':>6}{'false':>22}{'+10% regressed':>22}{'-10% improved':>22}{'naive false':>22}")
    for block in fig["noise"]:
        naive = block["false_verdicts"].get("naive")
        p(
            f"   {block['cv_pct']:>5g}%"
            f"{_cell(block['false_verdicts']['windows']):>22}"
            f"{_cell(block['power_up_regressed']['windows']):>22}"
            f"{_cell(block['power_down_improved']['windows']):>22}"
            f"{_cell(naive) if naive else '-':>22}"
        )
    p("")
    r = fig["lag1"]
    p(
        f"4. Lag-1 r, true {r['true']}: mean plain {r['mean_plain_r']:.3f}, as used "
        f"(bias-corrected) "
        f"{r['mean_corrected_r']:.3f}; mean effective n {r['mean_n_eff']:.1f} "
        f"(the truth's {r['true_n_eff']:.1f}) of {s['points_per_window']}"
    )
    p("")
    p("5. Other memory, CV 5%, no minimum effect: significant on no-change pairs (~5% is right)")
    for model, block in fig["other_memory_no_min_effect"].items():
        label = {"ar2": "AR(2) 0.5, 0.3"}.get(model, f"AR(1) phi {model[4:]}")
        p(
            f"   {label:<16}{_cell(block['significant']):>22}"
            f"   no-test (too few effective points) {_cell(block['no_test'])}"
        )
    p("")
    ok = fig["pass"]
    p(
        f"Summary: false verdicts {'PASS' if ok['false_verdicts'] else 'MISS'} (<= 5%), "
        f"power {'PASS' if ok['power'] else 'MISS'} (>= 80% at CV {s['headline_cv_pct']:g}%)"
    )
    p(f"Runtime: {runtime:.1f} s for {fig['comparisons']:,} comparisons")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=1000, help="pairs a scenario (default 1000)")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument(
        "--no-naive-noise", action="store_true", help="skip the naive test in the noise sweep"
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", action="store_true", help="print the figures as JSON after")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    fig = figures(max(1, args.pairs), args.seed, args.jobs, not args.no_naive_noise)
    runtime = time.perf_counter() - start
    report(fig, runtime)
    if args.json:
        meta = {"seed": args.seed, "pairs": args.pairs, "jobs": args.jobs}
        print(
            json.dumps({"meta": {**meta, "runtime_s": round(runtime, 2)}, "figures": fig}, indent=2)
        )
    return 0


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:  # argparse: --help or a usage error
        raise SystemExit(0 if exc.code in (0, None) else exc.code) from None
    except BaseException:  # a benchmark reports, it does not fail its caller
        traceback.print_exc()
    sys.exit(0)
