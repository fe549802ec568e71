"""Benchmark results files read as measurements: hyperfine, pyperf, pytest-benchmark, locust, k6.

``read_results(path)`` detects the format from the file's content (never its name),
reads every raw sample it holds (times in milliseconds), and keeps what the file says
about the tool and the machine. Nothing here decides what becomes a metric: the
caller does. A file that cannot be read honestly is refused whole with one
``UsageError`` line naming the file; there is no partial result.

Names: hyperfine's ``command`` (its ``--command-name`` when given), pyperf's benchmark
``name``, pytest-benchmark's ``fullname`` (``name`` only when a file lacks it: the
short name repeats across test modules), locust's ``Type Name`` (``GET /search``),
k6's metric name (``http_req_duration{expected_response:true}``). See docs/RESULTS.md.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from changenote.errors import UsageError

#: Larger files are refused before they are read (a results file is kilobytes).
MAX_BYTES = 64 * 1024 * 1024
FORMATS = ("hyperfine", "pyperf", "pytest-benchmark", "locust", "k6")

_PYPERF_VERSIONS = {"1.0": "1.0", 6: "6", 5: "5"}
_PYPERF_UNITS = {"second": "ms", "byte": "B", "integer": "count"}
# k6's old --summary-export drops each metric's type; its built-in trends are times.
_K6_TIME_TRENDS = {
    "http_req_duration", "http_req_waiting", "http_req_connecting", "http_req_blocked",
    "http_req_tls_handshaking", "http_req_sending", "http_req_receiving",
    "iteration_duration", "group_duration", "ws_connecting", "ws_session_duration",
    "grpc_req_duration",
}  # fmt: skip


@dataclass
class Series:
    """A per-run series beside the timings (hyperfine's ``memory_usage_byte``)."""

    unit: str
    values: list[float]


@dataclass
class Benchmark:
    """One benchmark of a results file: its raw samples, or only the summary it gives."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    summary_only: bool = False
    n: int | None = None
    mean: float | None = None
    stdev: float | None = None
    median: float | None = None
    min: float | None = None
    max: float | None = None
    #: failed attempts the file counts (hyperfine: non-zero or missing exit codes).
    errors: int | None = None
    exit_codes: list[int | None] | None = None
    series: dict[str, Series] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    #: other figures the file gives (percentiles, user/system time, rates), in ``unit``
    #: where they are times (names say so: ``user_ms``).
    extra: dict[str, Any] = field(default_factory=dict)
    #: what the file says about this benchmark alone (pyperf: merged metadata).
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResultsFile:
    """A results file as read: provenance and its benchmarks, in the file's order."""

    path: str
    tool: str
    tool_version: str | None
    format_version: str | None
    machine: dict[str, Any]
    sha256: str
    benchmarks: list[Benchmark]


class _Bad(Exception):
    """What is wrong with the file's content; read_results names the file."""


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fail(path: Path, what: str) -> UsageError:
    line = f"results file {_shown(str(path), 200)}: {what}"
    return UsageError(line.replace("\r", " ").replace("\n", " "))


def read_results(path: Path, fmt: str | None = None) -> ResultsFile:
    """Read a benchmark results file; ``fmt`` (one of FORMATS) skips detection."""
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown results format {_shown(fmt)}; one of: {', '.join(FORMATS)}")
    raw = _read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        data = _decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _Bad(f"not UTF-8 text (byte {exc.start})") from None
        tool, doc = _parse(text, fmt)
        try:
            result = _READERS[tool](doc)
        except _Bad as exc:
            if fmt is None:
                raise
            raise _Bad(f"{exc}{_looks_like(text, fmt)}") from None
        _check(result)
    except _Bad as exc:
        raise _fail(path, str(exc)) from None
    tool_version, format_version, machine, benchmarks = result
    return ResultsFile(str(path), tool, tool_version, format_version, machine, digest, benchmarks)


def _looks_like(text: str, fmt: str) -> str:
    """`` (it looks like a pyperf file)`` when detection finds another format than
    ``fmt``, the one the user named; empty otherwise."""
    try:
        found, _ = _parse(text, None)
    except _Bad:
        return ""
    return f" (it looks like a {found} file, not {fmt})" if found != fmt else ""


def _read_bytes(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise _fail(path, "is a directory, not a results file")
        if path.exists() and not path.is_file():
            raise _fail(path, "is not a regular file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _fail(path, f"{size} bytes, more than the {MAX_BYTES // 2**20} MiB limit")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_BYTES:
        raise _fail(path, f"more than the {MAX_BYTES // 2**20} MiB limit")
    if not raw.strip():
        raise _fail(path, "is empty")
    return raw


def _decompress(raw: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            data = stream.read(MAX_BYTES + 1)
    except EOFError:
        raise _Bad("truncated gzip") from None
    except (OSError, zlib.error) as exc:
        raise _Bad(f"not a valid gzip file ({exc})") from None
    if len(data) > MAX_BYTES:
        raise _Bad(f"more than {MAX_BYTES // 2**20} MiB once decompressed")
    return data


def _parse(text: str, fmt: str | None) -> tuple[str, Any]:
    """The tool and the parsed document: JSON for all but locust's CSV."""
    if fmt == "locust" or (fmt is None and not text.lstrip().startswith(("{", "["))):
        rows = _csv_rows(text)
        if fmt is None and not _is_locust(rows):
            raise _Bad(
                "not a results file changenote reads (hyperfine, pyperf, pytest-benchmark "
                "or k6 JSON, locust _stats.csv)"
            )
        return "locust", rows
    try:
        doc = json.loads(text)
    except RecursionError:
        raise _Bad("JSON nested too deeply") from None
    except ValueError as exc:
        raise _Bad(f"not valid JSON ({exc})") from None
    if fmt is not None:
        return fmt, doc
    tool = _detect_json(doc)
    if tool is None:
        raise _Bad("JSON of an unknown shape (not hyperfine, pyperf, pytest-benchmark or k6)")
    return tool, doc


def _csv_rows(text: str) -> list[list[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise _Bad(f"not valid CSV ({exc})") from None


def _is_locust(rows: list[list[str]]) -> bool:
    header = {cell.strip() for cell in rows[0]} if rows else set()
    return "Name" in header and bool(header & {"Request Count", "# requests"})


def _detect_json(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("results"), list):
        return "hyperfine"
    benchmarks = doc.get("benchmarks")
    if isinstance(benchmarks, list):
        if "machine_info" in doc or "commit_info" in doc:
            return "pytest-benchmark"
        if _hashable(doc.get("version")) in _PYPERF_VERSIONS:
            return "pyperf"
        first = benchmarks[0] if benchmarks else None
        if isinstance(first, dict):
            return "pyperf" if "runs" in first else "pytest-benchmark" if "stats" in first else None
    if isinstance(doc.get("metrics"), dict):
        return "k6"
    return None


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


# -- numbers -----------------------------------------------------------------------


def _number(value: Any, what: str, scale: float = 1.0) -> float:
    """A finite, non-negative figure (after ``scale``: seconds to ms may overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{what} is not a number: {_shown(value)}")
    try:
        number = float(value) * scale
    except OverflowError:
        raise _Bad(f"{what} is too large: {_shown(value)}") from None
    if not math.isfinite(number):
        raise _Bad(f"{what} is not finite: {_shown(value)}")
    if number < 0:
        raise _Bad(f"{what} is negative: {_shown(value)}")
    return number


def _optional(value: Any, what: str, scale: float = 1.0) -> float | None:
    return None if value is None else _number(value, what, scale)


def _numbers(values: Any, what: str, scale: float = 1.0) -> list[float]:
    if not isinstance(values, list):
        raise _Bad(f"{what} is not a list")
    return [_number(v, f"{what}[{i}]", scale) for i, v in enumerate(values)]


def _count(value: Any, what: str) -> int:
    number = _number(value, what)
    if number != int(number):
        raise _Bad(f"{what} is not a whole number: {_shown(value)}")
    return int(number)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{what} has no name")
    return value


def _plain(value: Any, depth: int = 0) -> Any:
    """A copy of file metadata holding only what JSON can carry (no NaN), or None."""
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, int):  # what a 64-bit JSON store can hold
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth > 8:
        return None
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    return None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad(f"{what} is not a list")
    if not value:
        raise _Bad(f"{what} is empty: no benchmarks")
    return value


_Read = tuple[str | None, str | None, dict[str, Any], list[Benchmark]]


def _check(result: _Read) -> None:
    seen: set[str] = set()
    for bench in result[3]:
        if bench.name in seen:
            raise _Bad(f"two benchmarks are named {_shown(bench.name)} (name each one)")
        seen.add(bench.name)


# -- the readers ---------------------------------------------------------------------


def _hyperfine(doc: Any) -> _Read:
    results = _list(_object(doc, "the file").get("results"), "results")
    benchmarks = []
    for i, item in enumerate(results):
        item = _object(item, f"results[{i}]")
        name = _name(item.get("command"), f"results[{i}]")
        where = f"results[{i}] ({_shown(name, 40)})"
        bench = Benchmark(name=name, unit="ms")
        times = item.get("times")
        if times is not None:
            bench.samples = _numbers(times, f"{where}.times", 1000.0)
            if not bench.samples:
                raise _Bad(f"{where}.times is empty")
        bench.summary_only = times is None
        if times is None and item.get("mean") is None:
            raise _Bad(f"{where} has neither times nor a mean")
        bench.n = len(bench.samples) if times is not None else None
        for key, attr in (("mean", "mean"), ("stddev", "stdev"), ("median", "median")):
            setattr(bench, attr, _optional(item.get(key), f"{where}.{key}", 1000.0))
        bench.min = _optional(item.get("min"), f"{where}.min", 1000.0)
        bench.max = _optional(item.get("max"), f"{where}.max", 1000.0)
        for key in ("user", "system"):
            if item.get(key) is not None:
                bench.extra[f"{key}_ms"] = _number(item[key], f"{where}.{key}", 1000.0)
        if "exit_codes" in item:
            codes = item["exit_codes"]
            if not isinstance(codes, list) or not all(
                c is None or (isinstance(c, int) and not isinstance(c, bool)) for c in codes
            ):
                raise _Bad(f"{where}.exit_codes is not a list of exit codes")
            bench.exit_codes = codes
            bench.errors = sum(1 for c in codes if c != 0)
        if item.get("memory_usage_byte") is not None:
            memory = _numbers(item["memory_usage_byte"], f"{where}.memory_usage_byte")
            bench.series["memory_usage_byte"] = Series("B", memory)
        parameters = item.get("parameters")
        if isinstance(parameters, dict):
            bench.parameters = {str(k): str(v) for k, v in parameters.items()}
        elif isinstance(item.get("parameter"), str):  # hyperfine before 1.11: one value
            bench.parameters = {"parameter": item["parameter"]}
        benchmarks.append(bench)
    # hyperfine writes neither its version nor a schema version into the file.
    return None, None, {}, benchmarks


def _pyperf(doc: Any) -> _Read:
    doc = _object(doc, "the file")
    version = _PYPERF_VERSIONS.get(_hashable(doc.get("version")))
    if version is None:
        if doc.get("version") is None:
            raise _Bad("has no pyperf format version: not a pyperf file")
        raise _Bad(f"pyperf format version {_shown(doc.get('version'))} is not one of 5, 6, 1.0")
    suite = doc.get("metadata") if version != "5" else {}
    suite = _plain(_object(suite or {}, "metadata"))
    benchmarks, merged_all = [], []
    for i, item in enumerate(_list(doc.get("benchmarks"), "benchmarks")):
        item = _object(item, f"benchmarks[{i}]")
        own = item.get("metadata" if version != "5" else "common_metadata") or {}
        merged = {**suite, **_plain(_object(own, f"benchmarks[{i}].metadata"))}
        merged_all.append(merged)
        name = _name(merged.get("name"), f"benchmarks[{i}]")
        where = f"benchmarks[{i}] ({_shown(name, 40)})"
        unit_name = merged.get("unit", "second")
        unit = _PYPERF_UNITS.get(unit_name) if isinstance(unit_name, str) else None
        if unit is None:
            raise _Bad(f"{where} has an unknown unit {_shown(unit_name)}")
        scale = 1000.0 if unit == "ms" else 1.0
        samples: list[float] = []
        key = "samples" if version == "5" else "values"
        for j, run in enumerate(_list(item.get("runs"), f"{where}.runs")):
            run = _object(run, f"{where}.runs[{j}]")
            # Warmups and calibration runs (warmups only) are left out.
            samples += _numbers(run.get(key) or [], f"{where}.runs[{j}].{key}", scale)
        if not samples:
            raise _Bad(f"{where} has no values outside its warmups")
        benchmarks.append(
            Benchmark(name=name, unit=unit, samples=samples, n=len(samples), metadata=merged)
        )
    # What every benchmark says alike is the machine's (pyperf keeps most of it suite-wide).
    machine = {
        k: v
        for k, v in merged_all[0].items()
        if all(m.get(k) == v for m in merged_all) and not _benchmark_key(k)
    }
    tool_version = merged_all[0].get("perf_version")
    return (str(tool_version) if tool_version is not None else None), version, machine, benchmarks


#: pyperf metadata that describes a benchmark, not the machine it ran on.
_PYPERF_BENCHMARK_KEYS = frozenset({
    "name", "loops", "inner_loops", "unit", "warmups", "values", "runs", "date",
    "duration", "command", "calibrate_loops", "calibrate_warmups", "recalibrate_loops",
    "recalibrate_warmups", "description", "tags",
})  # fmt: skip


def _benchmark_key(key: str) -> bool:
    return key in _PYPERF_BENCHMARK_KEYS or key.startswith("timeit_")


_PYTEST_STATS = (("mean", "mean"), ("stddev", "stdev"), ("median", "median"))


def _pytest_benchmark(doc: Any) -> _Read:
    doc = _object(doc, "the file")
    benchmarks = []
    for i, item in enumerate(_list(doc.get("benchmarks"), "benchmarks")):
        item = _object(item, f"benchmarks[{i}]")
        fullname = item.get("fullname")
        name = _name(fullname if isinstance(fullname, str) else item.get("name"), f"[{i}]")
        where = f"benchmarks[{i}] ({_shown(name, 40)})"
        stats = _object(item.get("stats"), f"{where}.stats")
        bench = Benchmark(name=name, unit="ms")
        data = stats.get("data")
        if data is not None:
            bench.samples = _numbers(data, f"{where}.stats.data", 1000.0)
            if not bench.samples:
                raise _Bad(f"{where}.stats.data is empty")
        bench.summary_only = data is None
        rounds = stats.get("rounds")
        bench.n = len(bench.samples) if data is not None else None
        if data is None and rounds is not None:
            bench.n = _count(rounds, f"{where}.stats.rounds")
        for key, attr in (*_PYTEST_STATS, ("min", "min"), ("max", "max")):
            setattr(bench, attr, _optional(stats.get(key), f"{where}.stats.{key}", 1000.0))
        if bench.summary_only and bench.mean is None and bench.median is None:
            raise _Bad(f"{where} has neither stats.data nor a mean or median")
        for key in ("q1", "q3", "iqr"):
            if stats.get(key) is not None:
                bench.extra[f"{key}_ms"] = _number(stats[key], f"{where}.stats.{key}", 1000.0)
        for key in ("iterations", "ops"):
            if stats.get(key) is not None:
                bench.extra[key] = _number(stats[key], f"{where}.stats.{key}")
        if isinstance(item.get("params"), dict):
            bench.parameters = {str(k): str(v) for k, v in item["params"].items()}
        bench.metadata = {
            k: _plain(item[k]) for k in ("group", "name", "extra_info", "options") if k in item
        }
        benchmarks.append(bench)
    machine = {k: _plain(doc[k]) for k in ("machine_info", "commit_info", "datetime") if k in doc}
    version = doc.get("version")
    version = str(version) if isinstance(version, str | int | float) else None
    # The file's "version" is the plugin's: it is the tool's and the format's.
    return version, version, machine, benchmarks


_LOCUST_COLUMNS = {
    "n": ("Request Count", "# requests"),
    "errors": ("Failure Count", "# failures"),
    "median": ("Median Response Time", "Median response time"),
    "mean": ("Average Response Time", "Average response time"),
    "min": ("Min Response Time", "Min response time"),
    "max": ("Max Response Time", "Max response time"),
    "rps": ("Requests/s",),
}


def _locust(rows: list[list[str]]) -> _Read:
    if not _is_locust(rows):
        raise _Bad("not a locust _stats.csv (no Name and Request Count columns)")
    header = [cell.strip() for cell in rows[0]]
    column = {
        key: next((header.index(c) for c in names if c in header), None)
        for key, names in _LOCUST_COLUMNS.items()
    }
    percentiles = [(i, h) for i, h in enumerate(header) if h.endswith("%") or h == "99.999"]
    kind = next((header.index(c) for c in ("Type", "Method") if c in header), None)
    benchmarks = []
    for r, row in enumerate(_list(rows[1:], "the rows"), start=2):
        if len(row) != len(header):
            raise _Bad(f"row {r} has {len(row)} cells, the header {len(header)}")

        def cell(key: str, row: list[str] = row, r: int = r) -> float | None:
            index = column[key]
            if index is None or row[index].strip() in ("", "N/A"):
                return None
            try:
                return _number(float(row[index]), f"row {r} {header[index]}")
            except ValueError:
                raise _Bad(f"row {r} {header[index]} is not a number") from None

        name = row[header.index("Name")].strip()
        # The Aggregated row has no type (locust before 1.0 wrote "None").
        if kind is not None and row[kind].strip() not in ("", "None"):
            name = f"{row[kind].strip()} {name}"
        bench = Benchmark(name=_name(name, f"row {r}"), unit="ms", summary_only=True)
        count = cell("n")
        if count is None or count != int(count):
            raise _Bad(f"row {r} has no whole request count")
        bench.n = int(count)
        errors = cell("errors")
        bench.errors = int(errors) if errors is not None else None
        if bench.n:  # locust writes 0 for the times of a request never made
            bench.mean, bench.median = cell("mean"), cell("median")
            if bench.mean is None and bench.median is None:
                raise _Bad(f"row {r} has {bench.n} requests but no response time")
            bench.min, bench.max = cell("min"), cell("max")
            for index, label in percentiles:
                value = row[index].strip()
                if value not in ("", "N/A"):
                    try:
                        figure = _number(float(value), f"row {r} {label}")
                    except ValueError:
                        raise _Bad(f"row {r} {label} is not a number") from None
                    bench.extra[f"p{label.rstrip('%')}_ms"] = figure
        rps = cell("rps")
        if rps is not None:
            bench.extra["requests_per_s"] = rps
        benchmarks.append(bench)
    return None, None, {}, benchmarks


def _k6(doc: Any) -> _Read:
    metrics = _object(_object(doc, "the file").get("metrics"), "metrics")
    benchmarks = []
    for name, metric in metrics.items():
        metric = _object(metric, f"metrics.{_shown(name, 40)}")
        # handleSummary's data has {type, contains, values}; --summary-export is flat.
        values = _object(metric.get("values", metric), f"metrics.{_shown(name, 40)}")
        where = f"metrics.{_shown(name, 40)}"
        if "avg" in values or "med" in values:
            timed = metric.get("contains") == "time" or name.split("{")[0] in _K6_TIME_TRENDS
            bench = Benchmark(name=name, unit="ms" if timed else "", summary_only=True)
            bench.mean = _optional(values.get("avg"), f"{where}.avg")
            bench.median = _optional(values.get("med"), f"{where}.med")
            bench.min = _optional(values.get("min"), f"{where}.min")
            bench.max = _optional(values.get("max"), f"{where}.max")
            for key, value in values.items():
                if key.startswith("p("):
                    bench.extra[key] = _number(value, f"{where}.{key}")
        elif "passes" in values and "fails" in values:  # a rate: the share of non-zero values
            bench = Benchmark(name=name, unit="ratio", summary_only=True)
            passes = _count(values["passes"], f"{where}.passes")
            bench.n = passes + _count(values["fails"], f"{where}.fails")
            bench.mean = passes / bench.n if bench.n else None
        else:  # counters and gauges are totals, not measurements of one request
            continue
        benchmarks.append(bench)
    if not benchmarks:
        raise _Bad("no trend or rate metrics: no benchmarks")
    return None, None, {}, benchmarks


_READERS: dict[str, Callable[[Any], _Read]] = {
    "hyperfine": _hyperfine,
    "pyperf": _pyperf,
    "pytest-benchmark": _pytest_benchmark,
    "locust": _locust,
    "k6": _k6,
}
