"""Honesty benchmark: how often an unchanged service is reported as changed.

Run it as ``python bench/honesty.py [--checks 100] [--aa 40] [--json]``. On a quiet
local HTTP service (a threaded ``http.server`` in its own process, a little work per
request), in a fresh git project, it

1. ships an unchanged change that measured a configured check (``--check search``),
   then runs ``changenote check search --runs 10 --record --format json`` ``--checks``
   times, each in a new process as cron would (recording, so the check learns its
   run-to-run noise), and counts the answers that say the service changed (``improved``
   or ``regressed``): the **flap rate**, goal at most 5%;
2. takes a baseline of the same route and runs ``changenote measure`` ``--aa`` times
   against it with nothing changed (A/A), and counts the comparisons that carry a
   warning of severity ``caution`` or ``invalidates``: goal at most 10% (at least 90%
   of A/A comparisons with no caution-or-worse warning); the codes that fired are listed.

Both figures are rates out of runs in this one script, not wall times. It exits 0: it is
a benchmark, not a test. Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SERVICE = """
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Search(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        time.sleep(0.002)  # a little work: a query, a template
        body = b'{"results": 3}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Search)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
FLAP_GOAL = 0.05
AA_GOAL = 0.10


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
    env["HOME"] = str(home)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env.update(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="bench",
               GIT_COMMITTER_EMAIL="b@x")  # fmt: skip
    return env


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changenote", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _ok(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    if done.returncode not in (0, 1):
        raise SystemExit(f"changenote failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def flap_rate(project: Path, env: dict[str, str], url: str, checks: int) -> dict[str, Any]:
    (project / "changenote.toml").write_text(f'[checks.search]\nhttp = "GET {url}"\n')
    _ok(_cli(["baseline", "Search", "--check", "search", "--runs", "10", "--json"], project, env))
    _ok(_cli(["ship", "--reason", "nothing changed", "--json"], project, env))
    answers: collections.Counter[str] = collections.Counter()
    changes: list[float] = []
    for i in range(checks):
        report = _ok(
            _cli(["check", "search", "--runs", "10", "--record", "--format", "json"], project, env)
        )
        answers[str(report["checks"][0]["changed"])] += 1
        lead = next((c for c in report["checks"][0]["comparison"] if c["metric"] == "time_ms"), {})
        if lead.get("change_pct") is not None:
            changes.append(lead["change_pct"])
        if (i + 1) % 20 == 0:
            print(f"  check {i + 1}/{checks}: {dict(answers)}", file=sys.stderr, flush=True)
    changed = answers["improved"] + answers["regressed"]
    changes.sort()
    spread = [round(changes[int(q * (len(changes) - 1))], 1) for q in (0, 0.1, 0.5, 0.9, 1)]
    return {"runs": checks, "answers": dict(answers), "changed": changed,
            "rate": changed / checks, "goal": FLAP_GOAL,
            "change_pct_min_p10_median_p90_max": spread if changes else []}  # fmt: skip


def aa_warning_rate(project: Path, env: dict[str, str], url: str, runs: int) -> dict[str, Any]:
    _ok(_cli(["baseline", "A/A", "--http", f"GET {url}", "--runs", "10", "--json"], project, env))
    serious = 0
    codes: collections.Counter[str] = collections.Counter()
    every: collections.Counter[str] = collections.Counter()
    verdicts: collections.Counter[str] = collections.Counter()
    unflagged = 0  # called changed with no word that the machine was not the same
    for i in range(runs):
        doc = _ok(_cli(["measure", "--json"], project, env))
        worrying = [w for w in doc["warnings"] if w.get("severity") in ("caution", "invalidates")]
        serious += bool(worrying)
        codes.update(w["code"] for w in worrying)
        every.update(w["code"] for w in doc["warnings"])
        said = [c["verdict"] for c in doc["comparison"] if c["metric"] == "time_ms"]
        verdicts.update(said)
        changed = any(v in ("improved", "regressed") for v in said)
        unflagged += changed and not any(w["code"] == "environment-changed" for w in worrying)
        if (i + 1) % 10 == 0:
            print(f"  measure {i + 1}/{runs}: {serious} with caution or worse",
                  file=sys.stderr, flush=True)  # fmt: skip
    return {"runs": runs, "with_caution_or_worse": serious, "rate": serious / runs,
            "goal": AA_GOAL, "caution_codes": dict(codes), "all_codes": dict(every),
            "time_ms_verdicts": dict(verdicts), "changed_unflagged": unflagged}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=100, help="check --runs 10 invocations")
    parser.add_argument("--aa", type=int, default=40, help="A/A measure invocations")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="changenote-bench-honesty-"))
    server = subprocess.Popen([sys.executable, "-c", SERVICE], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/search?q=x"
        home = work / "home"
        home.mkdir()
        env = _env(home)
        results = {}
        for name, func, count in (("flap", flap_rate, args.checks),
                                  ("aa", aa_warning_rate, args.aa)):  # fmt: skip
            project = work / name
            project.mkdir()
            subprocess.run(["git", "init", "-q"], cwd=project, check=True)
            (project / ".gitignore").write_text(".changenote/\n")
            print(f"{name}: {count} runs against {url}", file=sys.stderr, flush=True)
            results[name] = func(project, env, url, count)
        flap, aa = results["flap"], results["aa"]
        print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} CPU(s)")
        verdict = "PASS" if flap["rate"] <= FLAP_GOAL else "MISS"
        print(f"{verdict}  unchanged service called changed by `check --runs 10`: "
              f"{flap['changed']}/{flap['runs']} = {flap['rate']:.1%} (goal <= {FLAP_GOAL:.0%}); "
              f"answers {flap['answers']}; time_ms change against the reference, "
              f"min/p10/median/p90/max %: {flap['change_pct_min_p10_median_p90_max']}")  # fmt: skip
        verdict = "PASS" if aa["rate"] <= AA_GOAL else "MISS"
        print(f"{verdict}  A/A comparisons with a caution-or-worse warning: "
              f"{aa['with_caution_or_worse']}/{aa['runs']} = {aa['rate']:.1%} "
              f"(goal <= {AA_GOAL:.0%}); caution codes {aa['caution_codes']}; "
              f"every code {aa['all_codes']}; "
              f"A/A time_ms verdicts {aa['time_ms_verdicts']}, called changed with no "
              f"environment-changed warning {aa['changed_unflagged']}")  # fmt: skip
        if args.json:
            print(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            print(f"benchmark failed: {exc.code}", file=sys.stderr)
    sys.exit(0)
