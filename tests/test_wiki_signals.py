"""A wiki build's worker processes and signals: SIGKILL, Ctrl-C, a full disk.

The signal tests run ``changenote wiki`` as its own process, on a project with enough
shipped changes that the build starts its process pool (``sources.PARALLEL_MIN``), and
watch the pool's workers in ``/proc`` (children whose parent is the CLI process); the
full disk is a small tmpfs (mounting one needs root: else those tests are skipped).
Where a moment cannot be hit from outside (Ctrl-C while a worker is being forked, in a
finalizer, between the last page and saving the state), the test runs in-process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from changenote.wiki.sources import PARALLEL_MIN
from changenote.wiki.state import STATE
from tests.conftest import inside, invoke, new_repository

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="watches worker processes in /proc"
)

#: The workers the pool starts (``sources.process_pool``): one per CPU, up to 8.
WORKERS = min(os.cpu_count() or 1, 8)
needs_a_pool = pytest.mark.skipif(WORKERS < 2, reason="one CPU: a wiki build starts no pool")


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose store holds enough shipped changes for a parallel wiki build,
    and ``clean``, a wiki of it built without interruption."""
    from changenote.config import load_config
    from changenote.notebook import notes

    root = tmp_path_factory.mktemp("signals") / "project"
    with inside(new_repository(root)):
        assert invoke("baseline", "slow search", "--metric", "p95_ms=9ms").code == 0
        assert invoke("ship", "--reason", "an index", "--metric", "p95_ms=5ms").code == 0
        config = load_config(root)
        template = notes.read_note(next((root / "notes").glob("*.md")))
        assert template is not None
        for i in range(PARALLEL_MIN + 20):  # the store's changes alone start the pool
            name = f"2026-01-01-change-{i:04d}.md"
            doc = dict(template, slug=f"change-{i}", title=f"Change {i}", uid=f"{i + 1:032x}")
            doc.update(service=f"svc{i % 7}", tags=[f"t{i % 5}"], note_path=f"notes/{name}")
            (root / "notes" / name).write_text(notes.text(config, doc))
        imported = invoke("import", "notes")
        assert imported.code == 0, imported.stderr
    done = _cli(root, "wiki", "--out", "clean")
    assert done.returncode == 0, done.stderr
    return root


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changenote", *args],
        cwd=root,
        env=_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _start(root: Path, out: str, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "changenote", "wiki", "--out", out, *args],
        cwd=root,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def _children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()  # after "pid (command)"
            if int(fields[1]) == pid and fields[0] not in "ZX":
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in "ZX"


def _pool_started(proc: subprocess.Popen[bytes], within: float = 60) -> set[int]:
    """Wait until the build has started every worker of its pool; their pids."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        workers = _children(proc.pid)
        if len(workers) >= WORKERS:
            return workers
        if proc.poll() is not None:
            pytest.fail(f"the build ended (exit {proc.returncode}) before its pool started")
        time.sleep(0.01)
    pytest.fail("the build's process pool did not start")


def _gone(pids: set[int], within: float) -> set[int]:
    """The ``pids`` still alive after waiting up to ``within`` seconds for them to end."""
    end = time.monotonic() + within
    while time.monotonic() < end and any(_alive(p) for p in pids):
        time.sleep(0.02)
    return {p for p in pids if _alive(p)}


@contextlib.contextmanager
def _killed_after(pids: set[int]) -> Iterator[None]:
    """Whatever happens, no process of the test outlives it."""
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name != STATE
    }


@needs_a_pool
def test_workers_die_with_a_killed_parent_and_let_go_of_its_pipes(
    many: Path, tmp_path: Path
) -> None:
    # from notes the pool starts before they are parsed; from the store, once it is read
    rounds = [("--from-notes", "notes"), ("--from-notes", "notes"), ()]
    for round_, (args, delay) in enumerate(zip(rounds, (0.0, 0.5, 0.2), strict=True)):
        out = str(tmp_path / f"w{round_}")
        proc = _start(many, out, *args)
        workers: set[int] = set()
        with proc, _killed_after(workers):
            workers |= _pool_started(proc)
            time.sleep(delay)
            readers = [
                threading.Thread(target=pipe.read, daemon=True)  # as `| cat` reads
                for pipe in (proc.stdout, proc.stderr)
                if pipe is not None
            ]
            for reader in readers:
                reader.start()
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            left = _gone(workers, within=5)
            assert left == set(), f"round {round_}: workers {left} outlived their parent"
            for reader in readers:
                reader.join(timeout=5)
            assert not any(r.is_alive() for r in readers), "a pipe of the caller stayed open"


@needs_a_pool
def test_ctrl_c_stops_a_build_at_once_and_the_next_build_is_whole(
    many: Path, tmp_path: Path
) -> None:
    out = tmp_path / "w"
    # Ctrl-C in a terminal signals the whole foreground process group: parent and workers
    # (and SIGINT is not ignored there, as it is in a background job such as CI's may be)
    proc = _start(
        many,
        str(out),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    workers: set[int] = set()
    with proc, _killed_after(workers):
        workers |= _pool_started(proc)
        os.killpg(proc.pid, signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("Ctrl-C did not stop the build within 10 s")
    text = stderr.decode()
    lines = text.splitlines()
    assert proc.returncode == 130, text
    assert "Traceback" not in text and all(line.startswith("changenote: ") for line in lines)
    failures = [line for line in lines if line.startswith("changenote: error:")]
    assert len(failures) == 1 and "interrupted" in failures[0], text
    assert _gone(workers, within=5) == set()
    again = _cli(many, "wiki", "--out", str(out))
    assert again.returncode == 0, again.stderr
    clean, rebuilt = _tree(many / "clean"), _tree(out)
    assert rebuilt.keys() == clean.keys()
    assert [k for k in clean if clean[k] != rebuilt[k]] == []


@needs_a_pool
def test_ctrl_c_while_the_pool_starts_leaves_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C just after a worker is forked, before the pool knows of it, would leave a
    worker nothing ends (and the CLI, waiting for it at exit, hung)."""
    import multiprocessing
    from multiprocessing.process import BaseProcess

    from changenote.wiki import sources

    start = BaseProcess.start

    def start_then_ctrl_c(self: BaseProcess) -> None:
        start(self)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(BaseProcess, "start", start_then_ctrl_c)
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with pytest.raises(KeyboardInterrupt):
            sources.process_pool()
    finally:
        signal.signal(signal.SIGINT, handler)
        monkeypatch.undo()
    left = [p for p in multiprocessing.active_children() if p.is_alive()]
    for worker in left:
        worker.kill()
    assert left == []


def test_an_interrupted_build_leaves_no_page_looking_current(project: Path) -> None:
    """Pages written by a build stopped by Ctrl-C are never taken for the last build's,
    even when the inputs go back to what that build saw."""
    from changenote.config import load_config
    from changenote.wiki import site

    for title in ("Slow search", "Slow login", "Search again"):
        assert invoke("baseline", title, "--metric", "p95_ms=9ms").code == 0
        assert invoke("ship", "--reason", "batch", "--metric", "p95_ms=5ms").code == 0
    assert invoke("wiki", "--out", "w", "--from-notes", "notes").code == 0
    note = next((project / "notes").glob("*-slow-login.md"))
    before = note.read_text()
    note.write_text(before.replace("title: Slow login", "title: Slow logout"))
    os.utime(note, ns=(note.stat().st_mtime_ns + 10**9,) * 2)

    def interrupt(done: int, total: int) -> None:
        if done == total:  # every page written, the state not yet saved
            raise KeyboardInterrupt

    config = load_config(project)
    with pytest.raises(KeyboardInterrupt):
        site.build(config, project / "w", from_notes=project / "notes", progress=interrupt)
    assert "Slow logout" in (project / "w" / "html" / "index.html").read_text()
    note.write_text(before)  # back to what the last finished build saw
    os.utime(note, ns=(note.stat().st_mtime_ns + 2 * 10**9,) * 2)
    assert invoke("wiki", "--out", "w", "--from-notes", "notes").code == 0
    assert invoke("wiki", "--out", "fresh", "--from-notes", "notes").code == 0
    rebuilt, fresh = _tree(project / "w"), _tree(project / "fresh")
    assert rebuilt.keys() == fresh.keys()
    assert [k for k in fresh if fresh[k] != rebuilt[k]] == []


def test_ctrl_c_landing_in_a_finalizer_still_stops_the_build(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C that arrives while a weakref callback or ``__del__`` runs is not lost
    ("Exception ignored in ...") with the build going on to the end."""
    from changenote.wiki import site

    for title in ("Slow search", "Slow login"):
        assert invoke("baseline", title, "--metric", "p95_ms=9ms").code == 0
        assert invoke("ship", "--reason", "batch", "--metric", "p95_ms=5ms").code == 0

    class Finalized:
        def __del__(self) -> None:
            raise KeyboardInterrupt  # as the signal handler does, if Ctrl-C comes now

    put = site._Writer.put
    written: list[str] = []

    def put_once_finalized(self: site._Writer, path: str, text: str) -> None:
        if not written:
            Finalized()  # dropped at once: its finalizer runs here
        written.append(path)
        put(self, path, text)
        time.sleep(0.05)  # each page takes a moment, as on a real site: time to stop in

    assert invoke("wiki", "--out", "whole").code == 0
    pages = len([p for p in (project / "whole").rglob("*") if p.is_file()])
    monkeypatch.setattr(site._Writer, "put", put_once_finalized)
    result = invoke("wiki", "--out", "w")
    assert result.code == 130, (result.code, result.stderr)
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "interrupted" in result.stderr
    assert len(written) < pages // 2, (pages, written)  # it stopped soon, not at the end


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, or a skip saying why there is none."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({mounted.stderr.strip()}); needs root")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _fill(disk: Path) -> list[Path]:
    """Fill ``disk`` with 16 KB files, then ``crumbs`` until no byte is left; the files."""
    fillers: list[Path] = []
    block = b"x" * 16384
    while True:
        path = disk / f"filler{len(fillers):04d}"
        try:
            with path.open("wb") as fh:
                fh.write(block)
        except OSError:
            path.unlink(missing_ok=True)
            break
        fillers.append(path)
    with contextlib.suppress(OSError), (disk / "crumbs").open("wb") as fh:
        while True:  # what is left under 16 KB
            fh.write(b"x" * 512)
            fh.flush()
    return fillers


# With this project's pages, no room fails opening the state file, 48 KB writing pages
# and 96 KB saving the state at the end: each must say so the same way.
@pytest.mark.parametrize("free_kb", [0, 48, 96], ids=lambda kb: f"{kb}kb-free")
def test_a_full_disk_says_disk_full_and_the_build_succeeds_once_freed(
    project: Path, small_disk: Path, free_kb: int
) -> None:
    for title in ("Slow search", "Slow login"):
        assert invoke("baseline", title, "--metric", "p95_ms=9ms").code == 0
        assert invoke("ship", "--reason", "batch", "--metric", "p95_ms=5ms").code == 0
    fillers = _fill(small_disk)
    for path in fillers[: free_kb // 16]:
        path.unlink()
    out = small_disk / "w"
    full = _cli(project, "wiki", "--out", str(out))
    assert full.returncode != 0
    assert "disk full" in full.stderr and str(out) in full.stderr, full.stderr
    assert "damaged" not in full.stderr and "remove" not in full.stderr, full.stderr
    assert "Traceback" not in full.stderr and full.stderr.count("\n") == 1, full.stderr
    for path in [*fillers, small_disk / "crumbs"]:
        path.unlink(missing_ok=True)
    again = _cli(project, "wiki", "--out", str(out))
    assert again.returncode == 0, again.stderr
    fresh = invoke("wiki", "--out", "fresh")
    assert fresh.code == 0, fresh.stderr
    rebuilt, clean = _tree(out), _tree(project / "fresh")
    assert rebuilt.keys() == clean.keys()
    assert [k for k in clean if clean[k] != rebuilt[k]] == []
