"""Import safety (issue 13): a document that would break the store is refused at the door.

A fault campaign imported documents that later broke every command reading the store (a
time of year 1, probe specs that are text, tags that are objects, samples that are
strings, a million runs, a shipped change without its after run or note, an unknown
status, a slug or uid PostgreSQL cannot hold, a lone surrogate...). Each is now one line,
``FILE:LINE: field: what is wrong``, and nothing of the import is written. A store that
already holds such a row (an older changenote let it in: inserted here with raw SQL)
degrades to one line naming the change: ``export``, ``render`` and ``wiki`` write every
other change, ``show`` says why, ``list`` still lists. Through the CLI, on SQLite and on
PostgreSQL: in real processes, except the bad-row matrix past its first row.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke

#: Through the CLI: on SQLite, then on PostgreSQL (see conftest.store_backend).
both = pytest.mark.usefixtures("store_backend")

REPO = Path(__file__).resolve().parent.parent
WHEN = "2026-01-02T10:00:00Z"


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``changenote ARGS`` in a process of its own."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "changenote", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def in_process(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``changenote ARGS`` run in this process (conftest.invoke), from ``cwd``: the same
    command without a Python start-up of its own, for the long matrices below."""
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        done = invoke(*args)
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(args, done.code, done.stdout, done.stderr)


def one_line(done: subprocess.CompletedProcess[str], starts: str, code: int | None = None) -> str:
    """The command failed with one short line on stderr that starts with ``starts``."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode != 0 if code is None else done.returncode == code, done
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[:3000]
    assert lines[0].startswith("changenote: error: " + starts), lines[0][:500]
    assert len(lines[0]) < 400, lines[0][:500]
    assert not re.search(r"(.)\1{60}", lines[0]), lines[0]  # no huge value quoted
    return lines[0]


def metric(value: float) -> dict[str, Any]:
    return {"probe": "manual", "probe_index": -1, "metric": "p95_ms", "unit": "ms",
            "better": "lower", "n": 2, "median": value, "p95": value, "mean": value,
            "stdev": 0.0, "min": value, "max": value, "samples": [value, value]}  # fmt: skip


def run(label: str, value: float) -> dict[str, Any]:
    return {"label": label, "started_at": WHEN, "finished_at": WHEN, "git_commit": None,
            "git_dirty": False, "probes": ["$ echo ok"],
            "probe_results": [{"label": "$ echo ok", "attempts": 2, "errors": 0,
                               "error_kinds": {}, "last_status": "exit 0",
                               "statuses": {"exit 0": 2}, "last_output": "ok\n"}],
            "settings": {"runs": 2, "warmup": 0, "timeout": 30.0, "clear_cache": None},
            "environment": {"host": "test"}, "metrics": [metric(value)]}  # fmt: skip


def shipped(n: int) -> dict[str, Any]:
    """A shipped change as ``changenote export`` writes it: two runs, a checklist, a note."""
    return {
        "schema": "changenote/change@1", "id": n, "uid": f"{n:032x}", "slug": f"change-{n}",
        "title": f"Change {n}", "status": "shipped", "service": "docs", "owner": "Test Owner",
        "route": None, "input": None, "noticed": None, "expected": None, "reason": "an index",
        "rollback": None, "tags": ["perf"], "probes": ["$ echo ok"],
        "settings": {"runs": 2, "warmup": 0, "timeout": 30.0, "clear_cache": None,
                     "min_effect": 5.0, "metrics": {}},
        "base_commit": None, "base_dirty": False, "head_commit": None,
        "files_touched": ["app/search.py"], "commands": ["true"],
        "command_log": [{"command": "true", "source": "tick", "exit_status": 0}],
        "runs": [run("baseline", 12.0), run("after", 8.0)],
        "comparison": [], "warnings": [], "expectations": [], "watches": [],
        "checklist": [{"key": "capture", "label": "capture the current behavior",
                       "done": True, "evidence": "baseline recorded", "done_at": WHEN}],
        "note_path": f"notes/2026-01-02-change-{n}.md", "created_at": WHEN, "shipped_at": WHEN,
        "review": {"status": "drafted", "by": None, "at": None},
        "superseded_by": None, "supersedes": [], "follow_ups": [], "events": [],
        "timeline": [  # derived from the rest, as export writes it
            {"at": WHEN, "by": None, "kind": "baseline", "what": None},
            {"at": WHEN, "by": None, "kind": "tick", "what": "capture"},
            {"at": WHEN, "by": None, "kind": "ship", "what": None},
        ],
        "export": {"schema": "changenote/export@1",
                   "probe_specs": [{"kind": "cmd", "target": "echo ok", "label": "$ echo ok"}],
                   "base_dirty_files": {}, "file_sources": ["git"], "command_times": [WHEN]},
    }  # fmt: skip


def line(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def write(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(line(d) + "\n" for d in docs), encoding="utf-8")
    return path


def changed(doc: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    inner: Any = doc
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    return doc


def listed(project: Path, run: Any = cli) -> list[str]:
    done = run(project, "list", "--json")
    assert done.returncode == 0, done.stderr
    return sorted(row["slug"] for row in json.loads(done.stdout))


# ------------------------------------------------------------------ a good one, for scale


@both
def test_an_export_line_goes_in_and_comes_out_the_same(project: Path):
    docs = [shipped(1), shipped(2)]
    done = cli(project, "import", str(write(project / "in.jsonl", docs)))
    assert done.returncode == 0, done.stderr
    assert "imported 2" in done.stdout
    exported = cli(project, "export")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.splitlines() == [line(d) for d in docs]


# ----------------------------------------------------------------------- refused at the door

#: Each finding of the fault campaign: where, what, and the field the line names.
FINDINGS: list[tuple[str, list[str | int], Any, str]] = [
    ("year-1", ["created_at"], "0001-01-01T00:00:00Z", "created_at"),
    ("no-such-day", ["shipped_at"], "2026-02-30T10:00:00Z", "shipped_at"),
    ("probe-spec-text", ["export", "probe_specs"], ["x"], "export.probe_specs[0]"),
    ("tag-object", ["tags"], [{"a": 1}], "tags[0]"),
    ("string-samples", ["runs", 0, "metrics", 0, "samples"], ["12", "13"],
     "runs[0].metrics[0].samples[0]"),
    ("runs-many", ["settings", "runs"], "many", "settings.runs"),
    ("runs-1e9", ["settings", "runs"], 1e9, "settings.runs"),
    ("warmup-1e6", ["runs", 1, "settings", "warmup"], 10**6, "runs[1].settings.warmup"),
    ("timeout-a-year", ["settings", "timeout"], 3.2e7, "settings.timeout"),
    ("probe-runs-1e9", ["export", "probe_specs", 0, "settings"], {"runs": 1e9},
     "export.probe_specs[0].settings.runs"),
    ("shipped-without-runs", ["runs"], [], "runs"),
    ("shipped-without-after-run", ["runs"], [run("baseline", 12.0)], "runs"),
    ("shipped-without-note", ["note_path"], None, "note_path"),
    ("unknown-status", ["status"], "weird", "status"),
    ("samples-not-n", ["runs", 0, "metrics", 0, "n"], 3, "runs[0].metrics[0].n"),
    ("slug-of-a-million", ["slug"], "a" * 1_000_000, "slug"),
    ("uid-of-10-mb", ["uid"], "a" * 10_000_000, "uid"),
    ("status-of-17", ["status"], "s" * 17, "status"),
    ("exit-status-past-32-bits", ["command_log", 0, "exit_status"], 2**40,
     "command_log[0].exit_status"),
    ("checklist-key-of-41", ["checklist", 0, "key"], "k" * 41, "checklist[0].key"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "value", "key"), [f[1:] for f in FINDINGS],
                         ids=[f[0] for f in FINDINGS])  # fmt: skip
@both
def test_a_document_that_would_break_the_store_is_refused(
    project: Path, path: list[str | int], value: Any, key: str
):
    write(project / "in.jsonl", [shipped(1), changed(shipped(2), path, value)])
    one_line(cli(project, "import", "in.jsonl"), f"in.jsonl:2: {key}: ", code=2)
    assert listed(project, in_process) == []  # the good line before it is not imported either


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('"owner": "Test \\ud800 Owner"', "owner"),
        ('"host": "te\\udc00st"', "runs[0].environment.host"),
        ('"host": "test", "\\ud83d": 1', 'runs[0].environment["\\ud83d"]'),
    ],
)
@both
def test_a_lone_surrogate_is_refused_with_its_field(project: Path, text: str, key: str):
    doc = line(shipped(1))
    before = '"owner": "Test Owner"' if key == "owner" else '"host": "test"'
    (project / "in.jsonl").write_text(doc.replace(before, text, 1) + "\n")
    said = one_line(cli(project, "import", "in.jsonl"), f"in.jsonl:1: {key}: ", code=2)
    assert "lone surrogate" in said
    assert listed(project, in_process) == []


@both
def test_a_note_whose_yaml_holds_a_time_still_imports(project: Path):
    """What the door turns into text: YAML reads an unquoted time as a datetime."""
    notes = project / "incoming"
    notes.mkdir()
    (notes / "a.md").write_text(
        "---\nschema: changenote/change@1\nuid: " + "a" * 32 + "\nslug: from-a-note\n"
        "title: From a note\nstatus: baseline\ncreated_at: 2026-01-02T10:00:00Z\n---\n\nbody\n"
    )
    done = cli(project, "import", "incoming")
    assert done.returncode == 0, done.stderr
    shown = json.loads(cli(project, "show", "from-a-note", "--json").stdout)
    assert shown["created_at"] == "2026-01-02T10:00:00Z"


@both
def test_a_number_of_400_digits_is_refused_without_quoting_it(project: Path):
    huge = "1" + "0" * 400
    text = line(shipped(1)).replace('"median": 12.0', f'"median": {huge}', 1)
    (project / "in.jsonl").write_text(text + "\n")
    said = one_line(cli(project, "import", "in.jsonl"), "in.jsonl:1: runs[0].metrics[0].median: ")
    assert not re.search(r"\d{61}", said)
    # an id past 64 bits is no error: the change gets a new one
    (project / "id.jsonl").write_text(line(shipped(1)).replace('"id": 1,', f'"id": {huge},') + "\n")
    done = cli(project, "import", "id.jsonl")
    assert done.returncode == 0, done.stderr
    assert listed(project) == ["change-1"]


# ------------------------------------------------------------- one transaction, named lines


def snapshot(project: Path, backend: str) -> list[Any]:
    """Everything the store holds, to compare before and after a failed import."""
    if backend == "sqlite":
        conn = sqlite3.connect(project / ".changenote" / "changenote.db")
        try:
            return list(conn.iterdump())
        finally:
            conn.close()
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["CHANGENOTE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows: list[Any] = []
            for table in ("change", "run", "metric", "command", "file_touched",
                          "checklist_item", "check_result"):  # fmt: skip
                rows.append(conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all())
                rows.append(conn.execute(sa.text(
                    f"SELECT last_value, is_called FROM {table}_id_seq")).all())  # fmt: skip
            return rows
    finally:
        engine.dispose()


def sql(project: Path, backend: str, statements: list[str]) -> None:
    """Statements run straight on the store, as an older changenote's writes."""
    if backend == "sqlite":
        conn = sqlite3.connect(project / ".changenote" / "changenote.db")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
        return
    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["CHANGENOTE_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


@both
def test_a_bad_document_at_line_500_leaves_the_store_as_it_was(project: Path, store_backend):
    assert (
        cli(project, "import", str(write(project / "kept.jsonl", [shipped(9000)]))).returncode == 0
    )
    before = snapshot(project, store_backend)
    docs = [shipped(n) for n in range(1, 501)]
    docs[499]["status"] = "weird"
    write(project / "in.jsonl", docs)
    one_line(cli(project, "import", "in.jsonl"), "in.jsonl:500: status: 'weird' is not one of")
    assert snapshot(project, store_backend) == before


REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_it BEFORE INSERT ON change WHEN NEW.title = 'Refused' "
        "BEGIN SELECT RAISE(ABORT, 'refused: " + "x" * 5000 + "'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_it() RETURNS trigger AS $$ BEGIN IF NEW.title = 'Refused' "
        "THEN RAISE EXCEPTION 'refused: %', NEW.reason; END IF; RETURN NEW; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_it BEFORE INSERT ON change FOR EACH ROW "
        "EXECUTE FUNCTION refuse_it()",
    ],
}


@both
def test_a_refusal_while_writing_names_the_line_and_quotes_nothing_huge(
    project: Path, store_backend
):
    assert (
        cli(project, "import", str(write(project / "kept.jsonl", [shipped(9000)]))).returncode == 0
    )
    sql(project, store_backend, REFUSE[store_backend])  # a refusal no schema foresees
    before = snapshot(project, store_backend)
    docs = [shipped(n) for n in range(1, 2102)]  # 2,000 written in a first batch
    docs[2100] = {**docs[2100], "title": "Refused", "reason": "x" * 5000}
    write(project / "in.jsonl", docs)
    said = one_line(cli(project, "import", "in.jsonl"), "in.jsonl:2101: store write failed", 1)
    assert "nothing was changed" in said and "refused" in said
    assert snapshot(project, store_backend) == before


# -------------------------------------------------- a store that already holds a bad row

BY_SLUG = "(SELECT id FROM change WHERE slug = 'change-2')"

#: Rows an older changenote let in, as raw SQL (SQLite, PostgreSQL), and the field named.
ROWS: list[tuple[str, tuple[list[str], list[str]], str]] = [
    ("year-1", (["UPDATE change SET created_at = '1-01-01 00:00:00.000000' WHERE id = 2"],
                ["UPDATE change SET created_at = '0001-01-01 00:00:00+00' WHERE id = 2"]),
     "created_at"),
    ("probe-spec-text", (["UPDATE change SET probes = '[\"x\"]' WHERE id = 2"],) * 2,
     "export.probe_specs[0]"),
    ("tag-object", (["UPDATE change SET tags = '[{\"a\": 1}]' WHERE id = 2"],) * 2, "tags[0]"),
    ("string-samples", ([f"UPDATE metric SET samples = '[\"a\", \"b\"]' WHERE run_id IN "
                         f"(SELECT id FROM run WHERE change_id = {BY_SLUG})"],) * 2,
     "runs[0].metrics[0].samples[0]"),
    ("settings-runs-many",
     (["UPDATE change SET settings = '{\"runs\": \"many\", \"warmup\": 0}' WHERE id = 2"],) * 2,
     "settings.runs"),
    ("shipped-without-runs",
     ([f"DELETE FROM metric WHERE run_id IN (SELECT id FROM run WHERE change_id = {BY_SLUG})",
       f"DELETE FROM run WHERE change_id = {BY_SLUG}"],) * 2, "runs"),
    ("unknown-status", (["UPDATE change SET status = 'weird' WHERE id = 2"],) * 2, "status"),
]  # fmt: skip


@pytest.fixture
def three(project: Path) -> Path:
    """A store holding change-1, change-2 and change-3, all shipped."""
    done = in_process(
        project, "import", str(write(project / "in.jsonl", [shipped(n) for n in (1, 2, 3)]))
    )
    assert done.returncode == 0, done.stderr
    return project


def unreadable(key: str) -> str:
    return f"change 'change-2' cannot be read: {key}"


@both
@pytest.mark.parametrize(("statements", "key"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_a_bad_row_in_the_store_is_one_line_naming_the_change(
    three: Path, store_backend: str, statements: tuple[list[str], list[str]], key: str
):
    project = three
    # The first row in real processes; the rest in this one (the same commands, without
    # ~0.6 s of start-up each: 98 processes were the slowest part of the suite).
    run = cli if key == ROWS[0][2] else in_process
    sql(project, store_backend, statements[store_backend == "postgresql"])
    exported = run(project, "export")
    one_line(exported, "skipped: " + unreadable(key), code=1)
    assert [json.loads(x)["slug"] for x in exported.stdout.splitlines()] == ["change-1", "change-3"]
    one_line(run(project, "show", "2", "--json"), unreadable(key), code=1)  # by id
    one_line(run(project, "ship", "change-2", "--reason", "r"), unreadable(key), code=1)  # slug
    assert listed(project, run) == ["change-1", "change-2", "change-3"]
    for path in (project / "notes").glob("*.md"):
        path.unlink()
    rendered = run(project, "render")
    one_line(rendered, "skipped: " + unreadable(key), code=1)
    assert sorted(Path(p).name for p in rendered.stdout.split()) == [
        "2026-01-02-change-1.md", "2026-01-02-change-3.md"
    ]  # fmt: skip
    wiki = run(project, "wiki", "--out", "wiki", "--format", "markdown")
    one_line(wiki, "skipped: " + unreadable(key), code=1)
    pages = "".join(p.read_text() for p in (project / "wiki").rglob("*.md"))
    assert "Change 1" in pages and "Change 3" in pages and "Change 2" not in pages


# ------------------------------------------------------------------------ the schema itself


def test_the_schema_is_shipped_documented_and_agrees_with_the_code():
    import jsonschema

    from changenote.notebook import rules, schema
    from changenote.specs import MAX_RUNS, MAX_TIMEOUT, MAX_WARMUP

    shipped_schema = json.loads(schema.SCHEMA_PATH.read_text())
    docs_copy = json.loads((REPO / "docs" / "export.schema.json").read_text())
    assert docs_copy == shipped_schema
    jsonschema.Draft202012Validator.check_schema(shipped_schema)
    defs = shipped_schema["$defs"]
    assert defs["time"]["pattern"].removesuffix("$") == rules.TIME.pattern.removesuffix("\\Z")
    assert defs["time_or_null"]["pattern"] == defs["time"]["pattern"]
    for where in (defs["settings"]["properties"], defs["probe_spec"]["properties"]["settings"]
                  ["properties"]):  # fmt: skip
        assert where["runs"]["maximum"] == MAX_RUNS
        assert where["warmup"]["maximum"] == MAX_WARMUP
        assert where["timeout"]["maximum"] == MAX_TIMEOUT
    # every export line is valid as a whole, the import's part too
    jsonschema.validate(shipped(1), shipped_schema)


@pytest.mark.parametrize(("path", "value", "key"), [f[1:] for f in FINDINGS],
                         ids=[f[0] for f in FINDINGS])  # fmt: skip
def test_the_validators_agree_with_the_reference(path: list[str | int], value: Any, key: str):
    """jsonschema (the reference, in the tests only), jsonschema_rs (what import runs) and
    changenote's own reading of the schema (its messages) judge each finding alike; what
    no schema can say, the rules say."""
    import jsonschema
    import jsonschema_rs

    from changenote.notebook import rules, schema

    bad = changed(shipped(2), path, value)
    reference = jsonschema.Draft202012Validator(schema.change_schema()).is_valid(bad)
    assert jsonschema_rs.validator_for(schema.change_schema()).is_valid(bad) == reference
    found = schema.problem(bad)
    assert (found is None) == reference
    if reference:
        found = rules.rules(bad)
    assert found is not None and found[0] == key


@both
def test_other_commands_do_not_import_the_validator(project: Path):
    for args in (["--help"], ["list"]):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "changenote", *args],
            cwd=project, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert "jsonschema" not in done.stderr


@both
def test_the_store_limits_hold_on_the_command_line_too(project: Path):
    done = cli(project, "baseline", "Too many", "--metric", "x=1", "--runs", "1000000000")
    one_line(done, "--runs can be at most 10,000", code=2)
    (project / "changenote.toml").write_text("runs = 20000\n")
    one_line(cli(project, "list"), "changenote.toml: 'runs' can be at most 10,000", code=2)
