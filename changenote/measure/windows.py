"""Comparing two windows of time-ordered points (e.g. Prometheus range-query results).

Points a range query returns at a 15 s step are not independent samples: a p95 latency
that is high now is high 15 s later too. A rank test on them counts 120 points as 120
pieces of evidence when they hold perhaps a dozen, and calls noise a change far too
often (``bench/prom_windows.py`` measures how often). This module compares the *means*
of the two windows with a Welch t test whose sample sizes are the windows' **effective**
sizes:

1. each window's lag-1 autocorrelation r is estimated and bias-corrected (a short
   series underestimates it: E[r] is about rho - (1 + 4 rho) / n), then taken as an
   AR(1) process's rho, clipped to [0, 0.98] (negative r is treated as none, so the
   test can only be more cautious than the points); where the square root of the
   (corrected) lag-2 r is larger, that is used instead, so a memory that fades slower
   than AR(1)'s is not mistaken for a short one;
2. the variance of the window's mean is sigma^2 / n times the AR(1) inflation factor
   f = 1 + 2 sum_k (1 - k/n) rho^k, and sigma^2 is estimated without the downward bias
   autocorrelation gives the plain sample variance (sum of squares / (n - f));
   the effective n is n / f;
3. Welch's t on the difference of means, with Welch-Satterthwaite degrees of freedom
   from the effective sizes (n_eff - 1 a side);
4. the 95% interval of the relative change of the mean by the delta method on the log
   of the ratio of means, with the same t quantile.

The verdict follows ``changenote.measure.stats``: improved or regressed only when the
test agrees (p < 0.05) *and* the whole interval lies beyond the minimum effect.

NaN and infinite points (Prometheus returns NaN for a p95 of an interval without
requests) are dropped before anything is computed, and the detail says how many; the
remaining points are taken as consecutive. No numpy, no scipy: the t distribution is
computed here (tests/test_windows_stats.py holds it to scipy's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from changenote.measure.stats import ALPHA, MIN_SAMPLES, Comparison, _direction, _judge
from changenote.measure.student_t import t_quantile, t_two_sided_p

#: The largest lag-1 autocorrelation used (beyond it a window holds almost nothing).
MAX_RHO = 0.98
#: The lag-2 guard applies from this corrected lag-1 r up.
GUARD_FROM = 0.5
#: Fewer effective points than this on a side: no test.
MIN_EFFECTIVE = 3.0


# ------------------------------------------------------------------------ one window
@dataclass(frozen=True)
class Window:
    """What a window of points gives the test."""

    n: int
    mean: float
    #: The autocorrelation used: ``memory()``'s, in [0, MAX_RHO].
    rho: float
    #: The variance of the mean, allowing for the autocorrelation.
    var_mean: float
    n_eff: float


def inflation(rho: float, n: int) -> float:
    """The AR(1) variance inflation of a mean of n points: 1 + 2 sum (1 - k/n) rho^k."""
    if rho <= 0.0:
        return 1.0
    # Closed form of the sum; equal to the loop for every n.
    rn = rho**n
    total = rho / (1 - rho) - rho * (1 - rn) / (n * (1 - rho) ** 2)
    return 1.0 + 2.0 * total


def autocorrelation(points: Sequence[float], lag: int = 1) -> float:
    """The plain autocorrelation at ``lag`` (0 for a constant window or too few points)."""
    n = len(points)
    if n <= lag:
        return 0.0
    mean = math.fsum(points) / n
    dev = [p - mean for p in points]
    denom = math.fsum(d * d for d in dev)
    if denom == 0.0:
        return 0.0
    return math.fsum(dev[i] * dev[i + lag] for i in range(n - lag)) / denom


def lag1(points: Sequence[float]) -> float:
    """The plain lag-1 autocorrelation (0 for a constant window)."""
    return autocorrelation(points, 1)


def memory(points: Sequence[float]) -> float:
    """The rho used for a window: the bias-corrected lag-1 r, or the square root of the
    bias-corrected lag-2 r where that is larger (once the lag-1 r is at least
    GUARD_FROM), clipped to [0, MAX_RHO].

    For an AR(1) series both estimate rho. A series whose memory fades slower than
    AR(1)'s (lag-2 r above the square of lag-1 r) would otherwise be taken for a shorter
    memory and its effective n overstated: the larger of the two guards against that at
    almost no cost in power (bench/prom_windows.py measures both).
    """
    n = len(points)
    r1 = lag1(points)
    # Kendall's bias correction, E[r1] = rho - (1 + 4 rho) / n, solved for rho.
    c1 = (n * r1 + 1.0) / (n - 4.0) if n > 8 else r1 + (1.0 + 4.0 * r1) / n
    rho = max(c1, 0.0)
    # The same for lag 2: E[r2] is about rho^2 - (1 + 2 rho)^2 / n (simulated, not exact;
    # it under-corrects a little above rho 0.8, which only leaves the guard milder).
    # Only where the lag-1 r is clearly there: near 0 the square root of a small, noisy
    # lag-2 r would invent memory that independent points do not have.
    c2 = autocorrelation(points, 2) + (1.0 + 2.0 * rho) ** 2 / n
    if rho >= GUARD_FROM and c2 > 0:
        rho = max(rho, math.sqrt(c2))
    return min(rho, MAX_RHO)


def window(points: Sequence[float]) -> Window:
    """Mean, autocorrelation, variance of the mean and effective size of a window."""
    n = len(points)
    mean = math.fsum(points) / n
    rho = memory(points)
    f = min(inflation(rho, n), float(n))
    ss = math.fsum((p - mean) ** 2 for p in points)
    sigma2 = ss / (n - f) if n - f > 1e-9 else ss / max(n - 1, 1) * f
    return Window(n=n, mean=mean, rho=rho, var_mean=sigma2 * f / n, n_eff=n / f)


def _finite(points: Sequence[float]) -> tuple[list[float], int]:
    kept = [float(p) for p in points if math.isfinite(float(p))]
    return kept, len(points) - len(kept)


def _count(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


# ------------------------------------------------------------------------ the comparison
def compare_windows(
    probe: str,
    metric: str,
    unit: str,
    better: str | None,
    before: Sequence[float],
    after: Sequence[float],
    min_effect: float = 5.0,
) -> Comparison:
    """Compare the means of two windows of time-ordered points, allowing for autocorrelation.

    NaN and infinite points are dropped (and counted in ``detail``); the rest are the
    window. The verdict is ``no-test`` with fewer than 3 points or 3 effective points a
    side, a constant window or a mean that is not positive; ``not-measured`` with no
    points on a side.
    """
    b, dropped_b = _finite(before)
    a, dropped_a = _finite(after)
    notes = []
    for side, dropped, total in (
        ("before", dropped_b, len(before)),
        ("after", dropped_a, len(after)),
    ):
        if dropped:
            notes.append(
                f"{dropped} of {total} points {side} were NaN or infinite and were dropped"
            )
    prefix = "; ".join(notes) + "; " if notes else ""
    mb = math.fsum(b) / len(b) if b else None
    ma = math.fsum(a) / len(a) if a else None
    change = (ma / mb - 1) * 100 if mb and ma is not None else None

    def result(verdict: str, detail: str, **fields: float | None) -> Comparison:
        return Comparison(
            probe=probe,
            metric=metric,
            unit=unit,
            better=better,
            before=mb,
            after=ma,
            change_pct=change,
            ci_low=fields.get("low"),
            ci_high=fields.get("high"),
            p_value=fields.get("p"),
            verdict=verdict,
            n_before=len(b),
            n_after=len(a),
            detail=prefix + detail,
            kind="window",
            ci_unit="%",
            min_effect=min_effect,
            n_eff_before=fields.get("n_eff_before"),
            n_eff_after=fields.get("n_eff_after"),
        )

    if not b or not a:
        return result("not-measured", f"no points {'before' if not b else 'after'}")
    if min(len(b), len(a)) < MIN_SAMPLES:
        return result("no-test", f"too few points for a test (fewer than {MIN_SAMPLES} on a side)")
    assert mb is not None and ma is not None
    const_b, const_a = min(b) == max(b), min(a) == max(a)
    if const_b and const_a and mb == ma:
        return result(
            "not-significant", f"both windows are constant ({mb:g}): nothing changed", p=1.0
        )
    if const_b or const_a:
        side = "before" if const_b else "after"
        value = b[0] if const_b else a[0]
        return result(
            "no-test",
            f"the {side} window is constant ({value:g} throughout): no noise to test "
            "against; a flat series is often a stale or missing scrape",
        )
    if mb <= 0 or ma <= 0:
        side, mean = ("before", mb) if mb <= 0 else ("after", ma)
        what = "zero" if mean == 0 else "negative"
        return result("no-test", f"the {side} mean is {what}: no relative change to judge")
    wb, wa = window(b), window(a)
    n_eff = {"n_eff_before": wb.n_eff, "n_eff_after": wa.n_eff}
    if wb.rho < 0.1 and wa.rho < 0.1:
        head = f"points show little autocorrelation (lag-1 r {wb.rho:.2f} / {wa.rho:.2f})"
    else:
        head = f"points are autocorrelated (lag-1 r {wb.rho:.2f} / {wa.rho:.2f})"
    head += f": effective n {_count(wb.n_eff)} / {_count(wa.n_eff)} of {wb.n} / {wa.n}"
    if min(wb.n_eff, wa.n_eff) < MIN_EFFECTIVE:
        return result(
            "no-test",
            f"{head}; fewer than {MIN_EFFECTIVE:.0f} effective points on a side: no test",
            **n_eff,
        )
    se2 = wb.var_mean + wa.var_mean
    df = se2**2 / (wb.var_mean**2 / (wb.n_eff - 1) + wa.var_mean**2 / (wa.n_eff - 1))
    t = (wa.mean - wb.mean) / math.sqrt(se2)
    p = t_two_sided_p(t, df)
    # Delta method on log(after mean / before mean).
    se_log = math.sqrt(wb.var_mean / wb.mean**2 + wa.var_mean / wa.mean**2)
    half = t_quantile(1 - ALPHA / 2, df) * se_log
    log_ratio = math.log(wa.mean / wb.mean)
    low = math.expm1(log_ratio - half) * 100
    high = math.expm1(log_ratio + half) * 100
    verdict = _judge(_direction(low, high, min_effect) if p < ALPHA else None, better)
    detail = f"{head}; Welch t p={p:.2g}; 95% CI of the mean's change {low:+.1f}% to {high:+.1f}%"
    return result(verdict, detail, low=low, high=high, p=p, **n_eff)
