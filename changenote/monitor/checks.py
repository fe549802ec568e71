"""Running configured checks as a monitor: is it up, is it slow, is it failing, did it change.

A check is defined once under ``[checks.NAME]`` and serves ``baseline --check``,
``ship``, ``watch`` and this: ``changenote check`` runs each check a few times (no
warm-up, never a clear-cache command: this may be production) and answers the four
questions. "Changed" compares with the reference: the after-run of the last shipped
change that measured the same check, judged by the same tests as ``ship``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from changenote.config import CheckConfig, Config
from changenote.errors import ChangenoteError, NotFoundError
from changenote.measure.checks import find_check, monitoring_spec

#: Monitoring-plugin states, in the order of their exit codes (0 OK ... 3 UNKNOWN).
STATES = ("ok", "warning", "critical", "unknown")


@dataclass
class CheckResult:
    """One check's answer to the four questions."""

    name: str
    probe: str
    state: str = "unknown"
    up: bool | None = None
    slow: bool | None = None
    failing: bool | None = None
    #: "improved", "regressed", "not-significant", ... of time_ms against the reference;
    #: None without a reference.
    changed: str | None = None
    #: One short sentence: why the state is what it is.
    reason: str = ""
    slow_ms: float | None = None
    max_error_rate: float = 0.0
    attempts: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    #: Per metric: median, unit, n (and the reference median when there is one).
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The change whose after-run is the reference, if any.
    reference: dict[str, Any] | None = None
    #: Why ``changed`` is what it is when it is not the plain verdict: not compared (too
    #: few runs, run-to-run noise not known yet), or within the run-to-run noise.
    compared: str | None = None
    comparison: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return STATES.index(self.state)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "probe": self.probe,
            "state": self.state,
            "up": self.up,
            "slow": self.slow,
            "failing": self.failing,
            "changed": self.changed,
            "reason": self.reason,
            "slow_ms": self.slow_ms,
            "max_error_rate": self.max_error_rate,
            "attempts": self.attempts,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "metrics": self.metrics,
            "reference": self.reference,
            "changed_note": self.compared,
            "comparison": self.comparison,
        }


def worst(results: list[CheckResult]) -> str:
    """The state of a set of checks: the worst of them (UNKNOWN only if nothing worse)."""
    order = ("ok", "unknown", "warning", "critical")  # a known problem outranks unknown
    return max((r.state for r in results), key=order.index, default="unknown")


def reference_runs(config: Config, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per check: the last shipped change that measured it, and that probe's after-run."""
    from changenote.notebook import document
    from changenote.store.db import Store
    from changenote.store.models import Change

    store = Store(config.store_url())
    if not store.exists():
        return {}
    from sqlmodel import col, select

    found: dict[str, dict[str, Any]] = {}
    with store.read() as session:
        shipped = session.exec(
            select(Change)
            .where(Change.status == "shipped")
            .order_by(col(Change.shipped_at).desc(), col(Change.id).desc())
        )
        for change in shipped:
            wanted = [(i, p) for i, p in enumerate(change.probes or []) if p.get("check") in names]
            wanted = [(i, p) for i, p in wanted if p["check"] not in found]
            if not wanted:
                continue
            doc = document.load(session, change)
            after = doc["runs"][-1] if doc["runs"] else {"metrics": []}
            for index, probe in wanted:
                found[probe["check"]] = {
                    "slug": doc["slug"],
                    "title": doc["title"],
                    "shipped_at": doc["shipped_at"],
                    "settings": doc["settings"],
                    "metrics": [
                        {**m, "probe_index": 0}
                        for m in after.get("metrics", [])
                        if m.get("probe_index") == index
                    ],
                }
            if len(found) == len(names):
                break
    return found


#: Recorded runs of a check since its reference needed before a change is claimed: one
#: run against one run cannot tell a change from the drift between runs.
MIN_HISTORY = 5
#: A run median further than this many robust standard deviations (1.4826 x MAD) from
#: the recorded run medians is outside the check's run-to-run noise (Iglewicz-Hoaglin).
NOISE_Z = 3.5


def run_history(config: Config, references: dict[str, dict[str, Any]]) -> dict[str, list[float]]:
    """Per check: the time_ms medians of its recorded runs (``check --record``) since its
    reference change, newest first (at most 50)."""
    from changenote.store.db import Store
    from changenote.store.models import CheckRecord

    store = Store(config.store_url())
    if not references or not store.exists():
        return {}
    from sqlmodel import col, select

    found: dict[str, list[float]] = {}
    with store.read() as session:
        for name, reference in references.items():
            rows = session.exec(
                select(CheckRecord)
                .where(CheckRecord.name == name, CheckRecord.reference == reference["slug"])
                .order_by(col(CheckRecord.id).desc())
                .limit(50)
            ).all()
            found[name] = [
                float(r.metrics["time_ms"]["median"])
                for r in rows
                if (r.metrics.get("time_ms") or {}).get("median") is not None
            ]
    return found


def run_checks(
    config: Config,
    names: list[str],
    runs: int = 1,
    timeout: float | None = None,
    progress: Any = None,
    keep: bool = False,
) -> list[CheckResult]:
    """Run the named checks (every configured one when none is named) and judge them;
    ``keep`` also records the results in the store for trends."""
    from changenote.measure.probes import MeasureSettings, measure
    from changenote.redact import redact

    if runs < 1:
        raise ChangenoteError(f"--runs must be at least 1, got {runs}")
    if not names:
        names = sorted(config.checks)
        if not names:
            raise NotFoundError("no checks configured: add [checks.NAME] to the config")
    checks = [find_check(config, name) for name in dict.fromkeys(names)]
    references = reference_runs(config, [c.name for c in checks])
    history = run_history(config, references)
    results = []
    for check in checks:
        spec = monitoring_spec(check)
        label = redact(spec.label, config.redact_patterns) or spec.label
        result = CheckResult(
            name=check.name,
            probe=label,
            slow_ms=check.slow_ms,
            max_error_rate=check.max_error_rate or 0.0,
        )
        reference = references.get(check.name)
        settings = MeasureSettings(
            runs=runs,
            # Like with like: warmed up as the reference run was (ship warms up; a cold
            # first request against a warm after-run reads as a regression). Never a
            # clear-cache command: this may be production.
            warmup=_warmup(check, reference),
            timeout=timeout or check.timeout or config.timeout,
            clear_cache=None,
        )
        try:
            (outcome,) = measure([spec], settings, progress)
        except ChangenoteError as exc:  # e.g. a ${TOKEN} the environment lacks
            result.reason = redact(str(exc), config.redact_patterns) or str(exc)
            results.append(result)
            continue
        _judge(result, outcome, reference, config, history.get(check.name, []))
        results.append(result)
    if keep:
        record(config, results)
    return results


#: Fewer runs than this and a check is not compared with its reference: "changed" needs
#: enough samples to tell noise from a change.
MIN_COMPARED_RUNS = 5


def _warmup(check: CheckConfig, reference: dict[str, Any] | None) -> int:
    """The reference run's warm-up (else the check's own, else none)."""
    if reference is not None:
        return int(reference["settings"].get("warmup", check.warmup or 0))
    return check.warmup or 0


def _within_noise(median: float, reference: float, history: list[float]) -> bool:
    """Whether a run's median lies within the check's run-to-run noise: the recorded run
    medians since the reference, and the reference's own."""
    import statistics

    medians = [reference, *history]
    center = statistics.median(medians)
    mad = statistics.median(abs(m - center) for m in medians)
    scale = max(1.4826 * mad, 0.01 * abs(center))  # a floor: identical medians happen
    return abs(median - center) <= NOISE_Z * scale


def _against_noise(result: CheckResult, lead: dict[str, Any], history: list[float]) -> None:
    """A change the samples show is claimed only beyond the check's run-to-run noise."""
    if len(history) < MIN_HISTORY:
        # The samples of one run differ from the reference's, but runs taken at
        # different times differ by more than their own spread says: not a claim.
        result.changed = None
        result.compared = (
            f"not compared: {lead['change_pct']:+.0f}% against one reference run, and "
            f"the check's run-to-run noise is not known yet ({len(history)} of "
            f"{MIN_HISTORY} runs recorded since it; use --record)"
        )
    elif lead["before"] is not None and _within_noise(lead["after"], lead["before"], history):
        result.changed = "not-significant"
        result.compared = (
            f"{lead['change_pct']:+.0f}%, within the run-to-run noise of "
            f"{len(history)} recorded runs"
        )


def _judge(
    result: CheckResult,
    outcome: Any,
    reference: dict[str, Any] | None,
    config: Config,
    history: list[float] | None = None,
) -> None:
    from changenote.measure.comparing import compare_runs
    from changenote.notebook.recording import metric_rows
    from changenote.redact import redact

    def hide(text: str | None) -> str:
        return redact(text, config.redact_patterns) or "" if text else ""

    result.attempts, result.errors = outcome.attempts, outcome.errors
    result.statuses = {hide(k): v for k, v in outcome.statuses.items()}
    rules = config.metric_rules()
    rows = metric_rows([outcome], [], hide, rules)
    for row in rows:
        result.metrics[row["metric"]] = {
            "median": row.get("median"),
            "unit": row["unit"],
            "n": row["n"],
        }
    error_rate = outcome.errors / outcome.attempts if outcome.attempts else 1.0
    result.up = outcome.errors < outcome.attempts
    result.failing = error_rate > result.max_error_rate
    median = result.metrics.get("time_ms", {}).get("median")
    if result.slow_ms is not None and median is not None and result.up:
        result.slow = median > result.slow_ms
    if reference is not None and result.up:
        result.reference = {k: reference[k] for k in ("slug", "title", "shipped_at")}
    if reference is not None and result.up and outcome.attempts < MIN_COMPARED_RUNS:
        result.changed = None
        result.compared = (
            f"not compared (n too small: {outcome.attempts} run(s); "
            f"--runs {max(10, MIN_COMPARED_RUNS)} compares)"
        )
    elif reference is not None and result.up:
        settings = reference["settings"]
        comparison = compare_runs(
            reference["metrics"],
            rows,
            float(settings.get("min_effect", config.min_effect)),
            settings.get("metrics") or {},
        )
        result.comparison = [
            {k: c.get(k) for k in ("metric", "unit", "before", "after", "change_pct", "verdict")}
            for c in comparison
        ]
        for c in comparison:
            if c["metric"] in result.metrics:
                result.metrics[c["metric"]]["reference"] = c.get("before")
        lead = next((c for c in comparison if c["metric"] == "time_ms"), None)
        result.changed = lead["verdict"] if lead else None
        if lead is not None and lead["verdict"] in ("improved", "regressed", "changed"):
            _against_noise(result, lead, history or [])
    last = max(outcome.statuses, key=outcome.statuses.get) if outcome.statuses else "no answer"
    if not result.up:
        result.state, result.reason = "critical", f"down ({hide(outcome.last_status) or last})"
    elif result.failing:
        kinds = ", ".join(f"{hide(k)} x{v}" for k, v in outcome.error_kinds.items())
        result.state = "critical"
        result.reason = (
            f"failing: {outcome.errors}/{outcome.attempts} errors "
            f"(max {result.max_error_rate:g}): {kinds}"
        )
    elif result.slow:
        result.state = "warning"
        result.reason = f"slow: median {median:.1f} ms > {result.slow_ms:g} ms"
    elif result.changed == "regressed":
        result.state = "warning"
        result.reason = f"slower than after {result.reference['slug']}"  # type: ignore[index]
    else:
        result.state, result.reason = "ok", "up"


def record(config: Config, results: list[CheckResult]) -> int:
    """Keep the results in the store (``check_result``), for trends; how many were kept."""
    from changenote.notebook.recording import environment
    from changenote.store.db import Store
    from changenote.store.models import CheckRecord

    where = environment()
    with Store(config.store_url()).write() as session:
        for r in results:
            session.add(
                CheckRecord(
                    name=r.name,
                    state=r.state,
                    probe=r.probe,
                    attempts=r.attempts,
                    errors=r.errors,
                    metrics=r.metrics,
                    reference=r.reference["slug"] if r.reference else None,
                    environment=where,
                )
            )
    return len(results)
