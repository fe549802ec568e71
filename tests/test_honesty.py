"""No false good news: each case here once reported something that was not measured.

Each test goes through the CLI, on real processes (a command in a real git project,
a real log file, a real local HTTP service).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import invoke
from tests.test_watch import _once_open


def _json(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _item(doc: dict, metric: str) -> dict:
    return next(c for c in doc["comparison"] if c["metric"] == metric)


def test_a_command_metric_in_seconds_is_not_a_huge_improvement_over_ms(project: Path):
    report = project / "report.txt"
    report.write_text("changenote-metric: lat=480 ms\n")
    _json(invoke("baseline", "Slow report", "--cmd", "cat report.txt", "--runs", "6", "--json"))
    report.write_text("changenote-metric: lat=0.5 s\n")  # 500 ms: a little slower
    doc = _json(invoke("ship", "--reason", "new report code", "--json"))
    lat = _item(doc, "lat")
    assert lat["unit"] == "ms" and lat["before"] == 480 and lat["after"] == 500
    assert lat["verdict"] != "improved" and lat["change_pct"] > 0
    assert "converted from s to ms" in lat["detail"]
    note = (project / doc["note_path"]).read_text()
    assert "500 ms" in note and "0.5 ms" not in note


def test_manual_figures_in_two_time_units_are_converted_and_get_no_test(project: Path):
    _json(invoke("baseline", "Dashboard p95", "--metric", "lat=480ms", "--json"))
    doc = _json(invoke("ship", "--reason", "tuned", "--metric", "lat=0.5s", "--json"))
    lat = _item(doc, "lat")
    assert (lat["before"], lat["after"], lat["unit"]) == (480, 500, "ms")
    assert lat["verdict"] == "no-test"
    shown = invoke("show")
    assert "no test" in shown.stdout and "not significant" not in shown.stdout


def test_units_of_different_dimensions_get_no_verdict(project: Path):
    _json(invoke("baseline", "Dashboard figure", "--metric", "lat=480ms", "--json"))
    doc = _json(invoke("ship", "--reason", "tuned", "--metric", "lat=3", "--json"))
    lat = _item(doc, "lat")
    assert lat["verdict"] == "not-comparable" and lat["unit_after"] == ""
    assert lat["change_pct"] is None and lat["after"] == 3
    warning = doc["warnings"][0]  # invalidating warnings come first
    assert warning["code"] == "unit-changed" and warning["severity"] == "invalidates"
    assert "ms before" in warning["message"] and "no unit after" in warning["message"]
    note = (project / doc["note_path"]).read_text()
    assert "not comparable" in note and "unit-changed" in note


def test_a_metric_missing_on_one_side_is_not_measured_not_insignificant(project: Path):
    _json(invoke("baseline", "Two", "--metric", "lat=480ms", "--metric", "rows=9", "--json"))
    doc = _json(invoke("ship", "--reason", "dropped one", "--metric", "lat=400ms", "--json"))
    rows = _item(doc, "rows")
    assert rows["verdict"] == "not-measured" and rows["detail"] == "not measured after"
    table = invoke("show", str(doc["id"])).stdout
    line = next(x for x in table.splitlines() if "rows" in x and "│" in x)
    assert "not measured" in line and "significant" not in line
    assert "1 not measured" in (project / doc["note_path"]).read_text()


def test_info_warnings_are_counted_and_listed_on_request(project: Path):
    script = project / "slow.sh"
    # One run in ten is ten times slower: outliers the median resists (info).
    script.write_text(
        "#!/bin/sh\nn=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count\n"
        "if [ $((n % 10)) -eq 5 ]; then sleep 0.2; else sleep 0.02; fi\n"
    )
    script.chmod(0o755)
    base = _json(invoke("baseline", "Job", "--cmd", "./slow.sh", "--runs", "10", "--json"))
    codes = {w["code"]: w["severity"] for w in base["warnings"]}
    assert codes.get("outliers") == "info"
    text = invoke("show", str(base["id"])).stdout
    assert "warning outliers" not in text and "info warning(s)" in text
    every = invoke("show", str(base["id"]), "--warnings").stdout
    assert "warning outliers (info)" in every


def _shipped(project: Path) -> None:
    _json(invoke("baseline", "Slow search", "--metric", "p95_ms=12ms", "--json"))
    _json(invoke("ship", "--reason", "cache", "--metric", "p95_ms=5ms", "--json"))


def test_a_watch_of_a_missing_log_is_an_error_not_an_all_clear(project: Path):
    _shipped(project)
    result = invoke("watch", "--log", "missing.log", "--duration", "2s")
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "missing.log: no such file" in result.stderr
    doc = _json(invoke("show", "--json"))
    assert doc["watches"] == [] and not _watch_item(doc)["done"]
    assert "missing.log" not in (project / doc["note_path"]).read_text()


def _watch_item(doc: dict) -> dict:
    return next(i for i in doc["checklist"] if i["key"] == "watch")


def test_a_log_that_disappears_during_the_watch_is_not_ticked_as_clean(project: Path):
    import time

    _shipped(project)
    log = project / "app.log"
    log.write_text("INFO up\n")

    def service() -> None:  # writes a few lines, then its log is moved away for good
        for _ in range(5):
            with log.open("a") as fh:
                fh.write("INFO request served\n")
            time.sleep(0.1)
        log.rename(project / "app.log.1")

    # once the watch has the log open: moved before, it is a log that was never there
    writer = _once_open(log, service)
    result = invoke("watch", "--log", "app.log", "--duration", "2s", "--json")
    writer.join()
    assert result.code == 1
    assert "app.log disappeared during the watch and did not come back" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["watch"]["logs"][0]["missing"] is True and doc["watch"]["ticked"] is False
    assert not _watch_item(doc)["done"]
    note = (project / doc["note_path"]).read_text()
    assert "disappeared during the watch" in note and "not ticked" in note


def test_changenotes_own_files_do_not_make_a_clean_tree_dirty(project: Path):
    from tests.conftest import git

    (project / "changenote.toml").unlink()
    git(project, "commit", "-qam", "no config yet")
    assert invoke("init", "--service", "docs").code == 0  # an untracked changenote.toml
    _shipped(project)  # an untracked notes/ folder
    assert invoke("wiki", "--out", "team-wiki").code == 0  # an untracked wiki
    second = _json(invoke("baseline", "Next one", "--metric", "x=1", "--json"))
    assert second["base_dirty"] is False
    (project / "app" / "search.py").write_text("def search(q):\n    return cached(q)\n")
    doc = _json(invoke("ship", "--reason", "cache", "--metric", "x=1", "--json"))
    assert doc["files_touched"] == ["app/search.py"]
    note = (project / doc["note_path"]).read_text()
    (measured,) = [line for line in note.splitlines() if line.startswith("- **Measured:**")]
    assert "uncommitted changes" not in measured  # the baseline's tree was clean
    # the after-run's tree was not (app/search.py changed, uncommitted), and it says so
    assert "with uncommitted changes." in note.split("**Shipped:**")[1].split("\n")[0]


def test_outside_git_the_note_says_files_could_not_be_collected(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "changenote.toml").write_text("")
    base = _json(invoke("baseline", "No git here", "--metric", "x=1", "--json"))
    assert [w["code"] for w in base["warnings"]] == ["not-a-git-repository"]
    assert "not a git repository" in invoke("show").stdout
    doc = _json(invoke("ship", "--reason", "tuned", "--metric", "x=2", "--json"))
    note = (tmp_path / doc["note_path"]).read_text()
    files = note.split("### Files touched")[1].split("###")[0]
    assert files.strip() == "- none could be collected: not a git repository"


def test_search_without_a_hit_says_so(project: Path):
    _shipped(project)
    result = invoke("search", "nothing-here")
    assert result.code == 0 and result.stdout == "no change matches 'nothing-here'\n"
    assert _json(invoke("search", "nothing-here", "--json")) == []


def test_a_typo_in_a_checkable_expect_is_an_error_and_records_nothing(project: Path):
    for typo in ("time_ms p95 << 5ms", "time_ms p95 < fast", "time_ms p95 < 5 parsecs x"):
        result = invoke("baseline", "Slow", "--cmd", "true", "--expect", typo)
        assert result.code == 2 and result.stderr.count("\n") == 1, (typo, result.stderr)
        assert "--expect" in result.stderr and "Traceback" not in result.stderr
    assert _json(invoke("list", "--json")) == []
    # A well-formed clause about a metric no probe measures is said out loud.
    doc = _json(invoke("baseline", "Slow", "--cmd", "true", "--expect", "latency_ms < 5ms",
                       "--runs", "2", "--json"))  # fmt: skip
    assert doc["expect_plan"][0]["note"] == "no probe measures latency_ms: it will not be checked"


def test_expect_says_what_it_will_check_and_a_scope_holds(project: Path):
    expect = "time_ms p95 < 30ms; #1: time_ms median < 0.03s; faster reports"
    args = ["--cmd", "true", "--cmd", "sleep 0.05", "--runs", "3", "--expect", expect]
    doc = _json(invoke("baseline", "Two probes", *args, "--json"))
    unscoped, scoped, prose = doc["expect_plan"]
    assert unscoped["checkable"] and len(unscoped["probes"]) == 2
    assert "unscoped" in unscoped["note"]
    assert scoped["probes"] == ["$ true"] and scoped["note"] == ""
    assert prose == {"clause": "faster reports", "checkable": False, "probes": [],
                     "note": "prose"}  # fmt: skip
    text = invoke("show").stdout
    assert "time_ms" in text
    shipped = invoke("ship", "--reason", "x", "--fail-on-regression", "--json")
    checked = json.loads(shipped.stdout)["expectations"]
    on_first = [e for e in checked if e["expect"].startswith("#1")]
    assert [e["probe"] for e in on_first] == ["$ true"] and on_first[0]["target"] == 30
    # the unscoped clause fails on the 50 ms probe, so the gate fails: it was said at baseline
    assert shipped.code == 3 and "time_ms p95 < 30ms" in shipped.stderr


def test_a_trend_is_drawn_per_probe_never_across_probes(project: Path):
    import re

    from changenote.wiki.pages import page_name

    for title in ("First change", "Second change"):
        args = ["--cmd", "sleep 0.01", "--cmd", "true", "--runs", "3"]
        _json(invoke("baseline", title, *args, "--json"))
        _json(invoke("ship", "--reason", "tuned", "--json"))
    assert invoke("wiki", "--out", "w", "--format", "markdown").code == 0
    name = page_name("metric", "time_ms")
    page = next((project / "w").rglob(f"{name}.md")).read_text()
    rows = [line for line in page.splitlines() if line.startswith("| 20")]
    assert len(rows) == 4  # two changes x two probes, each its own row
    assert sum("sleep 0.01" in r for r in rows) == 2 and sum("$ true" in r for r in rows) == 2
    svg = next((project / "w").rglob(f"{name}.svg")).read_text()
    legend = re.findall(r"● ([^<]+)</text>", svg)
    assert legend == ["$ sleep 0.01", "$ true"]
    # the segments joining the two changes: before and after, per probe colour
    lines = re.findall(r'<line class="s\d line"[^>]* stroke="(#[0-9a-f]+)"', svg)
    assert len(lines) == 4 and len(set(lines)) == 2
