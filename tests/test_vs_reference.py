"""``--vs``: the after window judged against the same window earlier too. A fix that the
same hour a week ago already had is a warning, not a second opinion kept quiet."""

from __future__ import annotations

import math
import random

from changenote.measure.comparing import judge, reference_run

N = 60


def window(level: float, seed: int) -> list[float]:
    """An AR(1) window (φ 0.5, 2% noise) around ``level``."""
    rng = random.Random(seed)
    z, out = rng.gauss(0, 1), []
    for _ in range(N):
        z = 0.5 * z + rng.gauss(0, 1) * math.sqrt(1 - 0.25)
        out.append(level * (1 + 0.02 * z))
    return out


def run(label: str, samples: list[float] | None, settings: dict | None = None) -> dict:  # type: ignore[type-arg]
    metrics = [] if samples is None else [
        {"probe": "prom p", "probe_index": 0, "metric": "mean", "unit": "s", "better": "lower",
         "samples": samples}
    ]  # fmt: skip
    result = {"label": "prom p", "attempts": 1, "errors": 0 if samples else 1,
              "last_status": "ok" if samples else "no data: the query returned no series",
              "window": {"start": "2026-11-25T10:00:00Z", "end": "2026-11-25T10:30:00Z",
                         "step": 30.0, "points": len(samples or [])}}  # fmt: skip
    return {"label": label, "metrics": metrics, "probe_results": [result],
            "settings": settings or {}, "environment": {}}  # fmt: skip


def judged(baseline: float, after: float, reference: float | None):  # type: ignore[no-untyped-def]
    before = run("baseline", window(baseline, 1))
    latest = run("after", window(after, 2))
    ref = run("after -7d", None if reference is None else window(reference, 3),
              {"reference": {"of": "after", "vs": 604800.0, "probes": [0]}})  # fmt: skip
    runs = [before, ref, latest]
    assert reference_run(runs, "after") is ref and reference_run(runs, "baseline") is None
    return judge({"min_effect": 5.0}, before, latest, None, ref)


def codes(verdict) -> list[str]:  # type: ignore[no-untyped-def]
    return [w["code"] for w in verdict.warnings]


def test_a_fix_the_same_window_last_week_already_had_is_a_warning():
    verdict = judged(baseline=0.050, after=0.040, reference=0.040)
    item = verdict.comparison[0]
    assert item["verdict"] == "improved"
    assert item["vs"]["verdict"] == "not-significant" and item["vs"]["run"] == "after -7d"
    assert item["vs"]["offset"] == 604800.0 and abs(item["vs"]["before"] - 0.040) < 0.002
    warned = [w for w in verdict.warnings if w["code"] == "reference-disagrees"]
    assert len(warned) == 1
    assert (
        "improved against the baseline but not-significant against the same window 7d "
        "earlier (2026-11-25T10:00:00Z to 2026-11-25T10:30:00Z)" in warned[0]["message"]
    )


def test_a_fix_the_reference_bears_out_gives_no_warning():
    verdict = judged(baseline=0.050, after=0.040, reference=0.050)
    item = verdict.comparison[0]
    assert item["verdict"] == "improved" and item["vs"]["verdict"] == "improved"
    assert "reference-disagrees" not in codes(verdict)


def test_a_reference_without_data_is_no_data_not_agreement():
    verdict = judged(baseline=0.050, after=0.040, reference=None)
    item = verdict.comparison[0]
    assert item["verdict"] == "improved" and item["vs"]["verdict"] == "not-measured"
    assert "reference-disagrees" not in codes(verdict)
    assert any(w["code"] == "no-data" and "after -7d" in w["message"] for w in verdict.warnings)


def test_without_a_reference_nothing_is_added():
    before, latest = run("baseline", window(0.05, 1)), run("after", window(0.04, 2))
    verdict = judge({"min_effect": 5.0}, before, latest, None)
    assert "vs" not in verdict.comparison[0]
