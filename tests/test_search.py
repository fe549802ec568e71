"""changenote search: ranked full text with filters, on SQLite (FTS5) and PostgreSQL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import invoke

pytestmark = pytest.mark.usefixtures("store_backend")


def _change(title: str, reason: str, *extra: str) -> None:
    assert invoke("baseline", title, "--metric", "x=2", *extra).code == 0
    assert invoke("ship", "--reason", reason, "--metric", "x=1").code == 0


@pytest.fixture
def notebook(project: Path) -> Path:
    _change("Slow search page", "batch the title queries", "--service", "docs", "--tag", "db")
    _change("Login times out", "cache the session lookup", "--service", "auth", "--owner", "Grace")
    _change("Search index rebuild", "rebuild the search index nightly", "--service", "docs",
            "--tag", "index")  # fmt: skip
    assert invoke("baseline", "Open: flaky search tests", "--metric", "x=1").code == 0
    return project


def _slugs(*args: str) -> list[str]:
    result = invoke("search", *args, "--json")
    assert result.code == 0, result.stderr
    return [row["slug"] for row in result.json()]


def test_ranked_matches_over_titles_and_reasons(notebook: Path):
    found = _slugs("search")
    assert set(found) == {"slow-search-page", "search-index-rebuild", "open-flaky-search-tests"}
    assert found[0] == "search-index-rebuild"  # "search" in the title and twice in the reason
    assert _slugs("session") == ["login-times-out"]  # a word of the reason only
    assert _slugs("queries", "title") == ["slow-search-page"]  # every word must match
    assert _slugs("sess*") == ["login-times-out"]  # a prefix
    assert _slugs("nothing-like-this") == []


def test_filters(notebook: Path):
    assert _slugs("cache", "--service", "auth") == ["login-times-out"]
    assert _slugs("cache", "--service", "docs") == []
    assert "login-times-out" not in _slugs("search", "--service", "docs")
    assert _slugs("search", "--tag", "db") == ["slow-search-page"]
    assert _slugs("cache", "--owner", "Grace") == ["login-times-out"]
    assert _slugs("search", "--since", "2000-01-01", "--limit", "1") == ["search-index-rebuild"]
    assert _slugs("search", "--until", "2000-01-01") == []


def test_the_index_follows_edits_and_imports(notebook: Path):
    assert invoke("tick", "slow-search-page", "watch", "--note", "fine").code == 0
    assert invoke("export", "--out", "all.jsonl").code == 0
    text = (notebook / "all.jsonl").read_text().replace("batch the title queries", "zebra")
    (notebook / "changed.jsonl").write_text(text)
    assert _slugs("zebra") == []  # import skips changes the store has: nothing changes


@pytest.mark.parametrize("query", ['"unbalanced', "NEAR(a b", "a OR", "*", "x-", "title:x"])
def test_operators_in_the_query_are_plain_words(notebook: Path, query: str):
    result = invoke("search", query, "--json")
    assert result.code in (0, 2), result.stderr  # 2: no word at all
    assert "Traceback" not in result.stderr
    if result.code == 2:
        assert result.stderr.startswith("changenote: error: search needs at least one word")


def test_bad_dates_and_limits(notebook: Path):
    assert "--since 'yesterday'" in invoke("search", "x", "--since", "yesterday").stderr
    assert "--limit must be at least 1" in invoke("search", "x", "--limit", "0").stderr


@pytest.mark.sqlite_only
def test_the_sqlite_tools_find_the_full_text_index(project: Path):
    """``sqlite-utils search`` (and datasette, which looks the same way) sees the index:
    it is declared with ``content="change"``, as those tools look for it."""
    import shutil
    import subprocess

    import sqlite_utils

    made = invoke("baseline", "Brücke über den Fluss", "--metric", "p95_ms=9ms", "--tag", "zürich")
    assert made.code == 0, made.stderr
    assert invoke("baseline", "Slow login", "--metric", "p95_ms=9ms").code == 0
    db = project / ".changenote" / "changenote.db"
    assert sqlite_utils.Database(db)["change"].detect_fts() == "change_fts"
    tool = shutil.which("sqlite-utils") or str(Path(sys.executable).with_name("sqlite-utils"))
    found = subprocess.run(
        [tool, "search", str(db), "change", "zurich", "--csv", "-c", "slug"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == ["slug", "brucke-uber-den-fluss"]
