"""Summaries of samples and honest before/after comparisons.

A change is called ``improved`` or ``regressed`` only when a significance test
agrees *and* the whole 95% confidence interval of the relative change lies beyond
the minimum effect. Everything else is ``not-significant``: noise is never sold as
an improvement. scipy and numpy are imported lazily (they cost ~0.5 s).
"""

from __future__ import annotations

import math
import statistics
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000
#: Metrics whose samples are 0/1 per attempt and are compared as proportions.
PROPORTIONS = frozenset({"error_rate", "cache_hit_ratio"})


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
    before: float | None
    after: float | None
    change_pct: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str
    n_before: int
    n_after: int
    #: A plain-words reading, e.g. "0/30 → 3/30 errors" or "one figure each side: no test".
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("before", "after", "change_pct", "ci_low", "ci_high"):
            if data[key] is not None:
                data[key] = _round(data[key])
        if data["p_value"] is not None:
            data["p_value"] = float(f"{data['p_value']:.3g}")
        return data


def _round(value: float) -> float:
    if not math.isfinite(value):
        return value
    return round(value, 4) if abs(value) < 1000 else round(value, 2)


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


def _seed(*parts: str) -> int:
    """A seed derived from the data's names, so a note re-renders identically."""
    return zlib.crc32("\x1f".join(parts).encode())


def _verdict(low: float, high: float, p: float, better: str | None, min_effect: float) -> str:
    if p >= ALPHA:
        return "not-significant"
    if high < -min_effect:
        direction = "down"
    elif low > min_effect:
        direction = "up"
    else:
        return "not-significant"
    if better is None:
        return "changed"
    good = (direction == "down") == (better == "lower")
    return "improved" if good else "regressed"


def _compare_proportion(
    before: Sequence[float],
    after: Sequence[float],
    better: str | None,
    min_effect: float,
    noun: str,
) -> tuple[float | None, float | None, float | None, float, str, str]:
    from scipy.stats import fisher_exact

    n1, n2 = len(before), len(after)
    k1, k2 = round(sum(before)), round(sum(after))
    _, p = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])
    p1, p2 = k1 / n1, k2 / n2
    diff_points = (p2 - p1) * 100
    change_pct = (p2 / p1 - 1) * 100 if p1 > 0 else None
    detail = f"{k1}/{n1} → {k2}/{n2} {noun}"
    # For proportions the minimum effect is in percentage points of the rate.
    verdict = _verdict(diff_points, diff_points, float(p), better, min_effect)
    return change_pct, None, None, float(p), verdict, detail


def _bootstrap_ci(
    before: Sequence[float], after: Sequence[float], seed: int
) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of the relative change of the median, in percent."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a = np.asarray(before, dtype=float)
    b = np.asarray(after, dtype=float)
    med_a = np.median(a[rng.integers(0, len(a), size=(BOOTSTRAP_RESAMPLES, len(a)))], axis=1)
    med_b = np.median(b[rng.integers(0, len(b), size=(BOOTSTRAP_RESAMPLES, len(b)))], axis=1)
    usable = med_a != 0
    # A zero median makes the ratio undefined; tolerate it only in the far tail.
    if usable.mean() < 0.975:
        return None
    rel = (med_b[usable] / med_a[usable] - 1.0) * 100.0
    low, high = np.percentile(rel, [2.5, 97.5])
    return float(low), float(high)


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
    sb, sa = summarize(before), summarize(after)
    base: dict[str, Any] = {
        "probe": probe,
        "metric": metric,
        "unit": unit,
        "better": better,
        "before": sb.median if sb else None,
        "after": sa.median if sa else None,
        "n_before": len(before),
        "n_after": len(after),
    }
    if sb is None or sa is None:
        side = "before" if sb is None else "after"
        return Comparison(
            **base,
            change_pct=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            verdict="not-significant",
            detail=f"no samples {side}",
        )
    if metric in PROPORTIONS and all(v in (0.0, 1.0) for v in (*before, *after)):
        change_pct, low, high, p, verdict, detail = _compare_proportion(
            before, after, better, min_effect, "errors" if metric == "error_rate" else "hits"
        )
        base["before"] = sum(before) / len(before)
        base["after"] = sum(after) / len(after)
        return Comparison(
            **base,
            change_pct=change_pct,
            ci_low=low,
            ci_high=high,
            p_value=p,
            verdict=verdict,
            detail=detail,
        )
    change_pct = (sa.median / sb.median - 1) * 100 if sb.median != 0 else None
    if len(before) < 3 or len(after) < 3:
        return Comparison(
            **base,
            change_pct=change_pct,
            ci_low=None,
            ci_high=None,
            p_value=None,
            verdict="not-significant",
            detail="too few samples for a test (fewer than 3 on a side)",
        )
    from scipy.stats import mannwhitneyu

    if len(set(before)) == 1 and set(before) == set(after):
        p = 1.0
    else:
        p = float(mannwhitneyu(before, after, alternative="two-sided").pvalue)
    ci = _bootstrap_ci(before, after, _seed(probe, metric))
    if ci is None or change_pct is None:
        return Comparison(
            **base,
            change_pct=change_pct,
            ci_low=None,
            ci_high=None,
            p_value=p,
            verdict="not-significant",
            detail="before median is zero: relative change undefined",
        )
    low, high = ci
    verdict = _verdict(low, high, p, better, min_effect)
    return Comparison(
        **base,
        change_pct=change_pct,
        ci_low=low,
        ci_high=high,
        p_value=p,
        verdict=verdict,
        detail=f"Mann-Whitney U p={p:.2g}; 95% CI {low:+.1f}% to {high:+.1f}%",
    )
