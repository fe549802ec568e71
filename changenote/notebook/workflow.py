"""The notebook's actions: baseline, measure, ship, render, show.

This layer knows no Typer and prints nothing. Each action validates everything
first, measures outside any transaction, then writes all it learned in one
transaction (the note file included), so a failure or Ctrl-C leaves the store as
it was.
"""

from __future__ import annotations

import math
import posixpath
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from changenote import gitinfo
from changenote.config import Config
from changenote.errors import ChangenoteError, ProbeError, UnreadableChangeError, UsageError
from changenote.measure import expectations, results_probes
from changenote.measure.comparing import judge, run_warnings
from changenote.measure.diagnostics import pending_windows, ranked
from changenote.measure.probes import MeasureSettings, ProbeOutcome, Progress
from changenote.measure.probes import measure as run_probes
from changenote.measure.results_probes import ResultsInput
from changenote.notebook import history, notes, recording, repeat, trust
from changenote.redact import MASK, redact
from changenote.specs import (
    MAX_RUNS,
    MAX_TIMEOUT,
    MAX_WARMUP,
    ProbeSpec,
    parse_cmd,
    parse_header,
    parse_http,
    parse_manual_metric,
    parse_prom,
)
from changenote.store.db import Store, resolve_change, unique_slug

if TYPE_CHECKING:
    from sqlmodel import Session

    from changenote.store.models import Change


@dataclass
class BaselineRequest:
    """What ``changenote baseline`` was given."""

    title: str
    service: str | None = None
    owner: str | None = None
    route: str | None = None
    input: str | None = None
    noticed: str | None = None
    expected: str | None = None
    tags: list[str] = field(default_factory=list)
    cmds: list[str] = field(default_factory=list)
    https: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    runs: int | None = None
    warmup: int | None = None
    timeout: float | None = None
    clear_cache: str | None = None
    #: Prometheus probes: ``[NAME=]PROMQL``, the server, its headers, window and step.
    proms: list[str] = field(default_factory=list)
    prometheus: str | None = None
    prom_headers: list[str] = field(default_factory=list)
    window: str | None = None
    step: str | None = None
    #: A second reference: the same window this far back (``-7d``), read at every later run.
    vs: str | None = None
    #: Benchmark results files whose benchmarks become probes (``--results``).
    results: ResultsInput = field(default_factory=ResultsInput)


@dataclass
class ShipRequest:
    """What ``changenote ship`` was given."""

    ref: str | None
    reason: str
    rollback: str | None = None
    files: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    #: The Prometheus server (else the environment's, the config's, the baseline's).
    prometheus: str | None = None
    #: When the change went live: the after window starts there (default: now).
    live_at: str | None = None
    #: Do not wait for after windows that have not passed: record them as pending, to be
    #: read later by ``measure ID --label after``.
    no_wait: bool = False
    #: This run's results files, matched with the baseline's by name (``--match``).
    results: ResultsInput = field(default_factory=ResultsInput)


#: Baseline warnings that stay true at every later run (the rest are the comparison's).
KEPT_WARNINGS = frozenset({"secret-not-stored", "not-a-git-repository"})


def _lasting_warnings(probes: list[dict[str, Any]], git: gitinfo.GitState) -> list[dict[str, str]]:
    """The baseline's warnings that stay true for the change's life (``KEPT_WARNINGS``)."""
    found = [
        {
            "code": "secret-not-stored",
            "message": (
                f"{p['label']} held a secret that was not stored; measure and ship need it "
                "again (--header), or keep it in an environment variable such as ${API_TOKEN}"
            ),
        }
        for p in probes
        if p["redacted"]
    ]
    if not git.repository:
        found.append(
            {
                "code": "not-a-git-repository",
                "message": (
                    "not a git repository: the files this change touches cannot be collected; "
                    "name them with `changenote ship --file PATH`"
                ),
            }
        )
    return found


def _free_label(taken: set[str]) -> str:
    """``measure-1``, ``measure-2``...: the first automatic run label not used yet."""
    n = 1
    while f"measure-{n}" in taken:
        n += 1
    return f"measure-{n}"


def _iso_now(change: Any) -> str:
    """The ship time as the document shows it (for the note's file name)."""
    stamp = change.shipped_at
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ") if stamp else ""


class Notebook:
    """The actions on one project's notebook."""

    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store or Store(config.store_url())
        #: Where a command names the change it acts on before it starts (the CLI: stderr).
        self.announce = announce

    def acting_on(self, verb: str, change: Change, what: str) -> None:
        """``ship #4 slow-search: measuring 1 probe, 8 runs each``, said before it starts."""
        if self.announce is not None:
            self.announce(f"{verb} #{change.id} {change.slug}: {what}")

    # -- helpers ----------------------------------------------------------------------

    def redact_text(self, text: str | None) -> str | None:
        """Text with secrets masked (built-in shapes plus the config's redact_patterns)."""
        return redact(text, self.config.redact_patterns) if text is not None else None

    def _settings(self, req: BaselineRequest) -> MeasureSettings:
        runs = self.config.runs if req.runs is None else req.runs
        warmup = self.config.warmup if req.warmup is None else req.warmup
        timeout = self.config.timeout if req.timeout is None else req.timeout
        if runs < 1:
            raise UsageError(f"--runs must be at least 1, got {runs}")
        if runs > MAX_RUNS:
            raise UsageError(f"--runs can be at most {MAX_RUNS:,}, got {runs:,}")
        if warmup < 0:
            raise UsageError(f"--warmup cannot be negative, got {warmup}")
        if warmup > MAX_WARMUP:
            raise UsageError(f"--warmup can be at most {MAX_WARMUP:,}, got {warmup:,}")
        if not math.isfinite(timeout) or timeout <= 0:
            raise UsageError(f"--timeout must be a finite number greater than 0, got {timeout:g}")
        if timeout > MAX_TIMEOUT:
            raise UsageError(f"--timeout can be at most {MAX_TIMEOUT:,} s, got {timeout:g}")
        if req.clear_cache is not None and not req.clear_cache.strip():
            raise UsageError("--clear-cache needs a shell command")
        return MeasureSettings(runs, warmup, timeout, req.clear_cache)

    def _probe_specs(self, req: BaselineRequest) -> list[ProbeSpec]:
        headers = tuple(parse_header(h) for h in req.headers)
        specs = [parse_http(h) for h in req.https]
        specs = [ProbeSpec(s.kind, s.target, headers) for s in specs]
        specs += [parse_cmd(c) for c in req.cmds]
        prom_headers = tuple(parse_header(h) for h in req.prom_headers)
        for text in req.proms:
            spec = parse_prom(text)
            specs.append(ProbeSpec(spec.kind, spec.target, prom_headers, None, spec.settings))
        from changenote.measure.checks import check_spec, find_check

        for name in req.checks:
            specs.append(check_spec(find_check(self.config, name), headers))
        return specs

    def _check_warnings(self, probes: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Checks whose config changed since the baseline (the baseline's was measured)."""
        from changenote.measure.diagnostics import check_changed

        current = {name: check.definition() for name, check in self.config.checks.items()}
        return check_changed(probes, current)

    def tick_in(
        self, session: Session, change: Change, key: str, evidence: str, keep: bool = False
    ) -> None:
        """Tick item ``key`` of ``change`` inside the caller's write transaction."""
        from sqlmodel import select

        from changenote.store.models import ChecklistItem, utcnow

        item = session.exec(
            select(ChecklistItem).where(
                ChecklistItem.change_id == change.id, ChecklistItem.key == key
            )
        ).first()
        if item is None:
            return
        # ``keep``: evidence accumulates (a second watch adds to the first), as `tick` does.
        earlier = [item.evidence] if keep and item.done and item.evidence else []
        item.done = True
        item.evidence = self.redact_text("; ".join([*earlier, evidence]))
        item.done_at = utcnow()
        session.add(item)

    def _measure(
        self,
        specs: list[ProbeSpec],
        settings: MeasureSettings,
        progress: Progress | None,
        windows: Callable[[ProbeSpec], Any] | None = None,
        files: dict[int, ProbeOutcome] | None = None,
    ) -> tuple[list[ProbeOutcome], float | None]:
        """Run the probes; Prometheus ones are read over ``windows(spec)`` instead, and
        results-file ones are ``files``' (by index), read before. With the outcomes, the
        share of the probes' time this machine's CPUs were contended (None when no probe
        ran here or the platform cannot tell)."""
        from changenote.measure.contention import Stopwatch

        native = [s for s in specs if s.kind not in ("prom", "results")]
        stopwatch = Stopwatch() if native else None  # nothing runs here: nothing to read
        measured = iter(run_probes(native, settings, progress) if native else [])
        contention = stopwatch.share() if stopwatch else None
        proms = [s for s in specs if s.kind == "prom"]
        read: Any = iter([])
        if proms:
            from changenote.measure import prometheus

            assert windows is not None
            read = iter(
                prometheus.measure_windows(proms, [windows(s) for s in proms], settings.timeout)
            )
        files = files or {}
        return [
            files[i] if s.kind == "results" else next(read) if s.kind == "prom" else next(measured)
            for i, s in enumerate(specs)
        ], contention

    def _reference(
        self, specs: list[ProbeSpec], outcomes: list[ProbeOutcome], timeout: float
    ) -> tuple[float, dict[int, ProbeOutcome]] | None:
        """The ``--vs`` reference of a run: each Prometheus window it read (or left
        pending) read again as far back as the baseline asked; None without ``--vs``."""
        chosen = [
            i for i, (spec, outcome) in enumerate(zip(specs, outcomes, strict=True))
            if spec.kind == "prom" and spec.settings.get("vs") and outcome.window
        ]  # fmt: skip
        if not chosen:
            return None
        from changenote.measure import prometheus

        windows: list[prometheus.Window | prometheus.Pending] = [
            prometheus.Window.stored(outcomes[i].window or {}).earlier(
                float(specs[i].settings["vs"])
            )
            for i in chosen
        ]
        read = prometheus.measure_windows([specs[i] for i in chosen], windows, timeout)
        return float(specs[chosen[0]].settings["vs"]), dict(zip(chosen, read, strict=True))

    def _files(self, files: results_probes.Read) -> list[dict[str, Any]] | None:
        """What a run keeps of its ``--results`` files (never the files)."""
        return [results_probes.file_record(f, self.redact_text) for f in files.files] or None

    def _from_files(
        self, specs: list[ProbeSpec], files: results_probes.Read, baseline: dict[str, Any]
    ) -> tuple[list[ProbeSpec], dict[int, ProbeOutcome]]:
        """At measure and ship: the change's probes plus the benchmarks only this run's
        files hold, and each results probe's outcome from the files (by index).
        ``baseline`` is the baseline run: its files are not this run's."""
        results_probes.refuse_repeated(files, baseline)
        matched, extras = results_probes.rerun(specs, files, self.redact_text)
        for outcome in extras:
            matched[len(specs)] = outcome
            specs = [*specs, outcome.spec]
        return specs, matched

    def _prometheus_url(self, given: str | None) -> str | None:
        """``--prometheus``, else ``CHANGENOTE_PROMETHEUS_URL``, else the config's."""
        import os

        from changenote.measure.prometheus import PROMETHEUS_ENV

        for url in (given, os.environ.get(PROMETHEUS_ENV), self.config.prometheus_url):
            if url is not None and url.strip():
                return url.strip()
        return None

    def _settle_prom(self, specs: list[ProbeSpec], req: BaselineRequest) -> list[ProbeSpec]:
        """At baseline: the server, window and step every Prometheus probe keeps."""
        from changenote.measure import prometheus
        from changenote.specs import parse_offset, parse_prom_duration

        if not any(s.kind == "prom" for s in specs):
            for flag, value in (("--window", req.window), ("--step", req.step),
                                ("--vs", req.vs), ("--prometheus", req.prometheus)):  # fmt: skip
                if value is not None:
                    raise UsageError(f"{flag} applies to Prometheus probes (--prom) only")
            return specs
        url = self._prometheus_url(req.prometheus)
        if url is None:
            raise UsageError(
                "--prom needs a Prometheus server: --prometheus URL, "
                f"{prometheus.PROMETHEUS_ENV} or prometheus_url in the config"
            )
        window = parse_prom_duration(req.window, "--window") if req.window else None
        step = parse_prom_duration(req.step, "--step") if req.step else None
        vs = parse_offset(req.vs) if req.vs is not None else None
        timeout = self.config.timeout if req.timeout is None else req.timeout
        return prometheus.settle(specs, url, window, step, timeout, vs)

    def _rerun_prom(self, specs: list[ProbeSpec], given: str | None) -> list[ProbeSpec]:
        """At measure and ship: the server given now, else the one the baseline asked."""
        url = self._prometheus_url(given)
        fixed = []
        for spec in specs:
            if spec.kind == "prom":
                server = url or str(spec.settings.get("server") or "")
                if not server or MASK in server:
                    raise ProbeError(
                        f"the Prometheus URL of {spec.label} held a secret that was not "
                        "stored; give it again with --prometheus URL, or keep the secret "
                        "in an environment variable: ${NAME}"
                    )
                spec = ProbeSpec(
                    spec.kind, spec.target, spec.headers, spec.check,
                    {**spec.settings, "server": server},
                )  # fmt: skip
            fixed.append(spec)
        return fixed

    # -- actions ----------------------------------------------------------------------

    def baseline(self, req: BaselineRequest, progress: Progress | None = None) -> dict[str, Any]:
        """Create a change and measure its baseline run."""
        from changenote.notebook import document
        from changenote.store.models import STANDARD_CHECKLIST, Change, ChecklistItem, utcnow

        title = req.title.strip()
        if not title:
            raise UsageError("the title cannot be empty")
        settings = self._settings(req)
        specs = self._probe_specs(req)
        files = results_probes.read(req.results, self.redact_text)
        from_files = results_probes.baseline(files, self.redact_text)
        specs += [spec for spec, _ in from_files]
        read = {len(specs) - len(from_files) + i: o for i, (_, o) in enumerate(from_files)}
        manual = [parse_manual_metric(m) for m in req.metrics]
        expectations.parse(req.expected, strict=True)  # a typo must not check nothing
        for tag in req.tags:
            if not tag.strip():
                raise UsageError("--tag cannot be empty")
        if not specs and not manual:
            raise UsageError(
                "nothing to measure: give --http, --cmd, --prom, --check, --results or --metric"
            )
        if specs and all(s.kind in ("prom", "results") for s in specs):
            for flag, value in (("--runs", req.runs), ("--warmup", req.warmup),
                                ("--clear-cache", req.clear_cache)):  # fmt: skip
                if value is not None:
                    raise UsageError(
                        f"{flag} applies to the probes changenote runs (--http, --cmd, a "
                        "check); results files and Prometheus windows are read, not run"
                    )
        specs = self._settle_prom(specs, req)
        stored_probes = [recording.stored_probe(s, self.redact_text) for s in specs]
        repeat.refuse_unrepeatable(stored_probes, self.redact_text(settings.clear_cache))
        self.store.ensure_schema()  # fail on a bad store before measuring for minutes
        git = gitinfo.state(self.config.root, self.config.own_paths())
        by = history.who(self.config, None)
        started = utcnow()
        outcomes, contention = self._measure(
            specs, settings, progress, _window_ending(started), read
        )
        for outcome in outcomes:  # a baseline without data says so, and records nothing
            if outcome.window is not None and outcome.errors:
                raise ProbeError(
                    f"{outcome.spec.label}: {outcome.last_status.removeprefix('no data: ')}"
                )
        safe_title = self.redact_text(title) or title
        with self.store.write() as session:
            change = Change(
                uid=uuid.uuid4().hex,
                slug=unique_slug(session, safe_title.replace(MASK, "")),
                title=safe_title,
                service=self.redact_text(req.service or self.config.service),
                owner=self.redact_text(req.owner or self.config.owner),
                route=self.redact_text(req.route),
                input=self.redact_text(req.input),
                noticed=self.redact_text(req.noticed),
                expected=self.redact_text(req.expected),
                tags=sorted({self.redact_text(t.strip()) or "" for t in req.tags}),
                probes=stored_probes,
                settings={
                    **settings.to_dict(),
                    "clear_cache": self.redact_text(settings.clear_cache),
                    # The verdicts at ship use the thresholds the baseline was taken with.
                    "min_effect": self.config.min_effect,
                    "metrics": self.config.metric_rules(),
                },
                base_commit=git.commit,
                base_dirty=git.dirty,
                base_dirty_files=git.dirty_files,
                warnings=_lasting_warnings(stored_probes, git),
                created_at=started,
                origin="recorded",
                recorded_by=trust.current_user(),
            )
            session.add(change)
            session.flush()
            items = list(STANDARD_CHECKLIST) + [(i.key, i.label) for i in self.config.checklist]
            for position, (key, label) in enumerate(items):
                session.add(
                    ChecklistItem(
                        change_id=change.id,  # type: ignore[arg-type]
                        position=position,
                        key=key,
                        label=label,
                    )
                )
            session.flush()
            history.record(session, change, "baseline", by, at=started)
            recording.add_run(
                session, change, "baseline", outcomes, manual, git, settings, started,
                self.redact_text, results_files=self._files(files), contention=contention,
            )  # fmt: skip
            session.flush()
            doc = document.load(session, change)
            change.warnings = ranked([*change.warnings, *run_warnings(doc["runs"][0])])
            session.add(change)
            rows = doc["runs"][0]["metrics"]
            if rows:
                n_probes = len(specs) + (1 if manual else 0)
                where = f" at commit {git.commit[:12]}" if git.commit else ""
                self.tick_in(
                    session,
                    change,
                    "capture",
                    f"baseline: {len(rows)} metric(s) from {n_probes} probe(s), "
                    f"{_how_measured(specs, settings)}{where}",
                )
            session.flush()
            doc = document.load(session, change)
        # What --expect will check, against what the baseline measured (not stored: it
        # follows from the text and the runs).
        doc["expect_plan"] = expectations.plan(doc["expected"], doc["runs"][0]["metrics"])
        return doc

    def measure(
        self,
        ref: str | None,
        label: str | None = None,
        headers: list[str] | None = None,
        metrics: list[str] | None = None,
        progress: Progress | None = None,
        prometheus: str | None = None,
        results: ResultsInput | None = None,
    ) -> dict[str, Any]:
        """Re-run the change's probes as another run and compare it with the baseline
        (Prometheus probes: the window that ends now; results files: the ones given)."""
        from changenote.notebook import document
        from changenote.store.models import utcnow

        given = results or ResultsInput()
        if label is not None and label.strip().lower() == "after":
            extra = (("--metric", metrics), ("--results", given.files),
                     ("--results-format", given.fmt), ("--match", given.match))  # fmt: skip
            for flag, value in extra:
                if value:
                    raise UsageError(
                        f"{flag} with --label after: the after-run's figures were given at ship"
                    )
            return self.read_pending(ref, headers or [], progress, prometheus)
        manual = [parse_manual_metric(m) for m in metrics or []]
        if label is not None and not label.strip():
            raise UsageError("--label cannot be empty")
        if label and label.strip().lower() == "baseline":
            raise UsageError(f"--label {label!r} is reserved; choose another")
        if label and len(label.strip()) > 80:
            raise UsageError("--label is limited to 80 characters")
        files = results_probes.read(given, self.redact_text)
        with self.store.read() as session:
            change = document.resolve(session, ref)
            document.load(session, change)  # one that cannot be read stops here, named
            if change.status == "shipped":
                raise ChangenoteError(f"change {change.slug!r} is already shipped")
            refuse_abandoned(change)
            trust.refuse_untrusted(change, self.config)
            specs = self._rerun_prom(repeat.rerun_specs(change.probes, headers or []), prometheus)
            settings = repeat.rerun_settings(change.settings, self.config)
            runs = document.load(session, change)["runs"]
            taken = {r["label"] for r in runs}
            if label and (self.redact_text(label.strip()) or "") in taken:
                raise UsageError(f"change {change.slug!r} already has a run labelled {label!r}")
        specs, read = self._from_files(specs, files, runs[0] if runs else {})
        if not specs and not manual:
            raise UsageError("this change has no probes to re-run; give --metric figures")
        self.acting_on("measure", change, _measuring(specs, settings, len(files.benchmarks)))
        git = gitinfo.state(self.config.root, self.config.own_paths())
        by = history.who(self.config, None)
        started = utcnow()
        outcomes, contention = self._measure(
            specs, settings, progress, _window_ending(started), read
        )
        reference = self._reference(specs, outcomes, settings.timeout)
        with self.store.write() as session:
            change = resolve_change(session, str(change.id))
            if change.status == "shipped":
                raise ChangenoteError(f"change {change.slug!r} was shipped meanwhile")
            run_label = (self.redact_text(label.strip()) if label else None) or _free_label(taken)
            history.record(session, change, "measure", by, name=run_label, at=started)
            if reference is not None:
                recording.add_reference_run(
                    session, change, run_label, *reference, git, settings, started,
                    self.redact_text,
                )  # fmt: skip
            recording.add_run(
                session, change, run_label, outcomes, manual, git, settings, started,
                self.redact_text, results_files=self._files(files), contention=contention,
            )  # fmt: skip
            session.flush()
            doc = document.load(session, change)
            verdict = judge(*_judged(doc))
            verdicts = ", ".join(
                f"{c['metric']} {c['verdict']}"
                for c in verdict.comparison
                if c["probe"] != recording.MANUAL_PROBE
            )
            self.tick_in(
                session,
                change,
                "test",
                f"run {run_label!r} compared with the baseline: {verdicts or 'no metrics'}",
            )
            session.flush()
            doc = document.load(session, change)
        doc["comparison"] = verdict.comparison
        kept = [w for w in doc["warnings"] if w["code"] in KEPT_WARNINGS]
        doc["warnings"] = ranked(kept + self._check_warnings(change.probes) + verdict.warnings)
        doc["expectations"] = verdict.expectations
        doc["measured_run"] = run_label
        return doc

    def read_pending(
        self,
        ref: str | None,
        headers: list[str],
        progress: Progress | None = None,
        prometheus: str | None = None,
    ) -> dict[str, Any]:
        """Read the after windows a ``ship --no-wait`` left pending (waiting for them when
        they have not passed yet), then judge the after-run again and render the note."""
        from changenote.measure import prometheus as prom
        from changenote.notebook import document
        from changenote.store.models import utcnow

        with self.store.read() as session:
            change = document.resolve(session, ref)
            doc = document.load(session, change)  # one that cannot be read stops here
            if change.status != "shipped":
                raise UsageError(
                    f"--label after reads the pending after windows of a shipped change; "
                    f"change {change.slug!r} is not shipped (`changenote ship` records its "
                    "after-run)"
                )
            after = doc["runs"][-1]
            pending = [
                i for i, p in enumerate(after["probe_results"])
                if (p.get("window") or {}).get("pending")
            ]  # fmt: skip
            if not pending:
                raise ChangenoteError(
                    f"change {change.slug!r} has no pending after window: its after-run "
                    "was read in full at ship"
                )
            stored = [change.probes[i] for i in pending]
            specs = self._rerun_prom(repeat.rerun_specs(stored, headers), prometheus)
            windows = [prom.Window.stored(after["probe_results"][i]["window"]) for i in pending]
            timeout = repeat.rerun_settings(change.settings, self.config).timeout
            before_verdict = judge(*_judged(doc))
        count = f"{len(pending)} pending Prometheus window{'s' if len(pending) > 1 else ''}"
        self.acting_on("measure", change, f"reading the after-run's {count}")
        by = history.who(self.config, None)
        started = utcnow()
        ready = [
            self._wait_for("measure", change, s, w, True)
            for s, w in zip(specs, windows, strict=True)
        ]
        outcomes = prom.measure_windows(specs, ready, timeout)
        with notes.Staged(self.config) as staged, self.store.write() as session:
            change = resolve_change(session, str(change.id))
            recording.fill_pending(
                session,
                change,
                after["label"],
                dict(zip(pending, outcomes, strict=True)),
                self.redact_text,
            )
            history.record(session, change, "measure", by, name=after["label"], at=started)
            session.flush()
            doc = document.load(session, change)
            verdict = judge(*_judged(doc))
            # The warnings the old judgement gave make way for the new one's.
            stale = {(w["code"], w["message"]) for w in before_verdict.warnings}
            change.warnings = ranked(
                [w for w in change.warnings
                 if (w["code"], w["message"]) not in stale
                 and w["code"] != "after-window-pending"]
                + verdict.warnings
                + pending_windows(doc["runs"][-1], change.slug)
            )  # fmt: skip
            change.comparison = verdict.comparison
            change.expectations = verdict.expectations
            if change.review_status == "reviewed":  # what was reviewed has changed
                change.review_status = "needs-update"
                history.record(
                    session, change, "review", by, name="needs-update",
                    note="the after-run's pending windows were read since the review",
                )  # fmt: skip
            session.add(change)
            session.flush()
            doc = document.load(session, change)
            staged.write(doc)
        doc["measured_run"] = after["label"]
        return doc

    def ship(self, req: ShipRequest, progress: Progress | None = None) -> dict[str, Any]:
        """Measure the after-run, compare, collect files and commands, write the note."""
        from sqlmodel import col, func, select

        from changenote.notebook import document
        from changenote.store.models import Change, CommandRecord, FileTouched, utcnow

        reason = req.reason.strip()
        if not reason:
            raise UsageError("--reason cannot be empty: say why the change was made")
        manual = [parse_manual_metric(m) for m in req.metrics]
        for path in req.files:
            if not path.strip():
                raise UsageError("--file cannot be empty")
        for command in req.commands:
            if not command.strip():
                raise UsageError("--command cannot be empty")
        files = results_probes.read(req.results, self.redact_text)
        notes.settle(self.config, self.store)  # what a killed ship left behind
        with self.store.read() as session:
            change = document.resolve(session, req.ref)
            runs = document.load(session, change)["runs"]  # one that cannot be read stops
            if change.status == "shipped":
                raise ChangenoteError(
                    f"change {change.slug!r} is already shipped (use `changenote render` to "
                    "re-render its note)"
                )
            refuse_abandoned(change)
            trust.refuse_untrusted(change, self.config)
            specs = self._rerun_prom(repeat.rerun_specs(change.probes, req.headers), req.prometheus)
            settings = repeat.rerun_settings(change.settings, self.config)
            change_id = change.id
            baseline_end = change.created_at
        specs, read = self._from_files(specs, files, runs[0] if runs else {})
        live = self._live_at(req.live_at, specs, baseline_end)
        if req.no_wait and not any(s.kind == "prom" for s in specs):
            raise UsageError("--no-wait applies to Prometheus probes (--prom) only")
        notes.check_writable(self.config)  # before the measurement, not after it
        self.acting_on("ship", change, _measuring(specs, settings, len(files.benchmarks)))
        git = gitinfo.state(self.config.root, self.config.own_paths())
        by = history.who(self.config, None)
        started = utcnow()
        if live is None:
            live = started
        outcomes, contention = self._measure(
            specs, settings, progress, self._after_window(change, live, wait=not req.no_wait), read
        )
        reference = self._reference(specs, outcomes, settings.timeout)
        base = (change.base_commit, dict(change.base_dirty_files))
        # the results files are the tools' output, not the change (this run's, the earlier)
        earlier = [f.get("path") for r in runs for f in r["settings"].get("results_files") or []]
        outputs = [Path(p) for p in [*req.results.files, *earlier] if p and MASK not in p]
        excludes = [*self.config.own_paths(), *outputs]
        # Git runs before the write transaction, so no lock is held while it works.
        touched = gitinfo.files_touched(self.config.root, base[0], base[1], excludes)
        manual_files = [posixpath.normpath(p.strip()) for p in req.files]
        paths = list(dict.fromkeys([*touched.paths, *manual_files]))
        with notes.Staged(self.config) as staged, self.store.write() as session:
            change = resolve_change(session, str(change_id))
            if change.status == "shipped":
                raise ChangenoteError(f"change {change.slug!r} was shipped meanwhile")
            if reference is not None:
                recording.add_reference_run(
                    session, change, "after", *reference, git, settings, started,
                    self.redact_text,
                )  # fmt: skip
            recording.add_run(
                session, change, "after", outcomes, manual, git, settings, started,
                self.redact_text, results_files=self._files(files), contention=contention,
            )  # fmt: skip
            for path in paths:
                session.add(
                    FileTouched(
                        change_id=change.id,  # type: ignore[arg-type]
                        path=self.redact_text(path) or path,
                        source="git" if path in touched.paths else "manual",
                    )
                )
            logged = session.exec(
                select(func.count())
                .select_from(CommandRecord)
                .where(CommandRecord.change_id == change.id)
            ).one()
            for offset, command in enumerate(req.commands, start=1):
                session.add(
                    CommandRecord(
                        change_id=change.id,  # type: ignore[arg-type]
                        position=logged + offset,
                        command=self.redact_text(command.strip()) or "",
                        source="ship",
                    )
                )
            session.flush()
            doc = document.load(session, change)
            verdict = judge(*_judged(doc))
            missing = []
            if touched.base_missing:
                missing.append(
                    {
                        "code": "baseline-commit-missing",
                        "message": (
                            f"the baseline commit {str(base[0])[:12]} is no longer in this "
                            "repository (amended, rebased or another clone): files touched "
                            "show only what differs from HEAD; add the rest with --file"
                        ),
                    }
                )
            change.status = "shipped"
            change.review_status = "drafted"  # its note, until someone reviews it
            change.reason = self.redact_text(reason)
            change.rollback = self.redact_text(req.rollback.strip()) if req.rollback else None
            change.shipped_at = utcnow()
            change.head_commit = git.commit
            change.comparison = verdict.comparison
            change.expectations = verdict.expectations
            change.warnings = ranked(
                [w for w in change.warnings if w["code"] in KEPT_WARNINGS]
                + missing
                + self._check_warnings(change.probes)
                + verdict.warnings
                + pending_windows(doc["runs"][-1], change.slug)
            )
            taken = set(
                session.exec(
                    select(Change.note_path).where(
                        col(Change.note_path).is_not(None), Change.id != change.id
                    )
                ).all()
            )
            change.note_path = notes.unique_path(
                self.config, {**doc, "shipped_at": _iso_now(change)}, taken
            )
            self.tick_in(session, change, "note", f"note written to {change.note_path}")
            session.add(change)
            history.record(session, change, "ship", by, at=change.shipped_at)
            session.flush()
            doc = document.load(session, change)
            # Written now, taken back if the commit fails: the note and the store agree.
            staged.write(doc)
            return doc

    def _live_at(self, given: str | None, specs: list[ProbeSpec], baseline_end: Any) -> Any:
        """When the change went live, from ``--live-at``; None: the ship's start."""
        if given is None:
            return None
        if not any(s.kind == "prom" for s in specs):
            raise UsageError("--live-at applies to Prometheus probes (--prom) only")
        from changenote.formatting import iso
        from changenote.specs import parse_time
        from changenote.store.models import utcnow

        live = parse_time(given, utcnow(), "--live-at")
        ended = _aware(baseline_end)
        if ended is not None and live < ended:
            raise UsageError(
                f"--live-at {given!r} is before the baseline window ended "
                f"({iso(ended)}): the after window would hold "
                "points from before the change"
            )
        return live

    def _after_window(
        self, change: Change, live: Any, wait: bool = True
    ) -> Callable[[ProbeSpec], Any]:
        """The window after ``live`` for each Prometheus probe, waited for when it has
        not passed yet (with a line now and then; Ctrl-C records nothing), or, without
        ``wait``, left pending."""
        from changenote.measure.prometheus import Window

        return lambda spec: self._wait_for(
            "ship", change, spec, Window.starting(_aware(live), spec), wait
        )

    def _wait_for(self, verb: str, change: Change, spec: ProbeSpec, after: Any, wait: bool) -> Any:
        """``after`` once it can be read, with a line now and then while waiting (Ctrl-C
        records nothing); without ``wait``, a window that cannot be read yet is
        :class:`~changenote.measure.prometheus.Pending`."""
        import time

        from changenote.measure.prometheus import Pending, describe_duration

        if not wait and after.ready_at > time.time():
            return Pending(after)
        said = 0.0
        while (left := after.ready_at - time.time()) > 0:
            if self.announce is not None and time.monotonic() - said >= _WAIT_LINE_EVERY:
                said = time.monotonic()
                self.announce(
                    f"{verb} #{change.id} {change.slug}: waiting for the after window of "
                    f"{spec.label} ({describe_duration(after.seconds)} from "
                    f"{after.start.strftime('%H:%M:%S')} UTC): "
                    f"{describe_duration(max(1.0, math.ceil(left)))} "
                    "left (Ctrl-C records nothing)"
                )
            time.sleep(min(left, 1.0))
        return after

    # -- notes ------------------------------------------------------------------------

    def render(
        self, ref: str | None, skipped: list[UnreadableChangeError] | None = None
    ) -> list[Path]:
        """Re-render notes from the store: one change, or every change with a note.

        Rendering them all, a change that cannot be read goes to ``skipped`` (when given)
        and the others are written."""
        from sqlmodel import col, select

        from changenote.notebook import document
        from changenote.store.models import Change

        written = notes.settle(self.config, self.store)
        with self.store.read() as session:
            if ref is not None:
                change = document.resolve(session, ref)
                ids = [change.id]
                if change.note_path is None:
                    raise ChangenoteError(
                        f"change {change.slug!r} is not shipped yet, so it has no note"
                    )
            else:
                ids = list(
                    session.exec(
                        select(Change.id)
                        .where(col(Change.note_path).is_not(None))
                        .order_by(col(Change.id))
                    ).all()
                )
            for change_id in ids:
                assert change_id is not None
                try:
                    doc = document.load_id(session, change_id)
                except UnreadableChangeError as exc:
                    if skipped is None or ref is not None:
                        raise
                    skipped.append(exc)
                    continue
                path = notes.write(self.config, doc)
                if path not in written:
                    written.append(path)
        return written

    # -- trust --------------------------------------------------------------------------

    def trust_state(self, ref: str) -> dict[str, Any]:
        """What the change would run here, and whether it may (``trust`` shows this)."""
        with self.store.read() as session:
            return trust.summary(resolve_change(session, ref, any_status=True), self.config)

    def trust(self, ref: str, revoke: bool = False) -> dict[str, Any]:
        """Let the change's commands run here (or, with ``revoke``, no longer)."""
        from changenote.store.models import utcnow

        with self.store.write() as session:
            change = resolve_change(session, ref, any_status=True)
            if revoke:
                change.trusted_by, change.trusted_at = None, None
            else:
                change.trusted_by, change.trusted_at = trust.current_user(), utcnow()
            session.add(change)
            session.flush()
            return trust.summary(change, self.config)

    def show(self, ref: str | None) -> dict[str, Any]:
        from changenote.notebook import document

        with self.store.read() as session:
            return document.load(session, document.resolve(session, ref, any_status=True))


#: How often a ship waiting for its after window says how long is left, in seconds.
_WAIT_LINE_EVERY = 30.0


def _aware(when: Any) -> Any:
    """A stored time as an aware UTC datetime (SQLite gives them back naive)."""
    from datetime import UTC

    if when is None:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _judged(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What ``judge`` compares in ``doc``: the baseline, the newest run, and that run's
    ``--vs`` reference when it has one."""
    from changenote.measure.comparing import reference_run

    newest = doc["runs"][-1]
    return (
        doc["settings"], doc["runs"][0], newest, doc["expected"],
        reference_run(doc["runs"], newest["label"]),
    )  # fmt: skip


def _window_ending(end: Any) -> Callable[[ProbeSpec], Any]:
    """The window of each Prometheus probe that ends at ``end`` (baseline, measure)."""
    from changenote.measure.prometheus import Window

    return lambda spec: Window.ending(_aware(end), spec)


def _how_measured(specs: list[ProbeSpec], settings: MeasureSettings) -> str:
    """``10 run(s) each``, ``a 30m window each``, or both: what a baseline's figures are."""
    from changenote.specs import describe_duration

    said = []
    if not specs or any(s.kind not in ("prom", "results") for s in specs):
        said.append(f"{settings.runs} run(s) each")
    lengths = sorted({float(s.settings["window"]) for s in specs if s.kind == "prom"})
    if lengths:
        windows = " or ".join(describe_duration(w) for w in lengths)
        said.append(f"a {windows} Prometheus window each" if len(said) == 0 else
                    f"Prometheus probes a {windows} window each")  # fmt: skip
    benchmarks = sum(1 for s in specs if s.kind == "results")
    if benchmarks:
        said.append(f"{benchmarks} benchmark(s) read from results files")
    return "; ".join(said)


def _measuring(specs: list[ProbeSpec], settings: MeasureSettings, benchmarks: int = 0) -> str:
    """What a measure or ship is about to do, in words (``benchmarks``: how many this
    run's results files hold)."""
    if not specs:
        return "recording the figures given (no probes to run)"
    native = [s for s in specs if s.kind not in ("prom", "results")]
    said = []
    if native:
        probes = "1 probe" if len(native) == 1 else f"{len(native)} probes"
        runs = "1 run" if settings.runs == 1 else f"{settings.runs} runs"
        said.append(f"measuring {probes}, {runs} each")
    if benchmarks:
        plural = "s" if benchmarks > 1 else ""
        said.append(f"reading {benchmarks} benchmark{plural} from results files")
    proms = sum(1 for s in specs if s.kind == "prom")
    if proms:
        from changenote.specs import describe_duration

        line = f"reading {proms} Prometheus window{'s' if proms > 1 else ''}"
        back = next((s.settings["vs"] for s in specs if s.settings.get("vs")), None)
        if back:
            line += f" and the same {describe_duration(float(back))} earlier"
        said.append(line)
    return "; ".join(said)


def refuse_abandoned(change: Change) -> None:
    """An abandoned change is measured, shipped or ticked again only once reopened."""
    if change.status == "abandoned":
        raise ChangenoteError(
            f"change {change.slug!r} is abandoned: `changenote reopen {change.slug}` first"
        )
