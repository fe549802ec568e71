"""Every benchmark in one speed table: each figure beside its reference from the same run.

Run it as ``python bench/run.py [--out FILE] [--against REF]`` with Python 3.11 or newer. It

1. builds a wheel of the project and installs it with ``sqlite-utils`` in a fresh venv in
   a temporary folder (``bench/startup.py``'s helpers; pip compiles the bytecode), and
   installs ``hyperfine`` from Debian when it is missing and we are root;
2. times ``changenote --help`` and ``changenote list`` against ``python -c pass`` and
   ``sqlite-utils`` (``bench/startup.py``'s interleaved timing), and with ``--against REF``
   against the same commands built from that git commit, in the same rounds;
3. compares the command probe's median for ``sleep 0.01`` with hyperfine's, the HTTP
   probe's median on a loopback ``/health`` with a plain ``http.client`` loop, and
   measures ``changenote ship``'s own overhead (its wall time minus its probe runs);
4. runs ``bench/wiki.py``, ``bench/store.py``, ``bench/verdicts.py``,
   ``bench/prom_windows.py``, ``bench/document.py``, ``bench/results.py`` and
   ``bench/honesty.py`` with the venv's interpreter at reduced sizes and reads their
   ``--json`` figures;
5. prints the table as markdown (and writes it to ``--out``).

About five minutes on 2 CPUs. A failed part becomes a row saying so; the script exits 0:
it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import startup  # bench/startup.py, beside this file
from startup import BenchFailed, Setup

BENCH = Path(__file__).resolve().parent
SLEEP = "sleep 0.01"
CMD_GOAL_MS = 0.5
HTTP_GOAL_MS = 0.3

# A small threaded /health server, run in its own interpreter so that the client loop
# of this script does not share a GIL with it. HTTP/1.1: connections are kept alive.
SERVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Health(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        ok = self.path == "/health"
        body = b'{"status": "ok"}' if ok else b"not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@dataclass
class Row:
    figure: str
    value: str
    reference: str = ""
    ratio: str = ""
    goal: str = ""


def mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.2f} ms"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_checked(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """stdout of ``cmd``; its whole process group is killed when it runs out of time."""
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BenchFailed(f"no result within {timeout:.0f} s") from None
    if proc.returncode != 0:
        sys.stderr.write(err[-3000:])
        raise BenchFailed(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} exited {proc.returncode}")
    return out


def trailing_json(text: str) -> Any:
    """The JSON document a benchmark's ``--json`` prints after its text report."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i] == "{":
            return json.loads("\n".join(lines[i:]))
    tail = lines[-1] if lines else "no output"
    raise BenchFailed(f"no JSON figures; last line: {tail[:120]}")


def time_median(metrics: list[dict[str, Any]]) -> float:
    for metric in metrics:
        if metric["metric"] == "time_ms" and metric["n"]:
            return float(metric["median"])
    raise BenchFailed("no time_ms samples (every run failed?)")


def baseline_median(s: Setup, folder: Path, probe: list[str], runs: int) -> float:
    """The time_ms median of ``changenote baseline PROBE --runs N --json`` in a new project."""
    folder.mkdir()
    (folder / "changenote.toml").write_text("")
    cmd = [str(s.bin_dir / "changenote"), "baseline", "bench", *probe, "--runs", str(runs)]
    doc = json.loads(run_checked([*cmd, "--json"], folder, s.env, 300))
    return time_median(doc["runs"][0]["metrics"])


# ---------------------------------------------------------------------------------------
# Sections: each returns its rows or raises
# ---------------------------------------------------------------------------------------


def startup_rows(s: Setup, work: Path, runs: int, against: str | None = None) -> list[Row]:
    reference = startup.prepare_reference(work, against, s.env) if against else None
    cands = startup.candidates(s.bin_dir, s.db, reference, against or "")
    times = startup.time_all(cands, runs, s.project, s.env)
    med = {name: statistics.median(v) for name, v in times.items()}
    rows = []
    for cmd, refs in (
        ("changenote --help", ("python -c pass", "sqlite-utils --help", "sqlite-utils tables")),
        ("changenote list", ("python -c pass", "sqlite-utils tables")),
    ):
        for ref in refs:
            ratio = med[cmd] / med[ref]
            goal = ""
            if (cmd, ref) == ("changenote --help", "sqlite-utils --help"):
                goal = f"≤ 1x: {mark(ratio <= 1.0)}"
            elif (cmd, ref) == ("changenote list", "sqlite-utils tables"):
                goal = f"≤ 2x: {mark(ratio <= 2.0)}"
            rows.append(
                Row(f"`{cmd}` wall", ms(med[cmd]), f"`{ref}` {ms(med[ref])}", f"{ratio:.2f}x", goal)
            )
    for cmd in ("changenote --help", "changenote list") if against else ():
        ref = f"{cmd} @{against}"
        ratio = med[cmd] / med[ref]
        rows.append(
            Row(
                f"`{cmd}` wall", ms(med[cmd]), f"`{ref}` {ms(med[ref])}", f"{ratio:.2f}x",
                f"≤ 1.1x: {mark(ratio <= 1.1)}",
            )
        )  # fmt: skip
    return rows


def ensure_hyperfine() -> str | None:
    """hyperfine's path, installed from Debian when missing and we are root."""
    found = shutil.which("hyperfine")
    if found or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "hyperfine"]
    for cmd in (install, ["apt-get", "update", "-q"], install):
        log(f"  {' '.join(cmd)}")
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            break
        if cmd is install and done.returncode == 0:
            break
    return shutil.which("hyperfine")


def command_rows(s: Setup, work: Path, runs: int) -> list[Row]:
    figure = f"command probe median, `{SLEEP}` ({runs} runs)"
    ours = baseline_median(s, work / "probe-cmd", ["--cmd", SLEEP], runs)
    hyperfine = ensure_hyperfine()
    if hyperfine is None:
        return [Row(figure, ms(ours), "hyperfine missing")]
    export = work / "hyperfine.json"
    sh_sleep = f"sh -c '{SLEEP}'"
    cmd = [hyperfine, "--shell=none", "--runs", str(runs), "--warmup", "1", "--style", "none"]
    run_checked([*cmd, "--export-json", str(export), SLEEP, sh_sleep], work, s.env, 300)
    results = json.loads(export.read_text())["results"]
    direct, via_sh = (r["median"] * 1000 for r in results)
    diff = ours - direct
    return [
        Row(
            figure,
            ms(ours),
            f"hyperfine `--shell=none` {ms(direct)}",
            f"{diff:+.2f} ms",
            f"within {CMD_GOAL_MS} ms: {mark(abs(diff) <= CMD_GOAL_MS)}",
        ),
        Row(
            f"info: hyperfine, `{sh_sleep}` (through a shell)",
            ms(via_sh),
            f"hyperfine `--shell=none` {ms(direct)}",
            f"{via_sh - direct:+.2f} ms",
        ),
    ]


def http_client_times(port: int, runs: int) -> list[float]:
    """Milliseconds per GET /health over one kept-alive connection (after one warm-up)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    try:
        for i in range(runs + 1):
            start = time.perf_counter_ns()
            conn.request("GET", "/health", headers={"User-Agent": "bench"})
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter_ns() - start) / 1e6
            if response.status != 200:
                raise BenchFailed(f"/health answered {response.status}")
            if i > 0:
                times.append(elapsed)
    finally:
        conn.close()
    return times


def http_rows(s: Setup, work: Path, runs: int) -> list[Row]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, env=s.env
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/health"
        # The reference runs before and after the probe, so drift hits both alike.
        ref = http_client_times(port, runs // 2)
        ours = baseline_median(s, work / "probe-http", ["--http", f"GET {url}"], runs)
        ref += http_client_times(port, runs - runs // 2)
    finally:
        server.terminate()
        server.wait(timeout=10)
    theirs = statistics.median(ref)
    diff = ours - theirs
    return [
        Row(
            f"HTTP probe median, loopback `GET /health` ({runs} runs)",
            ms(ours),
            f"`http.client`, keep-alive {ms(theirs)}",
            f"{diff:+.2f} ms",
            f"within {HTTP_GOAL_MS} ms: {mark(abs(diff) <= HTTP_GOAL_MS)}",
        )
    ]


def ship_rows(s: Setup, work: Path, ships: int) -> list[Row]:
    """Wall time of ``changenote ship`` minus the time its probe runs took."""
    project = work / "ship"
    project.mkdir()
    (project / "changenote.toml").write_text("")
    changenote, python = str(s.bin_dir / "changenote"), str(s.bin_dir / "python")
    overhead, floor = [], []
    for i in range(ships):
        probe = ["--cmd", "true", "--runs", "5", "--warmup", "0"]
        run_checked([changenote, "baseline", f"ship {i}", *probe], project, s.env, 120)
        start = time.perf_counter_ns()
        out = run_checked(
            [changenote, "ship", "--reason", "bench", "--rollback", "none", "--json"],
            project,
            s.env,
            120,
        )
        wall = (time.perf_counter_ns() - start) / 1e6
        metrics = json.loads(out)["runs"][-1]["metrics"]
        probes = sum(sum(m["samples"]) for m in metrics if m["metric"] == "time_ms")
        overhead.append(wall - probes)
        start = time.perf_counter_ns()
        run_checked([python, "-c", "pass"], project, s.env, 60)
        floor.append((time.perf_counter_ns() - start) / 1e6)
    ours, ref = statistics.median(overhead), statistics.median(floor)
    return [
        Row(
            f"`changenote ship` own overhead: wall - probe runs (median of {ships})",
            ms(ours),
            f"`python -c pass` {ms(ref)}",
            f"{ours / ref:.1f}x",
        )
    ]


def wiki_rows(s: Setup, work: Path, notes: int) -> list[Row]:
    cmd = [str(s.bin_dir / "python"), str(BENCH / "wiki.py"), "--notes", str(notes), "--json"]
    result = trailing_json(run_checked([*cmd, "--timeout", "240"], work, s.env, 420))
    r = result["results"][0]
    full, mk, inc = r["full"], r["mkdocs"], r["incremental"]
    if full["exit"] != 0 or not full["seconds"]:
        raise BenchFailed("changenote wiki failed")
    ours = f"{full['seconds']:.2f} s, {full['pages_s']:,.0f} pages/s"
    rows = []
    if mk and mk["exit"] == 0 and mk["seconds"]:
        ratio = full["seconds"] / mk["seconds"]
        rows.append(
            Row(
                f"wiki full build, {notes:,} notes",
                ours,
                f"lean MkDocs {mk['seconds']:.2f} s, {mk['pages_s']:,.0f} pages/s",
                f"{ratio:.2f}x",
                f"≤ 0.5x: {mark(ratio <= 0.5)}"
                if notes >= 10_000
                else "goal (≤ 0.5x) set at 10,000 notes: `bench/wiki.py`",
            )
        )
    else:
        rows.append(Row(f"wiki full build, {notes:,} notes", ours, "lean MkDocs failed"))
    if inc["seconds"] is not None:
        rows.append(
            Row(
                f"wiki incremental rebuild, one note edited (median of {inc['runs']})",
                f"{inc['seconds']:.2f} s",
                f"full build {full['seconds']:.2f} s",
                f"{inc['seconds'] / full['seconds']:.2f}x",
                f"< 1 s: {mark(inc['seconds'] < 1.0)}",
            )
        )
    else:
        rows.append(Row("wiki incremental rebuild", "failed"))
    return rows


def store_rows(s: Setup, work: Path, changes: int) -> list[Row]:
    cmd = [str(s.bin_dir / "python"), str(BENCH / "store.py"), "--changes", str(changes)]
    f = trailing_json(run_checked([*cmd, "--json"], work, s.env, 420))
    ours, ref = f["import"], f["reference_import"]
    rows = [
        Row(
            f"import, {changes:,} changes",
            f"{ours['seconds']:.1f} s, {ours['changes_s']:,.0f}/s",
            f"raw `executemany` {ref['seconds']:.1f} s, {ref['changes_s']:,.0f}/s",
            f"{ours['seconds'] / ref['seconds']:.2f}x",
            f"≥ 10,000/s: {mark(ours['changes_s'] >= 10_000)}",
        )
    ]
    for found in f["search"].values():
        rare = found["share"] == "~4%"
        rows.append(
            Row(
                f"search, {'rare' if rare else 'common'} word ({found['hits']:,} hits), top 20",
                ms(found["median_ms"]),
                goal=f"< 50 ms: {mark(found['median_ms'] < 50)}" if rare else "",
            )
        )
    walls = f["wall_median_ms"]
    ref_wall = walls.get("sqlite-utils")
    for name, label in (("search", "`changenote search` wall"), ("list", "`changenote list` wall")):
        rows.append(
            Row(
                f"{label}, {changes:,} changes",
                ms(walls[name]),
                f"`sqlite-utils tables` {ms(ref_wall)}" if ref_wall else "sqlite-utils missing",
                f"{walls[name] / ref_wall:.2f}x" if ref_wall else "",
            )
        )
    return rows


def verdict_rows(s: Setup, work: Path, pairs: int) -> list[Row]:
    cmd = [str(s.bin_dir / "python"), str(BENCH / "verdicts.py"), "--pairs", str(pairs)]
    fig = trailing_json(run_checked([*cmd, "--json"], work, s.env, 420))["figures"]
    false, power = fig["false_verdicts"], fig["power"]
    overall = false["overall"]
    rates = ", ".join(
        f"{d} {power['faster_improved'][d]['rate']:.0%}" for d in power["goal_distributions"]
    )
    return [
        Row(
            f"false verdicts, before = after ({overall['pairs']:,} pairs, n 5 to 50)",
            f"{overall['rate']:.1%} ({overall['hits']}/{overall['pairs']})",
            goal=f"≤ 5%: {mark(false['pass'])}",
        ),
        Row(
            f"verdict power, true 20% speed-up, n = {power['n']}",
            rates,
            goal=f"≥ 90%: {mark(power['pass'])}",
        ),
    ]


def prom_window_rows(s: Setup, work: Path, pairs: int) -> list[Row]:
    cmd = [str(s.bin_dir / "python"), str(BENCH / "prom_windows.py"), "--pairs", str(pairs),
           "--no-naive-noise", "--json"]  # fmt: skip
    fig = trailing_json(run_checked(cmd, work, s.env, 420))["figures"]
    head, setup = fig["headline"], fig["setup"]
    where = (
        f"AR(1) phi {setup['phi']}, {setup['points_per_window']} points a window, "
        f"CV {setup['headline_cv_pct']:g}%"
    )
    false, sig = head["false_verdicts"], fig["no_min_effect_false"]
    up, down = head["power_up_regressed"], head["power_down_improved"]

    def pct(t: dict[str, Any]) -> str:
        return f"{t['rate']:.1%}"

    return [
        Row(
            f"window verdicts on no-change pairs ({false['windows']['pairs']:,} pairs, {where})",
            f"{pct(false['windows'])} ({false['windows']['hits']}/{false['windows']['pairs']})",
            f"naive Mann-Whitney on the points {pct(false['naive'])}",
            goal=f"≤ 5%: {mark(fig['pass']['false_verdicts'])}",
        ),
        Row(
            f"window verdict power, true +/-10% step ({where})",
            f"regressed {pct(up['windows'])}, improved {pct(down['windows'])}",
            f"naive {pct(up['naive'])}, {pct(down['naive'])}",
            goal=f"≥ 80%: {mark(fig['pass']['power'])}",
        ),
        Row(
            "window test significant on no-change pairs, no minimum effect (info)",
            pct(sig["windows"]),
            f"naive Mann-Whitney {pct(sig['naive'])}",
        ),
    ]


def document_rows(s: Setup, work: Path, changes: int) -> list[Row]:
    cmd = [str(s.bin_dir / "python"), str(BENCH / "document.py"), "--changes", str(changes),
           "--json"]  # fmt: skip
    fig = trailing_json(run_checked(cmd, work, s.env, 900))
    return [
        Row(
            f"document loads of {fig['changes']:,} changes (export, render, wiki from the store)",
            f"{fig['full_s']:.2f} s",
            f"without issue 14's events, links, follow-ups, timeline {fig['reference_s']:.2f} s",
            f"{fig['ratio']:.2f}x",
        )
    ]


def results_rows(s: Setup, work: Path, pairs: int) -> list[Row]:
    cmd = [str(s.bin_dir / "python"), str(BENCH / "results.py"), "--pairs", str(pairs),
           "--json"]  # fmt: skip
    fig = trailing_json(run_checked(cmd, work, s.env, 900))["figures"]
    false = fig["verdicts"]["false_overall"]
    power = fig["verdicts"]["power_20pct_n30"]["lognormal-0.25"]
    hyper, record = fig["read"]["hyperfine"], fig["record"]
    return [
        Row(
            f"summary-only verdicts on before = after ({false['pairs']:,} pairs, n 5 to 100)",
            f"{false['rate']:.1%} false",
            goal=f"≤ 5%: {mark(fig['verdicts']['pass'])}",
        ),
        Row(
            "summary-only power, a true 20% slowdown at n = 30, log-normal 0.25 (info)",
            f"{power['summary']['rate']:.0%}",
            f"raw samples, Mann-Whitney + bootstrap {power['raw']['rate']:.0%}",
        ),
        Row(
            f"reading a hyperfine file of {hyper['bytes'] // 1000:,} kB (10,000 times)",
            f"{hyper['read_ms']:.1f} ms",
            f"json.loads {hyper['json_loads_ms']:.1f} ms",
            f"{hyper['ratio']:.2f}x",
        ),
        Row(
            f"`baseline --results` with {record['samples']:,} samples",
            f"{record['results_s']:.2f} s",
            f"`baseline --metric x=1` {record['metric_s']:.2f} s",
            f"{record['ratio']:.2f}x",
        ),
    ]


def honesty_rows(s: Setup, work: Path, checks: int, aa: int) -> list[Row]:
    cmd = [str(s.bin_dir / "python"), str(BENCH / "honesty.py"), "--checks", str(checks),
           "--aa", str(aa), "--json"]  # fmt: skip
    fig = trailing_json(run_checked(cmd, work, s.env, 1800))
    flap, same = fig["flap"], fig["aa"]
    verdicts = same["time_ms_verdicts"]
    wrong = verdicts.get("improved", 0) + verdicts.get("regressed", 0)
    return [
        Row(
            f"unchanged service called changed, `check --runs 10` x {flap['runs']}",
            f"{flap['rate']:.0%} ({flap['changed']}/{flap['runs']})",
            goal=f"≤ 5%: {mark(flap['rate'] <= 0.05)}",
        ),
        Row(
            f"A/A `measure` with a caution-or-worse warning, x {same['runs']}",
            f"{same['rate']:.0%} ({same['with_caution_or_worse']}/{same['runs']})",
            goal=f"≤ 10%: {mark(same['rate'] <= 0.10)}",
        ),
        Row(
            f"A/A `measure` time_ms called improved or regressed, x {same['runs']} (info)",
            f"{wrong / max(1, same['runs']):.0%} ({wrong}/{same['runs']})",
        ),
        Row(
            f"A/A `measure` time_ms called changed with no `environment-changed`, "
            f"x {same['runs']} (info)",
            f"{same['changed_unflagged'] / max(1, same['runs']):.0%} "
            f"({same['changed_unflagged']}/{same['runs']})",
        ),
    ]


# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown(rows: list[Row], notes: list[str]) -> str:
    lines = [
        "| figure | changenote | reference, same run | ratio / difference | goal |",
        "|---|---:|---|---:|---|",
    ]
    for r in rows:
        cells = (r.figure, r.value, r.reference, r.ratio, r.goal)
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def guarded(rows: list[Row], figure: str, section: Callable[[], list[Row]]) -> None:
    """Add a section's rows, or one row saying it failed."""
    start = time.perf_counter()
    log(f"{figure} ...")
    try:
        rows.extend(section())
    except Exception as exc:
        if not isinstance(exc, BenchFailed):
            traceback.print_exc()
        rows.append(Row(figure, "failed", short(exc)))
    log(f"  {time.perf_counter() - start:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--runs", type=int, default=20, help="start-up runs per command")
    parser.add_argument("--probe-runs", type=int, default=30, help="runs of each probe")
    parser.add_argument("--ships", type=int, default=5, help="ship commands timed")
    parser.add_argument("--wiki-notes", type=int, default=1000)
    parser.add_argument("--store-changes", type=int, default=20_000)
    parser.add_argument("--verdict-pairs", type=int, default=1000)
    parser.add_argument("--prom-pairs", type=int, default=200)
    parser.add_argument("--document-changes", type=int, default=2000)
    parser.add_argument("--results-pairs", type=int, default=200)
    parser.add_argument("--honesty-checks", type=int, default=30)
    parser.add_argument("--honesty-aa", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--against",
        metavar="REF",
        help="also time start-up of the wheel of this git commit, side by side (e.g. HEAD~1)",
    )
    args = parser.parse_args()

    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="changenote-bench-run-"))
    rows: list[Row] = []
    try:
        log(f"building the wheel and the venv in {work} ...")
        try:
            s = startup.prepare(work)
        except Exception as exc:
            rows.append(Row("setup: wheel + venv + store", "failed", short(exc)))
        else:
            log(f"  {time.perf_counter() - began:.0f} s")
            guarded(rows, "start-up", lambda: startup_rows(s, work, args.runs, args.against))
            guarded(rows, "command probe", lambda: command_rows(s, work, args.probe_runs))
            guarded(rows, "HTTP probe", lambda: http_rows(s, work, args.probe_runs))
            guarded(rows, "ship overhead", lambda: ship_rows(s, work, args.ships))
            guarded(rows, "wiki", lambda: wiki_rows(s, work, args.wiki_notes))
            guarded(rows, "store", lambda: store_rows(s, work, args.store_changes))
            guarded(rows, "verdicts", lambda: verdict_rows(s, work, args.verdict_pairs))
            guarded(rows, "prometheus windows", lambda: prom_window_rows(s, work, args.prom_pairs))
            guarded(rows, "documents", lambda: document_rows(s, work, args.document_changes))
            guarded(rows, "results files", lambda: results_rows(s, work, args.results_pairs))
            sizes = (args.honesty_checks, args.honesty_aa)
            guarded(rows, "honesty", lambda: honesty_rows(s, work, *sizes))
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - began
    notes = [
        f"{datetime.date.today()}, {os.cpu_count()} CPU(s), {platform.system()}, "
        f"Python {platform.python_version()}; total wall time {total / 60:.1f} min "
        f"(`python bench/run.py`).",
        "Medians. Ratio = changenote / reference; a difference is changenote - reference.",
        "Commands run from a fresh venv with the project's wheel (bytecode compiled); "
        f"start-up: {args.runs} interleaved runs of each command.",
        "The command probe starts a command of plain words itself, as hyperfine "
        "`--shell=none` does (the info row shows what `/bin/sh -c` would add).",
        "The HTTP probe keeps one httpx connection for all its runs (keep-alive), so the "
        "`http.client` reference keeps one connection too; the server is a threaded "
        "`http.server` (HTTP/1.1) in its own process.",
        "Ship overhead: `--cmd true` probe, 5 runs, no warm-up; the sum of its `time_ms` "
        "samples is subtracted from the command's wall time.",
        f"Reduced sizes: wiki {args.wiki_notes:,} notes (goals set at 10,000), store "
        f"{args.store_changes:,} changes (goal set at 100,000), verdicts "
        f"{args.verdict_pairs:,} pairs, Prometheus windows {args.prom_pairs:,} pairs a "
        "scenario; full runs: `python bench/wiki.py`, `python bench/store.py`, "
        "`python bench/verdicts.py`, `python bench/prom_windows.py`.",
    ]
    table = markdown(rows, notes)
    print(table)
    if args.out:
        args.out.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
    sys.exit(0)
