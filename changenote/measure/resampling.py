"""The Mann-Whitney U test and the bootstrap interval of a relative change, without scipy.

Importing ``scipy.stats`` costs about a second here (it parses its docstrings at import),
and every ``ship``, ``measure`` and ``check`` compares timings. These are the two tests
that comparison needs, computed as scipy 1.17's ``mannwhitneyu`` (two-sided, method
"auto") and ``bootstrap`` (vectorized, BCa or percentile, one batch) compute them: the
same random draws from the same seed, the same formulas. ``tests/test_resampling.py``
holds them to scipy's results. numpy is imported lazily.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any


def _ndtr(z: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _ndtri(p: float) -> float:
    """The standard normal quantile (nan outside (0, 1), as scipy's ndtri at its ends)."""
    if p <= 0.0:
        return -math.inf if p == 0.0 else math.nan
    if p >= 1.0:
        return math.inf if p == 1.0 else math.nan
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


# --------------------------------------------------------------------------- Mann-Whitney U
def mann_whitney_p(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test: exact when either sample has at most
    8 values and there are no ties, else the normal approximation with continuity and
    tie correction."""
    n1, n2 = len(before), len(after)
    values = [*before, *after]
    order = sorted(range(n1 + n2), key=values.__getitem__)
    ranks = [0.0] * (n1 + n2)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)
    if (n1 > 8 and n2 > 8) or any(t > 1 for t in ties):
        n = n1 + n2
        tie_term = sum(t**3 - t for t in ties)
        s = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
        if s == 0:
            return 1.0
        p = 2 * _ndtr(-(u - n1 * n2 / 2 - 0.5) / s)
    else:
        p = 2 * _exact_sf(round(u), n1, n2)
    return min(max(p, 0.0), 1.0)


def _exact_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under the null hypothesis, from the exact distribution of U."""
    counts = _u_counts(min(n1, n2), max(n1, n2))
    return sum(counts[u:]) / math.comb(n1 + n2, n1)


def _u_counts(m: int, n: int) -> list[int]:
    """How many orderings give U = 0, 1, ..., m*n: the coefficients of the Gaussian
    binomial [m+n choose m], built one factor (1 - q^(n+i)) / (1 - q^i) at a time."""
    poly = [1]
    for i in range(1, m + 1):
        top = n + i
        grown = poly + [0] * top  # multiply by (1 - q^top)
        for k in range(len(poly)):
            grown[k + top] -= poly[k]
        for k in range(i, len(grown)):  # divide by (1 - q^i): exact, integer
            grown[k] += grown[k - i]
        poly = grown[: len(grown) - i]
    return poly


# --------------------------------------------------------------------------- bootstrap
def bootstrap_interval(
    samples: tuple[Any, ...],
    statistic: Callable[..., Any],
    *,
    n_resamples: int,
    seed: int,
    method: str,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """The two-sided bootstrap interval of ``statistic(*samples, axis=-1)`` (vectorized),
    by ``method`` "BCa" or "percentile". Each sample is resampled on its own, in order,
    from ``numpy.random.default_rng(seed)``."""
    import numpy as np

    if any(sample.shape[-1] < 2 for sample in samples):
        raise ValueError("each sample needs two or more observations")
    rng = np.random.default_rng(seed)
    resampled = [
        sample[..., rng.integers(0, sample.shape[-1], size=(n_resamples, sample.shape[-1]))]
        for sample in samples
    ]
    theta_b = statistic(*resampled, axis=-1)
    alpha = (1 - confidence) / 2
    if method.lower() == "bca":
        low_p, high_p = _bca(samples, statistic, alpha, theta_b)
    else:
        low_p, high_p = alpha, 1 - alpha
    if math.isnan(low_p) or math.isnan(high_p) or bool(np.isnan(theta_b).any()):
        return math.nan, math.nan
    low, high = np.quantile(theta_b, [low_p, high_p])
    return float(low), float(high)


def _bca(
    samples: tuple[Any, ...], statistic: Callable[..., Any], alpha: float, theta_b: Any
) -> tuple[float, float]:
    """The percentiles (as fractions) of the BCa interval; Efron and Tibshirani 14.3."""
    import numpy as np

    theta_hat = float(statistic(*samples, axis=-1))
    below = int(np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat))
    z0 = _ndtri(below / (2 * theta_b.shape[-1]))
    nums = dens = 0.0
    for j, sample in enumerate(samples):
        n = sample.shape[-1]
        # Leave each value of sample j out in turn; the other samples stay whole.
        keep = ~np.eye(n, dtype=bool)
        jack = np.broadcast_to(sample, (n, n))[keep].reshape(n, n - 1)
        args = [np.broadcast_to(s, (n, s.shape[-1])) for s in samples]
        args[j] = jack
        theta_i = statistic(*args, axis=-1)
        u = (n - 1) * (theta_i.mean() - theta_i)
        nums += float(np.sum(u**3)) / n**3
        dens += float(np.sum(u**2)) / n**2
    # numpy's float arithmetic, as scipy's: a zero becomes inf or nan, never an error.
    with np.errstate(all="ignore"):
        a_hat = np.float64(1 / 6) * nums / np.float64(dens) ** 1.5
        z0_hat = np.float64(z0)
        z_alpha = np.float64(_ndtri(alpha))

        def bound(z: Any) -> float:
            num = z0_hat + z
            return _ndtr(float(z0_hat + num / (1 - a_hat * num)))

        return bound(z_alpha), bound(-z_alpha)
