"""Judging a run against the baseline: verdicts, warnings and expectations together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from changenote.measure import diagnostics, expectations
from changenote.measure.stats import compare

DEFAULT_BETTER = {
    "time_ms": "lower",
    "error_rate": "lower",
    "db_calls": "lower",
    "cache_hit_ratio": "higher",
    "throughput": "higher",
}
_TIME_UNITS = ("ms", "s", "us", "µs", "ns")


@dataclass
class Judgement:
    """What a comparison of two runs found."""

    comparison: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    expectations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def regressed(self) -> list[dict[str, Any]]:
        return [c for c in self.comparison if c["verdict"] == "regressed"]

    @property
    def unmet(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if e["met"] is False]

    @property
    def failed(self) -> bool:
        """True when a CI gate should fail: a regression or an expectation not met."""
        return bool(self.regressed or self.unmet)


def better_for(metric: str, unit: str, declared: str | None, rules: dict[str, Any]) -> str | None:
    """Which way is better: config first, then what the metric declared, then defaults."""
    configured = (rules.get(metric) or {}).get("better")
    if configured:
        return str(configured)
    if declared:
        return declared
    if metric in DEFAULT_BETTER:
        return DEFAULT_BETTER[metric]
    if unit in _TIME_UNITS:
        return "lower"
    return None


def _key(metric: dict[str, Any]) -> tuple[int, str]:
    return (int(metric.get("probe_index", -1)), str(metric["metric"]))


def compare_runs(
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    min_effect: float = 5.0,
    rules: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One comparison per metric, in the before-run's order, then metrics only after has.

    ``rules`` holds per-metric settings (``{"time_ms": {"min_effect": 10}}``).
    """
    rules = rules or {}
    after_by_key = {_key(m): m for m in after}
    before_keys = {_key(m) for m in before}
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]]
    pairs = [(m, after_by_key.get(_key(m))) for m in before]
    pairs += [(None, m) for m in after if _key(m) not in before_keys]
    results = []
    for old, new in pairs:
        ref = old or new
        assert ref is not None
        name = ref["metric"]
        declared = (old or {}).get("better") or (new or {}).get("better")
        effect = (rules.get(name) or {}).get("min_effect", min_effect)
        results.append(
            compare(
                probe=ref["probe"],
                metric=name,
                unit=ref["unit"],
                better=better_for(name, ref["unit"], declared, rules),
                before=old["samples"] if old else [],
                after=new["samples"] if new else [],
                min_effect=float(effect),
            ).to_dict()
        )
    return results


def judge(
    settings: dict[str, Any],
    before: dict[str, Any],
    after: dict[str, Any],
    expected: str | None,
) -> Judgement:
    """Compare ``after`` with ``before`` (runs of the change document) as the change asks.

    ``settings`` are the change's stored settings: ``min_effect`` and per-metric
    ``metrics`` rules in force at baseline.
    """
    comparison = compare_runs(
        before.get("metrics", []),
        after.get("metrics", []),
        float(settings.get("min_effect", 5.0)),
        settings.get("metrics") or {},
    )
    found: list[dict[str, str]] = []
    changed_status, not_comparable = diagnostics.status_changed(before, after)
    for item in comparison:
        if item["probe"] in not_comparable and item["kind"] == "continuous":
            item["verdict"] = "not-significant"
            item["detail"] = "the probe's status changed: not comparable; " + item["detail"]
    found += changed_status
    found += diagnostics.cache_state_changed(comparison)
    found += diagnostics.environment_changed(before, after)
    for run in (before, after):
        found += diagnostics.cold_first_run(run)
        found += diagnostics.spread_warnings(run)
    found += diagnostics.too_few_samples(comparison, before, after)
    found += diagnostics.probe_errors(after)
    checks = expectations.evaluate(expectations.parse(expected), after.get("metrics", []))
    unique = list({(w["code"], w["message"]): w for w in found}.values())
    return Judgement(comparison, unique, checks)


def run_warnings(run: dict[str, Any]) -> list[dict[str, str]]:
    """Warnings about a single run (the baseline, before anything to compare with)."""
    return (
        diagnostics.probe_errors(run)
        + diagnostics.cold_first_run(run)
        + diagnostics.spread_warnings(run)
    )
