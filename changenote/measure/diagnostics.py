"""Warnings about what could make a before/after comparison misleading.

Each function looks at the runs and returns warnings as ``{"code", "message"}``;
:func:`ranked` gives each its ``severity`` and puts the ones that matter first:
``invalidates`` (the comparison does not hold: a unit or a probe's status changed),
``caution`` (it may not hold: a possible lucky cache hit, failed attempts, a changed
machine) and ``info`` (worth knowing, the verdict stands: outliers the median resists,
a cold first run).
The outlier rule is the modified z-score of Iglewicz and Hoaglin (|z| > 3.5, with
the median absolute deviation), as hyperfine uses; spread is measured robustly
(1.4826 x MAD / median) so one slow request does not hide the rest.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

Warning_ = dict[str, str]

OUTLIER_Z = 3.5
UNSTABLE_SPREAD = 0.25
COLD_FACTOR = 1.5
MIN_RUNS = 5
MAD_FLOOR = 0.05
#: A change of the 1-minute load average by this much per CPU between runs is flagged.
LOAD_CHANGE_PER_CPU = 0.5
#: A change by this much of the share of a run's time the CPUs were contended (Linux's
#: pressure stall information, :mod:`changenote.measure.contention`) is flagged.
CONTENTION_CHANGE = 0.10
MAX_SUGGESTED_RUNS = 1000

SEVERITIES = ("invalidates", "caution", "info")
#: The severity of each warning code; a function may raise it for one warning.
SEVERITY = {
    "unit-changed": "invalidates",
    "status-changed": "invalidates",
    "cache-state-changed": "caution",
    "probe-errors": "caution",
    "no-data": "caution",
    "after-window-pending": "caution",
    "reference-disagrees": "caution",
    "flat-quantile": "caution",
    "environment-changed": "caution",
    "results-machine-changed": "caution",
    "benchmark-missing": "caution",
    "check-changed": "caution",
    "not-a-git-repository": "caution",
    "outliers": "info",
    "unstable": "info",
    "too-few-samples": "info",
    "cold-first-run": "info",
    "secret-not-stored": "info",
    "baseline-commit-missing": "info",
}


def ranked(warnings: list[Warning_]) -> list[Warning_]:
    """The warnings with their severity, invalidating ones first, then caution, then info
    (each group in the order found). A warning that carries a severity keeps it."""
    out = [{**w, "severity": w.get("severity") or SEVERITY.get(w["code"], "caution")}
           for w in warnings]  # fmt: skip
    return sorted(out, key=lambda w: SEVERITIES.index(w["severity"]))


def split(warnings: list[Warning_]) -> tuple[list[Warning_], list[Warning_]]:
    """(the warnings that matter, invalidating first, then caution; the ``info`` ones).
    Documents stored before severities existed are ranked by their codes."""
    every = ranked(warnings)
    return [w for w in every if w["severity"] != "info"], [
        w for w in every if w["severity"] == "info"
    ]


def unit_changed(comparison: list[dict[str, Any]]) -> list[Warning_]:
    """Metrics whose unit changed dimension between the runs: no verdict is possible."""
    return [
        {
            "code": "unit-changed",
            "message": (
                f"{c['metric']} of {c['probe']} was measured in {c['unit'] or 'no unit'} before "
                f"and in {c['unit_after'] or 'no unit'} after: different dimensions, so it is "
                "not compared"
            ),
        }
        for c in comparison
        if c.get("verdict") == "not-comparable" and "unit_after" in c
    ]


def _mad(values: list[float]) -> float:
    center = statistics.median(values)
    return float(statistics.median(abs(v - center) for v in values))


def robust_spread(values: list[float]) -> float | None:
    """1.4826 x MAD / median: the coefficient of variation that outliers cannot inflate."""
    if len(values) < 3:
        return None
    center = statistics.median(values)
    if center == 0:
        return None
    return 1.4826 * _mad(values) / abs(center)


def outliers(values: list[float]) -> list[float]:
    """Values whose modified z-score exceeds 3.5.

    The MAD is floored at 5% of the median: a very steady series (a MAD of 0.05 ms on
    30 ms) would otherwise call a 1 ms wobble an outlier.
    """
    if len(values) < MIN_RUNS:
        return []
    center = statistics.median(values)
    mad = max(_mad(values), MAD_FLOOR * abs(center))
    if mad == 0:
        return []
    return [v for v in values if abs(0.6745 * (v - center) / mad) > OUTLIER_Z]


def runs_needed(spread: float, min_effect: float) -> int:
    """Runs per side for a 95% interval of the median's change narrower than the minimum effect.

    The median's standard error is about 1.2533 x sigma / sqrt(n); two sides add a
    factor sqrt(2).
    """
    half_width = min_effect / 100
    n = (1.96 * math.sqrt(2) * 1.2533 * spread / half_width) ** 2
    return min(MAX_SUGGESTED_RUNS, max(MIN_RUNS, math.ceil(n)))


def _time_series(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in run.get("metrics", []) if m["metric"] == "time_ms" and m["samples"]]


def cold_first_run(run: dict[str, Any]) -> list[Warning_]:
    """The first measured sample far slower than the rest: a cache that was still filling."""
    found = []
    for m in _time_series(run):
        first, rest = m["samples"][0], m["samples"][1:]
        if len(rest) < MIN_RUNS - 1:
            continue
        center = statistics.median(rest)
        scale = 1.4826 * _mad(rest)
        if first > COLD_FACTOR * center and first > center + 5 * scale:
            found.append(
                {
                    "code": "cold-first-run",
                    "message": (
                        f"the first measured run of {m['probe']} in the {run['label']} run took "
                        f"{first:.1f} ms, {first / center:.1f}x the median of the rest: a cache "
                        "or connection pool was probably still warming up; "
                        + (
                            "give the tool more warm-up runs"
                            if m["probe"] in _from_files(run)
                            else "use a larger --warmup"
                        )
                    ),
                }
            )
    return found


def spread_warnings(run: dict[str, Any], sensitive: frozenset[str] = frozenset()) -> list[Warning_]:
    """Outliers and high spread in a run's timings. Outliers are ``info`` unless their
    probe is in ``sensitive``: leaving them out would change its verdict."""
    found = []
    for m in _time_series(run):
        samples = list(m["samples"])
        extreme = outliers(samples)
        if extreme:
            matters = m["probe"] in sensitive
            tail = (
                "leaving them out changes the verdict, so it rests on them"
                if matters
                else "the median-based verdict resists them"
            )
            found.append(
                {
                    "code": "outliers",
                    "severity": "caution" if matters else "info",
                    "message": (
                        f"{len(extreme)} of {len(samples)} timings of {m['probe']} in the "
                        f"{run['label']} run are outliers (modified z-score > {OUTLIER_Z}, up to "
                        f"{max(extreme, key=abs):.1f} ms): other load on the machine "
                        + (
                            "that ran the tool?"
                            if m["probe"] in _from_files(run)
                            else "or the service?"
                        )
                        + f" {tail.capitalize()}"
                    ),
                }
            )
        spread = robust_spread(samples)
        if spread is not None and spread > UNSTABLE_SPREAD:
            found.append(
                {
                    "code": "unstable",
                    "message": (
                        f"timings of {m['probe']} in the {run['label']} run spread by "
                        f"{spread:.0%} around the median: a quieter machine or more runs "
                        "make the comparison sharper"
                    ),
                }
            )
    return found


def too_few_samples(
    comparison: list[dict[str, Any]], before: dict[str, Any], after: dict[str, Any]
) -> list[Warning_]:
    """A not-significant timing whose noise needs more runs to resolve the minimum effect."""
    found = []
    spreads: dict[tuple[str, str], float] = {}
    for run in (before, after):
        for m in run.get("metrics", []):
            spread = robust_spread(list(m["samples"]))
            if spread is not None:
                key = (m["probe"], m["metric"])
                spreads[key] = max(spread, spreads.get(key, 0.0))
    for c in comparison:
        if c.get("kind", "continuous") != "continuous" or c["verdict"] != "not-significant":
            continue
        if c["probe"] == "manual":  # typed-in figures: more --runs cannot help them
            continue
        n = min(c["n_before"], c["n_after"])
        if n == 0:
            continue
        spread = spreads.get((c["probe"], c["metric"]))
        needed = runs_needed(spread, c.get("min_effect", 5.0)) if spread else MIN_RUNS
        if n < needed:
            found.append(
                {
                    "code": "too-few-samples",
                    "message": (
                        f"{c['metric']} of {c['probe']}: {n} run(s) a side cannot resolve a "
                        f"{c.get('min_effect', 5.0):g}% change at this noise "
                        f"(spread {spread or 0:.0%}); about "
                        + (
                            f"{needed} runs a side in the tool's files would"
                            if c["probe"] in _from_files(after)
                            else f"--runs {needed} would"
                        )
                    ),
                }
            )
    return found


def cache_state_changed(comparison: list[dict[str, Any]]) -> list[Warning_]:
    """The cache hit ratio differs between the runs: a lucky cache hit, not a real fix?"""
    found = []
    for item in comparison:
        if item["metric"] != "cache_hit_ratio":
            continue
        before = item["before"] if item["n_before"] else None
        after = item["after"] if item["n_after"] else None
        if before is None and after is None:
            continue
        changed = (
            (before is None) != (after is None)
            or abs((after or 0) - (before or 0)) >= 0.2
            or item["verdict"] != "not-significant"
        )
        if changed:
            shown_before = "no cache headers" if before is None else f"{before:.0%}"
            shown_after = "no cache headers" if after is None else f"{after:.0%}"
            found.append(
                {
                    "code": "cache-state-changed",
                    "message": (
                        f"cache hit ratio of {item['probe']} went from {shown_before} to "
                        f"{shown_after}: the difference may be a lucky cache hit rather than "
                        "the change; clear only the cache that matters (--clear-cache) and "
                        "measure again"
                    ),
                }
            )
    return found


_ENV_KEYS = {"host": "host", "python": "Python", "platform": "platform", "changenote": "changenote"}
_SETTING_KEYS = ("runs", "warmup", "timeout", "clear_cache")


def environment_changed(before: dict[str, Any], after: dict[str, Any]) -> list[Warning_]:
    """Host, Python, platform, tool version, probe settings or probes differ between runs."""
    differences = []
    env_a, env_b = before.get("environment") or {}, after.get("environment") or {}
    if not (_measured_here(before) or _measured_here(after)):
        env_a = env_b = {}  # files and windows were measured elsewhere: this host says nothing
    for key, name in _ENV_KEYS.items():
        if env_a.get(key) and env_b.get(key) and env_a[key] != env_b[key]:
            differences.append(f"{name} {env_a[key]} → {env_b[key]}")
    load_a, load_b = env_a.get("load1"), env_b.get("load1")
    cpus = env_b.get("cpus") or env_a.get("cpus") or 1
    if (
        load_a is not None
        and load_b is not None
        and abs(load_b - load_a) >= LOAD_CHANGE_PER_CPU * cpus
    ):
        differences.append(
            f"machine load {load_a:.1f} → {load_b:.1f} on {cpus} CPU(s): timings may differ "
            "for that reason alone"
        )
    busy_a, busy_b = env_a.get("cpu_contention"), env_b.get("cpu_contention")
    if (
        busy_a is not None
        and busy_b is not None
        and round(abs(busy_b - busy_a), 3) >= CONTENTION_CHANGE  # shares of 3 decimals
    ):
        differences.append(
            f"the CPUs were contended {busy_a:.0%} → {busy_b:.0%} of the probes' time (work "
            "waiting for a CPU, Linux pressure stall information): timings may differ for "
            "that reason alone"
        )
    set_a, set_b = before.get("settings") or {}, after.get("settings") or {}
    for key in _SETTING_KEYS:
        if key in set_a and key in set_b and set_a[key] != set_b[key]:
            differences.append(f"{key} {set_a[key]} → {set_b[key]}")
    if before.get("probes") != after.get("probes"):
        differences.append(_probes_differ(before.get("probes") or [], after.get("probes") or []))
    if not differences:
        return []
    return [
        {
            "code": "environment-changed",
            "message": (
                f"the {after['label']} run was not measured like the {before['label']} run: "
                + "; ".join(differences)
            ),
        }
    ]


def _probes_differ(before: list[str], after: list[str]) -> str:
    """``the probes differ (only in the after run: X; only in the baseline run: Y)``."""

    def some(labels: list[str]) -> str:
        return ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")

    gained = [p for p in after if p not in before]
    lost = [p for p in before if p not in after]
    said = [f"only in the newer run: {some(gained)}"] if gained else []
    said += [f"only in the baseline run: {some(lost)}"] if lost else []
    return "the probes differ" + (f" ({'; '.join(said)})" if said else " (their order)")


def _from_files(run: dict[str, Any]) -> frozenset[str]:
    """The labels of a run's probes read from results files."""
    return frozenset(p["label"] for p in run.get("probe_results") or [] if p.get("results"))


def _measured_here(run: dict[str, Any]) -> bool:
    """Whether changenote ran any of the run's probes itself (not a window, not a file)."""
    results = run.get("probe_results") or []
    return not results or any(not (p.get("window") or p.get("results")) for p in results)


#: The machine facts of a results file (flattened) that tell two machines apart.
_MACHINE_IDENTITY = (
    "hostname", "node", "cpu_model_name", "cpu.brand_raw", "processor", "machine",
    "cpu_count", "python_version", "python_implementation", "platform", "system", "release",
)  # fmt: skip


def machine_changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The machine facts two runs' files both give and disagree on (``hostname a → b``)."""
    found = []

    def plain(info: dict[str, Any]) -> dict[str, Any]:  # pytest-benchmark's machine_info.*
        return {str(k).removeprefix("machine_info."): v for k, v in info.items()}

    before, after = plain(before), plain(after)
    for key in _MACHINE_IDENTITY:
        one, two = before.get(key), after.get(key)
        if one is not None and two is not None and one != two:
            found.append(f"{key} {one} → {two}")
    return found


def results_machine_changed(before: dict[str, Any], after: dict[str, Any]) -> list[Warning_]:
    """The results files of two runs say they were written on different machines."""
    files_a = (before.get("settings") or {}).get("results_files") or []
    files_b = (after.get("settings") or {}).get("results_files") or []
    found = []
    for old in files_a:
        for new in files_b:
            if old.get("tool") != new.get("tool"):
                continue
            differences = machine_changed(old.get("machine") or {}, new.get("machine") or {})
            if differences:
                found.append(
                    {
                        "code": "results-machine-changed",
                        "message": (
                            f"{new.get('path')} ({after['label']}) was not written on the "
                            f"machine {old.get('path')} ({before['label']}) was: "
                            + "; ".join(differences)
                            + ": the difference may be the machine's, not the change's"
                        ),
                    }
                )
    return found


def status_class(status: str) -> str:
    """``HTTP 404`` → ``HTTP 4xx``; ``exit 3`` → ``exit non-zero``; others as they are."""
    if status.startswith("HTTP ") and len(status) == 8:
        return f"HTTP {status[5]}xx"
    if status.startswith("exit "):
        return "exit 0" if status == "exit 0" else "exit non-zero"
    return status


def _dominant(statuses: dict[str, int]) -> str | None:
    classes: dict[str, int] = {}
    for status, count in statuses.items():
        key = status_class(status)
        classes[key] = classes.get(key, 0) + count
    return max(sorted(classes), key=lambda k: classes[k]) if classes else None


def status_changed(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[list[Warning_], set[str]]:
    """Probes whose usual outcome changed (HTTP 2xx → 4xx, exit 0 → non-zero).

    Their timings are not comparable: a request that now fails fast is not faster.
    Returns the warnings and the labels of those probes.
    """
    found, labels = [], set()
    old = {p["label"]: p for p in before.get("probe_results", [])}
    for probe in after.get("probe_results", []):
        previous = old.get(probe["label"])
        if previous is None:
            continue
        was = _dominant(previous.get("statuses") or {})
        now = _dominant(probe.get("statuses") or {})
        if was and now and was != now:
            labels.add(probe["label"])
            found.append(
                {
                    "code": "status-changed",
                    "message": (
                        f"{probe['label']} mostly answered {was} in the {before['label']} run "
                        f"and {now} in the {after['label']} run: its timings are not compared "
                        "(failing fast is not being faster)"
                    ),
                }
            )
    return found, labels


def flat_quantiles(run: dict[str, Any]) -> list[Warning_]:
    """Prometheus windows of a ``histogram_quantile`` that gave the same figure at every
    point: the observations fall in one bucket, and the figure is a position inside it
    (interpolated), not a measurement; a change inside the bucket cannot be seen."""
    found = []
    for probe in run.get("probe_results", []):
        window = probe.get("window") or {}
        if "flat_quantile" in window:
            found.append(
                {
                    "code": "flat-quantile",
                    "message": (
                        f"{probe['label']} gave {window['flat_quantile']:g} at every point of "
                        f"the {run['label']} window: a histogram_quantile whose observations "
                        "all fall in one bucket reports a place inside that bucket, not a "
                        "measurement, so a change within the bucket goes unseen; finer "
                        "buckets, or the mean (sum of _sum over sum of _count), measure it"
                    ),
                }
            )
    return found


def pending_windows(run: dict[str, Any], slug: str) -> list[Warning_]:
    """Prometheus windows of ``run`` that had not passed when it was recorded
    (``ship --no-wait``): no verdict yet, and the command that reads them."""
    found = []
    for probe in run.get("probe_results", []):
        window = probe.get("window") or {}
        if window.get("pending"):
            found.append(
                {
                    "code": "after-window-pending",
                    "message": (
                        f"{probe['label']}: the {run['label']} window ({window.get('start')} "
                        f"to {window.get('end')}) had not passed yet, so it has no verdict; "
                        f"`changenote measure {slug} --label after` reads it (and waits "
                        "until it has passed)"
                    ),
                }
            )
    return found


def probe_errors(run: dict[str, Any]) -> list[Warning_]:
    """Attempts that failed during a run, by kind."""
    found = []
    for probe in run.get("probe_results", []):
        window = probe.get("window")
        if window is not None and probe.get("errors"):
            found.append(
                {
                    "code": "no-data",
                    "message": (
                        f"{probe['label']} has no data in the {run['label']} run's window "
                        f"({window.get('start')} to {window.get('end')}): "
                        f"{str(probe.get('last_status', '')).removeprefix('no data: ')}; "
                        "no verdict"
                    ),
                }
            )
        elif probe.get("errors"):
            kinds = ", ".join(f"{k} x{v}" for k, v in sorted(probe.get("error_kinds", {}).items()))
            found.append(
                {
                    "code": "probe-errors",
                    "message": (
                        f"{probe['errors']}/{probe['attempts']} attempts of {probe['label']} "
                        f"failed in the {run['label']} run ({kinds})"
                    ),
                }
            )
    return found


def check_changed(
    probes: list[dict[str, Any]], current: dict[str, dict[str, Any]]
) -> list[Warning_]:
    """Configured checks whose definition differs now from when the baseline stored it.

    The change keeps the definition it measured, and goes on measuring that one, so
    before and after stay comparable; the warning says the config moved meanwhile.
    """
    found: list[Warning_] = []
    for probe in probes:
        name = probe.get("check")
        stored = (probe.get("settings") or {}).get("definition")
        if not name or stored is None:
            continue
        now = current.get(name)
        if now == stored:
            continue
        if now is None:
            what = "is no longer in the config"
        else:
            keys = sorted(k for k in stored.keys() | now.keys() if stored.get(k) != now.get(k))
            what = f"changed in the config since the baseline ({', '.join(keys)})"
        found.append(
            {
                "code": "check-changed",
                "message": f"check {name} {what}; this measured the baseline's definition, "
                "so before and after stay comparable",
            }
        )
    return found
