"""The store for SQLite's own tools: datasette's ``_search=`` finds only what matches,
the queries of docs/STORE.md run, and ``export --schema`` is the shipped schema."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import inside, invoke, new_service, store_with_an_old_change

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.sqlite_only


def _ok(*args: str) -> None:
    result = invoke(*args)
    assert result.code == 0, f"{args}: {result.stderr}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real store as a team's looks after a while: a shipped change with a command
    probe, a figure, a tick, a follow-up and a review; an open change; a recorded check."""
    root = new_service(tmp_path_factory.mktemp("tools") / "service")
    with (root / "changenote.toml").open("a") as config:
        config.write('\n[checks.nightly]\ncmd = "true"\n')
    with inside(root):
        _ok("baseline", "Slow search page", "--cmd", "true", "--metric", "p95_ms=120ms",
            "--tag", "search", "--tag", "zürich", "--runs", "5")  # fmt: skip
        (root / "app" / "search.py").write_text("def search(q):\n    return fast(q)\n")
        _ok("tick", "backup", "--cmd", "true")
        _ok("ship", "--reason", "batch the title queries", "--metric", "p95_ms=40ms")
        _ok("follow-up", "1", "remove the old cache", "--due", "2026-12-31")
        _ok("review", "1", "--status", "reviewed")
        _ok("baseline", "Login times out", "--metric", "p95_ms=900ms", "--service", "auth")
        _ok("check", "--record", "--runs", "2")
        yield root / ".changenote" / "changenote.db"


def _datasette_rows(db: Path, query: str) -> list[dict[str, Any]]:
    """Rows of ``/changenote/change.json?QUERY`` from a real Datasette over the file."""
    from datasette.app import Datasette  # in the test extra

    async def get() -> list[dict[str, Any]]:
        ds = Datasette(files=[str(db)])
        await ds.invoke_startup()
        response = await ds.client.get(f"/{db.stem}/change.json?_shape=array&{query}")
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        return rows

    return asyncio.run(get())


def test_datasette_search_returns_only_the_matching_rows(store: Path) -> None:
    everything = _datasette_rows(store, "_col=slug")
    assert sorted(r["slug"] for r in everything) == ["login-times-out", "slow-search-page"]

    assert [r["slug"] for r in _datasette_rows(store, "_search=queries")] == ["slow-search-page"]
    assert [r["slug"] for r in _datasette_rows(store, "_search=login")] == ["login-times-out"]
    assert [r["slug"] for r in _datasette_rows(store, "_search=zurich")] == ["slow-search-page"]
    assert _datasette_rows(store, "_search=nowhere") == []


def test_datasette_search_works_on_a_store_upgraded_from_before_the_fix(tmp_path: Path) -> None:
    """At 0008 the index was declared ``content='change'``: datasette did not see it and
    ``_search=`` returned every row. Opening the store upgrades it; then it filters."""
    from changenote.store.db import Store

    db = tmp_path / "changenote.db"
    url = f"sqlite:///{db}"
    store_with_an_old_change(url, "0008")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO change (uid, slug, title, status, tags, probes, settings, base_dirty,"
            " base_dirty_files, comparison, warnings, created_at) VALUES ('u2', 'other',"
            " 'Something else', 'baseline', '[]', '[]', '{}', 0, '{}', '[]', '[]',"
            " '2026-01-02 00:00:00')"
        )
    before = _datasette_rows(db, "_search=old")
    assert sorted(r["slug"] for r in before) == ["old-change", "other"]  # the bug

    Store(url).ensure_schema()

    assert [r["slug"] for r in _datasette_rows(db, "_search=old")] == ["old-change"]


def _doc_queries() -> list[str]:
    text = (ROOT / "docs" / "STORE.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, re.S)


def test_store_md_has_queries() -> None:
    assert len(_doc_queries()) >= 8


@pytest.mark.parametrize("query", _doc_queries(), ids=lambda q: " ".join(q.split())[:50])
def test_every_query_of_store_md_runs_and_answers(store: Path, query: str) -> None:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        rows = conn.execute(query).fetchall()
    assert rows, "the query answered nothing on a store that has what it asks for"


def test_store_md_names_every_table_and_column(store: Path) -> None:
    """docs/STORE.md describes every table and every column the store has."""
    text = (ROOT / "docs" / "STORE.md").read_text(encoding="utf-8")
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'change_fts_%' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        missing = [
            f"{table}.{column}"
            for table in tables
            for (_, column, *_rest) in conn.execute(f'PRAGMA table_info("{table}")')
            if f"`{column}`" not in text
        ]
    assert "change" in tables and "alembic_version" in tables
    assert [t for t in tables if f"`{t}`" not in text] == []
    assert missing == []


def test_export_schema_prints_the_shipped_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # no project needed
    result = invoke("export", "--schema")

    assert result.code == 0, result.stderr
    shipped = (ROOT / "changenote" / "notebook" / "export.schema.json").read_text("utf-8")
    assert result.stdout == shipped
    assert result.stdout == (ROOT / "docs" / "export.schema.json").read_text("utf-8")
    assert json.loads(result.stdout)["$schema"].startswith("https://json-schema.org/")
    refused = invoke("export", "--schema", "--out", str(tmp_path / "x.json"))
    assert refused.code == 2
    assert refused.stderr == (
        "changenote: error: --schema prints the schema on stdout; it takes no --out\n"
    )


def test_an_export_line_validates_against_the_printed_schema(store: Path) -> None:
    import jsonschema

    with inside(store.parent.parent):
        schema = json.loads(invoke("export", "--schema").stdout)
        exported = invoke("export")
    assert exported.code == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        jsonschema.validate(json.loads(line), schema)
