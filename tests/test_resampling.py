"""changenote.measure.resampling against scipy: the same p-values and intervals from the same data
and seed, and no scipy import in the comparison every ship makes."""

from __future__ import annotations

import math
import random
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.stats import binomtest, bootstrap, mannwhitneyu

from changenote.measure.resampling import bootstrap_interval, mann_whitney_p
from changenote.measure.stats import _wilson, upper_bound


def _samples(rng: random.Random, low: int, high: int) -> tuple[list[float], list[float]]:
    n1, n2 = rng.randint(low, high), rng.randint(low, high)
    if rng.random() < 0.3:  # ties
        return [rng.choice([1.0, 2.0, 3.0, 4.0]) for _ in range(n1)], [
            rng.choice([1.0, 2.0, 3.0, 5.0]) for _ in range(n2)
        ]
    return [round(rng.lognormvariate(3, 0.3), 3) for _ in range(n1)], [
        round(rng.lognormvariate(3.1, 0.3), 3) for _ in range(n2)
    ]


def test_mann_whitney_p_is_scipys_exact_and_asymptotic():
    rng = random.Random(20261128)
    exact = asymptotic = 0
    for _ in range(1500):
        before, after = _samples(rng, 1, 14)
        if len(set(before) | set(after)) == 1:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = float(mannwhitneyu(before, after, alternative="two-sided").pvalue)
        assert mann_whitney_p(before, after) == pytest.approx(ref, rel=1e-9, abs=1e-12)
        tied = len(set(before + after)) < len(before) + len(after)
        if tied or (len(before) > 8 and len(after) > 8):
            asymptotic += 1
        else:
            exact += 1
    assert exact > 200 and asymptotic > 200  # both ways were tried


def _relative_median_change(a, b, axis=-1):
    base = np.median(a, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.median(b, axis=axis) / base - 1.0) * 100.0


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_bootstrap_interval_is_scipys(method: str):
    rng = random.Random(7)
    finite = 0
    for _ in range(40):
        before, after = _samples(rng, 2, 30)
        if rng.random() < 0.15:
            before = [0.0, 0.0, 1.0, *before[:3]]  # zero medians in resamples: inf/nan
        data = (np.asarray(before), np.asarray(after))
        seed = rng.randrange(2**32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = bootstrap(data, _relative_median_change, n_resamples=9999, method=method,
                            vectorized=True, rng=np.random.default_rng(seed))  # fmt: skip
            mine = bootstrap_interval(data, _relative_median_change, n_resamples=9999,
                                      seed=seed, method=method)  # fmt: skip
        for theirs, ours in zip(ref.confidence_interval, mine, strict=True):
            if math.isfinite(theirs) or math.isfinite(ours):
                assert ours == pytest.approx(float(theirs), rel=1e-9, abs=1e-9)
                finite += 1
    assert finite > 40


def test_wilson_interval_and_error_free_bound_are_scipys():
    for k, n in [(0, 10), (3, 10), (10, 10), (1, 30), (29, 30), (5, 7), (0, 1)]:
        ref = binomtest(k, n).proportion_ci(method="wilson")
        assert _wilson(k, n) == pytest.approx((ref.low, ref.high), abs=1e-12)
    for n in (1, 5, 10, 30, 100, 1000):
        ref = binomtest(0, n).proportion_ci(confidence_level=0.9).high
        assert upper_bound(0, n) == pytest.approx(ref, rel=1e-9)


def test_the_comparison_of_every_ship_does_not_import_scipy():
    code = (
        "import sys; from changenote.measure.stats import compare\n"
        "compare('p', 'time_ms', 'ms', 'lower', [10, 11, 12, 13, 12], [8, 9, 8, 9, 8])\n"
        "compare('p', 'error_rate', 'ratio', 'lower', [0.0] * 5, [0.0] * 5)\n"
        "print(sorted(m for m in sys.modules if m.startswith('scipy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
