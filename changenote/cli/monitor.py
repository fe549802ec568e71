"""Monitoring commands: ``check`` (for cron and CI) and ``watch`` (after a release)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from changenote.cli import common
from changenote.cli.options import Json


def check(
    names: Annotated[
        list[str] | None,
        typer.Argument(metavar="[NAME]...", help="Checks to run (default: every configured one)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", metavar="text|json|nagios|prometheus|openmetrics", help="Output format."
        ),
    ] = "text",
    runs: Annotated[int, typer.Option(metavar="N", help="Runs per check (no warm-up).")] = 1,
    timeout: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Per-run timeout (default: config).")
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Keep the results in the store for trends.")
    ] = False,
) -> None:
    """Run the configured checks once, for cron or CI.

    Is it up, slow, failing, changed since the last ship that measured it.

    Exit status follows the monitoring-plugin convention for every format but
    prometheus and openmetrics (which exit 0: the states are in the series): 0 OK,
    1 WARNING, 2 CRITICAL, 3 UNKNOWN. With --format nagios, a check that cannot be
    judged at all (no checks, an unknown name, a bad config) is UNKNOWN too.
    """
    from changenote.errors import UsageError
    from changenote.monitor import checks, report

    if fmt not in report.FORMATS:
        raise UsageError(f"--format must be one of {', '.join(report.FORMATS)}, not {fmt!r}")
    config = common.config()
    results = checks.run_checks(config, names or [], runs, timeout, keep=record)
    labels = {"service": config.service or "", "project": config.root.name}
    output, code = report.render(results, fmt, labels)
    sys.stdout.write(output)
    raise typer.Exit(code)


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
        typer.Option(
            metavar="NAME",
            help="A configured check to run (or, a prom check, to read) every --every "
            "(repeatable).",
        ),
    ] = None,
    duration: Annotated[
        str, typer.Option(metavar="DURATION", help="How long to watch: 30s, 10m, 2h.")
    ] = "10m",
    every: Annotated[
        str,
        typer.Option(metavar="DURATION", help="How often to run the checks and read the queries."),
    ] = "30s",
    since: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="Reference window: the logs from WHEN (30m, or 2026-11-28T10:00) until now.",
        ),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="The Prometheus server the change's queries ask [default: "
            "$CHANGENOTE_PROMETHEUS_URL, else prometheus_url in the config, else the "
            "baseline's].",
        ),
    ] = None,
    no_prom: Annotated[
        bool,
        typer.Option("--no-prom", help="Do not follow the change's Prometheus queries."),
    ] = False,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            metavar="'NAME: VALUE'",
            help="A Prometheus probe's header given again, when its secret was not stored "
            "(repeatable; or use ${ENV_VAR}).",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Watch logs, checks and Prometheus queries after a release.

    The change's Prometheus queries (those its baseline read) are followed too: their
    latest value every --every, and at the end the watched stretch compared with the
    baseline window.

    The watch is recorded on the change and ticks "watch".

    Ctrl-C ends the watch early and keeps what was measured.
    """
    from changenote.cli import display
    from changenote.monitor.release import watch_release
    from changenote.specs import parse_duration

    seconds = parse_duration(duration, "--duration")
    interval = parse_duration(every, "--every")
    progress = display.watch_progress(seconds)
    doc = watch_release(
        common.notebook(), ref, log or [], check or [], seconds, interval, pattern, since,
        progress=progress, prometheus=prometheus, follow_prom=not no_prom, headers=header or [],
    )  # fmt: skip
    display.end_watch_line()
    if as_json:
        display.print_json(doc)
    else:
        display.print_watch(doc)
    if not doc["watch"]["ticked"]:
        from changenote.errors import ChangenoteError
        from changenote.monitor.watch import blind_spots

        blind = "; ".join(blind_spots(doc["watch"])) or "nothing was seen"
        raise ChangenoteError(f"the watch could not see the release ({blind}); not ticked")
