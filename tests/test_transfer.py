"""Export and import: byte-identical round trips, idempotent merges, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.servers import TestServer

pytestmark = pytest.mark.usefixtures("store_backend")


def _notebook(project: Path, server: TestServer) -> None:
    url = f"GET {server.url}/search?q=x"
    base = invoke("baseline", "Slow search", "--http", url, "--runs", "5", "--tag", "perf",
                  "--service", "docs", "--expect", "time_ms p50 < 500ms")  # fmt: skip
    assert base.code == 0, base.stderr
    assert invoke("tick", "backup", "--cmd", "true").code == 0
    assert invoke("ship", "--reason", "an index", "--file", "app/search.py").code == 0
    assert invoke("baseline", "Open one", "--metric", "p95_ms=12ms").code == 0


def _export(project: Path, name: str) -> str:
    result = invoke("export", "--out", name)
    assert result.code == 0, result.stderr
    return (project / name).read_text()


def _empty_store(project: Path, monkeypatch, new_store_url) -> None:
    monkeypatch.setenv("CHANGENOTE_DATABASE_URL", new_store_url())


def test_export_import_export_is_byte_identical(
    project: Path, server: TestServer, monkeypatch, new_store_url
):
    _notebook(project, server)
    first = _export(project, "one.jsonl")
    lines = first.splitlines()
    assert len(lines) == 2
    doc = json.loads(lines[0])
    assert doc["schema"] == "changenote/change@1"
    assert doc["export"]["schema"] == "changenote/export@1"
    assert doc["export"]["probe_specs"][0]["kind"] == "http"
    import jsonschema

    schema = json.loads((Path(__file__).parent.parent / "docs" / "export.schema.json").read_text())
    for line in lines:
        jsonschema.validate(json.loads(line), schema)
    _empty_store(project, monkeypatch, new_store_url)
    imported = invoke("import", "one.jsonl")
    assert imported.code == 0, imported.stderr
    assert "imported 2" in imported.stdout
    assert _export(project, "two.jsonl") == first
    again = invoke("import", "one.jsonl")
    assert "imported 0, already in the store 2" in again.stdout
    assert _export(project, "three.jsonl") == first
    # the imported open change can still be measured and shipped
    shipped = invoke("ship", "open-one", "--reason", "done", "--metric", "p95_ms=8ms")
    assert shipped.code == 0, shipped.stderr


def test_notes_import_then_render_gives_the_same_notes(
    project: Path, server: TestServer, monkeypatch, new_store_url
):
    _notebook(project, server)
    notes = {p.name: p.read_text() for p in (project / "notes").glob("*.md")}
    assert len(notes) == 1
    _empty_store(project, monkeypatch, new_store_url)
    result = invoke("import", "notes")
    assert result.code == 0 and "imported 1" in result.stdout, result.stdout + result.stderr
    for path in (project / "notes").glob("*.md"):
        path.unlink()
    assert invoke("render").code == 0
    again = {p.name: p.read_text() for p in (project / "notes").glob("*.md")}
    assert again == notes


def test_two_teammates_merge(project: Path, server: TestServer, monkeypatch, new_store_url):
    _notebook(project, server)
    mine = _export(project, "mine.jsonl")
    _empty_store(project, monkeypatch, new_store_url)
    assert invoke("baseline", "Slow search", "--metric", "p95_ms=3ms").code == 0  # same slug
    assert invoke("import", "mine.jsonl").code == 0
    listed = invoke("list", "--json").json()
    assert sorted(r["slug"] for r in listed) == ["open-one", "slow-search", "slow-search-2"]
    assert len(_export(project, "all.jsonl").splitlines()) == 3 and mine


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json\n", "a.jsonl:2: not JSON"),
        ('{"schema": "other@1"}\n', "schema 'other@1' is not 'changenote/change@1'"),
        ('{"schema": "changenote/change@1", "uid": "u"}\n', "missing slug, title, status"),
        ("[1, 2]\n", "not a change document"),
        (
            '{"schema": "changenote/change@1", "uid": ["x"], "slug": "a", "title": "t",'
            ' "status": "baseline", "created_at": "2026-01-01T00:00:00Z"}\n',
            "a.jsonl:2: uid: must be a string",
        ),
        (
            '{"schema": "changenote/change@1", "uid": "b", "slug": "1", "title": "t",'
            ' "status": "baseline", "created_at": "2026-01-01T00:00:00Z"}\n',
            "a.jsonl:2: slug: '1' is not a changenote slug",
        ),
        (
            '{"schema": "changenote/change@1", "uid": "c", "slug": "c", "title": "t",'
            ' "status": "baseline", "created_at": "yesterday"}\n',
            "a.jsonl:2: created_at: 'yesterday' is not a time",
        ),
        (
            '{"schema": "changenote/change@1", "uid": "d", "slug": "d", "title": "t",'
            ' "status": "baseline", "created_at": "2026-01-01T00:00:00Z", "runs": ["x"]}\n',
            "a.jsonl:2: runs[0]: must be an object, not a string",
        ),
        (
            '{"schema": "changenote/change@1", "uid": "e", "slug": "e", "title": "t",'
            ' "status": "baseline", "created_at": "2026-01-01T00:00:00Z",'
            ' "runs": [{"label": "baseline"}]}\n',
            "a.jsonl:2: runs[0]: missing started_at, finished_at",
        ),
    ],
)
def test_bad_import_is_one_line_and_changes_nothing(project: Path, content: str, message: str):
    assert invoke("baseline", "Kept", "--metric", "x=1").code == 0
    (project / "a.jsonl").write_text(
        json.dumps({"schema": "changenote/change@1", "uid": "z" * 32, "slug": "fine",
                    "title": "Fine", "status": "baseline", "created_at": "2026-01-01T00:00:00Z"})
        + "\n" + content
    )  # fmt: skip
    result = invoke("import", "a.jsonl")
    assert result.code != 0 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert [r["slug"] for r in invoke("list", "--json").json()] == ["kept"]  # nothing half-done
    assert "nothing to import" in invoke("import", "nowhere.jsonl").stderr


def test_imported_secrets_are_redacted_everywhere(project: Path):
    secret_url = "https://deploy:hunter2@db.example.com/x?api_key=sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    doc = {
        "schema": "changenote/change@1", "uid": "f" * 32, "slug": "leaky", "title": "Leaky",
        "status": "baseline", "created_at": "2026-01-01T00:00:00Z",
        "settings": {"clear_cache": "redis-cli -a hunter2pass FLUSHALL", "runs": 1, "warmup": 0},
        "runs": [{"label": "baseline", "started_at": "2026-01-01T00:00:00Z",
                  "finished_at": "2026-01-01T00:00:01Z",
                  "probe_results": [{"label": "x", "last_output": "password=hunter2pass"}],
                  "metrics": []}],
        "export": {"schema": "changenote/export@1",
                   "probe_specs": [{"kind": "http", "target": f"GET {secret_url}"}]},
    }  # fmt: skip
    (project / "leak.jsonl").write_text(json.dumps(doc) + "\n")
    assert invoke("import", "leak.jsonl").code == 0
    exported = invoke("export").stdout
    assert "hunter2" not in exported and "sk_live_4eC39" not in exported
    for path in (project / ".changenote").glob("changenote.db*"):
        data = path.read_bytes()
        assert b"hunter2" not in data and b"sk_live_4eC39" not in data, path.name


def test_a_renamed_slug_gets_its_own_note(project: Path, server: TestServer, monkeypatch,
                                           new_store_url):  # fmt: skip
    _notebook(project, server)
    first = json.loads(_export(project, "one.jsonl").splitlines()[0])
    twin = {**first, "uid": "a" * 32, "id": 99}  # another store's change, same slug
    (project / "twin.jsonl").write_text(json.dumps(twin) + "\n")
    result = invoke("import", "twin.jsonl")
    assert "slow-search -> slow-search-2" in result.stdout
    shown = invoke("show", "slow-search-2", "--json").json()
    assert shown["note_path"] == first["note_path"].replace("slow-search.md", "slow-search-2.md")


def _search(word: str) -> list[str]:
    result = invoke("search", word, "--json")
    assert result.code == 0, result.stderr
    return sorted(hit["slug"] for hit in result.json())


def test_batches_and_taken_ids_give_the_same_store(
    project: Path, server: TestServer, monkeypatch, new_store_url
):
    from changenote.notebook import importing as transfer

    _notebook(project, server)
    assert invoke("baseline", "Third zeppelin", "--metric", "x=1").code == 0
    mine = _export(project, "mine.jsonl")
    exports = []
    for batch in (1, 2, 1000):
        monkeypatch.setattr(transfer, "BATCH", batch)
        _empty_store(project, monkeypatch, new_store_url)
        assert invoke("baseline", "Held", "--metric", "x=1").code == 0  # takes id 1
        assert invoke("import", "mine.jsonl").code == 0
        listed = {r["slug"]: r["id"] for r in invoke("list", "--json").json()}
        # id 1 was taken: that change waited for the end and got the next id after all
        assert listed == {"held": 1, "slow-search": 4, "open-one": 2, "third-zeppelin": 3}
        # the full-text index has the imported changes, and later ones (its trigger is back)
        assert _search("index") == ["slow-search"] and _search("zeppelin") == ["third-zeppelin"]
        assert invoke("baseline", "Later zeppelin", "--metric", "x=1").code == 0
        assert _search("zeppelin") == ["later-zeppelin", "third-zeppelin"]
        lines = _export(project, f"all-{batch}.jsonl").splitlines()
        exports.append([line for line in lines if json.loads(line)["slug"] in listed][1:4])
    assert exports[0] == exports[1] == exports[2]
    assert len(mine.splitlines()) == 3


def test_a_failed_import_leaves_the_index_and_its_trigger(project: Path, monkeypatch):
    from changenote.notebook import importing as transfer

    monkeypatch.setattr(transfer, "BATCH", 1)  # the first documents are written before the bad one
    good = [
        {"schema": "changenote/change@1", "uid": f"{n}" * 32, "slug": f"good-{n}",
         "title": f"Good zeppelin {n}", "status": "baseline",
         "created_at": "2026-01-01T00:00:00Z"}
        for n in range(3)
    ]  # fmt: skip
    lines = [json.dumps(doc) for doc in good] + ['{"schema": "changenote/change@1"}']
    (project / "bad.jsonl").write_text("\n".join(lines) + "\n")
    assert invoke("baseline", "Kept zeppelin", "--metric", "x=1").code == 0
    result = invoke("import", "bad.jsonl")
    assert result.code != 0 and "bad.jsonl:4: missing uid" in result.stderr
    assert _search("zeppelin") == ["kept-zeppelin"]
    assert invoke("baseline", "After zeppelin", "--metric", "x=1").code == 0
    assert _search("zeppelin") == ["after-zeppelin", "kept-zeppelin"]


def test_not_a_number_survives_import_where_the_store_can_hold_it(
    project: Path, monkeypatch, new_store_url, store_backend: str
):
    assert invoke("baseline", "Odd", "--metric", "x=1").code == 0
    doc = json.loads(_export(project, "odd.jsonl"))
    metric = doc["runs"][0]["metrics"][0]
    metric["samples"], metric["n"] = [1.0, float("nan")], 2
    metric["max"] = float("inf")
    (project / "odd.jsonl").write_text(json.dumps(doc) + "\n")  # NaN and Infinity, as json writes
    _empty_store(project, monkeypatch, new_store_url)
    result = invoke("import", "odd.jsonl")
    if store_backend == "postgresql":  # its json type has no NaN: one line, nothing written
        assert result.code == 1 and "nothing was changed" in result.stderr
        assert result.stderr.count("\n") == 1 and invoke("list", "--json").json() == []
        return
    assert result.code == 0, result.stderr
    again = json.loads(_export(project, "again.jsonl"))["runs"][0]["metrics"][0]
    assert again["samples"][0] == 1.0 and again["samples"][1] != again["samples"][1]
    assert again["max"] == float("inf")


def test_a_foreign_export_stores_no_secret_anywhere_in_it(project: Path):
    token = "ghp_" + "aB3dE5gH7jK9mN1pQ2" * 2
    doc = {
        "schema": "changenote/change@1", "uid": "e" * 32, "slug": "foreign", "title": "F",
        "status": "baseline", "created_at": "2026-01-01T00:00:00Z",
        "owner": "password=hunter2x", "service": f"svc {token}",
        "settings": {"mixed": [1, "password=hunter2x", token], f"Authorization: Bearer {token}": 1,
                     "runs": 1, "warmup": 0},
        "runs": [{"label": "baseline", "started_at": "2026-01-01T00:00:00Z",
                  "finished_at": "2026-01-01T00:00:01Z",
                  "metrics": [{"probe": "p", "metric": token, "unit": "ms", "n": 1,
                               "samples": [1.0]}]}],
        "checklist": [{"key": "capture", "label": f"capture {token}", "done": False}],
        "export": {"schema": "changenote/export@1", "probe_specs": [
            {"kind": "http", "target": "GET http://127.0.0.1/",
             "headers": [["X-Api-Key", "rawkey123"]]}
        ]},
    }  # fmt: skip
    (project / "foreign.jsonl").write_text(json.dumps(doc) + "\n")
    result = invoke("import", "foreign.jsonl")
    assert result.code == 0, result.stderr
    for path in (project / ".changenote").glob("changenote.db*"):
        data = path.read_bytes()
        for secret in (b"hunter2x", token.encode(), b"rawkey123"):
            assert secret not in data, (path.name, secret)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"owner": {"a": 1}}, "odd.jsonl:1: owner: must be a string or null, not an object"),
        ({"created_at": "2026x01x01T00:00:00Z"}, "odd.jsonl:1: created_at: '2026x01x01T00:00:00Z'"),
        ({"id": 2**70}, None),  # a huge id: a new one is given
    ],
)
def test_odd_values_in_an_import_are_one_line_or_fine(project: Path, change: dict, message):
    doc = {"schema": "changenote/change@1", "uid": "f" * 32, "slug": "odd", "title": "Odd",
           "status": "baseline", "created_at": "2026-01-01T00:00:00Z", **change}  # fmt: skip
    (project / "odd.jsonl").write_text(json.dumps(doc) + "\n")
    result = invoke("import", "odd.jsonl")
    if message is None:
        assert result.code == 0, result.stderr
        assert [r["slug"] for r in invoke("list", "--json").json()] == ["odd"]
    else:
        assert result.code != 0 and message in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_file_that_is_not_utf8_is_one_line(project: Path):
    (project / "latin.jsonl").write_bytes(b'{"title": "caf\xe9"}\n')
    result = invoke("import", "latin.jsonl")
    assert result.code != 0 and "latin.jsonl: not UTF-8 text" in result.stderr


def test_a_non_ascii_tag_is_found_imported_or_recorded(project: Path, monkeypatch, new_store_url):
    assert invoke("baseline", "Recorded", "--tag", "zürich", "--metric", "x=1").code == 0
    assert _search("zürich") == ["recorded"]
    (project / "mine.jsonl").write_text(_export(project, "mine.jsonl"))
    _empty_store(project, monkeypatch, new_store_url)
    assert invoke("import", "mine.jsonl").code == 0
    assert _search("zürich") == ["recorded"]
