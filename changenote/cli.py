"""The command line: parse, call the workflow, print. Nothing else lives here.

Start-up matters (``--help`` and ``list`` run often), so this module imports only
Typer; each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from changenote import __version__

if TYPE_CHECKING:
    from changenote.workflow import Notebook

app = typer.Typer(
    name="changenote",
    help=(
        "A maintenance notebook for Python services: measure first, change one thing, "
        "measure again, write it down."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Ref = Annotated[
    str | None, typer.Argument(metavar="ID", help="Change id or slug (default: newest unshipped).")
]
Json = Annotated[bool, typer.Option("--json", help="Print the change document as JSON.")]
Headers = Annotated[
    list[str] | None,
    typer.Option(
        "--header",
        metavar="'NAME: VALUE'",
        help="'Name: value' sent with every HTTP probe (repeatable); secret values are "
        "redacted when stored, so give them again (or use ${ENV_VAR}).",
    ),
]
FailOnRegression = Annotated[
    bool,
    typer.Option(
        "--fail-on-regression",
        help="Exit 3 (after recording everything) when a metric regressed or a checkable "
        "--expect clause was not met.",
    ),
]
Metrics = Annotated[
    list[str] | None,
    typer.Option(
        "--metric",
        metavar="NAME=VALUE[UNIT]",
        help="Manual figure NAME=VALUE[UNIT], e.g. p95_ms=120 (repeatable).",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"changenote {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """A maintenance notebook for Python services."""


def _notebook() -> Notebook:
    from changenote.config import load_config
    from changenote.workflow import Notebook

    return Notebook(load_config())


def _progress_bar() -> Any:
    """A Rich progress bar on stderr when it is a terminal, else nothing."""
    from changenote.display import progress_bar

    return progress_bar()


def _emit(doc: dict[str, Any], as_json: bool, kind: str) -> None:
    from changenote import display

    if as_json:
        display.print_json(doc)
    else:
        display.print_change(doc, kind)


def _gate(doc: dict[str, Any], enabled: bool) -> None:
    """The CI gate: exit 3 on a regression or an unmet expectation, with one line saying why."""
    if not enabled:
        return
    regressed = [
        f"{c['metric']} of {c['probe']}" for c in doc["comparison"] if c["verdict"] == "regressed"
    ]
    unmet = [e["expect"] for e in doc.get("expectations", []) if e["met"] is False]
    if regressed or unmet:
        parts = ([f"regressed: {', '.join(regressed)}"] if regressed else []) + (
            [f"expectation not met: {'; '.join(unmet)}"] if unmet else []
        )
        sys.stderr.write(f"changenote: gate failed: {' | '.join(parts)}\n")
        raise typer.Exit(3)


@app.command()
def init(
    service: Annotated[
        str | None, typer.Option(metavar="NAME", help="Service name for new changes.")
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Owner for new changes (default: git config user.name)."),
    ] = None,
    notes_dir: Annotated[str, typer.Option(metavar="DIR", help="Folder for the notes.")] = "notes",
) -> None:
    """Write a starter changenote.toml in the current folder."""
    from pathlib import Path

    from changenote.config import init_project

    path = init_project(Path.cwd(), service=service, owner=owner, notes_dir=notes_dir)
    typer.echo(f"wrote {path}")


@app.command()
def baseline(
    title: Annotated[str, typer.Argument(metavar="TITLE", help="What is wrong, in a few words.")],
    service: Annotated[
        str | None, typer.Option(metavar="NAME", help="The service being changed.")
    ] = None,
    owner: Annotated[str | None, typer.Option(metavar="NAME", help="Who owns the change.")] = None,
    route: Annotated[
        str | None, typer.Option(metavar="ROUTE", help="The route or entry point involved.")
    ] = None,
    input_: Annotated[
        str | None,
        typer.Option("--input", metavar="TEXT", help="The expected input that shows the problem."),
    ] = None,
    noticed: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Where the user notices the problem.")
    ] = None,
    expect: Annotated[
        str | None, typer.Option(metavar="TEXT", help="The expected result of the change.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(metavar="TAG", help="A tag (repeatable).")
    ] = None,
    cmd: Annotated[
        list[str] | None, typer.Option(metavar="COMMAND", help="Shell command probe (repeatable).")
    ] = None,
    http: Annotated[
        list[str] | None,
        typer.Option(metavar="'[METHOD] URL'", help="HTTP probe '[METHOD] URL' (repeatable)."),
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="A check defined in config (repeatable)."),
    ] = None,
    header: Headers = None,
    metric: Metrics = None,
    runs: Annotated[
        int | None, typer.Option(metavar="N", help="Measured runs per probe [default: 10].")
    ] = None,
    warmup: Annotated[
        int | None,
        typer.Option(metavar="N", help="Unmeasured warm-up runs per probe [default: 1]."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS", help="Seconds before one run counts as failed [default: 30]."
        ),
    ] = None,
    clear_cache: Annotated[
        str | None,
        typer.Option(metavar="COMMAND", help="Shell command run before every measured run."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Create a change and measure its baseline; prints its id."""
    from changenote.workflow import BaselineRequest

    request = BaselineRequest(
        title=title,
        service=service,
        owner=owner,
        route=route,
        input=input_,
        noticed=noticed,
        expected=expect,
        tags=tag or [],
        cmds=cmd or [],
        https=http or [],
        checks=check or [],
        headers=header or [],
        metrics=metric or [],
        runs=runs,
        warmup=warmup,
        timeout=timeout,
        clear_cache=clear_cache,
    )
    notebook = _notebook()
    with _progress_bar() as progress:
        doc = notebook.baseline(request, progress)
    _emit(doc, as_json, "baseline")


@app.command()
def measure(
    ref: Ref = None,
    label: Annotated[str | None, typer.Option(metavar="LABEL", help="Name of this run.")] = None,
    header: Headers = None,
    metric: Metrics = None,
    fail_on_regression: FailOnRegression = False,
    as_json: Json = False,
) -> None:
    """Re-run the change's probes as another run, compared with the baseline."""
    notebook = _notebook()
    with _progress_bar() as progress:
        doc = notebook.measure(ref, label, header or [], metric or [], progress)
    _emit(doc, as_json, "measure")
    _gate(doc, fail_on_regression)


@app.command()
def tick(
    args: Annotated[
        list[str], typer.Argument(metavar="[ID] ITEM", help="[ID] ITEM: the change, then the item.")
    ],
    note: Annotated[str | None, typer.Option(metavar="TEXT", help="Evidence in words.")] = None,
    cmd: Annotated[
        str | None,
        typer.Option(
            metavar="COMMAND", help="Run this command as evidence; tick only if it succeeds."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds the --cmd may take.")
    ] = 3600.0,
    as_json: Json = False,
) -> None:
    """Tick a checklist item (capture, backup, test, watch, note, or a prefix) with evidence."""
    from changenote.checklist import tick as do_tick
    from changenote.errors import UsageError

    if len(args) > 2:
        raise UsageError("tick takes [ID] ITEM")
    ref, item = (None, args[0]) if len(args) == 1 else (args[0], args[1])
    doc = do_tick(_notebook(), ref, item, note, cmd, timeout)
    _emit(doc, as_json, "tick")


@app.command()
def ship(
    ref: Ref = None,
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why the change was made (required).")
    ] = "",
    rollback: Annotated[str | None, typer.Option(metavar="TEXT", help="How to undo it.")] = None,
    file: Annotated[
        list[str] | None,
        typer.Option(metavar="PATH", help="A file touched, besides what git shows (repeatable)."),
    ] = None,
    command: Annotated[
        list[str] | None,
        typer.Option(metavar="COMMAND", help="A command used for the change (repeatable)."),
    ] = None,
    metric: Metrics = None,
    header: Headers = None,
    fail_on_regression: FailOnRegression = False,
    as_json: Json = False,
) -> None:
    """Measure again, compare honestly, collect files and commands, write the note."""
    from changenote.errors import UsageError
    from changenote.workflow import ShipRequest

    if not reason.strip():
        raise UsageError("ship needs --reason: say why the change was made")
    request = ShipRequest(
        ref=ref,
        reason=reason,
        rollback=rollback,
        files=file or [],
        commands=command or [],
        metrics=metric or [],
        headers=header or [],
    )
    notebook = _notebook()
    with _progress_bar() as progress:
        doc = notebook.ship(request, progress)
    _emit(doc, as_json, "ship")
    _gate(doc, fail_on_regression)


@app.command("list")
def list_(
    limit: Annotated[int | None, typer.Option(metavar="N", help="Show at most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the changes in the notebook, newest first."""
    from changenote import display
    from changenote.config import load_config
    from changenote.store import list_changes

    if limit is not None and limit < 1:
        from changenote.errors import UsageError

        raise UsageError("--limit must be at least 1")
    rows = list_changes(load_config().store_url(), limit)
    if as_json:
        display.print_json(rows)
    else:
        display.print_list(rows)


@app.command()
def search(
    query: Annotated[list[str], typer.Argument(metavar="WORDS...", help="What to look for.")],
    service: Annotated[str | None, typer.Option(metavar="NAME", help="Only this service.")] = None,
    owner: Annotated[str | None, typer.Option(metavar="NAME", help="Only this owner.")] = None,
    tag: Annotated[str | None, typer.Option(metavar="TAG", help="Only with this tag.")] = None,
    since: Annotated[
        str | None, typer.Option(metavar="DATE", help="Shipped (or started) on or after.")
    ] = None,
    until: Annotated[str | None, typer.Option(metavar="DATE", help="... on or before.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Show at most this many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Find changes by their words (title, reason, expected result, tags...), best first."""
    from changenote import display
    from changenote.config import load_config
    from changenote.search import search as find

    rows = find(
        load_config().store_url(), " ".join(query), service, owner, tag, since, until, limit
    )
    if as_json:
        display.print_json(rows)
    else:
        display.print_list(rows)


@app.command()
def show(ref: Ref = None, as_json: Json = False) -> None:
    """Show one change: its runs, comparison, checklist and note."""
    doc = _notebook().show(ref)
    _emit(doc, as_json, "show")


@app.command()
def render(ref: Ref = None) -> None:
    """Re-render notes from the store (all shipped changes without ID)."""
    for path in _notebook().render(ref):
        typer.echo(str(path))


@app.command()
def wiki(
    out: Annotated[
        str, typer.Option("--out", metavar="DIR", help="Output folder (created; reused later).")
    ] = "wiki",
    fmt: Annotated[
        str,
        typer.Option("--format", metavar="markdown|html|both", help="What to write."),
    ] = "both",
    full: Annotated[bool, typer.Option("--full", help="Rewrite every page.")] = False,
    from_notes: Annotated[
        str | None,
        typer.Option(
            "--from-notes", metavar="DIR", help="Build from notes' front matter, no store."
        ),
    ] = None,
) -> None:
    """Build team wiki pages: markdown (GitHub wiki, MkDocs) and a static HTML site."""
    from pathlib import Path

    from changenote.config import load_config
    from changenote.site import build

    config = load_config()
    with _progress_bar() as progress:
        bar = (lambda done, total: progress(done, total, "wiki pages")) if progress else None
        result = build(
            config,
            Path(out),
            fmt,
            full,
            Path(from_notes) if from_notes else None,
            bar,
        )
    typer.echo(
        f"wiki in {result.out}: {result.pages} file(s), {len(result.written)} written, "
        f"{result.unchanged} unchanged, {len(result.removed)} removed"
    )


@app.command()
def check(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="[NAME]...", help="Checks to run (default: every configured one)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option("--format", metavar="text|json|nagios|prometheus", help="Output format."),
    ] = "text",
    runs: Annotated[int, typer.Option(metavar="N", help="Runs per check (no warm-up).")] = 1,
    timeout: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Per-run timeout (default: config).")
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Keep the results in the store for trends.")
    ] = False,
) -> None:
    """Run checks once: is it up, slow, failing, changed since the last ship that measured it.

    Exit status follows the monitoring-plugin convention for every format but
    prometheus (which always exits 0): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """
    from changenote import checkreport, monitor
    from changenote.config import load_config
    from changenote.errors import UsageError

    if fmt not in checkreport.FORMATS:
        raise UsageError(f"--format must be one of {', '.join(checkreport.FORMATS)}, not {fmt!r}")
    config = load_config()
    results = monitor.run_checks(config, names or [], runs, timeout)
    if record:
        monitor.record(config, results)
    output, code = checkreport.render(results, fmt)
    sys.stdout.write(output)
    raise typer.Exit(code)


@app.command()
def watch(
    ref: Annotated[
        str | None,
        typer.Argument(metavar="ID", help="Change id or slug (default: the newest shipped)."),
    ] = None,
    log: Annotated[
        list[str] | None,
        typer.Option(metavar="PATH", help="A log file to follow from its end (repeatable)."),
    ] = None,
    pattern: Annotated[
        str, typer.Option(metavar="REGEX", help="Lines to count in the logs.")
    ] = "ERROR|CRITICAL|Traceback",
    check: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME", help="A configured check to run every --every (repeatable)."),
    ] = None,
    duration: Annotated[
        str, typer.Option(metavar="DURATION", help="How long to watch: 30s, 10m, 2h.")
    ] = "10m",
    every: Annotated[
        str, typer.Option(metavar="DURATION", help="How often to run the checks.")
    ] = "30s",
    since: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="Reference window: the logs from WHEN (30m, or 2026-11-28T10:00) until now.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Watch logs and checks after a release; record it on the change and tick "watch".

    Ctrl-C ends the watch early and keeps what was measured.
    """
    import time

    from changenote.config import load_config
    from changenote.specs import parse_duration
    from changenote.workflow import Notebook

    seconds = parse_duration(duration, "--duration")
    interval = parse_duration(every, "--every")
    live = sys.stderr.isatty()
    last = [0.0]

    def progress(elapsed: float, seen: str) -> None:
        now = time.monotonic()
        if live:
            sys.stderr.write(f"\rwatching {elapsed:5.0f}/{seconds:.0f} s  {seen}\x1b[K")
            sys.stderr.flush()
        elif now - last[0] >= 60:
            sys.stderr.write(f"watching {elapsed:.0f}/{seconds:.0f} s: {seen}\n")
            last[0] = now

    doc = Notebook(load_config()).watch(
        ref, log or [], check or [], seconds, interval, pattern, since, progress=progress
    )
    if live:
        sys.stderr.write("\n")
    if as_json:
        _emit(doc, True, "watch")
        return
    from changenote.watch import evidence

    typer.echo(f"{doc['slug']}: {evidence(doc['watch'])}")
    if doc.get("note_path"):
        typer.echo(f"note updated: {doc['note_path']}")


@app.command()
def export(
    out: Annotated[
        str | None, typer.Option("--out", metavar="FILE", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Write every change as JSON Lines: whole change documents, oldest first."""
    from pathlib import Path

    from changenote.config import load_config
    from changenote.render import write_atomic
    from changenote.store import Store
    from changenote.transfer import export_lines

    lines = export_lines(Store(load_config().store_url()))
    if out is None:
        for line in lines:
            sys.stdout.write(line + "\n")
        return
    text = "".join(line + "\n" for line in lines)
    write_atomic(Path(out), text)
    typer.echo(f"exported {text.count(chr(10))} change(s) to {out}", err=True)


@app.command(name="import")
def import_(
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE|DIR", help="JSON Lines from export, a note, or a folder of them."
        ),
    ],
) -> None:
    """Add changes from an export or from notes; those the store has (same uid) are skipped."""
    from pathlib import Path

    from changenote import notes
    from changenote.config import load_config
    from changenote.store import Store
    from changenote.transfer import import_documents, read_documents, redactor

    config = load_config()
    result = import_documents(
        Store(config.store_url()),
        read_documents(Path(source), config.root),
        redactor(tuple(config.redact_patterns)),
        place_note=lambda doc: notes.place(config, doc),
    )
    typer.echo(
        f"read {result.read}, imported {result.imported}, already in the store {result.already}"
    )
    for renamed in result.renamed:
        typer.echo(f"slug taken, renamed: {renamed}")


@app.command()
def demo(
    folder: Annotated[
        str | None,
        typer.Option(
            "--dir", metavar="DIR", help="Where to build the demo (default: a new folder)."
        ),
    ] = None,
    runs: Annotated[int, typer.Option(metavar="N", help="Measured runs per probe.")] = 15,
) -> None:
    """Run the whole cycle on a bundled sample service and print the note."""
    from changenote import display
    from changenote.demo import run_demo

    doc, note = run_demo(folder, runs, echo=typer.echo)
    display.print_demo(doc, note)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every expected failure becomes one line on stderr and a non-zero exit."""
    command = typer.main.get_command(app)
    previous = _stop_cleanly_on_signals()
    try:
        _run(command, argv)
    finally:
        import signal

        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(command: Any, argv: list[str] | None) -> None:
    """Run the command; every expected failure becomes one line on stderr."""
    from typer.exceptions import TyperException

    from changenote.errors import ChangenoteError

    try:
        code = command.main(args=argv, prog_name="changenote", standalone_mode=False)
    except ChangenoteError as exc:
        _fail(str(exc), exc.exit_code)
    except TyperException as exc:
        _fail(exc.format_message(), getattr(exc, "exit_code", 2))
    except typer.Abort:
        _fail("aborted; nothing was recorded", 130)
    except KeyboardInterrupt:
        _fail("interrupted; nothing was recorded", 130)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:  # a folder that cannot be written, a disk that is full...
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}", 1)
    if code == 130:  # Typer turns Ctrl-C into exit code 130
        _fail("interrupted; nothing was recorded", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _stop_cleanly_on_signals() -> dict[int, Any]:
    """SIGTERM and SIGHUP unwind like Ctrl-C: probes are killed, the transaction rolls back.

    Returns the previous handlers, which ``main`` puts back when it is done.
    """
    import contextlib
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        # ValueError: not the main thread (a test runner's worker, say).
        if sig is not None:
            with contextlib.suppress(ValueError):
                previous[sig] = signal.signal(sig, interrupt)
    return previous


def _fail(message: str, code: int) -> None:
    from changenote.redact import redact_message

    config = sys.modules.get("changenote.config")  # its patterns, if it was loaded
    patterns = getattr(config, "REDACT_PATTERNS", ())
    try:  # the line may quote what the user typed
        line = redact_message(" ".join(message.split()), patterns)
    except ValueError:  # a pattern that does not compile: the config error says so
        line = redact_message(" ".join(message.split()))
    sys.stderr.write(f"changenote: error: {line}\n")
    sys.exit(code)
