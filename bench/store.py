"""Store benchmark: bulk import, search latency, `list` start-up, each beside a reference.

Run it as ``python bench/store.py [--changes 100000] [--runs 15] [--json]``. In one run it

1. generates that many realistic change documents (one baseline run with two metrics of
   ten samples, five checklist items, a command, a file; a word in ~4% of them and one in
   ~40%) as an export file (JSON Lines), outside any timing;
2. imports the file into an empty SQLite store with ``changenote.notebook.importing`` in this
   process (parsing, checking, redaction, bulk inserts, the FTS index), and, as the
   reference, inserts the very same rows with raw ``sqlite3`` ``executemany`` into
   another store of the same schema, filling the full-text index the same way (the
   same writes, no Python work): changes/s of each and the ratio;
3. times ``changenote.store.search.search`` in this process for the rare and the common word
   (median of ``--runs``), and the ``changenote search`` command's wall time;
4. times ``changenote list --limit 20`` against ``sqlite-utils tables`` on the same file
   (interleaved, median of ``--runs``, each from the same interpreter's venv).

Goals (issue 6): import >= 10,000 changes/s; search for the rare word < 50 ms. The
rest is reported. It always exits 0: it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

RARE, COMMON = "zeppelin", "latency"
WORDS = [
    "slow", "search", "page", "login", "cache", "session", "query", "index", "batch",
    "timeout", "retry", "pool", "worker", "queue", "export", "report", "checkout",
    "payment", "image", "thumbnail", "template", "render", "startup",
]  # fmt: skip


def make_line(i: int, rng: random.Random) -> str:
    title_words = rng.sample(WORDS, 3)
    reason_words = rng.sample(WORDS, 6)
    if rng.random() < 0.04:
        reason_words.append(RARE)
    if rng.random() < 0.40:
        title_words.append(COMMON)
    created = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:{i % 60:02d}:00Z"
    samples = [round(rng.lognormvariate(3, 0.2), 3) for _ in range(10)]
    doc: dict[str, Any] = {
        "schema": "changenote/change@1",
        "id": i + 1,
        "uid": uuid.UUID(int=rng.getrandbits(128)).hex,
        "slug": f"change-{i}",
        "title": " ".join(title_words).capitalize(),
        "status": "baseline",  # open: shipped ones have an after run and a note
        "service": f"svc{i % 40}",
        "owner": f"owner{i % 25}",
        "route": "/search",
        "input": "q=x",
        "noticed": "the search page",
        "expected": "under 50 ms",
        "reason": " ".join(reason_words),
        "rollback": "git revert",
        "tags": sorted({rng.choice(WORDS), rng.choice(WORDS)}),
        "probes": ["GET http://127.0.0.1:8000/search"],
        "settings": {"runs": 10, "warmup": 1, "timeout": 30.0, "min_effect": 5.0},
        "base_commit": None,
        "base_dirty": False,
        "head_commit": None,
        "files_touched": ["app/search.py"],
        "commands": ["pg_dump -Fc app"],
        "command_log": [{"command": "pg_dump -Fc app", "source": "tick", "exit_status": 0}],
        "runs": [
            {
                "label": "baseline",
                "started_at": created,
                "finished_at": created,
                "git_commit": None,
                "git_dirty": False,
                "probes": ["GET http://127.0.0.1:8000/search"],
                "probe_results": [{"label": "GET http://127.0.0.1:8000/search", "attempts": 10}],
                "settings": {"runs": 10},
                "environment": {"host": "bench"},
                "metrics": [
                    {
                        "probe": "GET http://127.0.0.1:8000/search",
                        "probe_index": 0,
                        "metric": metric,
                        "unit": unit,
                        "better": "lower",
                        "n": 10,
                        "median": statistics.median(values),
                        "p95": max(values),
                        "mean": statistics.fmean(values),
                        "stdev": 0.1,
                        "min": min(values),
                        "max": max(values),
                        "samples": values,
                    }
                    for metric, unit, values in (
                        ("time_ms", "ms", samples),
                        ("error_rate", "ratio", [0.0] * 10),
                    )
                ],
            }
        ],
        "comparison": [],
        "warnings": [],
        "expectations": [],
        "watches": [],
        "checklist": [
            {"key": k, "label": k, "done": True, "evidence": "ok", "done_at": created}
            for k in ("capture", "backup", "test", "watch", "note")
        ],
        "note_path": None,
        "created_at": created,
        "shipped_at": None,
        "export": {
            "schema": "changenote/export@1",
            "probe_specs": [{"kind": "http", "target": "GET http://127.0.0.1:8000/search"}],
            "base_dirty_files": {},
            "file_sources": ["git"],
            "command_times": [created],
        },
    }
    return json.dumps(doc, sort_keys=True)


def rows_of(export: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The table rows import writes, built by import's own code (reference input)."""
    from changenote.notebook import importing as transfer

    rows = transfer._Rows(transfer.redactor(), dict.fromkeys(transfer.COLUMNS, 1), sqlite=True)
    tables: dict[str, list[tuple[Any, ...]]] = {t: [] for t in transfer.COLUMNS}
    with export.open() as fh:
        for line in fh:
            doc = json.loads(line)
            rows.add("bench", doc, doc["slug"], doc["id"])
            for table, batch in rows.take().items():
                tables[table].extend(batch)
    return tables


def reference_import(db: Path, export: Path) -> float:
    """The same rows by raw sqlite3 executemany, and the full-text index filled the way
    import fills it (one INSERT ... SELECT instead of the per-row trigger): the same
    writes with no Python work."""
    from changenote.notebook.importing import COLUMNS
    from changenote.store.db import Store
    from changenote.store.search import FIELDS

    Store(f"sqlite:///{db}").ensure_schema()
    tables = rows_of(export)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    trigger = conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'change_fts_insert'"
    ).fetchone()[0]
    fields = ", ".join(FIELDS)
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DROP TRIGGER change_fts_insert")
    for table, cols in COLUMNS.items():
        marks = ", ".join("?" * len(cols))
        conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", tables[table])
    conn.execute(f"INSERT INTO change_fts(rowid, {fields}) SELECT id, {fields} FROM change")
    conn.execute(trigger)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def changenote_import(db: Path, export: Path) -> float:
    from changenote.notebook.importing import import_documents, redactor
    from changenote.notebook.transfer import read_documents
    from changenote.store.db import Store

    store = Store(f"sqlite:///{db}")
    store.ensure_schema()
    start = time.perf_counter()
    result = import_documents(store, read_documents(export, db.parent), redactor())
    seconds = time.perf_counter() - start
    store.close()
    assert result.imported > 0, result
    return seconds


def wall(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="changenote-bench-store-"))
    try:
        run(args, base)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, base: Path) -> None:
    from changenote.store.search import search

    n = args.changes
    rng = random.Random(20261128)
    export = base / "changes.jsonl"
    t0 = time.perf_counter()
    with export.open("w") as fh:
        for i in range(n):
            fh.write(make_line(i, rng) + "\n")
    print(f"generated {n:,} changes ({export.stat().st_size / 1e6:.0f} MB) "
          f"in {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    (base / "project").mkdir()
    (base / "project" / "changenote.toml").write_text("")
    db = base / "project" / ".changenote" / "changenote.db"
    ours = changenote_import(db, export)
    ref = reference_import(base / "reference.db", export)
    rate, ref_rate = n / ours, n / ref
    figures: dict[str, Any] = {
        "changes": n,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "import": {"seconds": ours, "changes_s": rate, "goal_changes_s": 10_000},
        "reference_import": {"seconds": ref, "changes_s": ref_rate},
        "search": {},
    }
    print(f"import: changenote {ours:.1f} s ({rate:,.0f} changes/s); raw sqlite3 executemany "
          f"{ref:.1f} s ({ref_rate:,.0f}/s); ratio {ours / ref:.2f}x", flush=True)  # fmt: skip
    url = f"sqlite:///{db}"
    table: list[tuple[str, str, str, str]] = [
        ("import, changes/s", f"{rate:,.0f}", f"{ref_rate:,.0f} (raw executemany)",
         f"{ours / ref:.2f}x time; goal >= 10,000/s: {'PASS' if rate >= 10_000 else 'MISS'}"),
    ]  # fmt: skip
    for word, share in ((RARE, "~4%"), (COMMON, "~40%")):
        hits = len(search(url, word, limit=1_000_000))
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            search(url, word)
            times.append(time.perf_counter() - start)
        median_ms = statistics.median(times) * 1000
        figures["search"][word] = {"share": share, "hits": hits, "median_ms": median_ms}
        goal = f"goal < 50 ms: {'PASS' if median_ms < 50 else 'MISS'}" if word == RARE else ""
        table.append((f"search '{word}' ({share}: {hits:,} hits), top 20", f"{median_ms:.1f} ms",
                      "", goal))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("CHANGENOTE_DATABASE_URL", None)
    bindir = Path(sys.executable).parent
    project = base / "project"
    cmds = {
        "search": [str(bindir / "changenote"), "search", RARE],
        "list": [str(bindir / "changenote"), "list", "--limit", "20"],
        "sqlite-utils": [str(bindir / "sqlite-utils"), "tables", str(db)],
    }
    if not (bindir / "sqlite-utils").exists():
        del cmds["sqlite-utils"]
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():
        wall(cmd, project, env)  # warm the page cache and bytecode
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            walls[name].append(wall(cmd, project, env))
    med = {k: statistics.median(v) * 1000 for k, v in walls.items()}
    figures["wall_median_ms"] = med  # search, list and (when installed) sqlite-utils
    table.append(("`changenote search` wall", f"{med['search']:.0f} ms", "", ""))
    ref_list = med.get("sqlite-utils")
    table.append(
        ("`changenote list --limit 20` wall", f"{med['list']:.0f} ms",
         f"{ref_list:.0f} ms (sqlite-utils tables)" if ref_list else "sqlite-utils missing",
         f"{med['list'] / ref_list:.2f}x" if ref_list else "")
    )  # fmt: skip
    print(f"\n{n:,} changes, SQLite, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    width = max(len(r[0]) for r in table)
    for name, value, reference, note in table:
        print(f"  {name:<{width}}  {value:>12}  {reference:<36} {note}")
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
