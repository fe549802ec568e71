"""Benchmark results files become samples: the real tools write them, measure.results reads them.

hyperfine (Debian's package), pyperf and pytest-benchmark (the test extra) run once per
module in a temporary folder; each test compares what ``read_results`` gives with what
the file holds, read independently (pyperf's own loader where it has one). Older format
versions and the summary-only load-test formats are small hand-written fixtures in
``tests/fixtures/results/``, shaped after each tool's source. Mangled copies of every
file must give either finite, non-negative samples or one clear line naming the file.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changenote.errors import ChangenoteError, UsageError
from changenote.measure.results import MAX_BYTES, ResultsFile, read_results

FIXTURES = Path(__file__).parent / "fixtures" / "results"
MS = 1000.0


def _run(args: list[str], cwd: Path) -> None:
    env = dict(os.environ, HOME=str(cwd), GIT_CONFIG_NOSYSTEM="1", PYTHONDONTWRITEBYTECODE="1")
    # The inner pytest must not think it is an xdist worker: pytest-benchmark would
    # then disable itself.
    for key in [k for k in env if k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))]:
        del env[key]
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"


def _hyperfine() -> str:
    found = shutil.which("hyperfine")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but hyperfine is missing (.ci/run installs it)", pytrace=False)
        pytest.skip("hyperfine is not installed (Debian package hyperfine)")
    return found


PYPERF_SCRIPT = """
import pyperf

runner = pyperf.Runner()
runner.bench_func("sum-100", sum, range(100))
runner.timeit("join", stmt="'-'.join(words)", setup="words = ['a'] * 50")
"""

BENCH_TESTS = """
import pytest


def test_sum(benchmark):
    benchmark(sum, range(100))


@pytest.mark.parametrize("size", [10, 1000])
def test_sorted(benchmark, size):
    benchmark(sorted, list(range(size, 0, -1)))
"""


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files the real tools wrote, by a short name; hyperfine's only when installed."""
    here = tmp_path_factory.mktemp("real")
    files: dict[str, Path] = {}
    # pyperf: a suite of two benchmarks, a few worker processes.
    (here / "bench_pyperf.py").write_text(PYPERF_SCRIPT, encoding="utf-8")
    # --min-time keeps each value short; without --loops pyperf still calibrates first
    # (a run of warmups only, which must add nothing).
    quick = ["--min-time", "0.002", "--quiet"]
    sizes = ["--processes", "2", "--values", "3", "--warmups", "1"]
    _run([sys.executable, "bench_pyperf.py", *sizes, *quick, "-o", "pyperf.json"], here)
    files["pyperf"] = here / "pyperf.json"
    _run(
        [sys.executable, "-m", "pyperf", "timeit", "--fast", *quick, "-o", "timeit.json", "1 + 1"],
        here,
    )
    files["pyperf-timeit"] = here / "timeit.json"
    compressed = gzip.compress(files["pyperf"].read_bytes())
    (here / "pyperf.json.gz").write_bytes(compressed)
    files["pyperf-gz"] = here / "pyperf.json.gz"
    # pytest-benchmark: its own pytest run, none of this project's options or plugins.
    (here / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (here / "test_generated_bench.py").write_text(BENCH_TESTS, encoding="utf-8")
    _run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
            "--benchmark-min-rounds=5", "--benchmark-max-time=0.02",
            "--benchmark-json=pytest-benchmark.json",
            "--benchmark-storage=file://./saved", "--benchmark-save=nodata",
            "test_generated_bench.py",
        ],
        here,
    )  # fmt: skip
    files["pytest-benchmark"] = here / "pytest-benchmark.json"
    (saved,) = (here / "saved").rglob("*nodata.json")
    files["pytest-benchmark-saved"] = saved
    if shutil.which("hyperfine"):
        common = ["hyperfine", "--runs", "5", "--warmup", "1", "--style", "none"]
        _run([*common, "--export-json", "plain.json", "true", "sleep 0.01"], here)
        names = ["-n", "quick", "-n", "nap"]
        _run([*common, "--export-json", "named.json", *names, "true", "sleep 0.01"], here)
        _run([*common, "--export-json", "scan.json", "-L", "ms", "1,2", "sleep 0.00{ms}"], here)
        files.update(
            {
                "hyperfine": here / "plain.json",
                "hyperfine-named": here / "named.json",
                "hyperfine-scan": here / "scan.json",
            }
        )
    return files


def _raw(path: Path) -> Any:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def _ms(values: list[float]) -> list[float]:
    return [v * MS for v in values]


# -- hyperfine, real output ----------------------------------------------------------


def test_hyperfine_samples_are_the_times_in_ms(real: dict[str, Path]) -> None:
    _hyperfine()
    path = real["hyperfine"]
    raw = _raw(path)
    read = read_results(path)
    assert (read.tool, read.tool_version, read.format_version) == ("hyperfine", None, None)
    assert read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [b.name for b in read.benchmarks] == ["true", "sleep 0.01"]
    for bench, result in zip(read.benchmarks, raw["results"], strict=True):
        assert bench.unit == "ms"
        assert bench.samples == _ms(result["times"])
        assert bench.n == 5  # --warmup 1: hyperfine does not export its warmups
        assert not bench.summary_only
        assert bench.exit_codes == [0] * 5 and bench.errors == 0
        assert bench.mean == pytest.approx(result["mean"] * MS)
        assert bench.extra["user_ms"] == pytest.approx(result["user"] * MS)


def test_hyperfine_command_names_and_parameters(real: dict[str, Path]) -> None:
    _hyperfine()
    named = read_results(real["hyperfine-named"])
    assert [b.name for b in named.benchmarks] == ["quick", "nap"]
    scan = read_results(real["hyperfine-scan"])
    assert [b.name for b in scan.benchmarks] == ["sleep 0.001", "sleep 0.002"]
    assert [b.parameters for b in scan.benchmarks] == [{"ms": "1"}, {"ms": "2"}]


# -- pyperf, real output -------------------------------------------------------------


def test_pyperf_samples_are_its_values_without_warmups(real: dict[str, Path]) -> None:
    import pyperf

    path = real["pyperf"]
    read = read_results(path)
    suite = pyperf.BenchmarkSuite.load(str(path))
    assert (read.tool, read.tool_version, read.format_version) == (
        "pyperf",
        pyperf.__version__,
        "1.0",
    )
    assert [b.name for b in read.benchmarks] == suite.get_benchmark_names() == ["sum-100", "join"]
    raw = _raw(path)
    for bench, theirs, data in zip(
        read.benchmarks, suite.get_benchmarks(), raw["benchmarks"], strict=True
    ):
        assert bench.unit == "ms"
        assert bench.samples == _ms(list(theirs.get_values()))
        assert bench.n == theirs.get_nvalue()
        values = [v for run in data["runs"] for v in run.get("values", [])]
        warmups = [v for run in data["runs"] for _, v in run.get("warmups", [])]
        assert bench.samples == _ms(values) and warmups
        # The calibration run holds warmups only: it adds nothing.
        assert any("values" not in run for run in data["runs"])
        assert bench.metadata["name"] == bench.name and "loops" in bench.metadata
    assert read.machine["hostname"] == raw["metadata"]["hostname"]
    assert read.machine["cpu_count"] == os.cpu_count()
    assert "python_version" in read.machine and "name" not in read.machine


def test_pyperf_timeit_and_gzip_by_content_not_name(real: dict[str, Path], tmp_path: Path) -> None:
    plain = read_results(real["pyperf"])
    packed = read_results(real["pyperf-gz"])
    assert [b.samples for b in packed.benchmarks] == [b.samples for b in plain.benchmarks]
    assert packed.sha256 == hashlib.sha256(real["pyperf-gz"].read_bytes()).hexdigest()
    assert packed.sha256 != plain.sha256
    # The name says nothing: gzip named .json and plain JSON named .gz read the same.
    misnamed = tmp_path / "really-gzip.json"
    misnamed.write_bytes(real["pyperf-gz"].read_bytes())
    assert read_results(misnamed).benchmarks[0].samples == plain.benchmarks[0].samples
    plain_gz = tmp_path / "plain.json.gz"
    plain_gz.write_bytes(real["pyperf"].read_bytes())
    assert read_results(plain_gz).benchmarks[1].samples == plain.benchmarks[1].samples
    timeit = read_results(real["pyperf-timeit"])
    assert [b.name for b in timeit.benchmarks] == ["timeit"]
    assert timeit.benchmarks[0].n == len(timeit.benchmarks[0].samples) > 0


# -- pytest-benchmark, real output ----------------------------------------------------


def test_pytest_benchmark_json_keeps_every_round(real: dict[str, Path]) -> None:
    import pytest_benchmark

    path = real["pytest-benchmark"]
    read = read_results(path)
    raw = _raw(path)
    assert (read.tool, read.tool_version) == ("pytest-benchmark", pytest_benchmark.__version__)
    assert read.format_version == pytest_benchmark.__version__
    assert [b.name for b in read.benchmarks] == [
        "test_generated_bench.py::test_sum",
        "test_generated_bench.py::test_sorted[10]",
        "test_generated_bench.py::test_sorted[1000]",
    ]
    for bench, data in zip(read.benchmarks, raw["benchmarks"], strict=True):
        assert not bench.summary_only
        assert bench.samples == _ms(data["stats"]["data"])
        assert bench.n == data["stats"]["rounds"] >= 5
        assert bench.stdev == pytest.approx(data["stats"]["stddev"] * MS)
    assert read.benchmarks[1].parameters == {"size": "10"}
    assert read.machine["machine_info"]["python_version"] == raw["machine_info"]["python_version"]
    assert read.machine["commit_info"] == raw["commit_info"]


def test_a_saved_run_without_its_data_is_summary_only(real: dict[str, Path]) -> None:
    read = read_results(real["pytest-benchmark-saved"])
    raw = _raw(real["pytest-benchmark-saved"])
    assert "data" not in raw["benchmarks"][0]["stats"]
    for bench, data in zip(read.benchmarks, raw["benchmarks"], strict=True):
        assert bench.summary_only and bench.samples == []
        assert bench.n == data["stats"]["rounds"]
        assert bench.median == pytest.approx(data["stats"]["median"] * MS)
        assert bench.stdev == pytest.approx(data["stats"]["stddev"] * MS)


# -- older versions and summary-only formats: fixtures --------------------------------


def test_hyperfine_1_0_without_median_or_exit_codes() -> None:
    read = read_results(FIXTURES / "hyperfine-1.0.json")
    (bench,) = read.benchmarks
    assert bench.samples == _ms([0.10121, 0.10199, 0.10310, 0.10190])
    assert bench.median is None and bench.exit_codes is None and bench.errors is None


def test_hyperfine_1_10_single_parameter() -> None:
    read = read_results(FIXTURES / "hyperfine-1.10-parameter.json")
    assert [b.parameters for b in read.benchmarks] == [{"parameter": "0.01"}, {"parameter": "0.02"}]


def test_hyperfine_1_20_memory_and_failed_runs() -> None:
    flaky, once = read_results(FIXTURES / "hyperfine-1.20-memory.json").benchmarks
    assert flaky.exit_codes == [0, 1, None] and flaky.errors == 2
    assert flaky.series["memory_usage_byte"].unit == "B"
    assert flaky.series["memory_usage_byte"].values == [3145728, 3149824, 3141632]
    assert once.n == 1 and once.stdev is None  # hyperfine writes null for one run


def test_pyperf_format_5_samples_and_common_metadata() -> None:
    read = read_results(FIXTURES / "pyperf-v5.json")
    assert (read.tool_version, read.format_version) == ("0.8.3", "5")
    (bench,) = read.benchmarks
    assert bench.name == "telco"
    assert bench.samples == _ms([0.0228, 0.0225, 0.0226, 0.0227, 0.0224, 0.0226])
    assert read.machine["hostname"] == "bench-box"


def test_pytest_benchmark_2_5_is_summary_only() -> None:
    read = read_results(FIXTURES / "pytest-benchmark-2.5.json")
    assert (read.tool, read.tool_version) == ("pytest-benchmark", "2.5.0")
    (bench,) = read.benchmarks
    assert bench.name == "tests/test_parse.py::test_parse_small[0]"
    assert bench.summary_only and bench.samples == [] and bench.n == 9987
    assert bench.mean == pytest.approx(2.62e-04) and bench.stdev == pytest.approx(2.14e-04)
    assert read.machine["machine_info"]["node"] == "bench-box"


@pytest.mark.parametrize("name", ["locust-2_stats.csv", "locust-0.14_stats.csv"])
def test_locust_stats_are_summary_only_rows(name: str) -> None:
    read = read_results(FIXTURES / name)
    assert read.tool == "locust"
    first = read.benchmarks[0]
    assert first.summary_only and first.samples == [] and first.unit == "ms"
    assert first.stdev is None  # locust gives no spread: the comparison can only say no-test
    assert read.benchmarks[-1].name == "Aggregated"
    if name.startswith("locust-2"):
        assert first.name == "GET /search?q=fastapi"
        assert (first.n, first.errors, first.mean, first.median) == (1200, 6, 32.51, 31.0)
        assert first.extra["p95_ms"] == 40.0
        never = read.benchmarks[1]
        assert never.n == 0 and never.mean is None and never.median is None
    else:
        assert first.name == "GET /search" and first.n == 500 and first.extra["p99.999_ms"] == 52


@pytest.mark.parametrize("name", ["k6-summary-export.json", "k6-handle-summary.json"])
def test_k6_trends_and_rates(name: str) -> None:
    read = read_results(FIXTURES / name)
    by_name = {b.name: b for b in read.benchmarks}
    duration = by_name["http_req_duration"]
    assert duration.unit == "ms" and duration.summary_only and duration.n is None
    assert (duration.mean, duration.median, duration.extra["p(95)"]) == (32.5, 31.2, 40.1)
    failed = by_name["http_req_failed"]
    assert failed.unit == "ratio" and failed.n == 600 and failed.mean == pytest.approx(2 / 600)
    assert "http_reqs" not in by_name  # a counter is a total, not a measurement
    if "payload_size" in by_name:
        assert by_name["payload_size"].unit == ""  # a trend of no known unit


def test_a_format_named_skips_detection_and_must_fit() -> None:
    assert read_results(FIXTURES / "pyperf-v5.json", "pyperf").tool == "pyperf"
    with pytest.raises(UsageError, match="not a list"):
        read_results(FIXTURES / "pyperf-v5.json", "hyperfine")
    with pytest.raises(UsageError, match="unknown results format"):
        read_results(FIXTURES / "pyperf-v5.json", "jmh")


# -- bad input -----------------------------------------------------------------------

HYPERFINE_ONE = {"command": "x", "mean": 0.1, "median": 0.1, "min": 0.1, "max": 0.1}


def _hf(**item: Any) -> bytes:
    return json.dumps({"results": [{**HYPERFINE_ONE, **item}]}).encode()


BAD: dict[str, tuple[bytes, str]] = {
    "prose": (b"hello, world\n", "not a results file"),
    "unknown-json": (b'{"answer": 42}', "unknown shape"),
    "json-list": (b"[1, 2, 3]", "unknown shape"),
    "broken-json": (b'{"results": [', "not valid JSON"),
    "no-benchmarks": (b'{"results": []}', "no benchmarks"),
    "pyperf-none": (b'{"version": "1.0", "benchmarks": []}', "no benchmarks"),
    "empty-times": (_hf(times=[]), "times is empty"),
    "nan": (_hf(times=[0.1, float("nan")]), "not finite"),
    "infinity": (_hf(times=[float("inf")]), "not finite"),
    "negative": (_hf(times=[0.1, -0.2]), "negative"),
    "string-time": (_hf(times=["0.1"]), "not a number"),
    "bool-time": (_hf(times=[True]), "not a number"),
    "no-times-no-mean": (json.dumps({"results": [{"command": "x"}]}).encode(), "neither"),
    "duplicate": (json.dumps({"results": [{**HYPERFINE_ONE, "times": [0.1]}] * 2}).encode(), "two"),
    "not-utf8": (b'{"results": [{"command": "\xff\xfe"}]}', "not UTF-8"),
    "not-gzip": (b"\x1f\x8b" + b"this is not deflate at all", "not a valid gzip"),
    "empty": (b"", "is empty"),
    "deep": (b"[" * 100_000, "nested too deeply"),
    "pyperf-warmups-only": (
        json.dumps(
            {
                "version": "1.0",
                "metadata": {"name": "w"},
                "benchmarks": [{"runs": [{"warmups": [[1, 0.1]]}]}],
            }
        ).encode(),
        "no values outside its warmups",
    ),
    "pyperf-bad-version": (b'{"version": "9.9", "benchmarks": [{"runs": []}]}', "not one of"),
    "locust-short-row": (b"Type,Name,Request Count\nGET,/a\n", "row 2 has 2 cells"),
}


def _one_clear_line(exc: ChangenoteError, path: Path) -> str:
    message = str(exc)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    return message


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_naming_the_file(case: str, tmp_path: Path) -> None:
    content, expected = BAD[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(content)
    with pytest.raises(UsageError) as caught:
        read_results(path)
    assert expected in _one_clear_line(caught.value, path)
    assert caught.value.exit_code == 2


def test_a_truncated_gzip_is_refused(real: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "cut.json.gz"
    path.write_bytes(real["pyperf-gz"].read_bytes()[:-12])
    with pytest.raises(UsageError) as caught:
        read_results(path)
    assert "truncated gzip" in _one_clear_line(caught.value, path)


def test_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    for path, expected in ((tmp_path / "nope.json", "no such file"), (tmp_path, "directory")):
        with pytest.raises(UsageError) as caught:
            read_results(path)
        assert expected in _one_clear_line(caught.value, path)


def test_a_200_mb_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)  # sparse: no 200 MB written to disk
    assert path.stat().st_size > MAX_BYTES

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened")

    monkeypatch.setattr(Path, "open", no_reading)
    with pytest.raises(UsageError) as caught:
        read_results(path)
    assert "MiB limit" in _one_clear_line(caught.value, path)


def test_a_gzip_bomb_is_refused_once_decompressed(tmp_path: Path) -> None:
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b" " * (MAX_BYTES + 1), compresslevel=1))
    with pytest.raises(UsageError) as caught:
        read_results(path)
    assert "once decompressed" in _one_clear_line(caught.value, path)


def test_importing_the_reader_stays_light() -> None:
    probe = "import sys, changenote.measure.results as r; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.split())
    heavy = {"scipy", "numpy", "sqlmodel", "sqlalchemy", "typer", "rich", "httpx", "pyperf"}
    assert not {m.split(".")[0] for m in loaded} & heavy


# -- mangled files: valid and honest, or one clear line ---------------------------------

MANGLED_VALUES: list[Any] = [
    float("nan"), float("inf"), -1.0, -0.0, 0, "12", "", None, True, [], {}, [float("nan")],
    10**400, 1e308, [-1], {"times": []},
]  # fmt: skip


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*here, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc[:4]):
            found += _paths(value, (*here, index))
    return found


def _mutate(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else doc
    *parents, last = path
    target = doc
    for step in parents:
        target = target[step]
    if action == "drop":
        del target[last]
    elif action == "empty" and isinstance(target[last], list | dict):
        target[last] = type(target[last])()
    else:
        target[last] = value
    return doc


def _assert_honest(path: Path) -> None:
    try:
        read = read_results(path)
    except UsageError as exc:
        _one_clear_line(exc, path)
        return
    assert isinstance(read, ResultsFile) and read.benchmarks
    for bench in read.benchmarks:
        figures = [bench.mean, bench.stdev, bench.median, bench.min, bench.max]
        for value in [*bench.samples, *(f for f in figures if f is not None)]:
            assert isinstance(value, float) and math.isfinite(value) and value >= 0
        assert bench.summary_only or bench.samples
        assert bench.n is None or bench.n >= 0


SOURCES = [
    "hyperfine",
    "pyperf",
    "pyperf-gz",
    "pytest-benchmark",
    "pytest-benchmark-saved",
    *sorted(p.name for p in FIXTURES.iterdir()),
]


def _source(real: dict[str, Path], name: str) -> bytes:
    if name.startswith("hyperfine") and name not in real:
        name = "hyperfine-1.20-memory.json"  # hyperfine not installed: its newest fixture
    return (real[name] if name in real else FIXTURES / name).read_bytes()


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_mangled_bytes_never_crash(
    real: dict[str, Path], tmp_path: Path, source: str, data: st.DataObject
) -> None:
    raw = _source(real, source)
    kind = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
    if kind == "truncate":
        mangled = raw[:at]
    elif kind == "flip":
        mangled = raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255))]) + raw[at + 1 :]
    else:
        mangled = raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at:]
    path = tmp_path / "mangled.out"
    path.write_bytes(mangled)
    _assert_honest(path)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_mangled_structure_never_crashes(
    real: dict[str, Path], tmp_path: Path, source: str, data: st.DataObject
) -> None:
    raw = _source(real, source)
    if source.endswith(".csv"):
        rows = raw.decode().splitlines()
        r = data.draw(st.integers(0, len(rows) - 1))
        cells = rows[r].split(",")
        c = data.draw(st.integers(0, len(cells) - 1))
        cells[c] = data.draw(st.sampled_from(["", "N/A", "-1", "nan", "inf", "1e999", "x", "1.5"]))
        rows[r] = ",".join(cells)
        mangled = "\n".join(rows).encode()
    else:
        doc = _raw_bytes(raw)
        for _ in range(data.draw(st.integers(1, 3))):
            where = data.draw(st.sampled_from(_paths(doc)))
            action = data.draw(st.sampled_from(["replace", "drop", "empty"]))
            value = copy.deepcopy(data.draw(st.sampled_from(MANGLED_VALUES)))
            doc = _mutate(doc, where, action, value)
        mangled = json.dumps(doc).encode()
        if raw[:2] == b"\x1f\x8b":
            mangled = gzip.compress(mangled)
    path = tmp_path / "mangled.out"
    path.write_bytes(mangled)
    _assert_honest(path)


def _raw_bytes(raw: bytes) -> Any:
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def test_the_fixtures_are_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    for fixture in FIXTURES.iterdir():
        assert fixture.name in doc, f"docs/RESULTS.md does not list {fixture.name}"
    # the options it shows are the commands' own
    from tests.conftest import invoke

    for command, options in (("baseline", ("--results", "--results-format")),
                             ("ship", ("--results", "--results-format", "--match")),
                             ("measure", ("--results", "--match"))):  # fmt: skip
        shown = invoke(command, "--help").stdout
        for option in options:
            assert option in doc and option in shown, (command, option)
