"""Summaries and before/after verdicts: only a real, large-enough change gets a verdict."""

from __future__ import annotations

import random
import statistics

import pytest

from changenote.measure.stats import compare, percentile, summarize


def _noisy(center: float, n: int, seed: int, spread: float = 0.01) -> list[float]:
    rng = random.Random(seed)
    return [center * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


# ---------------------------------------------------------------------------- summarize


def test_summarize_known_data():
    s = summarize([10, 1, 9, 2, 8, 3, 7, 4, 6, 5])
    assert s is not None
    assert s.n == 10
    assert s.median == 5.5
    assert s.p95 == pytest.approx(9.55)  # linear interpolation: 9 + 0.55 * (10 - 9)
    assert s.mean == 5.5
    assert s.stdev == pytest.approx(statistics.stdev(range(1, 11)))  # sample stdev, ~3.03
    assert (s.min, s.max) == (1.0, 10.0)


def test_summarize_odd_count_and_single_value():
    s = summarize([3.0, 100.0, 1.0])
    assert s is not None
    assert (s.median, s.min, s.max) == (3.0, 1.0, 100.0)
    one = summarize([7.5])
    assert one is not None
    assert (one.n, one.median, one.p95, one.mean, one.stdev) == (1, 7.5, 7.5, 7.5, 0.0)


def test_summarize_empty_is_none():
    assert summarize([]) is None


def test_percentile_ends():
    data = [1.0, 2.0, 3.0, 4.0]
    assert percentile(data, 0) == 1.0
    assert percentile(data, 100) == 4.0
    assert percentile(data, 50) == 2.5


def test_summary_to_dict_rounds():
    s = summarize([1 / 3, 2 / 3, 1.0])
    assert s is not None
    assert s.to_dict()["mean"] == 0.6667
    assert s.to_dict()["n"] == 3


# ------------------------------------------------------------------------------ compare


def test_clearly_faster_is_improved_when_lower_is_better():
    before, after = _noisy(30, 10, 1), _noisy(3, 10, 2)
    c = compare("GET /x", "time_ms", "ms", "lower", before, after)
    assert c.verdict == "improved"
    assert c.p_value is not None and c.p_value < 0.05
    assert c.change_pct is not None and -92 < c.change_pct < -88
    assert c.ci_low is not None and c.ci_high is not None
    assert c.ci_low <= c.change_pct <= c.ci_high
    assert c.ci_high < -5
    assert (c.n_before, c.n_after) == (10, 10)
    assert c.before == pytest.approx(statistics.median(before))
    assert c.after == pytest.approx(statistics.median(after))


def test_clearly_slower_is_regressed():
    c = compare("GET /x", "time_ms", "ms", "lower", _noisy(3, 10, 1), _noisy(30, 10, 2))
    assert c.verdict == "regressed"
    assert c.change_pct is not None and c.change_pct > 800


def test_better_higher_flips_the_verdict():
    c = compare("$ bench", "rps", "req/s", "higher", _noisy(30, 10, 1), _noisy(3, 10, 2))
    assert c.verdict == "regressed"
    c = compare("$ bench", "rps", "req/s", "higher", _noisy(3, 10, 1), _noisy(30, 10, 2))
    assert c.verdict == "improved"


def test_no_direction_is_changed():
    c = compare("$ bench", "rows", "", None, _noisy(3, 10, 1), _noisy(30, 10, 2))
    assert c.verdict == "changed"


def test_same_distribution_is_not_significant():
    rng = random.Random(20240601)
    before = [rng.gauss(20, 3) for _ in range(20)]
    after = [rng.gauss(20, 3) for _ in range(20)]
    c = compare("GET /x", "time_ms", "ms", "lower", before, after)
    assert c.verdict == "not-significant"


def test_small_shift_below_minimum_effect_is_not_significant():
    before = _noisy(100, 10, 1, spread=0.001)
    after = _noisy(102, 10, 2, spread=0.001)
    c = compare("GET /x", "time_ms", "ms", "lower", before, after)
    # The test is sure it moved, but 2% is below the 5% minimum effect.
    assert c.p_value is not None and c.p_value < 0.05
    assert c.change_pct == pytest.approx(2, abs=0.3)
    assert c.verdict == "not-significant"
    # ... and the same data with a 1% minimum effect is a regression.
    assert compare("GET /x", "time_ms", "ms", "lower", before, after, 1.0).verdict == "regressed"


def test_small_improvement_below_minimum_effect_is_not_significant():
    before = _noisy(100, 10, 1, spread=0.001)
    after = _noisy(98, 10, 2, spread=0.001)
    c = compare("GET /x", "time_ms", "ms", "lower", before, after)
    assert c.p_value is not None and c.p_value < 0.05
    assert c.verdict == "not-significant"
    assert compare("GET /x", "time_ms", "ms", "lower", before, after, 1.0).verdict == "improved"


@pytest.mark.parametrize("center", [105.5, 94.5])
def test_interval_straddling_minimum_effect_is_not_significant(center: float):
    # The median moves by more than 5%, but the 95% interval reaches inside ±5%.
    before, after = _noisy(100, 20, 1, spread=0.04), _noisy(center, 20, 2, spread=0.04)
    c = compare("GET /x", "time_ms", "ms", "lower", before, after)
    assert c.p_value is not None and c.p_value < 0.05
    assert c.ci_low is not None and c.ci_high is not None
    assert c.ci_low < (5 if center > 100 else -5) < c.ci_high
    assert c.verdict == "not-significant"


def test_unequal_sample_counts():
    c = compare("GET /x", "time_ms", "ms", "lower", _noisy(30, 8, 1), _noisy(3, 15, 2))
    assert (c.n_before, c.n_after) == (8, 15)
    assert c.verdict == "improved"


def test_identical_constant_samples():
    c = compare("GET /x", "time_ms", "ms", "lower", [5.0] * 10, [5.0] * 12)
    assert c.verdict == "not-significant"
    assert c.p_value == 1.0
    assert c.change_pct == 0.0


def test_errors_appearing_from_none_is_regressed_in_counts():
    c = compare("GET /x", "error_rate", "ratio", "lower", [0.0] * 30, [1.0] * 3 + [0.0] * 27)
    assert c.verdict == "regressed"
    assert c.detail.startswith("0/30 → 3/30 errors; Boschloo p=")
    assert "95% bound (9.5%)" in c.detail
    assert (c.before, c.after) == (0.0, 0.1)
    assert c.change_pct is None  # relative change from 0 is undefined
    assert c.p_value is not None and c.p_value > 0.05  # the exact test alone would not say it
    assert (c.kind, c.ci_unit) == ("proportion", "pts")


def test_one_or_two_new_errors_in_thirty_are_not_claimed():
    for k in (1, 2):
        c = compare(
            "GET /x", "error_rate", "ratio", "lower", [0.0] * 30, [1.0] * k + [0.0] * (30 - k)
        )
        assert c.verdict == "not-significant", k


def test_no_errors_either_side_is_not_significant():
    c = compare("GET /x", "error_rate", "ratio", "lower", [0.0] * 10, [0.0] * 10)
    assert c.verdict == "not-significant"
    assert c.detail == "0/10 → 0/10 errors"
    assert c.p_value == 1.0


def test_fewer_errors_is_improved_only_on_the_exact_test():
    # 3/30 -> 0/30 mirrors the regression case, but an improvement needs the real test.
    c = compare("GET /x", "error_rate", "ratio", "lower", [1.0] * 3 + [0.0] * 27, [0.0] * 30)
    assert c.verdict == "not-significant"
    c = compare("GET /x", "error_rate", "ratio", "lower", [1.0] * 12 + [0.0] * 18, [0.0] * 30)
    assert c.verdict == "improved"


def test_error_proportions_large_change_is_regressed():
    c = compare("GET /x", "error_rate", "ratio", "lower", [0.0] * 30, [1.0] * 25 + [0.0] * 5)
    assert c.verdict == "regressed"
    assert c.detail.startswith("0/30 → 25/30 errors")
    assert c.p_value is not None and c.p_value < 0.001


def test_cache_hit_proportions_use_hits_and_higher_is_better():
    c = compare("GET /x", "cache_hit_ratio", "ratio", "higher", [0.0] * 20, [1.0] * 20)
    assert c.verdict == "improved"
    assert c.detail.startswith("0/20 → 20/20 hits")
    c = compare("GET /x", "cache_hit_ratio", "ratio", "higher", [1.0] * 20, [0.0] * 18 + [1.0] * 2)
    assert c.verdict == "regressed"
    assert c.change_pct == pytest.approx(-90)


def test_proportion_matches_scipy_reference():
    from scipy.stats import binomtest, boschloo_exact

    before = [1.0] * 2 + [0.0] * 28
    after = [1.0] * 11 + [0.0] * 19
    c = compare("GET /x", "error_rate", "ratio", "lower", before, after)
    assert c.p_value == pytest.approx(boschloo_exact([[2, 28], [11, 19]]).pvalue, rel=1e-9)
    # Newcombe's hybrid score interval from the two Wilson intervals.
    w1 = binomtest(2, 30).proportion_ci(method="wilson")
    w2 = binomtest(11, 30).proportion_ci(method="wilson")
    d = 11 / 30 - 2 / 30
    assert c.ci_low == pytest.approx(
        100 * (d - ((11 / 30 - w2.low) ** 2 + (w1.high - 2 / 30) ** 2) ** 0.5)
    )
    assert c.ci_high == pytest.approx(
        100 * (d + ((w2.high - 11 / 30) ** 2 + (2 / 30 - w1.low) ** 2) ** 0.5)
    )
    assert c.verdict == "regressed"


def test_counts_use_the_poisson_test_on_totals():
    from scipy.stats import poisson_means_test

    before = [12.0] * 10 + [13.0] * 10
    after = [3.0] * 10 + [4.0] * 10
    c = compare("GET /x", "db_calls", "count", "lower", before, after)
    assert c.kind == "count"
    assert (c.before, c.after) == (12.5, 3.5)  # means per attempt
    assert c.p_value == pytest.approx(poisson_means_test(250, 20, 70, 20).pvalue)
    assert c.verdict == "improved"
    assert "12.5 → 3.5 per attempt (250 → 70 in 20/20 attempts)" in c.detail
    same = compare("GET /x", "db_calls", "count", "lower", [12.0] * 20, [12.0] * 20)
    assert same.verdict == "not-significant" and same.p_value == pytest.approx(1.0)


def test_continuous_matches_scipy_reference():
    import numpy as np
    from scipy.stats import bootstrap, mannwhitneyu

    from changenote.measure.stats import BOOTSTRAP_RESAMPLES, _seed

    before, after = _noisy(30, 25, 3, spread=0.2), _noisy(26, 25, 4, spread=0.2)
    c = compare("GET /x", "time_ms", "ms", "lower", before, after)
    assert c.p_value == pytest.approx(mannwhitneyu(before, after).pvalue, rel=1e-9)

    def rel(a, b, axis=-1):
        return (np.median(b, axis=axis) / np.median(a, axis=axis) - 1) * 100

    ref = bootstrap(
        (np.array(before), np.array(after)),
        rel,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="BCa",
        vectorized=True,
        rng=np.random.default_rng(_seed("GET /x", "time_ms")),
    ).confidence_interval
    assert (c.ci_low, c.ci_high) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_change_pct_none_when_before_median_is_zero():
    c = compare("$ q", "rows", "count", "lower", [0.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert c.change_pct is None
    assert c.verdict == "regressed"  # on the rank test alone: no relative change exists
    same = compare("$ q", "rows", "count", "lower", [0.0] * 5, [0.0, 0.0, 1.0, 0.0, 0.0])
    assert same.verdict == "not-significant"


def test_fewer_than_three_samples_is_no_test():
    c = compare("GET /x", "time_ms", "ms", "lower", [30.0, 31.0], [3.0, 3.1, 3.2])
    assert c.verdict == "no-test"
    assert c.p_value is None
    assert c.change_pct is not None and c.change_pct < -80
    assert "too few" in c.detail


def test_no_samples_on_one_side_is_not_measured():
    c = compare("GET /x", "time_ms", "ms", "lower", [], [1.0, 2.0, 3.0])
    assert c.verdict == "not-measured"
    assert c.before is None and c.after == 2.0
    assert c.detail == "not measured before"


def test_compare_is_deterministic():
    before, after = _noisy(30, 10, 1, spread=0.2), _noisy(27, 10, 2, spread=0.2)
    first = compare("GET /x", "time_ms", "ms", "lower", before, after)
    second = compare("GET /x", "time_ms", "ms", "lower", before, after)
    assert first.to_dict() == second.to_dict()
    assert first == second
    assert first.ci_low is not None and first.ci_low != first.ci_high


def test_comparison_to_dict_rounds():
    c = compare("GET /x", "time_ms", "ms", "lower", _noisy(30, 10, 1), _noisy(3, 10, 2))
    d = c.to_dict()
    assert d["verdict"] == "improved"
    assert d["change_pct"] == round(c.change_pct or 0, 4)
    assert d["p_value"] == float(f"{c.p_value:.3g}")


def test_a_metric_rising_from_zero_can_regress():
    c = compare("$ job", "failures", "", "lower", [0.0] * 10, [5.0] * 10)
    assert c.verdict == "regressed"
    assert c.change_pct is None and "judged on the test alone" in c.detail


def test_rates_of_many_attempts_use_fishers_exact_test():
    """Boschloo's test takes seconds beyond a few thousand attempts; Fisher's is exact,
    conservative and fast at any size (stats.EXACT_UP_TO)."""
    from scipy.stats import fisher_exact

    from changenote.measure.stats import EXACT_UP_TO, compare

    n = EXACT_UP_TO // 2 + 1
    before = [1.0] * 3 + [0.0] * (n - 3)
    after = [1.0] * 80 + [0.0] * (n - 80)  # 0.3% → 8%: beyond the 5-point minimum
    item = compare("p", "error_rate", "ratio", "lower", before, after).to_dict()
    assert "Fisher's exact" in item["detail"] and item["verdict"] == "regressed"
    expected = fisher_exact([[3, n - 3], [80, n - 80]]).pvalue
    assert item["p_value"] == float(f"{expected:.3g}")
    small = compare("p", "error_rate", "ratio", "lower", before[:100], after[:100]).to_dict()
    assert "Boschloo" in small["detail"]


def test_a_significant_rate_change_below_the_minimum_effect_says_so():
    from changenote.measure.stats import compare

    n = 1500
    before = [1.0] * 8 + [0.0] * (n - 8)
    after = [1.0] * 60 + [0.0] * (n - 60)  # 0.5% → 4%: p tiny, 3.5 points
    item = compare("p", "error_rate", "ratio", "lower", before, after).to_dict()
    assert item["verdict"] == "not-significant" and item["p_value"] < 0.001
    assert "3.5 points is below the 5-point minimum effect" in item["detail"]
