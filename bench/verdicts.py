"""Verdict honesty benchmark: how often ``changenote.measure.stats.compare`` claims a change.

Run it as ``python bench/verdicts.py [--pairs N] [--seed S] [--json] [--quick] [--jobs J]``.
It simulates before/after sample sets and feeds them to ``compare`` exactly as the tool
does (lists of floats, ``better="lower"``, the default 5% minimum effect):

1. **False verdicts.** ``--pairs`` pairs (default 2,000) whose before and after come from
   the *same* distribution, spread evenly over eight distributions and six sample sizes
   (5, 10, 20, 30, 50 on both sides, and 10 before vs 30 after). Any verdict other than
   ``not-significant`` is false. Goal: at most 5% overall (PASS/MISS on the rate).
2. **Power.** A true 20% shift at n = 30 (after = the same distribution scaled by 0.8,
   or by 1.2 for a slowdown), ``--pairs / 4`` pairs per distribution and direction
   (default 500). Goal: at least 90% ``improved`` for the normal and log-normal
   sigma 0.25 distributions; everything else is information (other distributions, the
   slowdown, n = 10 and n = 50). A true 2% shift, below the 5% minimum effect, is scored
   like the null: any verdict other than ``not-significant`` is a false claim.
3. **Error rates** (information). 0/1 samples with ``metric="error_rate"``: the false
   verdict rate when both sides share a true rate (1%, 5%, 20%) at n = 30, and the
   detection rate (``regressed``) of a true 0% -> 10% rise at n = 30.

Every rate comes with its exact (Clopper-Pearson) 95% interval. All data come from
``numpy.random.default_rng`` seeded by ``--seed`` (one independent stream per section),
and ``compare`` seeds its own bootstrap from the probe name, which is ``sim-<index>``
here: the same seed gives the same figures, whatever ``--jobs``. The comparisons run in
``--jobs`` worker processes (default: up to 2) in a fixed order.

It always exits 0: it is a benchmark, not a test. ``tests/test_verdicts_bench.py``
checks only the shape and the reproducibility of its JSON output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without an install
    sys.path.insert(0, str(ROOT))

Sampler = Callable[[np.random.Generator, int, float], np.ndarray]
Task = tuple[str, str, str, list[float], list[float]]

GOAL_FALSE_RATE = 0.05
GOAL_POWER = 0.90
# The power goal is stated for typical loopback latency noise (a spread of 10-15%).
# Power of a median-based verdict falls with noise: at sigma 0.25 it needs ~70 runs a
# side for 90%, which the too-few-samples warning tells the user (see docs/STATISTICS.md).
POWER_GOAL_DISTRIBUTIONS = ("normal", "lognormal-0.15")
NULL_SIZES: tuple[tuple[int, int], ...] = ((5, 5), (10, 10), (20, 20), (30, 30), (50, 50), (10, 30))
POWER_N = 30
INFO_POWER_N = (10, 50)
SMALL_SHIFT = 0.02
SMALL_SHIFT_N = (30, 50)
ERROR_N = 30
SAME_ERROR_RATES = (0.01, 0.05, 0.20)
DETECT_ERROR_RATES = (0.0, 0.10)
NOT_SIGNIFICANT = "not-significant"


# ------------------------------------------------------------------------ distributions


def _normal(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    return rng.normal(30.0, 3.0, n) * scale


def _lognormal(sigma: float) -> Sampler:
    def sample(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
        return 30.0 * np.exp(rng.normal(0.0, sigma, n)) * scale

    return sample


def _bimodal(fast_share: float, fast: float = 3.0, slow: float = 30.0) -> Sampler:
    """Cache-like: a fast mode (hits) and a slow mode (misses), each with ~10% jitter."""

    def sample(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
        centers = np.where(rng.random(n) < fast_share, fast, slow)
        return centers * np.exp(rng.normal(0.0, 0.10, n)) * scale

    return sample


def _rounded(inner: Sampler) -> Sampler:
    """A timer with 1 ms resolution: the true time (scaled) is rounded, so ties abound."""

    def sample(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
        return np.round(inner(rng, n, scale))

    return sample


def _lognormal_at(median: float, sigma: float) -> Sampler:
    def sample(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
        return median * np.exp(rng.normal(0.0, sigma, n)) * scale

    return sample


DISTRIBUTIONS: dict[str, tuple[Sampler, str]] = {
    "normal": (_normal, "normal, mean 30 ms, sd 3"),
    "lognormal-0.15": (_lognormal(0.15), "log-normal, median 30 ms, sigma 0.15"),
    "lognormal-0.25": (_lognormal(0.25), "log-normal, median 30 ms, sigma 0.25"),
    "lognormal-0.6": (_lognormal(0.6), "log-normal, median 30 ms, sigma 0.6 (heavy tail)"),
    "bimodal-80/20": (_bimodal(0.80), "80% ~3 ms / 20% ~30 ms, 10% jitter per mode"),
    "bimodal-50/50": (_bimodal(0.50), "50% ~3 ms / 50% ~30 ms, 10% jitter per mode"),
    "bimodal-95/5": (_bimodal(0.95), "95% ~3 ms / 5% ~30 ms, 10% jitter per mode"),
    "rounded-30ms": (_rounded(_normal), "normal 30 ms sd 3, rounded to 1 ms"),
    "rounded-4ms": (
        _rounded(_lognormal_at(4.0, 0.25)),
        "log-normal 4 ms sigma 0.25, rounded to 1 ms",
    ),
}


# --------------------------------------------------------------------------- the work


def _verdict_of(task: Task) -> str:
    """One ``compare`` call; an exception becomes an ``error:`` pseudo-verdict."""
    from changenote.measure.stats import compare

    probe, metric, unit, before, after = task
    try:
        return compare(probe, metric, unit, "lower", before, after).verdict
    except Exception as exc:  # a benchmark reports, it does not crash
        return f"error:{type(exc).__name__}: {exc}"[:200]


def _run_tasks(tasks: list[Task], jobs: int) -> list[str]:
    if jobs <= 1 or len(tasks) < 200:
        return [_verdict_of(t) for t in tasks]
    chunk = max(16, len(tasks) // (jobs * 32))
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    with ctx.Pool(jobs) as pool:
        return pool.map(_verdict_of, tasks, chunksize=chunk)


def _interval(k: int, n: int) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return [round(float(ci.low), 6), round(float(ci.high), 6)]


def _tally(verdicts: Iterable[str], hit: Callable[[str], bool]) -> dict[str, Any]:
    counts = Counter(verdicts)
    n = sum(counts.values())
    k = sum(c for v, c in counts.items() if hit(v))
    errors = sum(c for v, c in counts.items() if v.startswith("error:"))
    return {
        "pairs": n,
        "hits": k,
        "rate": round(k / n, 6) if n else 0.0,
        "ci95": _interval(k, n),
        "verdicts": {v: counts[v] for v in sorted(counts) if not v.startswith("error:")},
        "errors": errors,
    }


def _is_false(verdict: str) -> bool:
    return verdict != NOT_SIGNIFICANT and not verdict.startswith("error:")


def _size_label(n1: int, n2: int) -> str:
    return str(n1) if n1 == n2 else f"{n1}v{n2}"


class Plan:
    """Collects tasks with their labels so all of them can run in one pool."""

    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.labels: list[tuple[str, ...]] = []

    def add(
        self, label: tuple[str, ...], metric: str, before: np.ndarray, after: np.ndarray
    ) -> None:
        unit = "ratio" if metric == "error_rate" else "ms"
        probe = f"sim-{len(self.tasks)}"
        self.tasks.append((probe, metric, unit, before.tolist(), after.tolist()))
        self.labels.append(label)


def build_plan(pairs: int, power_pairs: int, seed: int) -> Plan:
    plan = Plan()
    names = list(DISTRIBUTIONS)

    # 1. Null: same distribution both sides, cells cycled so every cell gets its share.
    rng = np.random.default_rng([seed, 1])
    cells = [(d, size) for d in names for size in NULL_SIZES]
    for k in range(pairs):
        dist, (n1, n2) = cells[k % len(cells)]
        sample = DISTRIBUTIONS[dist][0]
        plan.add(
            ("null", dist, _size_label(n1, n2)),
            "time_ms",
            sample(rng, n1, 1.0),
            sample(rng, n2, 1.0),
        )

    # 2. Power: a true 20% shift each way at n = 30; faster only at the other n.
    rng = np.random.default_rng([seed, 2])
    for dist in names:
        sample = DISTRIBUTIONS[dist][0]
        for _ in range(power_pairs):
            plan.add(
                ("faster", dist, str(POWER_N)),
                "time_ms",
                sample(rng, POWER_N, 1.0),
                sample(rng, POWER_N, 0.8),
            )
            plan.add(
                ("slower", dist, str(POWER_N)),
                "time_ms",
                sample(rng, POWER_N, 1.0),
                sample(rng, POWER_N, 1.2),
            )
            for n in INFO_POWER_N:
                plan.add(
                    ("faster", dist, str(n)), "time_ms", sample(rng, n, 1.0), sample(rng, n, 0.8)
                )

    # 2b. A true 2% shift (faster), below the minimum effect.
    rng = np.random.default_rng([seed, 3])
    for dist in names:
        sample = DISTRIBUTIONS[dist][0]
        for _ in range(power_pairs):
            for n in SMALL_SHIFT_N:
                plan.add(
                    ("small", dist, str(n)),
                    "time_ms",
                    sample(rng, n, 1.0),
                    sample(rng, n, 1.0 - SMALL_SHIFT),
                )

    # 3. Error rates: 0/1 samples.
    rng = np.random.default_rng([seed, 4])
    for rate in SAME_ERROR_RATES:
        for _ in range(power_pairs):
            before = (rng.random(ERROR_N) < rate).astype(float)
            after = (rng.random(ERROR_N) < rate).astype(float)
            plan.add(("err-same", f"{rate:g}"), "error_rate", before, after)
    r0, r1 = DETECT_ERROR_RATES
    for _ in range(power_pairs):
        before = (rng.random(ERROR_N) < r0).astype(float)
        after = (rng.random(ERROR_N) < r1).astype(float)
        plan.add(("err-detect", f"{r0:g}->{r1:g}"), "error_rate", before, after)
    return plan


def _select(groups: dict[tuple[str, ...], list[str]], **match: str) -> list[str]:
    """The verdicts of every label whose fields (section, dist, n) match."""
    keys = ("section", "dist", "n")
    out: list[str] = []
    for label, verdicts in groups.items():
        fields = dict(zip(keys, label, strict=False))
        if all(fields.get(k) == v for k, v in match.items()):
            out.extend(verdicts)
    return out


def figures(plan: Plan, verdicts: list[str], pairs: int, power_pairs: int) -> dict[str, Any]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for label, verdict in zip(plan.labels, verdicts, strict=True):
        groups.setdefault(label, []).append(verdict)
    names = list(DISTRIBUTIONS)
    sizes = [_size_label(*s) for s in NULL_SIZES]

    def pick(**match: str) -> list[str]:
        return _select(groups, **match)

    overall = _tally(pick(section="null"), _is_false)
    false_verdicts = {
        "goal_max_rate": GOAL_FALSE_RATE,
        "pass": overall["rate"] <= GOAL_FALSE_RATE,
        "overall": overall,
        "by_distribution": {d: _tally(pick(section="null", dist=d), _is_false) for d in names},
        "by_n": {s: _tally(pick(section="null", n=s), _is_false) for s in sizes},
        "by_distribution_and_n": {
            d: {s: _tally(pick(section="null", dist=d, n=s), _is_false) for s in sizes}
            for d in names
        },
    }

    def hit(word: str) -> Callable[[str], bool]:
        return lambda v: v == word

    power_n = str(POWER_N)
    faster = {d: _tally(pick(section="faster", dist=d, n=power_n), hit("improved")) for d in names}
    slower = {d: _tally(pick(section="slower", dist=d, n=power_n), hit("regressed")) for d in names}
    power = {
        "n": POWER_N,
        "shift": 0.20,
        "pairs_per_distribution": power_pairs,
        "goal_min_rate": GOAL_POWER,
        "goal_distributions": list(POWER_GOAL_DISTRIBUTIONS),
        "pass": all(faster[d]["rate"] >= GOAL_POWER for d in POWER_GOAL_DISTRIBUTIONS),
        "faster_improved": faster,
        "slower_regressed": slower,
        "faster_improved_other_n": {
            str(n): {
                d: _tally(pick(section="faster", dist=d, n=str(n)), hit("improved")) for d in names
            }
            for n in INFO_POWER_N
        },
    }
    small = {
        "shift": SMALL_SHIFT,
        "pairs_per_distribution": power_pairs,
        "by_n": {
            str(n): {
                "overall": _tally(pick(section="small", n=str(n)), _is_false),
                "by_distribution": {
                    d: _tally(pick(section="small", dist=d, n=str(n)), _is_false) for d in names
                },
            }
            for n in SMALL_SHIFT_N
        },
    }
    error_rate = {
        "n": ERROR_N,
        "same_rate_false": {
            f"{r:g}": _tally(pick(section="err-same", dist=f"{r:g}"), _is_false)
            for r in SAME_ERROR_RATES
        },
        "detect_0_to_0.1_regressed": _tally(pick(section="err-detect"), hit("regressed")),
    }
    errors = sum(1 for v in verdicts if v.startswith("error:"))
    first_error = next((v for v in verdicts if v.startswith("error:")), None)
    return {
        "false_verdicts": false_verdicts,
        "power": power,
        "small_shift": small,
        "error_rate": error_rate,
        "compare_errors": {"count": errors, "first": first_error},
    }


# ----------------------------------------------------------------------------- output


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def _cell(t: dict[str, Any]) -> str:
    lo, hi = t["ci95"]
    return f"{t['hits']:>4}/{t['pairs']:<4} {_pct(t['rate'])}  [{_pct(lo)}, {_pct(hi)}]"


def _others(t: dict[str, Any], expected: str) -> str:
    rest = {v: c for v, c in t["verdicts"].items() if v not in (expected, NOT_SIGNIFICANT)}
    return ", ".join(f"{c} {v}" for v, c in rest.items()) or "-"


def print_report(result: dict[str, Any]) -> None:
    meta, fig = result["meta"], result["figures"]
    fv = fig["false_verdicts"]
    p = print
    p("changenote verdict honesty")
    p(
        f"seed {meta['seed']}, {meta['pairs']} null pairs, {meta['power_pairs']} pairs per "
        f"distribution for power, {meta['jobs']} job(s); minimum effect 5%, better=lower"
    )
    p(f"{meta['stats_path']} (sha256 {meta['stats_sha256'][:12]})")
    p("rates with exact (Clopper-Pearson) 95% intervals [low, high]")
    p("")
    p("Distributions:")
    for name, (_, text) in DISTRIBUTIONS.items():
        p(f"  {name:<15} {text}")
    p("")
    p("1. False verdicts: before and after from the SAME distribution")
    p("   (anything but not-significant is false)")
    mark = "PASS" if fv["pass"] else "MISS"
    p(f"   overall          {_cell(fv['overall'])}   goal <= 5%: {mark}")
    p("")
    p(f"   {'distribution':<15} {'false/pairs':>9}   rate   95% interval       kinds")
    for d, t in fv["by_distribution"].items():
        flag = "  << clearly above 5%" if t["ci95"][0] > GOAL_FALSE_RATE else ""
        p(f"   {d:<15} {_cell(t)}  {_others(t, '')}{flag}")
    p("")
    p(f"   {'n (before v after)':<15} {'false/pairs':>9}")
    for s, t in fv["by_n"].items():
        flag = "  << clearly above 5%" if t["ci95"][0] > GOAL_FALSE_RATE else ""
        p(f"   n={s:<13} {_cell(t)}{flag}")
    p("")
    sizes = list(fv["by_n"])
    p("   false verdicts per cell (count/pairs):")
    p("   " + " " * 15 + "".join(f"{'n=' + s:>9}" for s in sizes))
    for d, row in fv["by_distribution_and_n"].items():
        p(
            f"   {d:<15}"
            + "".join(f"{str(row[s]['hits']) + '/' + str(row[s]['pairs']):>9}" for s in sizes)
        )
    p("")

    pw = fig["power"]
    p(f"2. Power: a true 20% shift at n={pw['n']} ({pw['pairs_per_distribution']} pairs each)")
    p(
        f"   goal >= 90% improved applies ONLY to: {', '.join(pw['goal_distributions'])};"
        " the other rows are information"
    )
    p(
        f"   {'distribution':<15} {'20% faster -> improved':<34} "
        f"{'20% slower -> regressed':<34} goal"
    )
    for d in DISTRIBUTIONS:
        f, s = pw["faster_improved"][d], pw["slower_regressed"][d]
        if d in pw["goal_distributions"]:
            goal = "PASS" if f["rate"] >= GOAL_POWER else "MISS"
        else:
            goal = "info"
        p(f"   {d:<15} {_cell(f):<34} {_cell(s):<34} {goal}")
    wrong = [
        f"{d}: {_others(pw['faster_improved'][d], 'improved')} when faster; "
        f"{_others(pw['slower_regressed'][d], 'regressed')} when slower"
        for d in DISTRIBUTIONS
        if _others(pw["faster_improved"][d], "improved") != "-"
        or _others(pw["slower_regressed"][d], "regressed") != "-"
    ]
    if wrong:
        p("   wrong-direction verdicts: " + "; ".join(wrong))
    p(f"   power goal: {'PASS' if pw['pass'] else 'MISS'}")
    p("")
    other = pw["faster_improved_other_n"]
    ns = [*other, str(pw["n"])]
    ns.sort(key=int)
    p("   20% faster -> improved at other n (information):")
    p("   " + " " * 15 + "".join(f"{'n=' + n:>9}" for n in ns))
    for d in DISTRIBUTIONS:
        row = [other[n][d] if n in other else pw["faster_improved"][d] for n in ns]
        p(f"   {d:<15}" + "".join(f"{_pct(t['rate']):>9}" for t in row))
    p("")

    sm = fig["small_shift"]
    p(
        f"   A true {100 * sm['shift']:g}% speed-up, below the 5% minimum effect: any verdict is a "
        "false claim"
    )
    for n, block in sm["by_n"].items():
        p(f"   n={n:<3} overall    {_cell(block['overall'])}")
    p("   " + " " * 15 + "".join(f"{'n=' + n:>9}" for n in sm["by_n"]))
    for d in DISTRIBUTIONS:
        p(
            f"   {d:<15}"
            + "".join(f"{_pct(sm['by_n'][n]['by_distribution'][d]['rate']):>9}" for n in sm["by_n"])
        )
    p("")

    er = fig["error_rate"]
    p(f"3. Error rates, 0/1 samples, metric=error_rate, n={er['n']} each side (information)")
    for r, t in er["same_rate_false"].items():
        p(f"   same true rate {100 * float(r):>4g}%: false verdicts {_cell(t)}  {_others(t, '')}")
    t = er["detect_0_to_0.1_regressed"]
    p(f"   true 0% -> 10%:      regressed      {_cell(t)}")
    p("")
    ce = fig["compare_errors"]
    if ce["count"]:
        p(f"!! compare() raised {ce['count']} time(s); first: {ce['first']}")
    p(
        f"Summary: false verdicts {_pct(fv['overall']['rate']).strip()} "
        f"(goal <= 5%: {'PASS' if fv['pass'] else 'MISS'}); power at n=30 "
        + ", ".join(
            f"{d} {_pct(pw['faster_improved'][d]['rate']).strip()}"
            for d in pw["goal_distributions"]
        )
        + f" (goal >= 90%: {'PASS' if pw['pass'] else 'MISS'})"
    )
    p(f"Runtime: {meta['runtime_s']:.1f} s for {meta['comparisons']} comparisons")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--pairs",
        type=int,
        default=2000,
        help="null pairs (default 2000); power uses pairs/4 per distribution",
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--json", action="store_true", help="print the figures as JSON after the table"
    )
    parser.add_argument("--quick", action="store_true", help="~10x fewer pairs, a smoke test")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="worker processes (default: up to 2); figures do not depend on it",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    pairs = max(1, args.pairs // 10 if args.quick else args.pairs)
    power_pairs = max(1, pairs // 4)
    import changenote.measure.stats  # the module the workers will call (lazy: no scipy yet)

    stats_file = Path(changenote.measure.stats.__file__)
    plan = build_plan(pairs, power_pairs, args.seed)
    verdicts = _run_tasks(plan.tasks, args.jobs)
    fig = figures(plan, verdicts, pairs, power_pairs)
    runtime = time.perf_counter() - start
    result = {
        "meta": {
            "seed": args.seed,
            "pairs": pairs,
            "power_pairs": power_pairs,
            "quick": args.quick,
            "jobs": args.jobs,
            "comparisons": len(plan.tasks),
            "runtime_s": round(runtime, 2),
            "stats_path": str(stats_file),
            "stats_sha256": hashlib.sha256(stats_file.read_bytes()).hexdigest(),
        },
        "figures": fig,
    }
    print_report(result)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:  # argparse: --help or a usage error
        raise SystemExit(0 if exc.code in (0, None) else exc.code) from None
    except BaseException:  # a benchmark reports, it does not fail its caller
        traceback.print_exc()
    sys.exit(0)
