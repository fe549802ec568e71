"""The Typer app: every command registered in the order ``--help`` lists them, and
``main``, the one place where an expected failure becomes one line on stderr.

Start-up matters (``--help`` and ``list`` run often): the command modules import only
Typer at the top; each command imports what it needs when it runs.
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated, Any

import typer

from changenote import __version__
from changenote.cli import monitor, project, read, record, transfer, wiki
from changenote.cli.help import Command, Group

app = typer.Typer(
    name="changenote",
    cls=Group,
    help=(
        "A maintenance notebook for Python services: measure first, change one thing, "
        "measure again, write it down."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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


#: Short help for the command list where the docstring's first paragraph is not it.
_SHORT_HELP = {"demo": "Run the whole cycle on a bundled sample service."}

for _command, _name in (
    (project.init, None),
    (record.baseline, None),
    (record.measure, None),
    (record.tick, None),
    (record.ship, None),
    (record.abandon, None),
    (record.reopen, None),
    (record.edit, None),
    (record.delete, None),
    (record.review, None),
    (record.follow_up, "follow-up"),
    (record.trust, None),
    (read.status, None),
    (read.list_, "list"),
    (read.search, None),
    (read.show, None),
    (read.render, None),
    (wiki.wiki, None),
    (monitor.check, None),
    (monitor.watch, None),
    (transfer.export, None),
    (transfer.import_, "import"),
    (project.demo, None),
):
    _key = _name or _command.__name__
    app.command(_name, cls=Command, short_help=_SHORT_HELP.get(_key))(_command)


@functools.cache
def _click_command() -> Any:
    """The Click command of the app, built once (building it is most of a short run)."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every expected failure becomes one line on stderr and a non-zero exit.

    ``check --format nagios`` is read by a monitoring system: there, any failure to
    judge (a usage error, the config, the store) is UNKNOWN, exit 3, with a status line
    on stdout, as the plugin guidelines ask."""
    command = _click_command()
    previous = _stop_cleanly_on_signals()
    args = sys.argv[1:] if argv is None else argv
    as_plugin = _plugin_call(args)
    _output_that_cannot_fail()
    _refuse_undecodable(args, as_plugin)
    unraisable = sys.unraisablehook
    sys.unraisablehook = _interrupt_again(unraisable)
    try:
        _run(command, argv, as_plugin)
    finally:
        import signal

        sys.unraisablehook = unraisable
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt_again(otherwise: Any) -> Any:
    """A hook for errors Python cannot raise: Ctrl-C that lands in a finalizer (a weakref
    callback, a ``__del__``) would be printed as "Exception ignored" and lost, and the
    command would go on; it is raised again, in the code that was running, once the
    finalizer is over (from a thread a moment later: raised now, it would be lost too)."""

    def hook(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            import threading

            threading.Timer(0.01, _interrupt_main).start()
            return
        otherwise(unraisable)

    return hook


def _interrupt_main() -> None:
    """KeyboardInterrupt in the main thread, through the first of SIGINT, SIGTERM and
    SIGHUP that Python handles there (a real signal also ends a wait in a system call;
    a background job starts with SIGINT ignored)."""
    import _thread
    import signal
    import threading

    main_thread = threading.main_thread().ident
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and callable(signal.getsignal(sig)):
            if hasattr(signal, "pthread_kill") and main_thread is not None:
                signal.pthread_kill(main_thread, sig)
            else:
                _thread.interrupt_main(sig)
            return


def _run(command: Any, argv: list[str] | None, as_plugin: bool = False) -> None:
    """Run the command; every expected failure becomes one line on stderr (and, for a
    monitoring plugin, an UNKNOWN status line)."""
    from typer.exceptions import TyperException

    from changenote.errors import ChangenoteError

    try:
        code = _main_or_help(command, argv)
    except ChangenoteError as exc:
        _fail(str(exc), exc.exit_code, as_plugin)
    except TyperException as exc:
        _fail(exc.format_message(), getattr(exc, "exit_code", 2), as_plugin)
    except typer.Abort:
        _fail("aborted; nothing was recorded", 130, as_plugin)
    except KeyboardInterrupt:
        _fail("interrupted; nothing was recorded", 130, as_plugin)
    except BrokenPipeError:
        sys.exit(1)
    except OSError as exc:  # a folder that cannot be written, a disk that is full...
        import errno

        where = f": {exc.filename}" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            _fail(f"disk full: no space left to write{where or ' a file'}", 1, as_plugin)
        _fail(f"{exc.strerror or exc}{where}", 1, as_plugin)
    if code == 130:  # Typer turns Ctrl-C into exit code 130
        _fail("interrupted; nothing was recorded", 130, as_plugin)
    sys.exit(code if isinstance(code, int) else 0)


def _main_or_help(command: Any, argv: list[str] | None) -> Any:
    """Run the command; ``changenote`` alone prints its help on stderr and exits 2, as
    Click and Typer apps do (not as one flattened error line)."""
    try:
        return command.main(args=argv, prog_name="changenote", standalone_mode=False)
    except Exception as exc:  # Typer's own (0.2x) or Click's, by the name both give it
        if type(exc).__name__ != "NoArgsIsHelpError":
            raise
        sys.stderr.write(str(getattr(exc, "format_message", exc.__str__)()).rstrip("\n") + "\n")
        sys.exit(2)


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


def _output_that_cannot_fail() -> None:
    """An output encoding that cannot show a character (``PYTHONIOENCODING=ascii``, the
    C locale) shows a replacement instead of ending the command with a traceback."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if encoding not in ("utf8", "utf8sig") and reconfigure is not None:
            reconfigure(errors="backslashreplace" if stream is sys.stderr else "replace")


def _refuse_undecodable(argv: list[str], as_plugin: bool) -> None:
    """Bytes that are not text in the locale's encoding reach Python as lone
    surrogates; no store can keep them, so they are refused before anything runs."""
    for i, word in enumerate(argv):
        if any("\ud800" <= ch <= "\udfff" for ch in word):
            before = argv[i - 1] if i else ""
            where = before if before.startswith("-") and "=" not in before else "an argument"
            if word.startswith("--") and "=" in word:
                where = word.split("=", 1)[0]
            shown = word.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            _fail(f"{where} is not valid UTF-8 text: '{shown[:80]}'", 2, as_plugin)


def _plugin_call(argv: list[str]) -> bool:
    """Whether the command line is ``check ... --format nagios`` (in any option order)."""
    words = [w for w in argv if not w.startswith("-")]
    if not words or words[0] != "check":
        return False
    for i, word in enumerate(argv):
        if word == "--format=nagios" or (word == "--format" and argv[i + 1 : i + 2] == ["nagios"]):
            return True
    return False


def _fail(message: str, code: int, as_plugin: bool = False) -> None:
    from changenote.redact import redact_message

    config = sys.modules.get("changenote.config")  # its patterns, if it was loaded
    patterns = getattr(config, "REDACT_PATTERNS", ())
    try:  # the line may quote what the user typed
        line = redact_message(" ".join(message.split()), patterns)
    except ValueError:  # a pattern that does not compile: the config error says so
        line = redact_message(" ".join(message.split()))
    sys.stderr.write(f"changenote: error: {line}\n")
    if as_plugin and code != 0:
        from changenote.monitor.report import status_line

        sys.stdout.write(status_line("unknown", line) + "\n")
        sys.exit(3)
    sys.exit(code)
