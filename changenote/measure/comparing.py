"""Judging a run against the baseline: verdicts, warnings and expectations together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from changenote.measure import diagnostics, expectations, units
from changenote.measure.stats import compare, compare_summaries, summary_only

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
    windows: frozenset[int] = frozenset(),
    summaries: frozenset[int] = frozenset(),
) -> list[dict[str, Any]]:
    """One comparison per metric, in the before-run's order, then metrics only after has.

    ``rules`` holds per-metric settings (``{"time_ms": {"min_effect": 10}}``); the
    probes in ``windows`` (by index) are Prometheus windows, whose points are dependent
    and compared by ``changenote.measure.windows``; those in ``summaries`` are results
    files that kept a summary and no samples on a side (``compare_summaries``).
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
        later: list[float] = list(new["samples"]) if new else []
        unit_before, unit_after = (old or ref).get("unit") or "", (new or ref).get("unit") or ""
        converted = units.convert(later, unit_after, unit_before)
        how = compare
        if _key(ref)[0] in windows:
            from changenote.measure.windows import compare_windows as how
        better = better_for(name, unit_before, declared, rules)
        if old and new and (summary_only(old) or summary_only(new)) and _key(ref)[0] in summaries:
            item = _summaries(ref["probe"], name, unit_before, better, old, new, unit_after)
            item = compare_summaries(**item, min_effect=float(effect)).to_dict()
        else:
            item = how(
                probe=ref["probe"],
                metric=name,
                unit=unit_before,
                better=better,
                before=old["samples"] if old else [],
                after=converted if converted is not None else later,
                min_effect=float(effect),
            ).to_dict()
        if unit_after != unit_before:
            if converted is None:
                _not_comparable(item, unit_before, unit_after, later)
                if not later and new is not None and summary_only(new):  # its own figure
                    item["after"] = (
                        new.get("mean") if new.get("mean") is not None else (new.get("median"))
                    )
            else:
                item["detail"] = (
                    f"after-run converted from {unit_after} to {unit_before}; " + (item["detail"])
                )
        results.append(item)
    return results


def _summaries(
    probe: str,
    metric: str,
    unit: str,
    better: str | None,
    old: dict[str, Any],
    new: dict[str, Any],
    unit_after: str,
) -> dict[str, Any]:
    """The arguments of a summary comparison, the after side in the before's unit."""
    after = dict(new)
    scale = units.factor(unit_after, unit)
    if scale is not None and scale != 1.0:  # across dimensions the caller says not-comparable
        for key in ("mean", "stdev", "median", "min", "max", "p95"):
            if after.get(key) is not None:
                after[key] = float(after[key]) * scale
        after["samples"] = [float(v) * scale for v in after.get("samples") or []]
    return {"probe": probe, "metric": metric, "unit": unit, "better": better,
            "before": old, "after": after}  # fmt: skip


def _not_comparable(
    item: dict[str, Any], unit_before: str, unit_after: str, after: list[float]
) -> None:
    """No verdict across dimensions: both figures kept, each in its own unit."""
    from changenote.measure.stats import summarize

    summary = summarize(after)
    item.update(
        verdict="not-comparable",
        unit_after=unit_after,
        after=summary.median if summary else None,
        change_pct=None,
        ci_low=None,
        ci_high=None,
        p_value=None,
        detail=(
            f"unit changed: {units.describe(unit_before)} before, "
            f"{units.describe(unit_after)} after; no verdict across dimensions"
        ),
    )


def judge(
    settings: dict[str, Any],
    before: dict[str, Any],
    after: dict[str, Any],
    expected: str | None,
    reference: dict[str, Any] | None = None,
) -> Judgement:
    """Compare ``after`` with ``before`` (runs of the change document) as the change asks.

    ``settings`` are the change's stored settings: ``min_effect`` and per-metric
    ``metrics`` rules in force at baseline. ``reference`` is ``after``'s ``--vs`` run:
    each of its windows is compared with ``after`` too (``vs`` on the item), and a
    verdict it does not bear out is a warning.
    """
    comparison = compare_runs(
        before.get("metrics", []),
        after.get("metrics", []),
        float(settings.get("min_effect", 5.0)),
        settings.get("metrics") or {},
        window_probes(before),
        summary_probes(before) | summary_probes(after),
    )
    found: list[dict[str, str]] = []
    changed_status, not_comparable = diagnostics.status_changed(before, after)
    for item in comparison:
        if item["probe"] in not_comparable and item["kind"] == "continuous":
            item["verdict"] = "not-comparable"
            item["detail"] = "the probe's status changed: not comparable; " + item["detail"]
    found += changed_status
    waiting = {
        p["label"]: p["window"]["end"]
        for p in after.get("probe_results") or []
        if (p.get("window") or {}).get("pending")
    }
    flat = {
        p["label"]
        for run in (before, after)
        for p in run.get("probe_results") or []
        if "flat_quantile" in (p.get("window") or {})
    }
    one_sided = _one_sided_benchmarks(before, after)
    renamed = _renamed(before, after)
    for item in comparison:
        if item["probe"] in flat and item["verdict"] == "not-significant":
            # two flat quantiles alike say which bucket, not that nothing moved inside it
            item.update(verdict="no-test", p_value=None)
            item["detail"] = (
                "both windows gave the same histogram_quantile at every point: one bucket "
                "holds the observations, and a change inside it cannot be seen: no test"
            )
        if item["probe"] in waiting and item["verdict"] == "not-measured":
            item["detail"] = (
                f"the after window (until {waiting[item['probe']]}) is not read yet: no verdict"
            )
        if item["verdict"] == "not-measured" and item["probe"] in one_sided:
            item["detail"] = one_sided[item["probe"]]
        if item["probe"] in renamed:
            item["detail"] = f"{renamed[item['probe']]}; {item['detail']}"
    found += diagnostics.unit_changed(comparison)
    found += diagnostics.cache_state_changed(comparison)
    found += diagnostics.environment_changed(before, after)
    found += diagnostics.results_machine_changed(before, after)
    found += _missing_benchmarks(before, after)
    sensitive = _outlier_sensitive(comparison, before, after)
    for run in (before, after):
        found += diagnostics.flat_quantiles(run)
        found += diagnostics.cold_first_run(run)
        found += diagnostics.spread_warnings(run, sensitive)
    found += diagnostics.too_few_samples(comparison, before, after)
    found += diagnostics.probe_errors(after)
    if reference is not None:
        found += diagnostics.probe_errors(reference)
        found += against_reference(comparison, reference, after, settings)
    # the change's probes only: a benchmark only this run's file holds was never planned
    own = len(before.get("probe_results") or [])
    metrics = [m for m in after.get("metrics", []) if int(m.get("probe_index", -1)) < own]
    checks = expectations.evaluate(expectations.parse(expected), metrics)
    unique = list({(w["code"], w["message"]): w for w in found}.values())
    return Judgement(comparison, diagnostics.ranked(unique), checks)


def vanished_benchmarks(run: dict[str, Any]) -> list[str]:
    """The labels of the baseline benchmarks a run's results files did not hold."""
    return [
        p["label"]
        for p in run.get("probe_results") or []
        if p.get("results") is not None and p["results"].get("benchmark") is None
    ]


def _one_sided_benchmarks(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """Results-file benchmarks found in one run's files only, each with why, in words."""
    files = (after.get("settings") or {}).get("results_files") or []
    paths = ", ".join(str(f.get("path")) for f in files)
    found = {
        label: (
            f"not in this run's results files ({paths or 'none given'}): no verdict; a "
            "renamed benchmark is paired with --match OLD=NEW"
        )
        for label in vanished_benchmarks(after)
    }
    earlier = {p["label"]: p for p in before.get("probe_results") or []}
    any_files = any(p.get("results") for p in earlier.values())
    for probe in after.get("probe_results") or []:
        if not probe.get("results") or probe["label"] in earlier:
            continue
        if probe["label"].endswith(" (new)"):
            why = (
                "its name is a baseline benchmark's, which --match paired with another "
                "one: nothing to compare with"
            )
        elif any_files:
            why = (
                "not in the baseline's results files: nothing to compare with; pair it "
                "with the benchmark it replaces with --match OLD=NEW"
            )
        else:
            why = "the baseline read no results file: nothing to compare with"
        found[probe["label"]] = why
    return found


def _missing_benchmarks(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, str]]:
    """A warning for each baseline benchmark this run's files lack, naming the ones they
    have instead (``--fail-on-regression`` fails on it: a gated benchmark vanished)."""
    earlier = {p["label"] for p in before.get("probe_results") or []}
    instead = [
        (p.get("results") or {}).get("benchmark") or p["label"]
        for p in after.get("probe_results") or []
        if p.get("results") and p["label"] not in earlier
    ]
    has = f"; it has instead: {', '.join(instead[:5])}" if instead else ""
    return [
        {
            "code": "benchmark-missing",
            "message": (
                f"{label} is not in this run's results files{has}: not measured; "
                "pair a renamed benchmark with --match OLD=NEW"
            ),
        }
        for label in vanished_benchmarks(after)
    ]


def _renamed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """Benchmarks ``--match`` paired with another name: {probe: "compared with NEW"}."""
    names = {
        p["label"]: (p.get("results") or {}).get("benchmark")
        for p in before.get("probe_results") or []
    }
    found = {}
    for probe in after.get("probe_results") or []:
        new = (probe.get("results") or {}).get("benchmark")
        old = names.get(probe["label"])
        if new is not None and old is not None and new != old:
            found[probe["label"]] = f"this run's {new!r} paired with it by --match"
    return found


def reference_run(runs: list[dict[str, Any]], label: str) -> dict[str, Any] | None:
    """The ``--vs`` reference recorded for run ``label``, if any."""
    for run in runs:
        if ((run.get("settings") or {}).get("reference") or {}).get("of") == label:
            return run
    return None


#: The verdicts a test gave (the others say why there is none).
TESTED = ("improved", "regressed", "not-significant")


def against_reference(
    comparison: list[dict[str, Any]],
    reference: dict[str, Any],
    after: dict[str, Any],
    settings: dict[str, Any],
) -> list[dict[str, str]]:
    """Compare ``after``'s windows with the same windows earlier (``reference``), put the
    result on each item as ``vs``, and warn where the two references disagree: a fix
    that the same hour last week already had may be the hour, not the fix."""
    from changenote.specs import describe_duration

    about = reference["settings"]["reference"]
    indexes = frozenset(int(i) for i in about.get("probes") or [])
    back = describe_duration(float(about["vs"]))
    against = compare_runs(
        reference.get("metrics", []),
        [m for m in after.get("metrics", []) if int(m.get("probe_index", -1)) in indexes],
        float(settings.get("min_effect", 5.0)),
        settings.get("metrics") or {},
        indexes,
    )
    windows = {p["label"]: p.get("window") or {} for p in reference.get("probe_results", [])}
    by_key = {(c["probe"], c["metric"]): c for c in against}
    found = []
    for item in comparison:
        other = by_key.get((item["probe"], item["metric"]))
        if other is None:
            continue
        item["vs"] = {
            "run": reference["label"],
            "offset": float(about["vs"]),
            **{key: other.get(key) for key in (
                "before", "change_pct", "ci_low", "ci_high", "p_value", "verdict", "detail",
                "n_before", "n_eff_before",
            )},
        }  # fmt: skip
        one, two = item["verdict"], other["verdict"]
        if one in TESTED and two in TESTED and one != two:
            window = windows.get(item["probe"], {})
            found.append(
                {
                    "code": "reference-disagrees",
                    "message": (
                        f"{item['metric']} of {item['probe']}: {one} against the baseline but "
                        f"{two} against the same window {back} earlier ({window.get('start')} "
                        f"to {window.get('end')}): a daily or weekly pattern, not the change, "
                        "may explain the difference"
                    ),
                }
            )
    return found


def summary_probes(run: dict[str, Any]) -> frozenset[int]:
    """The probes of a run (by index) whose results file gave a summary, no samples."""
    results = run.get("probe_results") or []
    return frozenset(
        i for i, p in enumerate(results) if (p.get("results") or {}).get("summary_only")
    )


def window_probes(run: dict[str, Any]) -> frozenset[int]:
    """The probes of a run (by index) that read a Prometheus window."""
    results = run.get("probe_results") or []
    return frozenset(i for i, p in enumerate(results) if p.get("window"))


def _outlier_sensitive(
    comparison: list[dict[str, Any]], before: dict[str, Any], after: dict[str, Any]
) -> frozenset[str]:
    """Probes whose timing verdict changes when both runs' outliers are left out."""
    tested = ("improved", "regressed", "not-significant")
    found = set()
    for item in comparison:
        if item["metric"] != "time_ms" or item["verdict"] not in tested:
            continue
        if item.get("kind", "continuous") != "continuous":  # a summary has no samples to drop
            continue
        sides = []
        for run in (before, after):
            samples: list[float] = next(
                (m["samples"] for m in run.get("metrics", [])
                 if m["probe"] == item["probe"] and m["metric"] == "time_ms"),
                [],
            )  # fmt: skip
            extreme = diagnostics.outliers(list(samples))
            sides.append([s for s in samples if s not in extreme])
        if len(sides[0]) + len(sides[1]) == item["n_before"] + item["n_after"]:
            continue  # no outlier on either side
        again = compare(
            item["probe"], "time_ms", item["unit"], item["better"], sides[0], sides[1],
            item.get("min_effect", 5.0),
        )  # fmt: skip
        if again.verdict != item["verdict"]:
            found.add(item["probe"])
    return frozenset(found)


def run_warnings(run: dict[str, Any]) -> list[dict[str, str]]:
    """Warnings about a single run (the baseline, before anything to compare with)."""
    return diagnostics.ranked(
        diagnostics.probe_errors(run)
        + diagnostics.flat_quantiles(run)
        + diagnostics.cold_first_run(run)
        + diagnostics.spread_warnings(run)
    )
