"""Commands that record: ``baseline``, ``measure``, ``tick``, ``ship``."""

from __future__ import annotations

from typing import Annotated

import typer

from changenote.cli import common
from changenote.cli.options import (
    FailOnRegression,
    Headers,
    Json,
    Match,
    Metrics,
    Prometheus,
    Ref,
    Results,
    ResultsFormat,
)


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
    prom: Annotated[
        list[str] | None,
        typer.Option(
            metavar="'[NAME=]PROMQL'",
            help="Prometheus probe: a query read over the window that ends now (repeatable).",
        ),
    ] = None,
    prometheus: Prometheus = None,
    prom_header: Annotated[
        list[str] | None,
        typer.Option(
            metavar="'NAME: VALUE'", help="Header sent to Prometheus; ${ENV} expands (repeatable)."
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Prometheus window, e.g. 30m [default: 30m]."),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Prometheus step [default: the server's scrape interval, else 15s].",
        ),
    ] = None,
    vs: Annotated[
        str | None,
        typer.Option(
            metavar="OFFSET",
            help="Prometheus: also compare each later window with the same window this far "
            "back, e.g. -7d (against daily and weekly patterns).",
        ),
    ] = None,
    results: Results = None,
    results_format: ResultsFormat = None,
    as_json: Json = False,
) -> None:
    """Create a change and measure its baseline; prints its id."""
    from changenote.measure.results_probes import ResultsInput
    from changenote.notebook.workflow import BaselineRequest

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
        proms=prom or [],
        prometheus=prometheus,
        prom_headers=prom_header or [],
        window=window,
        step=step,
        vs=vs,
        results=ResultsInput(tuple(results or ()), results_format),
    )
    notebook = common.notebook()
    with common.measuring(notebook) as progress:
        doc = notebook.baseline(request, progress)
    common.emit(doc, as_json, "baseline")


def measure(
    ref: Ref = None,
    label: Annotated[
        str | None,
        typer.Option(
            metavar="LABEL",
            help="Name of this run. `after` on a shipped change reads the Prometheus "
            "windows `ship --no-wait` left pending.",
        ),
    ] = None,
    header: Headers = None,
    metric: Metrics = None,
    fail_on_regression: FailOnRegression = False,
    prometheus: Prometheus = None,
    results: Results = None,
    results_format: ResultsFormat = None,
    match: Match = None,
    as_json: Json = False,
) -> None:
    """Measure again: another run, compared with the baseline."""
    from changenote.measure.results_probes import ResultsInput

    given = ResultsInput(tuple(results or ()), results_format, tuple(match or ()))
    notebook = common.notebook()
    with common.measuring(notebook) as progress:
        doc = notebook.measure(ref, label, header or [], metric or [], progress, prometheus, given)
    common.emit(doc, as_json, "measure")
    common.gate(doc, fail_on_regression)


def tick(
    args: Annotated[
        list[str], typer.Argument(metavar="[ID] ITEM", help="The change (optional), then the item.")
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
    ] = 3600,
    as_json: Json = False,
) -> None:
    """Tick a checklist item with evidence.

    ITEM is capture, backup, test, watch or note (or a unique prefix), or an item
    the config adds."""
    from changenote.errors import UsageError
    from changenote.notebook.checklist import tick as do_tick

    if len(args) > 2:
        raise UsageError("tick takes [ID] ITEM")
    ref, item = (None, args[0]) if len(args) == 1 else (args[0], args[1])
    doc = do_tick(common.notebook(), ref, item, note, cmd, timeout)
    common.emit(doc, as_json, "tick")


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
    prometheus: Prometheus = None,
    live_at: Annotated[
        str | None,
        typer.Option(
            metavar="TIME",
            help="When the change went live (ISO time or -20m): Prometheus windows start "
            "there [default: now].",
        ),
    ] = None,
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait",
            help="Do not wait for Prometheus after windows that have not passed: record "
            "them pending; `measure ID --label after` reads them later.",
        ),
    ] = False,
    results: Results = None,
    results_format: ResultsFormat = None,
    match: Match = None,
    as_json: Json = False,
) -> None:
    """Measure again, compare honestly, write the note.

    The after-run uses the baseline's probes and settings; the files touched come
    from git since the baseline commit, beside --file and --command."""
    from changenote.errors import UsageError
    from changenote.measure.results_probes import ResultsInput
    from changenote.notebook.workflow import ShipRequest

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
        prometheus=prometheus,
        live_at=live_at,
        no_wait=no_wait,
        results=ResultsInput(tuple(results or ()), results_format, tuple(match or ())),
    )
    notebook = common.notebook()
    with common.measuring(notebook) as progress:
        doc = notebook.ship(request, progress)
    common.emit(doc, as_json, "ship")
    common.gate(doc, fail_on_regression)


By = Annotated[
    str | None,
    typer.Option(metavar="NAME", help="Who does this (default: your git author name, else login)."),
]


def abandon(
    ref: Ref = None,
    reason: Annotated[
        str, typer.Option(metavar="TEXT", help="Why it is set aside (required).")
    ] = "",
    by: By = None,
    as_json: Json = False,
) -> None:
    """Set an open change aside, kept with its runs.

    It leaves every default and the wiki's "waiting to ship"."""
    from changenote.notebook.revising import abandon as do_abandon

    doc = do_abandon(common.notebook(), ref, reason, by)
    common.emit(doc, as_json, "abandon")


def reopen(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Change id or slug.")],
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Why it is open again.")
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Open an abandoned change again, as it was when it was set aside."""
    from changenote.notebook.revising import reopen as do_reopen

    doc = do_reopen(common.notebook(), ref, reason, by)
    common.emit(doc, as_json, "reopen")


def edit(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Change id or slug.")],
    title: Annotated[str | None, typer.Option(metavar="TEXT", help="A new title.")] = None,
    reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why it was made.")] = None,
    rollback: Annotated[str | None, typer.Option(metavar="TEXT", help="How to undo it.")] = None,
    owner: Annotated[str | None, typer.Option(metavar="NAME", help="Who owns it.")] = None,
    service: Annotated[str | None, typer.Option(metavar="NAME", help="The service.")] = None,
    route: Annotated[str | None, typer.Option(metavar="ROUTE", help="The route involved.")] = None,
    input_: Annotated[
        str | None, typer.Option("--input", metavar="TEXT", help="The input that shows it.")
    ] = None,
    noticed: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Where the user notices it.")
    ] = None,
    expect: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="The expected result (checked again when shipped)."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option(metavar="TAG", help="Add a tag (repeatable).")
    ] = None,
    untag: Annotated[
        list[str] | None, typer.Option(metavar="TAG", help="Remove a tag (repeatable).")
    ] = None,
    supersedes: Annotated[
        str | None,
        typer.Option(metavar="OLD", help="A shipped change this one replaces (linked both ways)."),
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Correct a change's words; the old values are kept.

    Who changed what, when, and the old value go into the change's history; a shipped
    change's note is rendered again. Measurements are not editable. An empty TEXT
    clears a field."""
    from changenote.notebook.revising import edit as do_edit

    given = {
        "title": title, "reason": reason, "rollback": rollback, "owner": owner,
        "service": service, "route": route, "input": input_, "noticed": noticed,
        "expected": expect,
    }  # fmt: skip
    fields = {key: value for key, value in given.items() if value is not None}
    doc = do_edit(common.notebook(), ref, fields, tag, untag, by, supersedes)
    common.emit(doc, as_json, "edit")


def delete(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Change id or slug.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete it; without this, only say what goes.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what goes as JSON.")] = False,
) -> None:
    """Delete a change recorded by mistake, with its note.

    Its runs, its note file and (at the next wiki build) its pages go. Without --yes
    it says what it would remove and exits 2."""
    import sys

    from changenote.cli import display
    from changenote.notebook.revising import delete as do_delete

    plan = do_delete(common.notebook(), ref, yes)
    if as_json:
        display.print_json(plan)
    else:
        display.print_deleted(plan)
    if not plan["deleted"]:
        sys.stderr.write(
            f"changenote: error: nothing deleted: `changenote delete {plan['slug']} --yes` "
            "removes it for good\n"
        )
        raise typer.Exit(2)


def review(
    ref: Annotated[
        str | None, typer.Argument(metavar="ID", help="The shipped change whose note to review.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(metavar="STATUS", help="drafted, in-review, reviewed or needs-update."),
    ] = None,
    note: Annotated[str | None, typer.Option(metavar="TEXT", help="What the review found.")] = None,
    by: By = None,
    due: Annotated[
        bool, typer.Option("--due", help="List the notes due for review instead.")
    ] = False,
    fail: Annotated[
        bool, typer.Option("--fail", help="With --due: exit 1 when a note is due (for CI).")
    ] = False,
    as_json: Json = False,
) -> None:
    """Record a note's review, or list the notes due for review.

    A shipped change's note is due when it was never reviewed, is in review, needs an
    update, or was reviewed over review_after_days ago."""
    from changenote.cli import display
    from changenote.errors import UsageError
    from changenote.notebook import revising

    if due:
        if ref is not None or status is not None or note is not None or by is not None:
            raise UsageError(
                "review --due lists what is due; it takes no ID, --status, --note or --by"
            )
        rows = revising.due(common.notebook())
        if as_json:
            display.print_json(rows)
        else:
            display.print_due(rows)
        if fail and rows:
            raise typer.Exit(1)
        return
    if fail:
        raise UsageError("--fail goes with --due")
    if ref is None or status is None:
        raise UsageError("review needs ID and --status (or --due to list what is due)")
    doc = revising.review(common.notebook(), ref, status, by, note)
    common.emit(doc, as_json, "review")


def follow_up(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Change id or slug.")],
    text: Annotated[
        str | None, typer.Argument(metavar="[TEXT]", help="What is to be done.", show_default=False)
    ] = None,
    owner: Annotated[str | None, typer.Option(metavar="NAME", help="Who does it.")] = None,
    due: Annotated[
        str | None, typer.Option(metavar="DATE", help="When it is due: 2026-12-31.")
    ] = None,
    done: Annotated[
        int | None, typer.Option(metavar="N", help="Mark follow-up N of the change done.")
    ] = None,
    note: Annotated[
        str | None, typer.Option(metavar="TEXT", help="With --done: how it was done.")
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Add a follow-up to a change, or mark one done.

    Add one with TEXT, --owner and --due; mark one done with --done N. Follow-ups are
    listed in the note, in `status` and on the wiki."""
    from changenote.notebook.revising import follow_up as do_follow_up

    doc = do_follow_up(common.notebook(), ref, text, owner, due, done, note, by)
    common.emit(doc, as_json, "follow-up")


def trust(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Change id or slug.")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Trust without asking (for scripts).")
    ] = False,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Take the trust back: its commands stop running.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the trust record as JSON.")
    ] = False,
) -> None:
    """Let an imported change's commands run here.

    It shows what they are first, and asks (or takes --yes)."""
    import sys

    from changenote.cli import display
    from changenote.errors import ChangenoteError, UsageError

    book = common.notebook()
    state = book.trust_state(ref)
    if revoke:
        state = book.trust(ref, revoke=True)
    elif not state["trusted"]:
        if not as_json:
            display.print_trust(state, before=True)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    "trust asks before it lets commands run here: read what it runs "
                    f"(`changenote trust {state['slug']}`), then add --yes"
                )
            if not typer.confirm(f"Let change {state['slug']!r} run these here?", default=False):
                raise ChangenoteError("not trusted; nothing changed")
        state = book.trust(ref)
    if as_json:
        display.print_json(state)
    else:
        display.print_trust(state, before=False)
