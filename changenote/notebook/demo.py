"""``changenote demo``: baseline → change → ship on a bundled sample service."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from changenote.config import CONFIG_NAME, STORE_DIR, STORE_FILE, load_config
from changenote.errors import ChangenoteError
from changenote.service.sample import SEARCH_AFTER, SEARCH_BEFORE, DemoService

DEMO_CONFIG = """# changenote demo project
service = "docs-site"
owner = "demo"
notes_dir = "notes"
"""


def _pick_folder(folder: str | None) -> Path:
    if folder:
        path = Path(folder)
        if path.exists() and any(path.iterdir()):
            raise ChangenoteError(f"{path} is not empty; give an empty or new folder with --dir")
        return path
    base = Path.cwd() / "changenote-demo"
    path, n = base, 2
    while path.exists():
        path = base.with_name(f"changenote-demo-{n}")
        n += 1
    return path


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


def run_demo(
    folder: str | None, runs: int, echo: Callable[[str], Any]
) -> tuple[dict[str, Any], Path]:
    """Build a demo project, run the whole cycle, return the shipped document and note path."""
    from changenote.notebook.workflow import BaselineRequest, Notebook, ShipRequest
    from changenote.store.db import Store

    if runs < 3:
        raise ChangenoteError("--runs must be at least 3 for a meaningful comparison")
    root = _pick_folder(folder)
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / CONFIG_NAME).write_text(DEMO_CONFIG)
    (root / "app" / "search.py").write_text(SEARCH_BEFORE)
    (root / ".gitignore").write_text(".changenote/\nbackup/\n")
    if _git(root, "init", "-q"):
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "docs site before the change")
    echo(f"demo project: {root}")
    config = load_config(root)
    # The demo always uses the embedded default store, whatever the environment says.
    store = Store(f"sqlite:///{root.resolve() / STORE_DIR / STORE_FILE}")
    notebook = Notebook(config, store)
    with DemoService() as service, contextlib.chdir(root):
        url = f"{service.base_url}/search?q=fastapi"
        echo(f"sample service on {service.base_url}; measuring GET /search ({runs} runs)")
        base = notebook.baseline(
            BaselineRequest(
                title="Slow /search on the docs site",
                route="/search",
                input="q=fastapi",
                noticed="the search results page takes long to appear",
                expected=(
                    "/search answers in under 10 ms with one database call; "
                    "time_ms p95 < 10ms; db_calls <= 1"
                ),
                tags=["performance", "search"],
                https=[f"GET {url}"],
                runs=runs,
                warmup=1,
            )
        )
        from changenote.notebook.checklist import tick

        tick(
            notebook,
            str(base["id"]),
            "backup",
            note="app/search.py copied before the change",
            cmd="mkdir -p backup && cp app/search.py backup/search.py",
        )
        echo("deploying the smallest change: batch the per-result queries")
        (root / "app" / "search.py").write_text(SEARCH_AFTER)
        service.batched = True
        notebook.measure(str(base["id"]), label="smallest change")
        doc = notebook.ship(
            ShipRequest(
                ref=str(base["id"]),
                reason="batch the per-result title queries into one query",
                rollback="git checkout app/search.py and redeploy; no cache to clear",
                commands=["git diff app/search.py"],
            )
        )
    store.close()
    return doc, root / doc["note_path"]
