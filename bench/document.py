"""Reading change documents: what issue 14's parts (events, review links, follow-ups,
the timeline) add to every ``document.load``, against the same loads without them.

Run it as ``python bench/document.py [--changes 2000] [--rounds 5] [--json | --metrics]``
(``--metrics``: ``changenote-metric`` lines, for a ``--cmd`` probe). It imports
that many generated changes (``bench/store.py``'s generator) into an SQLite store, then
in this process loads every document in rounds that alternate between the full loader
and the loader with the four issue-14 parts stubbed out (the reference): the ratio of the
medians is their cost, on what ``export``, ``render`` and a wiki build from the store
read. It always exits 0: it is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store import changenote_import, make_line


@contextlib.contextmanager
def without_issue_14() -> Iterator[None]:
    """The loader as it was before issue 14: no events, links, follow-ups or timeline."""
    from changenote.notebook import history

    saved = (history.events, history.links, history.follow_ups, history.timeline)
    history.events = lambda session, change_id: []  # type: ignore[assignment]
    history.links = lambda session, change: {}  # type: ignore[assignment]
    history.follow_ups = lambda session, change_id: []  # type: ignore[assignment]
    history.timeline = lambda doc: []  # type: ignore[assignment]
    try:
        yield
    finally:
        history.events, history.links, history.follow_ups, history.timeline = saved


def load_all(url: str) -> float:
    from sqlmodel import col, select

    from changenote.notebook import document
    from changenote.store.db import Store
    from changenote.store.models import Change

    store = Store(url)
    try:
        start = time.perf_counter()
        with store.read() as session:
            for change_id in session.exec(select(Change.id).order_by(col(Change.id))).all():
                document.load_id(session, change_id or 0)
        return time.perf_counter() - start
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--metrics", action="store_true", help="print changenote-metric lines (a --cmd probe)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        export = base / "all.jsonl"
        rng = random.Random(14)
        export.write_text("".join(make_line(i, rng) + "\n" for i in range(args.changes)))
        db = base / ".changenote" / "changenote.db"
        changenote_import(db, export)
        url = f"sqlite:///{db}"
        load_all(url)  # warm: imports, the page cache
        full: list[float] = []
        reference: list[float] = []
        for _ in range(args.rounds):
            full.append(load_all(url))
            with without_issue_14():
                reference.append(load_all(url))
    result: dict[str, Any] = {
        "changes": args.changes,
        "full_s": round(statistics.median(full), 3),
        "reference_s": round(statistics.median(reference), 3),
    }
    result["ratio"] = round(result["full_s"] / result["reference_s"], 2)
    if args.metrics:
        per_change = result["full_s"] * 1000 / args.changes
        print(f"changenote-metric: load_ms={per_change:.4f} ms better=lower")
        print(f"changenote-metric: overhead={result['ratio']} ratio better=lower")
    elif args.json:
        print(json.dumps(result, indent=2))  # as bench/run.py reads it
    else:
        print(
            f"document.load of {args.changes:,} changes: {result['full_s']} s with issue 14's "
            f"parts, {result['reference_s']} s without: {result['ratio']}x"
        )


if __name__ == "__main__":
    main()
