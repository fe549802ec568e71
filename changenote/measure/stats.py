"""Summaries of samples and honest before/after comparisons.

A metric is called ``improved`` or ``regressed`` only when a significance test
agrees *and* the effect is at least the minimum effect; a test that ran and did not
agree is ``not-significant``, so noise is never sold as an improvement. Where no test
could run the verdict says so: ``no-test`` (one figure each side, too few samples),
``not-measured`` (missing on one side); ``not-comparable`` is set by the caller when
the unit's dimension or the probe's status changed. Three kinds:

- continuous (times and custom figures): Mann-Whitney U test, plus a seeded BCa
  bootstrap 95% interval of the relative change of the median that must lie wholly
  beyond the minimum effect;
- proportions (``error_rate``, ``cache_hit_ratio``, 0/1 per attempt): Boschloo's
  exact test on the counts, the difference in percentage points; for errors, a rate
  above the baseline's exact 95% upper bound also counts (a service that never
  failed in 30 tries and now fails 3 times has regressed);
- counts (``db_calls``): the Poisson E-test on the totals, the change of the mean
  per attempt with its bootstrap interval.

numpy is imported lazily; scipy (about a second to import) only for the tests of
differing error rates and of counts: the Mann-Whitney test, the bootstrap intervals
and Wilson's interval are changenote.measure.resampling's and this module's own, computed as
scipy does (tests/test_resampling.py).
"""

from __future__ import annotations

import math
import statistics
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000
#: Metrics whose samples are 0/1 per attempt and are compared as proportions.
PROPORTIONS = frozenset({"error_rate", "cache_hit_ratio"})
#: Metrics whose samples are counts per attempt.
COUNTS = frozenset({"db_calls"})
#: Fewer samples than this on a side: no test is attempted.
MIN_SAMPLES = 3


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p95: float
    mean: float
    stdev: float
    min: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (_round(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Comparison:
    probe: str
    metric: str
    unit: str
    better: str | None
    #: The figure compared: the median (continuous), the rate (proportion), the mean (count).
    before: float | None
    after: float | None
    #: Relative change of that figure, in percent (None when ``before`` is 0).
    change_pct: float | None
    #: 95% interval of the change: percent for continuous and counts, points for rates.
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str
    n_before: int
    n_after: int
    #: A plain-words reading, e.g. "0/30 → 3/30 errors; Boschloo p=0.13".
    detail: str = ""
    #: "continuous", "proportion", "count" or "window" (changenote.measure.windows).
    kind: str = "continuous"
    #: "%" (relative change) or "pts" (difference of rates in percentage points).
    ci_unit: str = "%"
    #: The minimum effect the verdict used (percent, or points for rates).
    min_effect: float = 5.0
    #: Effective sample sizes of autocorrelated windows (``kind`` "window" only).
    n_eff_before: float | None = None
    n_eff_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("n_eff_before", "n_eff_after"):
            # Absent unless set, so documents of the other kinds keep their keys.
            if data[key] is None:
                del data[key]
            else:
                data[key] = round(data[key], 2)
        for key in ("before", "after", "change_pct", "ci_low", "ci_high"):
            if data[key] is not None:
                data[key] = _round(data[key])
        if data["p_value"] is not None:
            data["p_value"] = float(f"{data['p_value']:.3g}")
        return data


def _round(value: float) -> float:
    if not math.isfinite(value):
        return value
    if 0 < abs(value) < 0.001:  # a benchmark's nanoseconds in ms: four figures, not zero
        return float(f"{value:.4g}")
    return round(value, 4) if abs(value) < 1000 else round(value, 2)


def kept(value: float) -> float:
    """A sample as stored: four decimals (as probes' milliseconds always were), and at
    least six significant figures for smaller ones (a benchmark's 23 ns is 2.3e-05 ms)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, max(4, 5 - math.floor(math.log10(abs(value)))))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of already sorted values (q in 0..100)."""
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def summarize(samples: Sequence[float]) -> Summary | None:
    """Median, p95, mean, standard deviation, min and max; None without samples."""
    if not samples:
        return None
    ordered = sorted(float(s) for s in samples)
    return Summary(
        n=len(ordered),
        median=float(statistics.median(ordered)),
        p95=percentile(ordered, 95),
        mean=float(statistics.fmean(ordered)),
        stdev=float(statistics.stdev(ordered)) if len(ordered) > 1 else 0.0,
        min=ordered[0],
        max=ordered[-1],
    )


def kind_of(metric: str, before: Sequence[float], after: Sequence[float]) -> str:
    """How a metric is compared, from its name and its samples."""
    values = (*before, *after)
    if metric in PROPORTIONS and all(v in (0.0, 1.0) for v in values):
        return "proportion"
    if metric in COUNTS and all(float(v).is_integer() and v >= 0 for v in values):
        return "count"
    return "continuous"


def _seed(*parts: str) -> int:
    """A seed derived from the data's names, so a note re-renders identically."""
    return zlib.crc32("\x1f".join(parts).encode())


def _direction(low: float, high: float, min_effect: float) -> str | None:
    """'down' or 'up' when the whole interval lies beyond the minimum effect."""
    if high < -min_effect:
        return "down"
    if low > min_effect:
        return "up"
    return None


def _judge(direction: str | None, better: str | None) -> str:
    if direction is None:
        return "not-significant"
    if better is None:
        return "changed"
    return "improved" if (direction == "down") == (better == "lower") else "regressed"


def _bootstrap(
    before: Sequence[float], after: Sequence[float], statistic: str, seed: int
) -> tuple[float, float] | None:
    """95% BCa bootstrap interval of the relative change (percent) of the median or mean.

    Falls back to the percentile interval when BCa is undefined (constant data);
    None when the before figure is zero in too many resamples to form a ratio.
    """
    import numpy as np

    from changenote.measure.resampling import bootstrap_interval

    center = np.median if statistic == "median" else np.mean

    def relative_change(a: Any, b: Any, axis: int = -1) -> Any:
        base = center(a, axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (center(b, axis=axis) / base - 1.0) * 100.0

    data = (np.asarray(before, dtype=float), np.asarray(after, dtype=float))
    if center(data[0]) == 0:
        return None
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            low, high = bootstrap_interval(
                data, relative_change, n_resamples=BOOTSTRAP_RESAMPLES, seed=seed, method=method
            )
        if math.isfinite(low) and math.isfinite(high):
            return float(low), float(high)
    return None


def _compare_continuous(
    before: Sequence[float],
    after: Sequence[float],
    better: str | None,
    min_effect: float,
    seed: int,
) -> tuple[float | None, float | None, float | None, float | None, str, str]:
    from changenote.measure.resampling import mann_whitney_p

    mb, ma = statistics.median(before), statistics.median(after)
    change = (ma / mb - 1) * 100 if mb != 0 else None
    if set(before) == set(after) and len(set(before)) == 1:
        p = 1.0  # identical constants: nothing to test
    else:
        p = mann_whitney_p(before, after)
    ci = _bootstrap(before, after, "median", seed)
    if ci is None:
        # No relative change from zero; the rank test alone still tells a real move.
        direction = None
        if p < ALPHA and ma != mb:
            direction = "up" if ma > mb else "down"
        return (
            change,
            None,
            None,
            p,
            _judge(direction, better),
            f"Mann-Whitney U p={p:.2g}; the before median is zero, so there is no relative "
            "change: judged on the test alone",
        )
    low, high = ci
    verdict = _judge(_direction(low, high, min_effect) if p < ALPHA else None, better)
    detail = f"Mann-Whitney U p={p:.2g}; 95% CI of the median's change {low:+.1f}% to {high:+.1f}%"
    return change, low, high, p, verdict, detail


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """Exact (Clopper-Pearson) one-sided upper confidence bound of a rate k/n."""
    if k == 0:  # the beta quantile in closed form: no scipy import for the common case
        return 1 - (1 - confidence) ** (1 / n)
    from scipy.stats import binomtest

    return float(binomtest(k, n).proportion_ci(confidence_level=2 * confidence - 1).high)


def _wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's score interval (95%) of a rate k/n, as scipy's binomtest gives it."""
    z = NormalDist().inv_cdf(0.975)
    p = k / n
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    return (0.0 if k == 0 else center - delta), (1.0 if k == n else center + delta)


def _newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval (95%) of r2 - r1, in percentage points."""
    r1, r2 = k1 / n1, k2 / n2
    low1, high1 = _wilson(k1, n1)
    low2, high2 = _wilson(k2, n2)
    diff = r2 - r1
    low = diff - math.sqrt((r2 - low2) ** 2 + (high1 - r1) ** 2)
    high = diff + math.sqrt((high2 - r2) ** 2 + (r1 - low1) ** 2)
    return low * 100, high * 100


#: Above this many attempts on both sides together, rates are tested with Fisher's exact
#: test (conservative, fast at any size): Boschloo's takes seconds from a few thousand.
EXACT_UP_TO = 2000


def _compare_proportion(
    metric: str,
    before: Sequence[float],
    after: Sequence[float],
    better: str | None,
    min_effect: float,
) -> tuple[float | None, float | None, float | None, float | None, str, str]:
    n1, n2 = len(before), len(after)
    k1, k2 = round(sum(before)), round(sum(after))
    return _compare_counts_of(metric, k1, n1, k2, n2, better, min_effect)


def _compare_counts_of(
    metric: str, k1: int, n1: int, k2: int, n2: int, better: str | None, min_effect: float
) -> tuple[float | None, float | None, float | None, float | None, str, str]:
    """Two rates k/n compared: Boschloo's exact test, Fisher's for large counts."""
    r1, r2 = k1 / n1, k2 / n2
    diff = (r2 - r1) * 100
    change = (r2 / r1 - 1) * 100 if r1 > 0 else None
    noun = "errors" if metric == "error_rate" else "hits"
    detail = f"{k1}/{n1} → {k2}/{n2} {noun}"
    if k1 == k2 == 0 or (k1 == n1 and k2 == n2):
        # Nothing to test, but the interval still says how much could hide in n tries.
        return change, *_newcombe(k1, n1, k2, n2), 1.0, "not-significant", detail
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    if n1 + n2 > EXACT_UP_TO:
        from scipy.stats import fisher_exact

        p = float(fisher_exact(table).pvalue)
        detail += f"; Fisher's exact p={p:.2g} ({n1 + n2:,} attempts)"
    else:
        from scipy.stats import boschloo_exact  # only when the rates differ: slow to load

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(boschloo_exact(table).pvalue)
        detail += f"; Boschloo p={p:.2g}"
    if not math.isfinite(p):
        p = 1.0
    low, high = _newcombe(k1, n1, k2, n2)
    significant = p < ALPHA
    if metric == "error_rate" and not significant and k1 == 0 and r2 > upper_bound(0, n1):
        # Errors where there were none: with 0/n the true rate is below the exact 95%
        # upper bound (about 3/n), so a rate above it is flagged as a regression. Only
        # this way round: an improvement is never claimed on this weaker evidence.
        significant = True
        detail += f"; above the error-free baseline's 95% bound ({upper_bound(0, n1):.1%})"
    direction = None
    if significant and abs(diff) >= min_effect:
        direction = "down" if diff < 0 else "up"
    elif significant:  # a real difference, smaller than the change asks to call one
        detail += (
            f"; {abs(diff):.1f} points is below the {min_effect:g}-point minimum effect "
            "([metrics.error_rate] min_effect sets it)"
            if metric == "error_rate"
            else f"; {abs(diff):.1f} points is below the {min_effect:g}-point minimum effect"
        )
    return change, low, high, p, _judge(direction, better), detail


def _compare_count(
    before: Sequence[float],
    after: Sequence[float],
    better: str | None,
    min_effect: float,
    seed: int,
) -> tuple[float | None, float | None, float | None, float | None, str, str]:
    from scipy.stats import poisson_means_test

    n1, n2 = len(before), len(after)
    k1, k2 = round(sum(before)), round(sum(after))
    m1, m2 = k1 / n1, k2 / n2
    change = (m2 / m1 - 1) * 100 if m1 > 0 else None
    detail = f"{m1:.3g} → {m2:.3g} per attempt ({k1} → {k2} in {n1}/{n2} attempts)"
    if k1 == 0 and k2 == 0:
        return change, 0.0, 0.0, 1.0, "not-significant", detail
    p = float(poisson_means_test(k1, n1, k2, n2).pvalue)
    detail += f"; Poisson E-test p={p:.2g}"
    ci = _bootstrap(before, after, "mean", seed)
    if ci is None:
        return change, None, None, p, "not-significant", detail + "; none before"
    low, high = ci
    verdict = _judge(_direction(low, high, min_effect) if p < ALPHA else None, better)
    return change, low, high, p, verdict, detail


def compare(
    probe: str,
    metric: str,
    unit: str,
    better: str | None,
    before: Sequence[float],
    after: Sequence[float],
    min_effect: float = 5.0,
) -> Comparison:
    """Compare two sample sets of one metric and give an honest verdict."""
    kind = kind_of(metric, before, after)
    center = {"continuous": "median", "proportion": "mean", "count": "mean"}[kind]
    sb, sa = summarize(before), summarize(after)
    common: dict[str, Any] = {
        "probe": probe,
        "metric": metric,
        "unit": unit,
        "better": better,
        "before": getattr(sb, center) if sb else None,
        "after": getattr(sa, center) if sa else None,
        "n_before": len(before),
        "n_after": len(after),
        "kind": kind,
        "ci_unit": "pts" if kind == "proportion" else "%",
        "min_effect": min_effect,
    }

    def result(
        change: float | None, low: Any, high: Any, p: Any, verdict: str, detail: str
    ) -> Comparison:
        return Comparison(
            **common,
            change_pct=change,
            ci_low=low,
            ci_high=high,
            p_value=p,
            verdict=verdict,
            detail=detail,
        )

    if sb is None or sa is None:
        side = "before" if sb is None else "after"
        return result(None, None, None, None, "not-measured", f"not measured {side}")
    if min(len(before), len(after)) < MIN_SAMPLES:
        change = (sa.median / sb.median - 1) * 100 if sb.median != 0 else None
        if len(before) == 1 and len(after) == 1:
            why = "one figure each side: no test possible"
        else:
            why = f"too few samples for a test (fewer than {MIN_SAMPLES} on a side)"
        return result(change, None, None, None, "no-test", why)
    seed = _seed(probe, metric)
    if kind == "proportion":
        return result(*_compare_proportion(metric, before, after, better, min_effect))
    if kind == "count":
        return result(*_compare_count(before, after, better, min_effect, seed))
    return result(*_compare_continuous(before, after, better, min_effect, seed))


def summary_only(row: dict[str, Any]) -> bool:
    """A metric row that holds a results file's summary and no samples."""
    return not row.get("samples") and (row.get("mean") is not None or row.get("median") is not None)


def _side(row: dict[str, Any]) -> tuple[int | None, float | None, float | None, float | None]:
    """n, mean, standard deviation and median of a row: from its samples when it has any."""
    samples = row.get("samples") or []
    if samples:
        spread = statistics.stdev(samples) if len(samples) > 1 else None
        return len(samples), statistics.fmean(samples), spread, statistics.median(samples)
    n = row.get("n") or None
    return n, row.get("mean"), row.get("stdev"), row.get("median")


def compare_summaries(
    probe: str,
    metric: str,
    unit: str,
    better: str | None,
    before: dict[str, Any],
    after: dict[str, Any],
    min_effect: float = 5.0,
) -> Comparison:
    """Compare two metric rows when one side has only a summary (n, mean, spread).

    With n and the standard deviation on both sides: Welch's t-test on the means, and a
    95% interval of the mean's relative change (the delta method on the log of the
    ratio, Welch-Satterthwaite degrees of freedom). Without them: ``no-test``, the two
    figures kept; two means alone never make a verdict.
    """
    n1, m1, s1, med1 = _side(before)
    n2, m2, s2, med2 = _side(after)
    if metric in PROPORTIONS and n1 and n2 and m1 is not None and m2 is not None:
        # a rate with its count (locust's failures of its requests): the counts are known
        k1, k2 = round(m1 * n1), round(m2 * n2)
        change, low, high, p, verdict, detail = _compare_counts_of(
            metric, k1, n1, k2, n2, better, min_effect
        )
        return Comparison(
            probe=probe, metric=metric, unit=unit, better=better, before=k1 / n1,
            after=k2 / n2, change_pct=change, ci_low=low, ci_high=high, p_value=p,
            verdict=verdict, n_before=n1, n_after=n2, detail=f"summary counts: {detail}",
            kind="proportion", ci_unit="pts", min_effect=min_effect,
        )  # fmt: skip
    center_before, center_after = (m1, m2) if m1 is not None and m2 is not None else (med1, med2)
    change = None
    if center_before and center_after is not None:
        change = (center_after / center_before - 1) * 100

    def result(low: Any, high: Any, p: Any, verdict: str, detail: str) -> Comparison:
        return Comparison(
            probe=probe, metric=metric, unit=unit, better=better,
            before=center_before, after=center_after, change_pct=change,
            ci_low=low, ci_high=high, p_value=p, verdict=verdict,
            n_before=n1 or 0, n_after=n2 or 0, detail=detail, kind="summary",
            min_effect=min_effect,
        )  # fmt: skip

    what = "the means" if m1 is not None and m2 is not None else "the medians"
    why = None
    if center_before is None or center_after is None:
        why = "a summary without a mean or median on one side: nothing to compare"
    elif m1 is None or m2 is None:
        why = f"summary only, no mean on one side: {what} alone cannot be tested"
    elif n1 is None or n2 is None:
        why = f"summary only, and the file gives no count: {what} alone cannot be tested"
    elif s1 is None or s2 is None:
        why = f"summary only, and the file gives no spread: {what} alone cannot be tested"
    elif min(n1, n2) < MIN_SAMPLES:
        why = f"too few samples for a test (fewer than {MIN_SAMPLES} on a side)"
    elif s1 == 0 and s2 == 0:
        why = "summary only, and neither side varies: no test of means without spread"
    if why is not None:
        return result(None, None, None, "no-test", why)
    assert m1 is not None and m2 is not None and s1 is not None and s2 is not None
    assert n1 is not None and n2 is not None
    from changenote.measure.student_t import t_quantile, t_two_sided_p

    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    p = t_two_sided_p((m2 - m1) / math.sqrt(v1 + v2), df)
    sides = "both sides" if not (before.get("samples") or after.get("samples")) else "a side"
    head = (
        f"summary only: Welch's t-test on the means (n {n1} and {n2}; {sides} without "
        f"samples from the file's mean and standard deviation) p={p:.2g}"
    )
    if m1 <= 0 or m2 <= 0:
        direction = ("up" if m2 > m1 else "down") if p < ALPHA and m2 != m1 else None
        return result(
            None, None, p, _judge(direction, better),
            head + "; a mean at or below zero has no relative change: judged on the test alone",
        )  # fmt: skip
    r1, r2 = v1 / (m1 * m1), v2 / (m2 * m2)
    df_log = (r1 + r2) ** 2 / (r1 * r1 / (n1 - 1) + r2 * r2 / (n2 - 1))
    half = t_quantile(0.975, df_log) * math.sqrt(r1 + r2)
    ratio = math.log(m2 / m1)
    low, high = (math.exp(ratio - half) - 1) * 100, (math.exp(ratio + half) - 1) * 100
    verdict = _judge(_direction(low, high, min_effect) if p < ALPHA else None, better)
    return result(
        low, high, p, verdict, head + f"; 95% CI of the mean's change {low:+.1f}% to {high:+.1f}%"
    )
