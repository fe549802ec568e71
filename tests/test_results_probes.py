"""Results files as probes: `--results FILE` on baseline, measure and ship (issue 17).

hyperfine (Debian's package) and pytest-benchmark (the test extra) write the files the
commands read; small hand-written files stand in where a test needs figures no tool
would give on demand (a summary with no spread, a secret in a command). Every file is
read by the CLI as a user would give it; the store, the note and the JSON are read back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke, new_service

FIXTURES = Path(__file__).parent / "fixtures" / "results"
CLI = [sys.executable, "-m", "changenote"]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {name} is missing (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{name} is not installed")
    return found


def _hyperfine(folder: Path, out: str, *commands: tuple[str, str], runs: int = 12) -> Path:
    args = [_tool("hyperfine"), "-N", "--runs", str(runs), "--warmup", "1", "--style", "none"]
    for name, command in commands:
        args += ["-n", name, command]
    subprocess.run([*args, "--export-json", out], cwd=folder, check=True, capture_output=True)
    return folder / out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """hyperfine's files: a baseline, a slower after-run, and one with a renamed benchmark."""
    here = tmp_path_factory.mktemp("hyperfine")
    return {
        "before": _hyperfine(here, "before.json", ("work", "sleep 0.01"), ("idle", "sleep 0.001")),
        "slower": _hyperfine(here, "slower.json", ("work", "sleep 0.04"), ("idle", "sleep 0.001")),
        "renamed": _hyperfine(
            here, "renamed.json", ("work-v2", "sleep 0.01"), ("idle", "sleep 0.001")
        ),
    }


def _by_probe(doc: dict[str, Any], metric: str = "time_ms") -> dict[str, dict[str, Any]]:
    return {c["probe"]: c for c in doc["comparison"] if c["metric"] == metric}


def _db(project: Path) -> bytes:
    return (project / ".changenote" / "changenote.db").read_bytes()


def _runs(project: Path) -> int:
    conn = sqlite3.connect(project / ".changenote" / "changenote.db")
    try:
        return int(conn.execute("SELECT count(*) FROM run").fetchone()[0])
    finally:
        conn.close()


def _hyperfine_file(path: Path, results: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"results": results}), encoding="utf-8")
    return path


def _entry(name: str, seconds: list[float], **more: Any) -> dict[str, Any]:
    mean = sum(seconds) / len(seconds)
    return {"command": name, "mean": mean, "stddev": 0.0, "median": mean, "user": 0.0,
            "system": 0.0, "min": min(seconds), "max": max(seconds), "times": seconds,
            "exit_codes": [0] * len(seconds), **more}  # fmt: skip


# -- 1. a probe kind; 4. provenance --------------------------------------------------------


def test_a_slower_after_file_regresses_and_fails_the_gate(
    project: Path, files: dict[str, Path], store_backend: str
):
    made = invoke("baseline", "Slow work", "--results", str(files["before"]), "--json")
    assert made.code == 0, made.stderr
    doc = made.json()
    assert doc["probes"] == ["hyperfine: work", "hyperfine: idle"]
    run = doc["runs"][0]
    (kept,) = run["settings"]["results_files"]
    assert kept["sha256"] == hashlib.sha256(files["before"].read_bytes()).hexdigest()
    assert kept["tool"] == "hyperfine" and kept["tool_version"] is None
    samples = json.loads(files["before"].read_text())["results"][0]["times"]
    work = next(m for m in run["metrics"] if m["probe"] == "hyperfine: work")
    assert work["unit"] == "ms" and work["samples"] == [round(t * 1000, 4) for t in samples]
    shipped = invoke("ship", "--reason", "bigger batch", "--results", str(files["slower"]),
                     "--fail-on-regression", "--json")  # fmt: skip
    assert shipped.code == 3, shipped.stderr
    assert "regressed: time_ms of hyperfine: work" in shipped.stderr
    item = _by_probe(shipped.json())["hyperfine: work"]
    assert item["verdict"] == "regressed" and item["kind"] == "continuous"
    note = (project / shipped.json()["note_path"]).read_text()
    assert "- **Read from a results file,** `hyperfine: work` (#1):" in note
    assert "baseline: from hyperfine (the file gives no version), 12 runs, " in note
    assert f"runs, `{files['before']}`, sha256 `{kept['sha256'][:12]}`" in note
    assert "**Measured:**" not in note  # changenote ran nothing: no runs and warm-ups


def test_the_file_is_not_kept_beyond_its_samples(project: Path, tmp_path: Path):
    marker = "ONLY-IN-THE-FILE-7f3a"
    given = _hyperfine_file(
        tmp_path / "b.json", [_entry("work", [0.010, 0.011, 0.012], comment=marker)]
    )
    assert invoke("baseline", "Work", "--results", str(given)).code == 0
    assert marker.encode() not in _db(project)
    assert not list((project / ".changenote").rglob("*.json"))


# -- 2. the same verdicts as native probes ------------------------------------------------

EMIT = """
import json, pathlib, sys
here = pathlib.Path(sys.argv[1])
samples = json.loads((here / "samples.json").read_text())
at = int((here / "at").read_text()) if (here / "at").exists() else 0
(here / "at").write_text(str(at + 1))
print(f"changenote-metric: work_ms={samples[at]!r} ms better=lower")
"""


def test_the_same_samples_give_the_same_verdict_as_a_native_probe(
    project: Path, files: dict[str, Path], tmp_path: Path
):
    from changenote.measure.stats import compare

    before = [
        round(t * 1000, 4) for t in json.loads(files["before"].read_text())["results"][0]["times"]
    ]
    after = [
        round(t * 1000, 4) for t in json.loads(files["slower"].read_text())["results"][0]["times"]
    ]
    # a file's samples, through --results
    assert invoke("baseline", "From the file", "--results", str(files["before"])).code == 0
    from_file = invoke("ship", "1", "--reason", "r", "--results", str(files["slower"]), "--json")
    assert from_file.code == 0, from_file.stderr
    via_file = _by_probe(from_file.json())["hyperfine: work"]
    # the very comparison native probes get, on the same samples
    same = compare("hyperfine: work", "time_ms", "ms", "lower", before, after).to_dict()
    assert via_file == same
    # and a native command probe that prints the same samples, one per run
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "emit.py").write_text(EMIT)
    (feed / "samples.json").write_text(json.dumps(before))
    command = f"{sys.executable} {feed / 'emit.py'} {feed}"
    made = invoke("baseline", "Native", "--cmd", command, "--runs", str(len(before)),
                  "--warmup", "0")  # fmt: skip
    assert made.code == 0, made.stderr
    (feed / "samples.json").write_text(json.dumps(after))
    (feed / "at").unlink()
    native = invoke("ship", "2", "--reason", "r", "--json")
    assert native.code == 0, native.stderr
    (item,) = [c for c in native.json()["comparison"] if c["metric"] == "work_ms"]
    for key in ("verdict", "before", "after", "change_pct", "p_value", "n_before", "n_after"):
        assert item[key] == via_file[key], key
    # the bootstrap's seed follows the names: the interval agrees to its resampling noise
    assert abs(item["ci_low"] - via_file["ci_low"]) < 5
    assert abs(item["ci_high"] - via_file["ci_high"]) < 5


# -- 2. summary-only data ------------------------------------------------------------------


def _pytest_benchmark_file(path: Path, stats: dict[str, Any], name: str = "test_work") -> Path:
    doc = {
        "machine_info": {"node": "ci-runner", "python_version": "3.11.7"},
        "commit_info": {"id": "abc", "dirty": False},
        "benchmarks": [{"name": name, "fullname": f"tests/test_x.py::{name}", "stats": stats}],
        "datetime": "2026-12-01T10:00:00",
        "version": "5.3.1",
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_summaries_with_n_and_spread_get_welchs_test(
    project: Path, tmp_path: Path, store_backend: str
):
    from scipy.stats import ttest_ind_from_stats

    before = _pytest_benchmark_file(tmp_path / "0001_before.json",
                                    {"rounds": 40, "mean": 0.010, "stddev": 0.001, "median": 0.010,
                                     "min": 0.008, "max": 0.013})  # fmt: skip
    after = _pytest_benchmark_file(tmp_path / "0002_after.json",
                                   {"rounds": 40, "mean": 0.0085, "stddev": 0.0012,
                                    "median": 0.0085, "min": 0.007, "max": 0.011})  # fmt: skip
    assert invoke("baseline", "Saved runs", "--results", str(before)).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(after), "--json")
    assert shipped.code == 0, shipped.stderr
    (item,) = shipped.json()["comparison"]
    assert item["kind"] == "summary" and item["verdict"] == "improved"
    expected = ttest_ind_from_stats(10.0, 1.0, 40, 8.5, 1.2, 40, equal_var=False).pvalue
    assert item["p_value"] == float(f"{expected:.3g}")
    assert item["change_pct"] == pytest.approx(-15.0)
    assert item["ci_low"] < item["change_pct"] < item["ci_high"] < -5
    assert "Welch" in item["detail"] and "summary only" in item["detail"]
    note = (project / shipped.json()["note_path"]).read_text()
    assert "from pytest-benchmark 5.3.1, summary only (40 rounds, no samples)" in note


@pytest.mark.parametrize(
    ("missing", "why"), [("stddev", "gives no spread"), ("rounds", "gives no count")]
)
def test_a_summary_without_n_or_spread_is_never_a_verdict(
    project: Path, tmp_path: Path, missing: str, why: str
):
    stats = {"rounds": 40, "mean": 0.010, "stddev": 0.001, "median": 0.010}
    before = _pytest_benchmark_file(tmp_path / "b.json", {k: v for k, v in stats.items()
                                                          if k != missing})  # fmt: skip
    half = {**stats, "mean": 0.005, "median": 0.005}
    after = _pytest_benchmark_file(tmp_path / "a.json", {k: v for k, v in half.items()
                                                         if k != missing})  # fmt: skip
    assert invoke("baseline", "Halved", "--results", str(before)).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(after), "--json")
    (item,) = shipped.json()["comparison"]
    assert item["verdict"] == "no-test" and item["p_value"] is None
    assert item["change_pct"] == pytest.approx(-50.0)  # both figures kept, no verdict
    assert why in item["detail"]


def test_locust_summaries_say_no_test_even_for_a_large_change(project: Path, tmp_path: Path):
    source = (FIXTURES / "locust-2_stats.csv").read_text()
    halved = tmp_path / "after_stats.csv"
    lines = source.splitlines()
    header = lines[0].split(",")
    column = header.index("Average Response Time")
    rows = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[column] = str(float(cells[column]) / 2)
        rows.append(",".join(cells))
    halved.write_text("\n".join(rows) + "\n")
    assert (
        invoke("baseline", "Load test", "--results", str(FIXTURES / "locust-2_stats.csv")).code == 0
    )
    shipped = invoke("ship", "--reason", "r", "--results", str(halved), "--json")
    assert shipped.code == 0, shipped.stderr
    verdicts = {c["probe"]: c for c in shipped.json()["comparison"] if c["metric"] == "time_ms"}
    # a row locust never requested has no times: nothing measured on either side
    assert verdicts.pop("locust: POST /login")["verdict"] == "not-measured"
    assert {c["verdict"] for c in verdicts.values()} == {"no-test"}
    assert all("gives no spread" in c["detail"] for c in verdicts.values())
    assert all(c["change_pct"] == pytest.approx(-50.0) for c in verdicts.values())


def test_a_real_saved_run_without_data_against_a_full_run(project: Path, tmp_path: Path):
    """pytest-benchmark's own files: a saved run (summary only) then --benchmark-json."""
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "pytest.ini").write_text("[pytest]\n")
    (bench / "test_w.py").write_text(
        "def test_work(benchmark):\n    benchmark(sorted, list(range(2000, 0, -1)))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT", "PYTEST_ADDOPTS"))}  # fmt: skip
    common = [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
              "--benchmark-min-rounds=20", "--benchmark-max-time=0.05", "test_w.py"]  # fmt: skip
    subprocess.run([*common, "--benchmark-storage=file://./saved", "--benchmark-save=base"],
                   cwd=bench, env=env, check=True, capture_output=True)  # fmt: skip
    subprocess.run([*common, "--benchmark-json=after.json"], cwd=bench, env=env, check=True,
                   capture_output=True)  # fmt: skip
    (saved,) = (bench / "saved").rglob("*base.json")
    made = invoke("baseline", "Sorting", "--results", str(saved), "--json")
    assert made.code == 0, made.stderr
    assert made.json()["probes"] == ["pytest-benchmark: test_w.py::test_work"]
    shipped = invoke("ship", "--reason", "r", "--results", str(bench / "after.json"), "--json")
    assert shipped.code == 0, shipped.stderr
    (item,) = [c for c in shipped.json()["comparison"] if c["metric"] == "time_ms"]
    assert item["kind"] == "summary" and item["p_value"] is not None
    assert item["verdict"] in ("improved", "regressed", "not-significant")
    assert item["n_before"] >= 20 and item["n_after"] >= 20
    assert "a side without samples" in item["detail"]
    # outliers of the raw side cannot move a verdict the summary side's figures make
    assert not any("changes the verdict" in w["message"] for w in shipped.json()["warnings"])


# -- 3. matching at ship ---------------------------------------------------------------------


def test_a_benchmark_on_one_side_only_is_not_measured(project: Path, files: dict[str, Path]):
    assert invoke("baseline", "Renamed", "--results", str(files["before"])).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(files["renamed"]), "--json")
    assert shipped.code == 0, shipped.stderr
    found = _by_probe(shipped.json())
    assert found["hyperfine: work"]["verdict"] == "not-measured"
    assert "not in this run's results files" in found["hyperfine: work"]["detail"]
    assert found["hyperfine: work-v2"]["verdict"] == "not-measured"
    assert "not in the baseline's results files" in found["hyperfine: work-v2"]["detail"]
    assert found["hyperfine: idle"]["verdict"] != "not-measured"
    said = {w["code"]: w["message"] for w in shipped.json()["warnings"]}
    assert (
        "the probes differ (only in the newer run: hyperfine: work-v2)"
        in said["environment-changed"]
    )


def test_match_pairs_a_renamed_benchmark(project: Path, files: dict[str, Path]):
    assert invoke("baseline", "Renamed", "--results", str(files["before"])).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(files["renamed"]),
                     "--match", "work=work-v2", "--json")  # fmt: skip
    assert shipped.code == 0, shipped.stderr
    found = _by_probe(shipped.json())
    assert set(found) == {"hyperfine: work", "hyperfine: idle"}
    assert found["hyperfine: work"]["verdict"] != "not-measured"
    assert found["hyperfine: work"]["n_after"] == 12
    assert "'work-v2' paired with it by --match" in found["hyperfine: work"]["detail"]
    note = (project / shipped.json()["note_path"]).read_text()
    assert "as `work-v2` (`--match`)" in note


def test_match_takes_the_one_split_that_names_both_sides(project: Path, tmp_path: Path):
    old = _hyperfine_file(tmp_path / "old.json", [_entry("python -c x=1", [0.01, 0.011, 0.012])])
    new = _hyperfine_file(tmp_path / "new.json", [_entry("python -c x=2", [0.01, 0.011, 0.012])])
    assert invoke("baseline", "Equals", "--results", str(old)).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(new),
                     "--match", "python -c x=1=python -c x=2", "--json")  # fmt: skip
    assert shipped.code == 0, shipped.stderr
    assert set(_by_probe(shipped.json())) == {"hyperfine: python -c x=1"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--match", "nosuch=work"], "--match 'nosuch=work': OLD must be a baseline benchmark"),
        (["--match", "work"], "is not OLD=NEW"),
        (["--match", "work=work", "--match", "idle=work"], "already paired"),
        (["--results-format", "nope"], "--results-format must be one of"),
    ],
)
def test_a_bad_match_or_format_is_one_line_and_records_nothing(
    project: Path, files: dict[str, Path], args: list[str], says: str
):
    assert invoke("baseline", "Bad match", "--results", str(files["before"])).code == 0
    refused = invoke("ship", "--reason", "r", "--results", str(files["slower"]), *args)
    assert refused.code == 2 and says in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert invoke("show", "--json").json()["status"] == "baseline"
    assert _runs(project) == 1


def test_ship_without_the_after_file_is_refused(project: Path, files: dict[str, Path]):
    assert invoke("baseline", "Needs a file", "--results", str(files["before"])).code == 0
    refused = invoke("ship", "--reason", "r")
    assert refused.code == 2
    assert "give this run's file with --results FILE" in refused.stderr
    assert invoke("show", "--json").json()["status"] == "baseline"
    assert invoke("measure", "--match", "a=b").code == 2


def test_measure_reads_a_file_as_another_run(project: Path, files: dict[str, Path]):
    assert invoke("baseline", "Twice", "--results", str(files["before"])).code == 0
    measured = invoke("measure", "--results", str(files["slower"]), "--label", "try-1",
                      "--fail-on-regression", "--json")  # fmt: skip
    assert measured.code == 3, measured.stderr
    assert _by_probe(measured.json())["hyperfine: work"]["verdict"] == "regressed"
    assert [r["label"] for r in measured.json()["runs"]] == ["baseline", "try-1"]
    refused = invoke("measure", "--label", "try-2")
    assert refused.code == 2 and "--results FILE" in refused.stderr


# -- bad input: one line, exit 2, nothing recorded --------------------------------------------

BAD = {
    "not-json.json": b"{this is not json",
    "no-benchmarks.json": b'{"results": []}',
    "empty-times.json": b'{"results": [{"command": "x", "mean": 1, "times": []}]}',
    "nan.json": b'{"results": [{"command": "x", "mean": 1, "times": [0.1, NaN]}]}',
    "fake.json.gz": b"\x1f\x8bnot gzip at all",
    "unknown.json": b'{"what": "is this"}',
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_is_one_line_exit_2_and_nothing_recorded(tmp_path: Path, name: str):
    project = new_service(tmp_path / "svc")
    bad = tmp_path / name
    bad.write_bytes(BAD[name])
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    done = subprocess.run([*CLI, "baseline", "Bad", "--results", str(bad)], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert str(bad) in done.stderr
    assert not (project / ".changenote" / "changenote.db").exists() or _runs(project) == 0


def test_a_bad_after_file_leaves_the_change_as_it_was(project: Path, files: dict[str, Path],
                                                      tmp_path: Path):  # fmt: skip
    assert invoke("baseline", "Then bad", "--results", str(files["before"])).code == 0
    before = _db(project)
    bad = tmp_path / "after.json"
    bad.write_bytes(BAD["nan.json"])
    refused = invoke("ship", "--reason", "r", "--results", str(bad))
    assert refused.code == 2 and "after.json" in refused.stderr
    assert _db(project) == before
    assert not (project / "notes").exists() or not list((project / "notes").glob("*.md"))


# -- secrets, machines, import ----------------------------------------------------------------


def test_a_secret_in_a_command_is_masked_and_still_matched(project: Path, tmp_path: Path):
    command = "curl -s -H 'Authorization: Bearer sk-live-9f8e7d6c5b4a39281706' http://127.0.0.1/"
    old = _hyperfine_file(tmp_path / "old.json", [_entry(command, [0.010, 0.011, 0.012, 0.010])])
    new = _hyperfine_file(tmp_path / "new.json", [_entry(command, [0.005, 0.006, 0.005, 0.006])])
    made = invoke("baseline", "Secret", "--results", str(old))
    assert made.code == 0, made.stderr
    shipped = invoke("ship", "--reason", "r", "--results", str(new), "--json")
    assert shipped.code == 0, shipped.stderr
    assert "sk-live-9f8e7d6c5b4a39281706" not in shipped.stdout + made.stdout + shipped.stderr
    assert b"sk-live-9f8e7d6c5b4a39281706" not in _db(project)
    (item,) = _by_probe(shipped.json()).values()
    assert item["verdict"] == "improved"
    note = (project / shipped.json()["note_path"]).read_text()
    assert "sk-live" not in note


def _pyperf_doc(hostname: str, values: list[float]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "metadata": {
            "hostname": hostname,
            "perf_version": "2.11.0",
            "unit": "second",
            "python_version": "3.11.7",
            "cpu_count": 2,
        },
        "benchmarks": [{"metadata": {"name": "work"}, "runs": [{"values": values}]}],
    }


def test_files_from_different_machines_are_a_warning(project: Path, tmp_path: Path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_pyperf_doc("laptop", [0.010, 0.011, 0.012, 0.010, 0.011])))
    new = tmp_path / "new.json"
    new.write_text(json.dumps(_pyperf_doc("ci-runner", [0.010, 0.011, 0.012, 0.010, 0.011])))
    assert invoke("baseline", "Machines", "--results", str(old)).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(new), "--json")
    codes = {w["code"]: w for w in shipped.json()["warnings"]}
    assert "hostname laptop → ci-runner" in codes["results-machine-changed"]["message"]
    assert "environment-changed" not in codes  # this machine's load read no sample
    note = (project / shipped.json()["note_path"]).read_text()
    assert "from pyperf 2.11.0, format 1.0, 5 values, " in note


def test_an_exported_change_with_results_imports_elsewhere(
    project: Path, files: dict[str, Path], tmp_path: Path
):
    assert invoke("baseline", "Export me", "--results", str(files["before"])).code == 0
    assert invoke("ship", "--reason", "r", "--results", str(files["slower"])).code == 0
    out = tmp_path / "out.jsonl"
    assert invoke("export", "--out", str(out)).code == 0
    other = new_service(tmp_path / "other")
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    done = subprocess.run([*CLI, "import", str(out)], cwd=other, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = subprocess.run([*CLI, "show", "export-me", "--json"], cwd=other, env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    doc = json.loads(shown.stdout)
    assert doc["runs"][-1]["settings"]["results_files"][0]["path"].endswith("slower.json")
    assert _by_probe(doc)["hyperfine: work"]["verdict"] == "regressed"


# -- what a second reading found ----------------------------------------------------------


def _pyperf_values(path: Path, values: list[float], name: str = "tiny") -> Path:
    doc = {"version": "1.0", "metadata": {"unit": "second", "perf_version": "2.11.0"},
           "benchmarks": [{"metadata": {"name": name}, "runs": [{"values": values}]}]}  # fmt: skip
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_nanosecond_benchmarks_keep_their_figures(project: Path, tmp_path: Path):
    """pyperf's 23 ns is 2.3e-05 ms: four decimals would store zero on both sides."""
    fast = [23e-9 + i * 0.1e-9 for i in range(20)]
    old = _pyperf_values(tmp_path / "old.json", fast)
    new = _pyperf_values(tmp_path / "new.json", [v * 2 for v in fast])
    made = invoke("baseline", "Tiny", "--results", str(old), "--json")
    (metric,) = made.json()["runs"][0]["metrics"]
    assert metric["samples"][0] == pytest.approx(2.3e-05, rel=1e-6)
    assert metric["median"] == pytest.approx(2.395e-05, rel=1e-3)
    shipped = invoke("ship", "--reason", "r", "--results", str(new), "--json")
    (item,) = shipped.json()["comparison"]
    assert item["verdict"] == "regressed" and item["change_pct"] == pytest.approx(100.0)
    assert item["before"] == pytest.approx(2.395e-05, rel=1e-3)


def test_a_tiny_summary_change_is_not_inflated_by_rounding(project: Path, tmp_path: Path):
    """pytest-benchmark 2.5's fixture scale: 249 ns → 251 ns is +0.8%, never +50%."""
    stats = {"rounds": 9987, "mean": 2.49e-7, "stddev": 2.14e-7, "median": 2.4e-7}
    old = _pytest_benchmark_file(tmp_path / "old.json", stats)
    new = _pytest_benchmark_file(tmp_path / "new.json", {**stats, "mean": 2.51e-7})
    assert invoke("baseline", "Tiny summary", "--results", str(old)).code == 0
    (item,) = invoke("ship", "--reason", "r", "--results", str(new), "--json").json()["comparison"]
    assert item["change_pct"] == pytest.approx(0.8, abs=0.05)
    assert item["verdict"] == "not-significant"


def test_pytest_benchmark_files_from_another_node_warn(project: Path, tmp_path: Path):
    stats = {"rounds": 40, "mean": 0.010, "stddev": 0.001, "median": 0.010}
    old = _pytest_benchmark_file(tmp_path / "old.json", stats)
    doc = json.loads(old.read_text())
    doc["machine_info"]["node"] = "laptop"
    new = tmp_path / "new.json"
    new.write_text(json.dumps(doc))
    assert invoke("baseline", "Nodes", "--results", str(old)).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(new), "--json")
    codes = {w["code"]: w["message"] for w in shipped.json()["warnings"]}
    assert "node ci-runner → laptop" in codes["results-machine-changed"]


def test_a_secret_named_by_its_key_is_masked(project: Path, tmp_path: Path):
    """A value that does not look like a secret is one when its name says so."""
    entry = _entry("curl http://127.0.0.1/", [0.01, 0.011, 0.012],
                   parameters={"token": "plainvalue42"})  # fmt: skip
    hyper = _hyperfine_file(tmp_path / "h.json", [entry])
    pyperf = _pyperf_values(tmp_path / "p.json", [0.01, 0.011, 0.012])
    doc = json.loads(pyperf.read_text())
    doc["metadata"]["api_token"] = "alsoplain77"
    pyperf.write_text(json.dumps(doc))
    made = invoke("baseline", "Keys", "--results", str(hyper), "--results", str(pyperf), "--json")
    assert made.code == 0, made.stderr
    assert "plainvalue42" not in made.stdout and "alsoplain77" not in made.stdout
    assert b"plainvalue42" not in _db(project) and b"alsoplain77" not in _db(project)


def test_expectations_check_summaries_and_only_the_changes_probes(project: Path, tmp_path: Path):
    stats = {"rounds": 40, "mean": 0.010, "stddev": 0.001, "median": 0.010}
    old = _pytest_benchmark_file(tmp_path / "old.json", stats)
    new = _pytest_benchmark_file(tmp_path / "new.json", {**stats, "mean": 0.006})
    doc = json.loads(new.read_text())
    extra = {
        **doc["benchmarks"][0],
        "name": "test_other",
        "fullname": "tests/test_x.py::test_other",
    }
    doc["benchmarks"].append(extra)
    new.write_text(json.dumps(doc))
    assert invoke("baseline", "Expect", "--results", str(old),
                  "--expect", "time_ms mean < 7ms; #2: time_ms mean < 1ms").code == 0  # fmt: skip
    shipped = invoke("ship", "--reason", "r", "--results", str(new), "--json",
                     "--fail-on-regression")  # fmt: skip
    found = {e["expect"]: e for e in shipped.json()["expectations"]}
    assert found["time_ms mean < 7ms"]["met"] is True  # checked on the summary's mean
    assert found["time_ms mean < 7ms"]["actual"] == pytest.approx(6.0)
    # the after-only benchmark is not the change's probe #2: nothing to check
    assert found["#2: time_ms mean < 1ms"]["met"] is None
    assert shipped.code == 0, shipped.stderr


def test_a_locust_row_with_requests_but_no_times_is_refused(project: Path, tmp_path: Path):
    bad = tmp_path / "bad_stats.csv"
    bad.write_text("Type,Name,Request Count,Failure Count,Average Response Time\n"
                   "GET,/x,100,0,N/A\n")  # fmt: skip
    refused = invoke("baseline", "Locust", "--results", str(bad))
    assert refused.code == 2 and "row 2 has 100 requests but no response time" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_a_summary_on_a_probe_that_is_no_results_file_is_refused():
    """The store's rules let a metric without samples keep its own n only where its
    probe's result says a results file gave a summary."""
    from changenote.notebook.rules import rules

    metric = {"probe": "GET http://x/", "probe_index": 0, "metric": "time_ms", "n": 30,
              "mean": 100.0, "stdev": 1.0, "samples": []}  # fmt: skip
    run = {"label": "baseline", "probe_results": [{"label": "GET http://x/"}], "metrics": [metric]}
    doc = {"slug": "s", "status": "baseline", "settings": {"runs": 5, "warmup": 1}, "runs": [run],
           "created_at": "2026-12-01T10:00:00Z"}  # fmt: skip
    found = rules(doc, times=False)
    assert found is not None and found[0] == "runs[0].metrics[0].n"
    run["probe_results"][0]["results"] = {"file": 0, "benchmark": "x", "summary_only": True}
    assert rules(doc, times=False) is None


def test_outliers_of_a_raw_side_never_claim_to_move_a_summary_verdict():
    from changenote.measure.comparing import judge

    label = "pytest-benchmark: t"
    results = {"file": 0, "benchmark": "t", "summary_only": True, "n": 40}
    summary = {"probe": label, "probe_index": 0, "metric": "time_ms", "unit": "ms",
               "better": "lower", "n": 40, "mean": 10.0, "stdev": 1.0, "median": 10.0,
               "samples": []}  # fmt: skip
    raw = [8.0 + 0.01 * i for i in range(36)] + [30.0, 31.0, 32.0, 33.0]
    before = {"label": "baseline", "probe_results": [{"label": label, "results": results}],
              "metrics": [summary], "settings": {}}  # fmt: skip
    after = {"label": "after", "metrics": [{**summary, "n": 40, "samples": raw, "mean": None}],
             "probe_results": [{"label": label, "results": {**results, "summary_only": False}}],
             "settings": {}}  # fmt: skip
    verdict = judge({"min_effect": 5.0}, before, after, None)
    (item,) = verdict.comparison
    assert item["kind"] == "summary"
    spread = [w for w in verdict.warnings if w["code"] == "outliers"]
    assert spread and all(w["severity"] == "info" for w in spread)


# -- what a new user tripped over ---------------------------------------------------------


def test_the_baselines_own_file_is_refused_later(project: Path, files: dict[str, Path]):
    assert invoke("baseline", "Same file", "--results", str(files["before"])).code == 0
    for command in (["measure"], ["ship", "--reason", "r"]):
        refused = invoke(*command, "--results", str(files["before"]))
        assert refused.code == 2, refused.stderr
        assert "is the very file the baseline read" in refused.stderr
    assert _runs(project) == 1


def test_a_file_of_other_benchmarks_is_refused_not_recorded(
    project: Path, files: dict[str, Path], tmp_path: Path
):
    assert invoke("baseline", "Other file", "--results", str(files["before"])).code == 0
    other = _pyperf_values(tmp_path / "p.json", [0.01, 0.011, 0.012])
    refused = invoke("measure", "--label", "smallest change", "--results", str(other))
    assert refused.code == 2
    assert "no benchmark of this run's --results file(s) (tiny) is one the baseline read" in (
        refused.stderr
    )
    shown = invoke("show", "--json").json()
    assert [r["label"] for r in shown["runs"]] == ["baseline"]
    assert not next(i for i in shown["checklist"] if i["key"] == "test")["done"]


def test_results_at_a_later_run_of_a_change_without_files_is_refused(
    project: Path, files: dict[str, Path]
):
    assert invoke("baseline", "No files", "--metric", "x=1").code == 0
    refused = invoke("measure", "--results", str(files["slower"]))
    assert refused.code == 2 and "the baseline read no results file" in refused.stderr


def test_the_gate_fails_when_a_gated_benchmark_vanished(project: Path, files: dict[str, Path]):
    assert invoke("baseline", "Vanished", "--results", str(files["before"])).code == 0
    shipped = invoke("ship", "--reason", "r", "--results", str(files["renamed"]),
                     "--fail-on-regression")  # fmt: skip
    assert shipped.code == 3
    # idle runs `sleep 0.001` twice; on a loaded machine it may honestly regress as well,
    # so the gate's line is read as its parts
    gate = next(line for line in shipped.stderr.splitlines() if "gate failed: " in line)
    assert "not measured: hyperfine: work" in gate.split("gate failed: ", 1)[1].split(" | ")
    assert "hyperfine: work is not in this run's results files; it has instead: work-v2" in (
        shipped.stdout
    )


def test_run_settings_that_apply_to_nothing_are_refused(project: Path, files: dict[str, Path]):
    for flag in (["--runs", "5"], ["--warmup", "2"], ["--clear-cache", "true"]):
        refused = invoke("baseline", "Files only", "--results", str(files["before"]), *flag)
        assert refused.code == 2 and "results files and Prometheus windows are read" in (
            refused.stderr
        )
    mixed = invoke("baseline", "Mixed", "--results", str(files["before"]), "--cmd", "true",
                   "--runs", "3", "--warmup", "0")  # fmt: skip
    assert mixed.code == 0, mixed.stderr


def test_the_results_files_are_not_files_touched(project: Path, files: dict[str, Path]):
    here = project / "bench"
    here.mkdir()
    before, after = here / "before.json", here / "after.json"
    shutil.copy(files["before"], before)
    assert invoke("baseline", "Touched", "--results", "bench/before.json").code == 0
    shutil.copy(files["slower"], after)
    (project / "app" / "search.py").write_text("def search(q):\n    return fast(q)\n")
    shipped = invoke("ship", "--reason", "r", "--results", "bench/after.json", "--json")
    assert shipped.code == 0, shipped.stderr
    assert shipped.json()["files_touched"] == ["app/search.py"]


def test_the_format_is_named_in_any_case_and_the_count_is_this_runs(
    project: Path, files: dict[str, Path]
):
    made = invoke("baseline", "Case", "--results", str(files["before"]),
                  "--results-format", "HyperFine")  # fmt: skip
    assert made.code == 0, made.stderr
    measured = invoke("measure", "--results", str(files["renamed"]))
    assert measured.code == 0, measured.stderr
    assert "reading 2 benchmarks from results files" in measured.stderr  # the file's two


def test_a_named_format_that_does_not_fit_says_what_the_file_looks_like(
    project: Path, tmp_path: Path
):
    pyperf = _pyperf_values(tmp_path / "p.json", [0.01, 0.011, 0.012])
    refused = invoke(
        "baseline", "Forced", "--results", str(pyperf), "--results-format", "hyperfine"
    )
    assert refused.code == 2
    assert "(it looks like a pyperf file, not hyperfine)" in refused.stderr


def test_match_says_which_side_it_could_not_find(project: Path, files: dict[str, Path]):
    assert invoke("baseline", "Which side", "--results", str(files["before"])).code == 0
    refused = invoke("ship", "--reason", "r", "--results", str(files["renamed"]),
                     "--match", "work=work-v3")  # fmt: skip
    assert refused.code == 2
    assert "NEW must be a benchmark of this run's --results files (idle, work-v2)" in (
        refused.stderr
    )


def _locust_failures(path: Path, failures: int) -> Path:
    lines = (FIXTURES / "locust-2_stats.csv").read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[2] != "0":
            cells[3] = str(failures)
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n")
    return path


def test_locust_failures_are_an_error_rate_tested_on_its_counts(project: Path, tmp_path: Path):
    assert invoke("baseline", "Load", "--results", str(FIXTURES / "locust-2_stats.csv")).code == 0
    worse = _locust_failures(tmp_path / "worse_stats.csv", 120)  # 6 → 120 of 1,200
    shipped = invoke("ship", "--reason", "r", "--results", str(worse), "--json",
                     "--fail-on-regression")  # fmt: skip
    assert shipped.code == 3, shipped.stderr
    rates = _by_probe(shipped.json(), "error_rate")
    item = rates["locust: GET /search?q=fastapi"]
    assert item["kind"] == "proportion" and item["verdict"] == "regressed"
    assert (item["before"], item["after"]) == (0.005, 0.1)
    # 2,400 attempts: Fisher's exact test (Boschloo's takes seconds at this size)
    from scipy.stats import fisher_exact

    expected = fisher_exact([[6, 1194], [120, 1080]]).pvalue
    assert item["p_value"] == float(f"{expected:.3g}") and "Fisher" in item["detail"]
    assert "locust: POST /login" not in rates  # no request: no rate


def test_locust_failures_alike_are_not_a_change(project: Path, tmp_path: Path):
    assert invoke("baseline", "Load", "--results", str(FIXTURES / "locust-2_stats.csv")).code == 0
    same = _locust_failures(tmp_path / "same_stats.csv", 7)
    shipped = invoke("ship", "--reason", "r", "--results", str(same), "--json")
    item = _by_probe(shipped.json(), "error_rate")["locust: GET /search?q=fastapi"]
    assert item["verdict"] == "not-significant" and item["p_value"] > 0.5
