"""Results files as probes: each benchmark of a file is one probe, matched by name later.

``baseline --results FILE`` turns every benchmark of the file
(:func:`changenote.measure.results.read_results`) into a probe of kind ``results``
whose samples are the file's; ``measure`` and ``ship`` take this run's file and match
its benchmarks with the baseline's by tool and name (``--match OLD=NEW`` pairs a
renamed one). A benchmark on one side only is still recorded, with nothing on the
other side: the comparison says ``not-measured``. The file itself is not kept: its
samples, its sha256, the tool and what it says about the machine are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from changenote.errors import UsageError
from changenote.measure.probes import ProbeOutcome, Series
from changenote.specs import ProbeSpec

if TYPE_CHECKING:  # the readers (csv, gzip...) load only when a file is given
    from changenote.measure.results import Benchmark, ResultsFile

KIND: Final = "results"
Redact = Callable[[str | None], str | None]

#: What one sample of each tool is, in words ("30 runs").
SAMPLE_NOUN = {
    "hyperfine": "runs",
    "pyperf": "values",
    "pytest-benchmark": "rounds",
    "locust": "requests",
    "k6": "samples",
}
#: The metric a benchmark's unit becomes, and which way is better.
_METRIC = {
    "ms": ("time_ms", "lower"),
    "B": ("bytes", "lower"),
    "count": ("count", None),
    "ratio": ("rate", None),
    "": ("value", None),
}
#: k6 rates whose better way k6's own thresholds assume.
_K6_RATES = {"http_req_failed": "lower", "checks": "higher"}
#: What of a file's machine information is kept: flat, short, enough to tell machines apart.
MACHINE_KEYS = 40
_MACHINE_TEXT = 200


@dataclass(frozen=True)
class ResultsInput:
    """What a command was given: ``--results`` files, ``--results-format``, ``--match``."""

    files: tuple[str, ...] = ()
    fmt: str | None = None
    match: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files)


@dataclass
class Read:
    """This run's files, read: each benchmark with the file it came from."""

    files: list[ResultsFile]
    #: (file index, benchmark) in the files' order.
    benchmarks: list[tuple[int, Benchmark]]
    #: ``--match OLD=NEW`` as given.
    match: tuple[str, ...] = ()


def label(tool: str, name: str) -> str:
    """The probe's label: ``hyperfine: sleep 0.1``."""
    return f"{tool}: {name}"


def read(given: ResultsInput, redact: Redact) -> Read:
    """Read every ``--results`` file whole, before anything is measured or recorded.

    Refused in one line: an empty path, a file given twice, and a tool's benchmark name
    found in two files (which one would the next run match?)."""
    if given.fmt is not None and not given.files:
        raise UsageError("--results-format applies to --results files only")
    if given.match and not given.files:
        raise UsageError("--match pairs the benchmarks of --results files: give --results FILE")
    if not given.files:
        return Read([], [])
    from changenote.measure.results import FORMATS, read_results

    fmt = given.fmt.strip().lower() if given.fmt is not None else None
    if fmt is not None and fmt not in FORMATS:
        import difflib

        near = difflib.get_close_matches(fmt, FORMATS, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise UsageError(f"--results-format must be one of: {', '.join(FORMATS)}{hint}")
    files: list[ResultsFile] = []
    seen_paths: set[Path] = set()
    owner: dict[str, str] = {}
    benchmarks: list[tuple[int, Benchmark]] = []
    for text in given.files:
        if not text.strip():
            raise UsageError("--results needs a file")
        shown = redact(text) or text
        path = Path(text)
        real = path.resolve()
        if real in seen_paths:
            raise UsageError(f"--results {text} is given twice")
        seen_paths.add(real)
        found = read_results(path, fmt)
        for bench in found.benchmarks:
            key = label(found.tool, redact(bench.name) or bench.name)
            if key in owner and owner[key] == shown:  # told apart only by a masked secret
                raise UsageError(
                    f"results file {shown}: two benchmarks are named {key!r} once their "
                    "secrets are masked; name them apart (hyperfine --command-name)"
                )
            if key in owner:
                raise UsageError(
                    f"benchmark {key!r} is in both {owner[key]} and {shown}: which one "
                    "would the next run be matched with? Give one of the files"
                )
            owner[key] = shown
            benchmarks.append((len(files), bench))
        files.append(found)
    return Read(files, benchmarks, given.match)


def _masked(key: str, value: str, redact: Redact) -> str:
    """A value redacted with its name: ``token: abc123`` is a secret though ``abc123``
    alone does not look like one."""
    from changenote.redact import redact_header

    return redact(redact_header(key, value)) or ""


def machine(info: dict[str, Any], redact: Redact) -> dict[str, Any]:
    """A file's machine information, flat (``cpu.brand_raw``), short and redacted."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if len(flat) >= MACHINE_KEYS:
            return
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, bool | int | float) or value is None:
            flat[prefix] = value
        elif isinstance(value, str):
            flat[prefix] = _masked(prefix, value, redact)[:_MACHINE_TEXT]
        # lists (CPU flags, argv) say little about which machine and much about its size

    walk("", info)
    return flat


def file_record(found: ResultsFile, redact: Redact) -> dict[str, Any]:
    """What a run keeps of one file: where it came from, never the file."""
    return {
        "path": redact(found.path) or "",
        "sha256": found.sha256,
        "tool": found.tool,
        "tool_version": redact(found.tool_version),
        "format_version": redact(found.format_version),
        "machine": machine(found.machine, redact),
        "benchmarks": len(found.benchmarks),
    }


def spec_for(found: ResultsFile, bench: Benchmark, redact: Redact) -> ProbeSpec:
    """The probe a benchmark becomes (its name masked where it held a secret)."""
    return ProbeSpec(KIND, redact(bench.name) or bench.name, settings={"tool": found.tool})


def _metric(tool: str, bench: Benchmark) -> tuple[str, str | None]:
    if tool == "k6" and bench.unit == "ratio":
        return "rate", _K6_RATES.get(bench.name.split("{")[0])
    return _METRIC.get(bench.unit, ("value", None))


def outcome(
    spec: ProbeSpec, file_index: int, found: ResultsFile, bench: Benchmark, redact: Redact
) -> ProbeOutcome:
    """A benchmark as a probe's outcome: its samples (or its summary) as metrics."""
    result = ProbeOutcome(spec)
    metric, better = _metric(found.tool, bench)
    if bench.summary_only:
        series = Series(metric, bench.unit, better)
        series.summary = {
            "n": bench.n,
            "mean": bench.mean,
            "stdev": bench.stdev,
            "median": bench.median,
            "min": bench.min,
            "max": bench.max,
            "p95": bench.extra.get("p95_ms", bench.extra.get("p(95)")),
        }
        result.series[metric] = series
    else:
        for value in bench.samples:
            result.add(metric, value, bench.unit, better)
    if bench.summary_only and bench.n and bench.errors is not None:  # locust: failures
        rate = Series("error_rate", "ratio", "lower")
        rate.summary = {"n": bench.n, "mean": bench.errors / bench.n, "stdev": None,
                        "median": None, "min": None, "max": None, "p95": None}  # fmt: skip
        result.series["error_rate"] = rate
    if bench.exit_codes is not None:  # hyperfine from 1.12: each run's exit code
        for code in bench.exit_codes:
            result.add("error_rate", 0.0 if code == 0 else 1.0)
            status = "killed by a signal" if code is None else f"exit {code}"
            result.statuses[status] = result.statuses.get(status, 0) + 1
        if bench.exit_codes:
            last = bench.exit_codes[-1]
            result.last_status = "killed by a signal" if last is None else f"exit {last}"
    for name, extra in bench.series.items():
        if name == "memory_usage_byte":
            for value in extra.values:
                result.add("memory_bytes", value, "B", "lower")
    result.attempts = bench.n or 0
    result.errors = bench.errors or 0
    if bench.errors:
        failed = "failed requests" if found.tool == "locust" else "non-zero exit"
        result.error_kinds[f"{failed} (from the file)"] = bench.errors
    result.results = {
        "file": file_index,
        "benchmark": redact(bench.name) or bench.name,
        "summary_only": bench.summary_only,
        "n": bench.n,
        "parameters": {k: _masked(k, v, redact) for k, v in bench.parameters.items()},
        "extra": {k: v for k, v in bench.extra.items() if isinstance(v, int | float)},
    }
    return result


def baseline(given: Read, redact: Redact) -> list[tuple[ProbeSpec, ProbeOutcome]]:
    """The probes and outcomes of a baseline's files, in the files' order."""
    found = []
    for index, bench in given.benchmarks:
        spec = spec_for(given.files[index], bench, redact)
        found.append((spec, outcome(spec, index, given.files[index], bench, redact)))
    return found


def missing(spec: ProbeSpec, given: Read) -> ProbeOutcome:
    """A baseline benchmark this run's files do not hold: nothing measured."""
    result = ProbeOutcome(spec)
    paths = ", ".join(f.path for f in given.files)
    result.last_status = f"not in {paths}"
    result.results = {"file": None, "benchmark": None, "summary_only": False, "n": None,
                      "parameters": {}, "extra": {}}  # fmt: skip
    return result


def refuse_repeated(given: Read, baseline: dict[str, Any]) -> None:
    """A file the baseline read, given again for a later run: nothing new was measured,
    and a comparison of a file with itself would read as "not significant"."""
    earlier = {
        str(f.get("sha256")): str(f.get("path"))
        for f in (baseline.get("settings") or {}).get("results_files") or []
    }
    for found in given.files:
        if found.sha256 in earlier:
            raise UsageError(
                f"results file {found.path} is the very file the baseline read "
                f"({earlier[found.sha256]}, sha256 {found.sha256[:12]}): give this run's "
                "results, measured after the change"
            )


def rerun(
    specs: Sequence[ProbeSpec], given: Read, redact: Redact
) -> tuple[dict[int, ProbeOutcome], list[ProbeOutcome]]:
    """This run's outcome for each results probe of the change (by index), and the
    benchmarks no probe of the change had (each a probe of its own, after the others).

    A benchmark matches the probe of the same tool and name, or the one ``--match``
    pairs it with."""
    wanted = {i: s for i, s in enumerate(specs) if s.kind == KIND}
    if given.files and not wanted:
        raise UsageError(
            "the baseline read no results file: this run's benchmarks would have nothing "
            "to be compared with (give --results at baseline to measure with files)"
        )
    if not wanted and not given.files:
        return {}, []
    if wanted and not given.files:
        names = ", ".join(s.label for s in list(wanted.values())[:3])
        more = f" and {len(wanted) - 3} more" if len(wanted) > 3 else ""
        raise UsageError(
            f"the baseline read benchmarks from results files ({names}{more}): give this "
            "run's file with --results FILE"
        )
    new = {
        label(given.files[i].tool, redact(b.name) or b.name): (i, b) for i, b in given.benchmarks
    }
    old = {s.label: i for i, s in wanted.items()}
    pairs = _pairs(given.match, old, new, redact)
    for key in new:  # the same tool and name, unless --match paired either already
        if key in old and old[key] not in pairs and key not in pairs.values():
            pairs[old[key]] = key
    if not pairs:
        theirs = ", ".join(sorted(k.split(": ", 1)[1] for k in new)[:5])
        ours = ", ".join(sorted(k.split(": ", 1)[1] for k in old)[:5])
        raise UsageError(
            f"no benchmark of this run's --results file(s) ({theirs}) is one the baseline "
            f"read ({ours}): pair a renamed one with --match OLD=NEW, or give the file of "
            "the same benchmarks"
        )
    outcomes = {}
    for index, spec in wanted.items():
        paired = pairs.get(index)
        if paired is None:
            outcomes[index] = missing(spec, given)
        else:
            file_index, bench = new[paired]
            outcomes[index] = outcome(spec, file_index, given.files[file_index], bench, redact)
    taken = set(pairs.values())
    extras = []
    for key, (file_index, bench) in new.items():
        if key not in taken:
            spec = spec_for(given.files[file_index], bench, redact)
            if key in old:  # its name is a baseline benchmark's that --match paired otherwise
                spec = ProbeSpec(spec.kind, spec.target, settings={**spec.settings, "new": True})
            extras.append(outcome(spec, file_index, given.files[file_index], bench, redact))
    return outcomes, extras


def _pairs(
    texts: Sequence[str], old: dict[str, int], new: dict[str, Any], redact: Redact
) -> dict[int, str]:
    """``--match OLD=NEW`` as {baseline probe index: this run's benchmark key}.

    Either side is a benchmark's name or its label (``hyperfine: NAME``); a name may hold
    ``=``, so each ``=`` is tried and the one split that names both sides is taken."""

    def resolve(name: str, among: dict[str, Any]) -> list[str]:
        if name in among:
            return [name]
        return [key for key in among if key.split(": ", 1)[1] == name]

    pairs: dict[int, str] = {}
    for text in texts:
        shown = redact(text) or text
        splits = [i for i, c in enumerate(text) if c == "="]
        if not splits:
            raise UsageError(f"--match {shown!r} is not OLD=NEW")
        found = []
        for at in splits:
            one, two = text[:at].strip(), text[at + 1 :].strip()
            olds, news = resolve(redact(one) or one, old), resolve(redact(two) or two, new)
            if one and two and olds and news:
                found.append((one, two, olds, news))
        if not found:
            ours = ", ".join(sorted(k.split(": ", 1)[1] for k in old)[:8]) or "none"
            theirs = ", ".join(sorted(k.split(": ", 1)[1] for k in new)[:8]) or "none"
            olds_ok = any(resolve(redact(text[:at].strip()) or "", old) for at in splits)
            news_ok = any(resolve(redact(text[at + 1 :].strip()) or "", new) for at in splits)
            if olds_ok and not news_ok:
                what = f"NEW must be a benchmark of this run's --results files ({theirs})"
            elif news_ok and not olds_ok:
                what = f"OLD must be a baseline benchmark ({ours})"
            else:
                what = (
                    f"OLD must be a baseline benchmark ({ours}) and NEW one of this run's "
                    f"--results files ({theirs})"
                )
            raise UsageError(f"--match {shown!r}: {what}")
        if len(found) > 1:
            raise UsageError(f"--match {shown!r} splits at more than one '=': name the labels")
        a, b, olds, news = found[0]
        for side, hits in ((a, olds), (b, news)):
            if len(hits) > 1:
                raise UsageError(
                    f"--match: {side!r} names benchmarks of more than one tool; write it as "
                    f"{hits[0]!r}"
                )
        index, key = old[olds[0]], news[0]
        if index in pairs or key in pairs.values():
            raise UsageError(f"--match {shown!r}: that benchmark is already paired")
        pairs[index] = key
    return pairs
