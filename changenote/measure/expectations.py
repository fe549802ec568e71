"""Checking the expected result: the checkable clauses of ``--expect``.

``--expect`` stays free text. Clauses separated by ``;``, ``,`` or `` and `` that
have the form ``[PROBE:] METRIC [STAT] OP NUMBER[UNIT]`` are checked against a run:

    time_ms p95 < 200ms; error_rate = 0; #2: db_calls median <= 3

PROBE is ``#N`` (the N-th probe) or a check's name; without it every probe that
has the metric must meet the clause. STAT is median (the default for times),
mean, min, max or pNN; rates and counts default to their mean. The clause's unit is
converted into the metric's (``0.02s`` against ``ms``); a unit of another dimension
cannot be checked. Clauses that neither name a standard metric nor compare with a
number are prose, for people. A clause that looks like a check (it names a standard
metric, or compares with a number) but does not parse is an error at baseline: a typo
must not quietly check nothing.
"""

from __future__ import annotations

import math
import operator
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from changenote.errors import UsageError
from changenote.measure import units
from changenote.measure.stats import COUNTS, PROPORTIONS, percentile, summary_only
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
#: A comparison with a number, the operator a word of its own: "p95 <= 50ms", "x = 5".
#: Query strings ("?sv=2021"), shell redirects ("> all.sql"), arrows, markup and
#: "search = fast" are prose.
_LOOKS_CHECKABLE = re.compile(r"(?:^|\s)(?:<=|>=|==|!=|<|>|=)\s*[-+]?\.?\d")
_FORM = "[#N: or CHECK:] METRIC [median|mean|min|max|pNN] <|<=|>|>=|=|!= NUMBER[UNIT]"


@dataclass(frozen=True)
class Expectation:
    """One checkable clause."""

    text: str
    metric: str
    op: str
    target: float
    stat: str | None = None
    probe: str | None = None
    #: The clause's unit as written ("" for none); converted into the metric's unit.
    unit: str = ""


def _looks_checkable(clause: str) -> bool:
    """A comparison operator, or a known metric's name as a word: meant as a check."""
    words = set(re.findall(r"[A-Za-z_][\w]*", clause))
    return bool(_LOOKS_CHECKABLE.search(clause) or words & set(STANDARD_METRICS))


def parse(text: str | None, strict: bool = False) -> list[Expectation]:
    """The checkable clauses of ``text``; an empty list when it is free text only.

    ``strict`` (at baseline): a clause that looks like a check but does not parse is a
    UsageError naming the form. Stored text is read leniently (older notebooks)."""
    found = []
    for clause in _SPLIT.split(text or ""):
        match = _CLAUSE.match(clause)
        if not match:
            if strict and clause.strip() and _looks_checkable(clause):
                raise UsageError(
                    f"--expect {clause.strip()!r} looks like a check but does not parse; "
                    f"expected {_FORM} (e.g. 'time_ms p95 < 200ms'), or plain words"
                )
            continue
        metric = match["metric"]
        unit = match["unit"] or ""
        number = float(match["number"])
        if not math.isfinite(number):
            if strict:
                raise UsageError(f"--expect {clause.strip()!r}: the number must be finite")
            continue
        # A clause must name a known metric or carry a stat/unit, or it is prose
        # ("search = fast" is not a check).
        if metric not in STANDARD_METRICS and not match["stat"] and not unit and not match["probe"]:
            if strict:
                raise UsageError(
                    f"--expect {clause.strip()!r}: {metric!r} is not a metric changenote "
                    f"knows ({', '.join(sorted(STANDARD_METRICS))}); give a stat or a unit "
                    "for a custom metric (e.g. 'rows median >= 100'), or plain words"
                )
            continue
        stat = match["stat"]
        found.append(
            Expectation(
                text=clause.strip(),
                metric=metric,
                op="==" if match["op"] == "=" else match["op"],
                target=number,
                stat="mean" if stat == "avg" else stat,
                probe=match["probe"],
                unit=unit,
            )
        )
    return found


def _matches(exp: Expectation, metric: dict[str, Any]) -> bool:
    """Whether a run's metric is one the clause speaks of (its name, and its probe)."""
    if metric["metric"] != exp.metric:
        return False
    index = int(metric.get("probe_index", -1))
    label = metric["probe"]
    ref = f"#{index + 1}" if index >= 0 else "manual"
    return not exp.probe or exp.probe in (ref, label) or label.startswith(f"check {exp.probe}:")


def plan(text: str | None, metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``--expect`` will check, clause by clause, against the baseline's metrics:
    ``checkable`` or prose, the probes it applies to, and a word when an unscoped clause
    covers several probes or none."""
    checks = {e.text: e for e in parse(text)}
    out: list[dict[str, Any]] = []
    for clause in _SPLIT.split(text or ""):
        clause = clause.strip()
        if not clause:
            continue
        exp = checks.get(clause)
        if exp is None:
            out.append({"clause": clause, "checkable": False, "probes": [], "note": "prose"})
            continue
        probes = list(dict.fromkeys(m["probe"] for m in metrics if _matches(exp, m)))
        if not probes:
            note = f"no probe measures {exp.metric}: it will not be checked"
        elif len(probes) > 1 and not exp.probe:
            note = (
                f"unscoped: every one of {len(probes)} probes measuring {exp.metric} must "
                "meet it (scope it with #N: or CHECK:)"
            )
        else:
            note = ""
        out.append({"clause": clause, "checkable": True, "probes": probes, "note": note})
    return out


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
            if not _matches(exp, m):
                continue
            if m["samples"]:
                actual = _figure(list(m["samples"]), stat)
            elif summary_only(m) and m.get(stat) is not None:  # a results file's summary
                actual = float(m[stat])
            else:
                continue
            matched = True
            unit = m.get("unit", "") or ""
            scale = units.factor(exp.unit, unit) if exp.unit else 1.0
            results.append(
                {
                    "expect": exp.text,
                    "probe": m["probe"],
                    "metric": exp.metric,
                    "stat": stat,
                    "op": exp.op,
                    # the target in the metric's own unit (0.02s against ms: 20)
                    "target": exp.target * scale if scale is not None else exp.target,
                    "actual": round(actual, 4),
                    "unit": unit,
                    # a unit of another dimension cannot be checked: unknown, not met
                    "met": bool(_OPS[exp.op](actual, exp.target * scale))
                    if scale is not None
                    else None,
                    **(
                        {}
                        if scale is not None
                        else {"why": f"{exp.unit} cannot be compared with {unit or 'no unit'}"}
                    ),
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
