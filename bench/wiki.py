"""Team wiki build benchmark: ``changenote wiki --from-notes`` against a lean MkDocs build.

Run it as ``python bench/wiki.py [--notes 1000,10000] [--keep] [--json]``. For each size it

1. generates that many realistic shipped changes in Python (schema ``changenote/change@1``,
   the shape ``baseline``/``ship --json`` print) and writes them as real notes with
   ``changenote.notebook.notes.text`` into ``notes/`` of a temporary project; nothing is measured
   while generating,
2. times, each in its own subprocess (peak RSS from ``os.wait4``, so it is per build):

   - the full HTML build: ``changenote wiki --from-notes notes --out out --format html``
     (pages/s = HTML files written / seconds),
   - an incremental rebuild after editing the ``reason`` in one note's front matter (the
     same command again; median of a few edits, with the number of files it wrote),
   - a lean MkDocs build of the same notes: ``plugins: []``, one nav entry, the note
     files as they are in ``docs/``, ``mkdocs build -q`` (MkDocs lives in a venv cached
     under the temp folder between runs),

3. prints a table per size with the goals at 10,000 notes (full build >= 2x faster than
   lean MkDocs, incremental rebuild < 1 s, peak RSS < 300 MB) as PASS or MISS.

``--profile`` adds a cProfile of the full build at the first size, and ``-X importtime``
of it, for whoever optimizes ``site.py``/``wiki.py``. Every step has a time cap
(``--timeout``, 600 s); a step that hits it is recorded as ``> 600 s``. It always exits 0:
it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MKDOCS_VENV = Path(tempfile.gettempdir()) / "changenote-bench-mkdocs-venv"
GOAL_SIZE = 10_000
GOAL_RATIO = 2.0  # lean mkdocs seconds / changenote seconds, at least
GOAL_INCREMENTAL_S = 1.0
GOAL_RSS_MB = 300.0
SCENARIOS = 256  # distinct judged measurement sets, shared round-robin by the notes
SAMPLES = 30

# ---------------------------------------------------------------------------------------
# Synthetic notes
# ---------------------------------------------------------------------------------------

SERVICES = [
    "checkout", "search", "docs-site", "billing", "auth", "inventory", "notifications",
    "payments-api", "user-profile", "catalog", "recommendations", "shipping", "reporting",
    "admin", "media-upload", "gateway", "orders", "pricing", "webhooks", "analytics-ingest",
]  # fmt: skip
OWNERS = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter",
    "yuki", "zoë", "José García", "Ana Souza", "Li Wei", "Priya Nair", "Tomasz Nowak",
    "Fatima Zahra", "Kwame Mensah", "Sven Olsen", "Marta Rossi",
]  # fmt: skip
TAGS = [
    "performance", "latency", "db", "n+1", "index", "cache", "redis", "memcached", "timeout",
    "retry", "memory", "cpu", "orm", "sql", "pagination", "serialization", "json",
    "templates", "startup", "cold-start", "http-client", "connection-pool", "batch", "async",
    "celery", "queue", "search", "elasticsearch", "images", "cdn", "compression", "auth",
    "session", "rate-limit", "logging", "tracing", "regression", "hotfix",
    "dependency-upgrade", "python-3.11", "django", "fastapi", "sqlalchemy", "postgres",
    "migration", "config", "feature-flag", "rollback", "incident", "Q3 cleanup",
]  # fmt: skip
ROUTES = [
    "/search", "/api/v1/orders", "/api/v1/orders/{id}", "/cart", "/login", "/healthz",
    "/reports/monthly", "/export.csv", "/graphql", "/items", "/items/{id}/reviews",
    "/invoices", "/webhooks/stripe", "/upload", "/feed", "/users/{id}", "/admin/audit-log",
    "/prices", "/recommendations", "/sitemap.xml", "/api/v2/search", "/dashboard",
]  # fmt: skip
MODULES = [
    "views.py", "models.py", "queries.py", "serializers.py", "cache.py", "tasks.py", "api.py",
    "repository.py", "search.py", "middleware.py", "clients/http.py", "utils.py",
    "permissions.py", "signals.py", "forms.py", "pagination.py", "db.py",
    "templates/list.html", "migrations/0042_add_index.py", "settings.py",
]  # fmt: skip
SHARED_FILES = ["requirements.txt", "pyproject.toml", "config/settings.py", "Dockerfile"]
NOUNS = [
    "title", "price", "thumbnail", "permission", "review", "invoice", "user", "session",
    "category", "stock level", "shipping quote", "search result", "avatar", "feed item",
]  # fmt: skip
TABLES = ["orders", "order_items", "users", "products", "invoices", "sessions", "events"]
DEPS = ["Django 4.2", "SQLAlchemy 2.0", "httpx", "redis-py 5", "Pillow 10", "pydantic 2"]
TITLES = [
    "Slow {route} on {service}",
    "N+1 queries on {route}",
    "{route} times out under load",
    "Cache {noun}s for {route}",
    "Add an index on {table}.{noun_id}",
    "Errors on {route} after the {dep} upgrade",
    "Batch {noun} lookups in {module}",
    "Reduce database calls of {route}",
    "Paginate {noun}s in {route}",
    "Memory spike in the {service} export",
    "Cold start of {service} is slow",
]
REASONS = [
    "batch the per-result {noun} queries into one query",
    "add a composite index on `{table}({noun_id}, created_at)`",
    "cache the rendered {noun} list for 5 minutes in Redis",
    "replace the per-item HTTP call with the bulk endpoint",
    "`select_related()` on the {noun} removes the N+1 on `{route}`",
    "stream the CSV instead of building it in memory",
    "move {noun} resizing to a background task",
    "reuse one connection pool instead of a client per request",
    "drop the unused `ORDER BY` that forced a sort on {table}",
    "precompute the {noun} totals when the order is saved",
]
REASON_TAILS = [
    "",
    " Measured on staging with a copy of last week's data.",
    " The old code path stays behind the flag for one release.",
    " See the incident review for why this matters at month end (peak load > 3x).",
    " Reviewed with the DBA; the index builds concurrently, no lock.",
]
NOTICED = [
    "the {noun} page takes several seconds to appear",
    "p95 alert on `{route}` fired twice this week",
    "customers report timeouts when they open {route}",
    "support ticket #{ticket}: the spinner never ends",
    "the nightly job misses its window",
    None,
]
ROLLBACKS = [
    "git revert the commit and redeploy",
    "drop index `ix_{table}_{noun_id}` concurrently",
    "turn the feature flag `{flag}` off",
    "clear the `{flag}:*` cache keys and redeploy",
    None,
]
INPUTS = ["q=fastapi", "page=3&per_page=50", "order id 18342", "a cart with 40 items", None]
BACKUPS = [
    "pg_dump -t {table} > backup/{table}.sql",
    "cp {file} backup/",
    "git stash list > /dev/null",
]
EXPECT_FREE = [
    "{route} answers in under {ms} ms with fewer database calls",
    "no more timeouts on {route}",
    "the page renders in well under a second",
]
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_S = 3 * 365 * 24 * 3600


def _weighted(rng: random.Random, items: list[Any], skew: float = 1.0) -> Any:
    """A Zipf-like pick: the first items are much more common, as in a real team."""
    weights = [1 / (i + 1) ** skew for i in range(len(items))]
    return rng.choices(items, weights=weights)[0]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _slugify(title: str) -> str:
    from changenote.store.db import slugify

    return slugify(title)


def _scenario(rng: random.Random) -> str:
    """One judged measurement set for two HTTP probes, as JSON with placeholder labels.

    The comparison, warnings and expectations come from ``changenote.measure.comparing.judge``
    itself (pure: no probe runs), so verdicts and details are real.
    """
    from changenote.measure.comparing import judge
    from changenote.measure.stats import summarize

    labels = ["@@P0@@", "@@P1@@"]
    smallest = rng.random() < 0.3
    run_labels = ["baseline", *(["smallest change"] if smallest else []), "after"]
    outcome = rng.choices(["big", "small", "none", "worse"], weights=[55, 15, 20, 10])[0]
    factor = {
        "big": rng.uniform(0.1, 0.6),
        "small": rng.uniform(0.85, 0.95),
        "none": 1.0,
        "worse": rng.uniform(1.1, 1.6),
    }[outcome]
    runs: dict[str, list[dict[str, Any]]] = {r: [] for r in run_labels}
    results: dict[str, list[dict[str, Any]]] = {r: [] for r in run_labels}
    for index, label in enumerate(labels):
        base_ms = rng.lognormvariate(math.log(120), 1.0)
        spread = rng.choice([0.03, 0.08, 0.15, 0.4])
        base_rate = rng.choice([0.0, 0.0, 0.0, 0.02, 0.1])
        base_calls = rng.choice([1, 2, 3, 5, 12, 40, 101])
        for run in run_labels:
            f = 1.0 if run == "baseline" else factor if index == 0 or rng.random() < 0.5 else 1.0
            times = [round(base_ms * f * rng.lognormvariate(0, spread), 4) for _ in range(SAMPLES)]
            rate = base_rate * (f if outcome != "worse" else 1.0)
            errors = [1.0 if rng.random() < rate else 0.0 for _ in range(SAMPLES)]
            calls_value = float(max(1, round(base_calls * f))) if f < 0.9 else float(base_calls)
            calls = [calls_value] * SAMPLES
            if rng.random() < 0.2:
                calls = [calls_value + rng.choice([0.0, 0.0, 1.0]) for _ in range(SAMPLES)]
            for metric, unit, samples in (
                ("time_ms", "ms", times),
                ("error_rate", "ratio", errors),
                ("db_calls", "count", calls),
            ):
                summary = summarize(samples)
                assert summary is not None
                runs[run].append(
                    {
                        "probe": label,
                        "probe_index": index,
                        "metric": metric,
                        "unit": unit,
                        "better": "lower",
                        **summary.to_dict(),
                        "samples": samples,
                    }
                )
            n_errors = int(sum(errors))
            statuses = {"HTTP 200": SAMPLES - n_errors}
            if n_errors:
                statuses["HTTP 500"] = n_errors
            results[run].append(
                {
                    "label": label,
                    "attempts": SAMPLES,
                    "errors": n_errors,
                    "error_kinds": {"HTTP 500": n_errors} if n_errors else {},
                    "last_status": "HTTP 200",
                    "statuses": statuses,
                    "last_output": "",
                }
            )
    if rng.random() < 0.2:  # a manual figure, as `--metric p95_ms=120ms` records it
        before = float(rng.randint(80, 900))
        for run in run_labels:
            value = before if run == "baseline" else round(before * factor)
            runs[run].append(
                {
                    "probe": "manual",
                    "probe_index": -1,
                    "metric": "p95_ms",
                    "unit": "ms",
                    "better": "lower",
                    **summarize([value]).to_dict(),  # type: ignore[union-attr]
                    "samples": [value],
                }
            )
    target = round(runs["baseline"][0]["p95"] * rng.choice([0.5, 0.8, 1.2]))
    expected = rng.choice(
        [
            f"time_ms p95 < {target}ms",
            f"time_ms p95 < {target}ms; db_calls <= {rng.choice([1, 3, 10])}",
            f"time_ms p95 < {target}ms; error_rate = 0",
            "",
        ]
    )
    settings = {"min_effect": 5.0, "metrics": {}}
    env = {
        "host": "ci-runner-3",
        "load1": round(rng.uniform(0.1, 2.5), 2),
        "python": "3.11.7",
        "platform": "Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
        "cpus": 4,
        "changenote": "0.1.0",
    }
    full_runs = [
        {"label": r, "probe_results": results[r], "environment": env, "metrics": runs[r]}
        for r in run_labels
    ]
    verdicts = judge(settings, full_runs[0], full_runs[-1], expected or None)
    tested = None
    if smallest:
        tested = judge(settings, full_runs[0], full_runs[1], None).comparison
    return json.dumps(
        {
            "runs": full_runs,
            "comparison": verdicts.comparison,
            "warnings": verdicts.warnings,
            "expectations": verdicts.expectations,
            "expected": expected,
            "tested": [f"{c['metric']} {c['verdict']}" for c in tested or []],
        },
        ensure_ascii=False,
    )


def _fill(text: str, words: dict[str, str]) -> str:
    return text.format(**words)


def make_documents(n: int, seed: int = 20261128) -> list[dict[str, Any]]:
    """``n`` shipped change documents, the shape ``changenote ship --json`` prints."""
    rng = random.Random(seed)
    scenarios = [_scenario(rng) for _ in range(min(n, SCENARIOS))]
    n_services = max(5, min(20, 5 + n // 660))  # 5 services for a small team, 20 at 10k
    services = SERVICES[:n_services]
    service_files = {
        s: [f"{s.replace('-', '_')}/{m}" for m in rng.sample(MODULES, 14)] for s in services
    }
    service_routes = {s: rng.sample(ROUTES, rng.randint(4, 8)) for s in services}
    moments = sorted(START + timedelta(seconds=rng.uniform(0, SPAN_S)) for _ in range(n))
    taken: set[str] = set()
    docs = []
    for i, created in enumerate(moments):
        service = _weighted(rng, services, 0.8)
        route = rng.choice(service_routes[service])
        files = service_files[service]
        noun = rng.choice(NOUNS)
        words = {
            "service": service,
            "route": route,
            "noun": noun,
            "noun_id": noun.replace(" ", "_") + "_id",
            "table": rng.choice(TABLES),
            "dep": rng.choice(DEPS),
            "module": rng.choice(files).rsplit("/", 1)[-1],
            "ticket": str(rng.randint(1000, 99999)),
            "flag": f"{service.replace('-', '_')}_{noun.replace(' ', '_')}_v2",
            "ms": str(rng.choice([50, 100, 200, 500])),
            "file": rng.choice(files),
        }
        title = _fill(rng.choice(TITLES), words)
        if rng.random() < 0.6:
            title += f" (OPS-{rng.randint(100, 9999)})"
        if rng.random() < 0.02:
            title = rng.choice(["検索が遅い", "Café menu lädt langsam", "Поиск тормозит"]) + (
                f" #{i}"
            )
        base = _slugify(title)
        slug, k = base, 2
        while slug in taken:
            slug, k = f"{base}-{k}", k + 1
        taken.add(slug)
        scenario_text = scenarios[i % len(scenarios)]
        host = f"https://{service}.staging.example.com"
        path = route.replace("{id}", str(rng.randint(1, 99999)))
        labels = [
            f"GET {host}{path}" + (f"?q={noun.replace(' ', '+')}" if rng.random() < 0.5 else ""),
            rng.choice([f"GET {host}/healthz", f"POST {host}/api/v1/orders", f"GET {host}{path}"])
            + " ",
        ]
        labels[1] = labels[1].strip()
        if labels[1] == labels[0]:
            labels[1] += "?page=2"
        for j, label in enumerate(labels):
            scenario_text = scenario_text.replace(f"@@P{j}@@", json.dumps(label)[1:-1])
        scenario = json.loads(scenario_text)
        shipped = created + timedelta(minutes=rng.uniform(20, 60 * 24 * 10))
        commit = f"{rng.getrandbits(160):040x}"
        head = f"{rng.getrandbits(160):040x}" if rng.random() < 0.7 else commit
        touched = rng.sample(files, rng.randint(1, 6))
        if rng.random() < 0.1:
            touched.append(rng.choice(SHARED_FILES))
        words["file"] = touched[0]
        backup = _fill(rng.choice(BACKUPS), words) if rng.random() < 0.8 else None
        command_log = []
        if backup:
            command_log.append({"command": backup, "source": "tick", "exit_status": 0})
        command_log.append(
            {"command": "git diff " + " ".join(touched), "source": "ship", "exit_status": None}
        )
        run_times = []
        moment = created
        for run in scenario["runs"]:
            started = moment
            finished = started + timedelta(seconds=rng.uniform(2, 90))
            run_times.append((started, finished))
            moment = finished + (
                timedelta(minutes=rng.uniform(5, 600))
                if run["label"] == "baseline"
                else timedelta(seconds=rng.uniform(1, 30))
            )
        runs = []
        for idx, (run, (started, finished)) in enumerate(
            zip(scenario["runs"], run_times, strict=True)
        ):
            runs.append(
                {
                    "label": run["label"],
                    "started_at": _iso(started),
                    "finished_at": _iso(finished),
                    "git_commit": commit,
                    "git_dirty": idx > 0,
                    "probes": list(labels),
                    "probe_results": run["probe_results"],
                    "settings": {
                        "runs": SAMPLES,
                        "warmup": 1,
                        "timeout": 30.0,
                        "clear_cache": None,
                    },
                    "environment": run["environment"],
                    "metrics": run["metrics"],
                }
            )
        n_metrics = len(scenario["runs"][0]["metrics"])
        note_name = f"{_iso(shipped)[:10]}-{slug}.md"
        done = {
            "capture": (
                True,
                f"baseline: {n_metrics} metric(s) from 2 probe(s), {SAMPLES} run(s) each at "
                f"commit {commit[:12]}",
                run_times[0][1],
            ),
            "backup": (
                backup is not None,
                f"ran: {backup} (exit 0, {rng.randint(3, 900)} ms)" if backup else None,
                run_times[0][1] + timedelta(minutes=2),
            ),
            "test": (
                bool(scenario["tested"]),
                "run 'smallest change' compared with the baseline: "
                + ", ".join(scenario["tested"]),
                run_times[-1][0],
            ),
            "watch": (
                rng.random() < 0.4,
                rng.choice(["watched the error logs for 30 min: nothing new", "Sentry quiet"]),
                shipped - timedelta(minutes=1),
            ),
            "note": (True, f"note written to notes/{note_name}", shipped),
        }
        from changenote.steps import STANDARD_CHECKLIST

        checklist = []
        for key, label in STANDARD_CHECKLIST:
            ok, evidence, at = done[key]
            checklist.append(
                {
                    "key": key,
                    "label": label,
                    "done": ok,
                    "evidence": evidence if ok else None,
                    "done_at": _iso(at) if ok else None,
                }
            )
        free = _fill(rng.choice(EXPECT_FREE), words)
        expected = "; ".join(x for x in (free, scenario["expected"]) if x)
        noticed = rng.choice(NOTICED)
        rollback = rng.choice(ROLLBACKS)
        tags = list(dict.fromkeys(_weighted(rng, TAGS, 0.7) for _ in range(rng.randint(1, 4))))
        docs.append(
            {
                "schema": "changenote/change@1",
                "id": i + 1,
                "uid": f"{rng.getrandbits(128):032x}",
                "slug": slug,
                "title": title,
                "status": "shipped",
                "service": service,
                "owner": _weighted(rng, OWNERS, 0.6),
                "route": route,
                "input": rng.choice(INPUTS),
                "noticed": _fill(noticed, words) if noticed else None,
                "expected": expected,
                "reason": _fill(rng.choice(REASONS), words) + rng.choice(REASON_TAILS),
                "rollback": _fill(rollback, words) if rollback else None,
                "tags": tags,
                "probes": list(labels),
                "settings": {
                    "runs": SAMPLES,
                    "warmup": 1,
                    "timeout": 30.0,
                    "clear_cache": None,
                    "min_effect": 5.0,
                    "metrics": {},
                },
                "base_commit": commit,
                "base_dirty": False,
                "head_commit": head,
                "files_touched": touched,
                "commands": [c["command"] for c in command_log],
                "command_log": command_log,
                "runs": runs,
                "comparison": scenario["comparison"],
                "warnings": scenario["warnings"],
                "expectations": scenario["expectations"],
                "watches": [],
                "checklist": checklist,
                "note_path": f"notes/{note_name}",
                "created_at": _iso(created),
                "shipped_at": _iso(shipped),
            }
        )
    return docs


def write_notes(project: Path, docs: list[dict[str, Any]]) -> Path:
    """Write each document as the note ``ship`` writes, into ``project/notes``."""
    from changenote.config import load_config
    from changenote.notebook import notes

    (project / "changenote.toml").write_text('notes_dir = "notes"\n', encoding="utf-8")
    folder = project / "notes"
    folder.mkdir(parents=True, exist_ok=True)
    config = load_config(project)
    for doc in docs:
        (project / doc["note_path"]).write_text(notes.text(config, doc), encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTHONDONTWRITEBYTECODE", "CHANGENOTE_DATABASE_URL", "PYTHONPATH"):
        env.pop(key, None)
    env["HOME"] = str(home)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["NO_COLOR"] = "1"
    return env


# Run by a fresh, small interpreter: on Linux a child's ru_maxrss starts at the RSS of
# the process it was forked from, and this script holds the generated documents.
_MEASURE = """
import json, os, signal, subprocess, sys, threading, time
timeout, log, cmd = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
fired = threading.Event()
with open(log, "wb") as out:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    def kill():
        fired.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    timer = threading.Timer(timeout, kill)
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    timer.cancel()
proc.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({"seconds": seconds, "timed_out": fired.is_set(),
                  "exit": proc.returncode, "rss_kb": usage.ru_maxrss}))
"""


def measure(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float, log: Path
) -> dict[str, Any]:
    """Wall time, exit code and peak RSS (MB) of one command in its own process group."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(timeout), str(log), *cmd],
        cwd=cwd, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    text = log.read_text(errors="replace") if log.exists() else ""
    try:
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {
            "seconds": None, "timed_out": False, "exit": -1, "rss_mb": 0.0,
            "output": text[-3000:] + done.stderr[-2000:],
        }  # fmt: skip
    return {
        "seconds": None if figures["timed_out"] else figures["seconds"],
        "timed_out": figures["timed_out"],
        "exit": figures["exit"],
        "rss_mb": figures["rss_kb"] / 1024,  # kilobytes on Linux
        "output": text[-3000:],
    }


def ensure_mkdocs(env: dict[str, str]) -> tuple[Path | None, str]:
    """The cached venv's ``mkdocs`` and its version, installing it on the first run."""
    mkdocs = MKDOCS_VENV / "bin" / "mkdocs"
    if not mkdocs.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        shutil.rmtree(MKDOCS_VENV, ignore_errors=True)
        steps = [
            [base, "-m", "venv", str(MKDOCS_VENV)],
            [str(MKDOCS_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "mkdocs"],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                sys.stderr.write(f"cannot install mkdocs: {done.stderr[-2000:]}\n")
                shutil.rmtree(MKDOCS_VENV, ignore_errors=True)
                return None, "not installed"
    done = subprocess.run(
        [str(mkdocs), "--version"], capture_output=True, text=True, env=env, check=False
    )
    match = re.search(r"version (\S+)", done.stdout)
    return mkdocs, match.group(1) if match else done.stdout.strip()


def edit_reason(note: Path, reason: str) -> None:
    """Replace the ``reason:`` of the note's change record (the YAML block at its end;
    in a note of the older format, its front matter), as a person editing it would."""
    from changenote.notebook import note_yaml

    text = note.read_text(encoding="utf-8")
    mark = text.find(note_yaml.RECORD_MARK)
    if mark >= 0:
        start = mark
        end = len(text)
    else:
        start, end = 0, text.find("\n---\n", 4)
    head, region, rest = text[:start], text[start:end], text[end:]
    lines = region.split("\n")
    out, skipping, done = [], False, False
    for line in lines:
        if line.startswith("reason:") and not done:
            out.append("reason: " + json.dumps(reason, ensure_ascii=False))
            skipping = done = True
            continue
        if skipping and line.startswith("  "):
            continue  # the rest of a folded long reason
        skipping = False
        out.append(line)
    if not done:
        raise SystemExit(f"bench: no reason: line to edit in {note}")
    note.write_text(head + "\n".join(out) + rest, encoding="utf-8")


def count_files(folder: Path, suffix: str) -> int:
    return sum(1 for _ in folder.rglob(f"*{suffix}")) if folder.is_dir() else 0


def mkdocs_project(project: Path, notes: Path) -> Path:
    """A lean MkDocs project whose docs are the note files as they are."""
    site = project / "mkdocs"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(notes, site / "docs")
    first = sorted(p.name for p in notes.glob("*.md"))[0]
    (site / "mkdocs.yml").write_text(
        "site_name: changenote notes\n"
        "docs_dir: docs\n"
        "plugins: []\n"
        f"nav:\n  - Home: {json.dumps(first)}\n",
        encoding="utf-8",
    )
    return site


def markdown_it_rate(notes: Path) -> float:
    """Pages/s of markdown-it-py alone on the note bodies (no front matter), in-process."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    bodies = []
    for path in sorted(notes.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        end = text.find("\n---\n", 4)
        bodies.append(text[end + 5 :])
    start = time.perf_counter()
    for body in bodies:
        md.render(body)
    return len(bodies) / (time.perf_counter() - start)


def run_size(
    n: int, base: Path, env: dict[str, str], mkdocs: Path | None, args: argparse.Namespace
) -> dict[str, Any]:
    project = base / f"n{n}"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    log = project / "last-command.log"
    print(f"\n== {n:,} notes ==", flush=True)
    t0 = time.perf_counter()
    docs = make_documents(n)
    t1 = time.perf_counter()
    notes = write_notes(project, docs)
    del docs
    t2 = time.perf_counter()
    size_mb = sum(p.stat().st_size for p in notes.glob("*.md")) / 1e6
    print(
        f"generated {n:,} notes ({size_mb:.0f} MB) in {t2 - t0:.0f} s "
        f"(documents {t1 - t0:.0f} s, note text {t2 - t1:.0f} s)",
        flush=True,
    )
    result: dict[str, Any] = {"notes": n, "notes_mb": round(size_mb, 1)}
    result["markdown_it_pages_s"] = round(markdown_it_rate(notes))

    cmd = [*args.changenote, "wiki", "--from-notes", "notes", "--out", "out", "--format", "html"]
    full = measure(cmd, project, env, args.timeout, log)
    html = count_files(project / "out" / "html", ".html")
    written = re.search(r"(\d+) written", full["output"])
    result["full"] = {
        "seconds": full["seconds"],
        "timed_out": full["timed_out"],
        "exit": full["exit"],
        "rss_mb": round(full["rss_mb"], 1),
        "html_files": html,
        "files_written": int(written.group(1)) if written else None,
        "pages_s": round(html / full["seconds"], 1) if full["seconds"] else None,
    }
    print(f"full build: {_secs(full)}, {html:,} HTML files, peak {full['rss_mb']:.0f} MB")
    if full["exit"] != 0 and not full["timed_out"]:
        print("changenote wiki failed:\n" + full["output"][-2000:])

    incremental = []
    if full["exit"] == 0:
        names = sorted(p.name for p in notes.glob("*.md"))
        for k in range(args.incremental_runs):
            note = notes / names[len(names) * (k + 1) // (args.incremental_runs + 1)]
            edit_reason(note, f"benchmark edit {k + 1}: the reason, reworded after review")
            inc = measure(cmd, project, env, args.timeout, log)
            written = re.search(r"(\d+) written", inc["output"])
            inc["files_written"] = int(written.group(1)) if written else None
            incremental.append(inc)
            print(
                f"incremental rebuild {k + 1} ({note.name}): {_secs(inc)}, "
                f"{inc['files_written']} file(s) written, peak {inc['rss_mb']:.0f} MB",
                flush=True,
            )
            if inc["exit"] != 0 or inc["seconds"] is None or inc["seconds"] > 30:
                break  # far from the goal: one figure is enough
    times = [i["seconds"] for i in incremental if i["seconds"] is not None and i["exit"] == 0]
    result["incremental"] = {
        "runs": len(incremental),
        "seconds": statistics.median(times) if times else None,
        "all_seconds": [i["seconds"] for i in incremental],
        "timed_out": any(i["timed_out"] for i in incremental),
        "files_written": [i["files_written"] for i in incremental],
        "rss_mb": round(max((i["rss_mb"] for i in incremental), default=0), 1) or None,
    }

    result["mkdocs"] = None
    if mkdocs is not None and not args.no_mkdocs:
        site = mkdocs_project(project, notes)
        mk = measure([str(mkdocs), "build", "-q"], site, env, args.timeout, log)
        pages = count_files(site / "site", ".html")
        result["mkdocs"] = {
            "seconds": mk["seconds"],
            "timed_out": mk["timed_out"],
            "exit": mk["exit"],
            "rss_mb": round(mk["rss_mb"], 1),
            "html_files": pages,
            "pages_s": round(pages / mk["seconds"], 1) if mk["seconds"] else None,
        }
        print(f"lean mkdocs: {_secs(mk)}, {pages:,} HTML files, peak {mk['rss_mb']:.0f} MB")
        if mk["exit"] != 0 and not mk["timed_out"]:
            print("mkdocs build failed:\n" + mk["output"][-2000:])
    return result


def _secs(run: dict[str, Any]) -> str:
    if run.get("timed_out"):
        return f"> {ARGS_TIMEOUT[0]:g} s (cap)"
    if run.get("seconds") is None:
        return "—"
    return f"{run['seconds']:.2f} s"


ARGS_TIMEOUT = [600.0]


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """The three goals for one size: figure, goal and PASS/MISS (None when unknown)."""
    full, inc, mk = result["full"], result["incremental"], result["mkdocs"]
    built = full["exit"] == 0 and full["seconds"] is not None
    ratio, at_least = None, bool(mk and mk["timed_out"])
    if mk and built:
        if mk["timed_out"]:
            ratio = ARGS_TIMEOUT[0] / full["seconds"]  # a lower bound
        elif mk["exit"] == 0 and mk["seconds"]:
            ratio = mk["seconds"] / full["seconds"]
    ratio_pass = None
    if ratio is not None:
        ratio_pass = True if ratio >= GOAL_RATIO else None if at_least else False
    if inc["seconds"] is not None:
        inc_pass: bool | None = inc["seconds"] < GOAL_INCREMENTAL_S
    else:
        inc_pass = False if inc["timed_out"] else None
    rss = max(full["rss_mb"], inc["rss_mb"] or 0.0)
    return {
        "ratio": {"value": ratio, "at_least": at_least, "pass": ratio_pass},
        "incremental": {"value": inc["seconds"], "pass": inc_pass},
        "rss": {"value": rss, "pass": rss < GOAL_RSS_MB if built else None},
    }


def _mark(ok: bool | None, n: int) -> str:
    text = "n/a" if ok is None else "PASS" if ok else "MISS"
    return text if n >= GOAL_SIZE else f"({text})"


def print_table(result: dict[str, Any]) -> None:
    n = result["notes"]
    full, mk = result["full"], result["mkdocs"]
    goals = verdicts(result)
    result["goals"] = goals
    ratio = goals["ratio"]
    cap = f"> {ARGS_TIMEOUT[0]:g} s"
    rows = [
        ("notes (MB of markdown)", f"{n:,} ({result['notes_mb']} MB)", ""),
        (
            "full build s",
            cap if full["timed_out"] else f"{full['seconds']:.2f}" if full["seconds"] else "—",
            "",
        ),
        ("  HTML files / pages/s", f"{full['html_files']:,} / {full['pages_s'] or '—'}", ""),
        ("  markdown-it alone, pages/s", f"{result['markdown_it_pages_s']:,}", "info"),
        (
            "lean mkdocs s",
            "not run"
            if mk is None
            else cap
            if mk["timed_out"]
            else f"{mk['seconds']:.2f} ({mk['html_files']:,} pages)"
            if mk["seconds"]
            else "failed",
            "",
        ),
        (
            "ratio mkdocs/changenote",
            "—"
            if ratio["value"] is None
            else ("≥ " if ratio["at_least"] else "") + f"{ratio['value']:.2f}x",
            f">= {GOAL_RATIO:g}x  {_mark(ratio['pass'], n)}",
        ),
        (
            "incremental s (median)",
            cap
            if result["incremental"]["timed_out"] and goals["incremental"]["value"] is None
            else "—"
            if goals["incremental"]["value"] is None
            else f"{goals['incremental']['value']:.2f} (written: "
            f"{', '.join(str(w) for w in result['incremental']['files_written'])})",
            f"< {GOAL_INCREMENTAL_S:g} s  {_mark(goals['incremental']['pass'], n)}",
        ),
        (
            "peak RSS MB (full / incr.)",
            f"{full['rss_mb']:.0f} / {result['incremental']['rss_mb'] or 0:.0f}",
            f"< {GOAL_RSS_MB:g} MB  {_mark(goals['rss']['pass'], n)}",
        ),
    ]
    if mk is not None:
        rows.append(("  mkdocs peak RSS MB", f"{mk['rss_mb']:.0f}", "info"))
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"\n{n:,} notes (goals apply at {GOAL_SIZE:,}; marks in brackets are for information)")
    for name, value, goal in rows:
        print(f"  {name:<{width}}  {value:>{value_width}}  {goal}")


def profile(n: int, base: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    """cProfile and -X importtime of a full build at ``n`` notes, top entries printed."""
    project = base / f"n{n}"
    print(f"\n== where the time goes: full build of {n:,} notes ==")
    prof = project / "wiki.prof"
    out = project / "out-profile"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "changenote", "wiki",
        "--from-notes", "notes", "--out", str(out), "--format", "html",
    ]  # fmt: skip
    run = measure(cmd, project, env, args.timeout, project / "profile.log")
    if run["exit"] != 0 or not prof.exists():
        print("profiling failed:\n" + run["output"][-2000:])
        return
    import io
    import pstats

    for key, count in (("cumulative", 30), ("tottime", 25)):
        buffer = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buffer)
        stats.strip_dirs().sort_stats(key).print_stats(count)
        text = buffer.getvalue()
        print(f"\n-- top {count} by {key} --")
        print(text[text.find("   ncalls") :].rstrip())
    out2 = project / "out-importtime"
    shutil.rmtree(out2, ignore_errors=True)
    cmd = [
        sys.executable, "-X", "importtime", "-m", "changenote", "wiki",
        "--from-notes", "notes", "--out", str(out2), "--format", "html",
    ]  # fmt: skip
    run = measure(cmd, project, env, args.timeout, project / "importtime.log")
    rows = []
    for line in (project / "importtime.log").read_text(errors="replace").splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)), m.group(4)))
    total = sum(cum for cum, depth, _ in rows if depth == 1)
    print(f"\n-- imports: {total / 1000:.0f} ms in top-level imports; costliest --")
    for cum, _depth, name in sorted((r for r in rows if r[1] <= 2), reverse=True)[:12]:
        print(f"  {cum / 1000:8.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", default="1000,10000", help="sizes, comma separated")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--timeout", type=float, default=600.0, help="cap per step, seconds")
    parser.add_argument("--incremental-runs", type=int, default=3, metavar="N")
    parser.add_argument("--no-mkdocs", action="store_true", help="skip the MkDocs reference")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile + importtime of the first size"
    )
    args = parser.parse_args()
    ARGS_TIMEOUT[0] = args.timeout
    sizes = [int(s.replace("_", "")) for s in args.notes.split(",") if s.strip()]
    try:
        import changenote.notebook.notes  # noqa: F401
    except ImportError:
        print(f"changenote is not importable by {sys.executable}: run it with the dev venv")
        raise SystemExit(0) from None
    args.changenote = [sys.executable, "-m", "changenote"]

    base = Path(tempfile.mkdtemp(prefix="changenote-bench-wiki-"))
    home = base / "home"
    home.mkdir()
    env = clean_env(home)
    results: list[dict[str, Any]] = []
    try:
        # Warm-up: compile changenote's bytecode and load the libraries once, unmeasured.
        subprocess.run(
            [
                sys.executable, "-c",
                "import changenote.cli, changenote.wiki.site, changenote.wiki.pages,"
                " changenote.notebook.notes, markdown_it, jinja2, yaml",
            ],
            env=env, check=False,
        )  # fmt: skip
        mkdocs, version = (None, "skipped") if args.no_mkdocs else ensure_mkdocs(env)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), mkdocs {version}")
        for n in sizes:
            result = run_size(n, base, env, mkdocs, args)
            print_table(result)
            results.append(result)
        if args.profile and sizes:
            profile(sizes[0], base, env, args)
        if args.json:
            print(
                json.dumps(
                    {
                        "python": sys.version.split()[0],
                        "cpus": os.cpu_count(),
                        "mkdocs": version,
                        "results": results,
                    },
                    indent=2,
                )
            )
    finally:
        if args.keep:
            print(f"\nkept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    raise SystemExit(0)


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # a benchmark: report and exit 0
        import traceback

        traceback.print_exc()
        print(f"benchmark failed: {exc}")
        raise SystemExit(0) from None
