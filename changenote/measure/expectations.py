"""Checking the expected result: the checkable clauses of ``--expect``.

``--expect`` stays free text. Clauses separated by ``;``, ``,`` or `` and `` that
have the form ``[PROBE:] METRIC [STAT] OP NUMBER[UNIT]`` are checked against a run:

    time_ms p95 < 200ms; error_rate = 0; #2: db_calls median <= 3

PROBE is ``#N`` (the N-th probe) or a check's name; without it every probe that
has the metric must meet the clause. STAT is median (the default for times),
mean, min, max or pNN; rates and counts default to their mean. Other clauses are
ignored: they are for people.
"""

from __future__ import annotations

import math
import operator
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from changenote.measure.stats import COUNTS, PROPORTIONS, percentile
from changenote.specs import STANDARD_METRICS

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}
_CLAUSE = re.compile(
    r"^\s*(?:(?P<probe>#\d+|[A-Za-z_][\w.-]*)\s*:\s*)?"
    r"(?P<metric>[A-Za-z_][\w.:-]*)\s+"
    r"(?:(?P<stat>median|mean|avg|min|max|p\d{1,2}(?:\.\d+)?)\s+)?"
    r"(?P<op><=|>=|==|!=|<|>|=)\s*"
    r"(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*"
    r"(?P<unit>ms|s|%|[A-Za-z/]+)?\s*$"
)
_SPLIT = re.compile(r"\s*;\s*|\s*,\s+|\s+and\s+")


@dataclass(frozen=True)
class Expectation:
    """One checkable clause."""

    text: str
    metric: str
    op: str
    target: float
    stat: str | None = None
    probe: str | None = None


def parse(text: str | None) -> list[Expectation]:
    """The checkable clauses of ``text``; an empty list when it is free text only."""
    found = []
    for clause in _SPLIT.split(text or ""):
        match = _CLAUSE.match(clause)
        if not match:
            continue
        metric = match["metric"]
        unit = match["unit"]
        number = float(match["number"])
        if not math.isfinite(number):
            continue
        # A clause must name a known metric or carry a stat/unit, or it is prose
        # ("search = fast" is not a check).
        if metric not in STANDARD_METRICS and not match["stat"] and not unit and not match["probe"]:
            continue
        if unit == "%":
            number /= 100
        elif unit == "s" and metric == "time_ms":
            number *= 1000
        stat = match["stat"]
        found.append(
            Expectation(
                text=clause.strip(),
                metric=metric,
                op="==" if match["op"] == "=" else match["op"],
                target=number,
                stat="mean" if stat == "avg" else stat,
                probe=match["probe"],
            )
        )
    return found


def _figure(samples: list[float], stat: str) -> float:
    if stat == "median":
        return float(statistics.median(samples))
    if stat == "mean":
        return float(statistics.fmean(samples))
    if stat == "min":
        return float(min(samples))
    if stat == "max":
        return float(max(samples))
    return percentile(sorted(samples), float(stat[1:]))


def _default_stat(metric: str) -> str:
    return "mean" if metric in PROPORTIONS or metric in COUNTS else "median"


def evaluate(
    expectations: list[Expectation], metrics: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Check each clause against a run's metrics; one result per clause and probe.

    A probe is named by ``#N`` (its position, from 1) or by its check's name. A
    clause no probe can answer is reported with ``met: null``.
    """
    results = []
    for exp in expectations:
        stat = exp.stat or _default_stat(exp.metric)
        matched = False
        for m in metrics:
            if m["metric"] != exp.metric or not m["samples"]:
                continue
            index = int(m.get("probe_index", -1))
            label = m["probe"]
            ref = f"#{index + 1}" if index >= 0 else "manual"
            if (
                exp.probe
                and exp.probe not in (ref, label)
                and not label.startswith(f"check {exp.probe}:")
            ):
                continue
            matched = True
            actual = _figure(list(m["samples"]), stat)
            results.append(
                {
                    "expect": exp.text,
                    "probe": label,
                    "metric": exp.metric,
                    "stat": stat,
                    "op": exp.op,
                    "target": exp.target,
                    "actual": round(actual, 4),
                    "unit": m.get("unit", ""),
                    "met": bool(_OPS[exp.op](actual, exp.target)),
                }
            )
        if not matched:
            results.append(
                {
                    "expect": exp.text,
                    "probe": exp.probe,
                    "metric": exp.metric,
                    "stat": stat,
                    "op": exp.op,
                    "target": exp.target,
                    "actual": None,
                    "unit": "",
                    "met": None,
                }
            )
    return results
