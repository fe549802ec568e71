"""Comparing two runs of a change: every shared metric, plus the warnings a reader needs."""

from __future__ import annotations

from typing import Any

from changenote.stats import compare


def _key(metric: dict[str, Any]) -> tuple[int, str]:
    return (int(metric.get("probe_index", -1)), str(metric["metric"]))


def compare_runs(
    before: list[dict[str, Any]], after: list[dict[str, Any]], min_effect: float = 5.0
) -> list[dict[str, Any]]:
    """One comparison per metric present in the before-run, in the before-run's order.

    A metric that only the after-run has is compared against nothing (verdict
    ``not-significant``, "no samples before") so it is still reported.
    """
    after_by_key = {_key(m): m for m in after}
    results = []
    seen = set()
    for m in before:
        key = _key(m)
        seen.add(key)
        other = after_by_key.get(key)
        results.append(
            compare(
                probe=m["probe"],
                metric=m["metric"],
                unit=m["unit"],
                better=m.get("better") or (other or {}).get("better"),
                before=m["samples"],
                after=other["samples"] if other else [],
                min_effect=min_effect,
            ).to_dict()
        )
    for m in after:
        if _key(m) not in seen:
            results.append(
                compare(
                    probe=m["probe"],
                    metric=m["metric"],
                    unit=m["unit"],
                    better=m.get("better"),
                    before=[],
                    after=m["samples"],
                    min_effect=min_effect,
                ).to_dict()
            )
    return results


def warnings_for(
    comparison: list[dict[str, Any]], after_probes: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """Warnings about what could make the comparison misleading."""
    found: list[dict[str, str]] = []
    for item in comparison:
        if item["metric"] != "cache_hit_ratio" or item["before"] is None or item["after"] is None:
            continue
        if abs(item["after"] - item["before"]) >= 0.2 or item["verdict"] != "not-significant":
            found.append(
                {
                    "code": "cache-state-changed",
                    "message": (
                        f"cache hit ratio of {item['probe']} went from {item['before']:.0%} to "
                        f"{item['after']:.0%}: a difference may be a lucky cache hit rather "
                        "than the change; clear only the cache that matters (--clear-cache) "
                        "and measure again"
                    ),
                }
            )
    for probe in after_probes:
        if probe.get("errors"):
            kinds = ", ".join(f"{k} x{v}" for k, v in sorted(probe.get("error_kinds", {}).items()))
            found.append(
                {
                    "code": "probe-errors",
                    "message": (
                        f"{probe['errors']}/{probe['attempts']} attempts of {probe['label']} "
                        f"failed in the run ({kinds})"
                    ),
                }
            )
    return found
