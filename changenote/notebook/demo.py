"""``changenote demo``: the whole cycle on a bundled sample service, told step by step.

The demo builds a small project (a fresh temporary folder, or ``--dir``), runs the
field note's steps on the sample service in ``service.sample`` through the same
actions the commands call, and says each step as it runs together with the command a
user would type for it. What it says is made here and in ``demo_text`` (lines of
at most ``width`` columns); the CLI passes ``say`` to print them. It never prints.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from changenote.config import CONFIG_NAME, DATABASE_ENV, STORE_DIR, STORE_FILE, Config, load_config
from changenote.errors import ChangenoteError
from changenote.formatting import fmt_number
from changenote.notebook.demo_text import columns, command_lines, fit, wrap
from changenote.service.sample import SEARCH_AFTER, SEARCH_BEFORE, DemoService
from changenote.steps import STANDARD_CHECKLIST

#: The first line of the demo's config: how a later demo knows an earlier one's folder.
DEMO_MARK = "# changenote demo project"
DEMO_CONFIG = f"""{DEMO_MARK}
service = "docs-site"
owner = "demo"
notes_dir = "notes"
"""
#: Everything a demo writes at the top of its folder. A folder holding only these, with
#: the demo's config, is an earlier demo: it is emptied and built again.
DEMO_ENTRIES = frozenset(
    {CONFIG_NAME, ".gitignore", ".git", "app", "backup", "notes", "wiki", STORE_DIR}
)
WIDTH = 80
STEP = dict(STANDARD_CHECKLIST)

TITLE = "Slow /search on the docs site"
BACKUP_CMD = "mkdir -p backup && cp app/search.py backup/search.py"
REASON = "batch the per-result title queries into one query"
ROLLBACK = "git checkout app/search.py and redeploy; no cache to clear"
#: A wiki builder handed in by the CLI (the wiki room sits above this one): it builds
#: the wiki of ``config`` into the folder and says what it wrote, in a line.
WikiBuilder = Callable[[Config, Path], str]


@dataclass(frozen=True)
class DemoResult:
    """What the demo left: its folder, the shipped change document, the note's path."""

    root: Path
    doc: dict[str, Any]
    note: Path


# -- the folder ---------------------------------------------------------------------------


def is_earlier_demo(path: Path) -> bool:
    """Whether ``path`` holds an earlier demo and nothing else."""
    config = path / CONFIG_NAME
    try:
        first = config.read_text(encoding="utf-8").splitlines()[:1]
        names = {entry.name for entry in path.iterdir()}
    except (OSError, UnicodeDecodeError):
        return False
    return first == [DEMO_MARK] and names <= DEMO_ENTRIES


def pick_folder(folder: str | None) -> Path:
    """The demo's folder: ``--dir`` (new, empty, or an earlier demo, emptied), or a
    fresh temporary folder that is kept afterwards."""
    if folder is None:
        try:
            return Path(tempfile.mkdtemp(prefix="changenote-demo-")).resolve()
        except OSError as exc:
            raise ChangenoteError(f"cannot make a temporary folder: {exc.strerror}") from exc
    path = Path(folder).expanduser().absolute()
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ChangenoteError(f"--dir {folder}: not a folder")
        if any(path.iterdir()):
            if not is_earlier_demo(path):
                raise ChangenoteError(
                    f"--dir {folder} is not empty and holds no earlier demo; "
                    "give an empty or new folder"
                )
            _empty(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChangenoteError(f"cannot make --dir {folder}: {exc.strerror}") from exc
    return path


def _empty(path: Path) -> None:
    """Remove what an earlier demo wrote (``is_earlier_demo`` said that is all there is)."""
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _git(folder: Path, *args: str) -> bool:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "changenote demo",
        "GIT_AUTHOR_EMAIL": "demo@example.invalid",
        "GIT_COMMITTER_NAME": "changenote demo",
        "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    }
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, env=env, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@contextlib.contextmanager
def _store_env(url: str) -> Iterator[None]:
    """Point every store opened during the demo (the wiki's too) at the demo's own."""
    before = os.environ.get(DATABASE_ENV)
    os.environ[DATABASE_ENV] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DATABASE_ENV, None)
        else:
            os.environ[DATABASE_ENV] = before


def baseline_lines(doc: dict[str, Any]) -> list[str]:
    """The baseline's median and p95 of every metric, one metric a line."""
    rows = [["metric", "median", "p95"]]
    for m in doc["runs"][0]["metrics"]:
        rows.append(
            [m["metric"], fmt_number(m["median"], m["unit"]), fmt_number(m["p95"], m["unit"])]
        )
    return columns(rows)


def comparison_lines(doc: dict[str, Any], width: int) -> list[str]:
    """Before, after, change and verdict of every metric, then what --expect checked
    and the warnings that matter (the first rule: never claim more than was measured)."""
    from changenote.measure.diagnostics import split
    from changenote.notebook.document import fmt_change, fmt_expectation, probe_refs

    rows = [["metric", "before", "after", "change", "verdict"]]
    for c in doc.get("comparison") or []:
        rows.append(
            [
                c["metric"],
                fmt_number(c["before"], c["unit"]),
                fmt_number(c["after"], c.get("unit_after", c["unit"])),
                fmt_change(c, interval=False),
                c["verdict"].replace("-", " "),
            ]
        )
    lines = columns(rows, words_last=True) if len(rows) > 1 else ["   nothing to compare"]
    refs = probe_refs(doc)
    for item in doc.get("expectations") or []:
        lines += wrap("expected: " + fmt_expectation(item, refs), width, hang="  ")
    warnings, _info = split(doc.get("warnings") or [])
    for w in warnings:
        lines += wrap(f"warning ({w['severity']}): {w['message']}", width, hang="  ")
    return lines


def next_steps(root: Path, width: int, env_store: bool) -> list[str]:
    """Where to look at what the demo left, and the three commands to try next."""
    prefix = f"{DATABASE_ENV}= " if env_store else ""
    lines = [
        "",
        "The demo folder is kept. Look at the note and the store there:",
        f"   cd {shlex.quote(str(root))}",
        f"   {prefix}changenote list",
        f"   {prefix}changenote show 1",
    ]
    if env_store:
        lines += wrap(
            f"({DATABASE_ENV} is set here; emptied as above, changenote reads the "
            "demo's own store.)",
            width,
        )
    return [
        *lines,
        "",
        "Next, in your own service's repository (with the service running):",
        "   changenote init --service NAME --owner YOU",
        "       writes changenote.toml with your defaults",
        '   changenote baseline "What is slow" \\',
        '       --http "GET http://127.0.0.1:8000/your/route" --runs 30',
        "       measures it before you change anything",
        '   changenote ship --reason "what you changed" --rollback "how to undo it"',
        "       after the smallest change: measures again, compares, writes the note",
    ]


class _Teller:
    """Says the demo's lines: numbered steps, commands as typed, wrapped sentences."""

    def __init__(self, say: Callable[[str], Any], width: int, steps: int) -> None:
        self.say, self.width, self.steps, self.n = say, width, steps, 0

    def lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.say(line)

    def text(self, text: str, indent: str = "   ") -> None:
        self.lines(wrap(text, self.width, indent=indent))

    def step(self, what: str) -> None:
        self.n += 1
        self.say("")
        self.lines(wrap(f"Step {self.n} of {self.steps}: {what}", self.width, indent=""))

    def command(self, words: Sequence[str], *options: tuple[str, ...]) -> None:
        self.lines(command_lines(["changenote", *words], options, self.width))


# -- the whole cycle ----------------------------------------------------------------------


def _project(root: Path) -> None:
    """The sample project before the change, committed when git is there."""
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / CONFIG_NAME).write_text(DEMO_CONFIG)
    (root / "app" / "search.py").write_text(SEARCH_BEFORE)
    (root / ".gitignore").write_text(".changenote/\nbackup/\nwiki/\n")
    if _git(root, "init", "-q"):
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "docs site before the change")


def run_demo(
    folder: str | None,
    runs: int,
    say: Callable[[str], Any],
    build_wiki: WikiBuilder | None = None,
    width: int = WIDTH,
) -> DemoResult:
    """Build a demo project, run the whole cycle step by step, saying each step and its
    command through ``say``; end with the readable note and what to try next."""
    from changenote.notebook import notes
    from changenote.notebook.checklist import tick
    from changenote.notebook.workflow import BaselineRequest, Notebook, ShipRequest
    from changenote.store.db import Store

    if runs < 3:
        raise ChangenoteError("--runs must be at least 3 for a meaningful comparison")
    width = max(40, width)
    env_store = bool(os.environ.get(DATABASE_ENV))
    root = pick_folder(folder)
    _project(root)
    tell = _Teller(say, width, 6 if build_wiki else 5)
    tell.text(
        "changenote demo: the whole cycle on a sample docs site whose /search runs one "
        "database query per result. Each step shows the command you would type.",
        indent="",
    )
    say("Demo folder (nothing is written outside it):")
    say(f"   {root}")
    config = load_config(root)
    # The demo always uses the embedded default store, whatever the environment says.
    url = f"sqlite:///{root / STORE_DIR / STORE_FILE}"
    store = Store(url)
    notebook = Notebook(config, store)
    try:
        with DemoService() as service, contextlib.chdir(root), _store_env(url):
            probe = f"GET {service.base_url}/search?q=fastapi"
            say(f"Sample service: {service.base_url} (GET /search, /health)")
            request = BaselineRequest(
                title=TITLE,
                route="/search",
                input="q=fastapi",
                noticed="the search results page takes long to appear",
                expected="one database call; time_ms p95 < 20ms; db_calls <= 1",
                tags=["performance", "search"],
                https=[probe],
                runs=runs,
                warmup=1,
            )
            tell.step(STEP["capture"] + " (baseline)")
            tell.command(
                ["baseline", TITLE],
                ("--http", probe),
                ("--route", str(request.route)),
                ("--input", str(request.input)),
                ("--noticed", str(request.noticed)),
                ("--expect", str(request.expected)),
                *(("--tag", t) for t in request.tags),
                ("--runs", str(runs)),
                ("--warmup", str(request.warmup)),
            )
            base = notebook.baseline(request)
            ref = str(base["id"])
            tell.text(
                f'Recorded change #{ref} ({base["slug"]}) and ticked "{STEP["capture"]}". '
                f"Its baseline, {runs} runs after {request.warmup} warm-up:"
            )
            tell.lines(baseline_lines(base))

            tell.step(STEP["backup"] + " (tick backup)")
            tell.command(["tick", "backup"], ("--cmd", BACKUP_CMD))
            ticked = tick(notebook, ref, "backup", cmd=BACKUP_CMD)
            item = next(i for i in ticked["checklist"] if i["key"] == "backup")
            tell.text(f'Ticked "{STEP["backup"]}" with the evidence: {item["evidence"]}')

            tell.step(STEP["test"] + " (measure)")
            tell.text(
                "The change: app/search.py now fetches every title in one batched "
                "query; the sample service runs that version from now on."
            )
            (root / "app" / "search.py").write_text(SEARCH_AFTER)
            service.batched = True
            tell.command(["measure"], ("--label", "smallest change"))
            measured = notebook.measure(ref, label="smallest change")
            tell.text(f'Compared with the baseline (and ticked "{STEP["test"]}"):')
            tell.lines(comparison_lines(measured, width))

            tell.step("ship: measure again and " + STEP["note"] + " (ship)")
            tell.command(["ship"], ("--reason", REASON), ("--rollback", ROLLBACK))
            doc = notebook.ship(ShipRequest(ref=ref, reason=REASON, rollback=ROLLBACK))
            tell.text("The same probe again, after vs baseline:")
            tell.lines(comparison_lines(doc, width))
            tell.text(f'Note written (and ticked "{STEP["note"]}"): {doc["note_path"]}')

            tell.step(STEP["watch"] + " (watch)")
            tell.text(
                "Not run here: nothing was released. After a real release you would "
                "follow the service's log for a while:"
            )
            tell.command(
                ["watch"], ("--log", "app.log"), ("--pattern", "ERROR"), ("--duration", "10m")
            )

            if build_wiki is not None:
                tell.step("the team wiki (wiki)")
                tell.command(["wiki"], ("--out", "wiki"))
                tell.text(build_wiki(config, root / "wiki"))

            readable = notes.text(config, doc, with_record=False)
    finally:
        store.close()
    rule = "-" * width
    tell.lines(["", rule])
    tell.text(
        f"The note, as a reader sees it ({doc['note_path']}; the file also keeps the "
        "full record that `changenote import` reads back):",
        indent="",
    )
    tell.lines([rule, fit(readable.strip("\n"), width), rule])
    tell.lines(next_steps(root, width, env_store))
    return DemoResult(root, doc, root / doc["note_path"])
