"""The documentation stays true to the code: these tests fail when the docs drift."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def _read(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"
    return path.read_text(encoding="utf-8")


def _headings(text: str, level: int) -> set[str]:
    marks = "#" * level
    return {
        m.group(1).strip() for m in re.finditer(rf"^{marks} (.+?)\s*$", text, flags=re.MULTILINE)
    }


def _section(text: str, heading: str) -> str:
    """The body of a ``## heading`` section, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def _fenced(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{re.escape(lang)}\n(.*?)^```", text, flags=re.M | re.S)


def _commands() -> dict[str, Any]:
    import typer

    from changenote.cli import app

    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


# -- (a) docs/CLI.md is generated from --help and current ------------------------------


def test_cli_reference_is_current():
    done = subprocess.run(
        [sys.executable, "docs/cli_reference.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr or done.stdout


# -- (b) every command is documented -------------------------------------------------


def test_every_command_has_help_and_is_documented():
    commands = _commands()
    assert commands, "no commands registered on changenote.cli.app"
    cli_doc = _read(DOCS / "CLI.md")
    readme = _read(REPO / "README.md")
    sections = _headings(cli_doc, 2)
    for name, command in commands.items():
        assert (command.help or "").strip(), f"command {name!r} has no help text"
        assert f"changenote {name}" in sections, f"docs/CLI.md has no '## changenote {name}'"
        assert re.search(rf"\bchangenote {re.escape(name)}\b", readme), (
            f"README.md never mentions 'changenote {name}'"
        )


# -- (c) every setting is documented -------------------------------------------------


def test_every_config_setting_has_a_heading():
    from changenote.config import CheckConfig, ChecklistItemConfig, Config

    headings = _headings(_read(DOCS / "CONFIG.md"), 3)
    wanted = (
        [f.name for f in dataclasses.fields(Config) if f.name not in ("root", "source")]
        + [f.name for f in dataclasses.fields(CheckConfig) if f.name != "name"]
        + [f.name for f in dataclasses.fields(ChecklistItemConfig)]
    )
    missing = sorted({name for name in wanted if name not in headings})
    assert not missing, f"docs/CONFIG.md has no '### NAME' heading for: {missing}"


def test_config_examples_are_valid_and_pyproject_matches():
    from changenote.config import parse_config

    text = _read(DOCS / "CONFIG.md")
    blocks = _fenced(text, "toml")
    assert blocks, "docs/CONFIG.md has no toml examples"
    parsed = []
    for block in blocks:
        data = tomllib.loads(block)
        source = Path("/project/changenote.toml")
        if "tool" in data:
            data, source = data["tool"]["changenote"], Path("/project/pyproject.toml")
        parsed.append((block, parse_config(data, Path("/project"), source)))
    full = _fenced(_section(text, "A full `changenote.toml`"), "toml")
    pyproject = _fenced(_section(text, "The same in `pyproject.toml`"), "toml")
    assert len(full) == 1 and len(pyproject) == 1
    by_block = dict(parsed)
    strip = {"source": None}
    assert dataclasses.replace(by_block[full[0]], **strip) == dataclasses.replace(
        by_block[pyproject[0]], **strip
    ), "the pyproject.toml example says something else than the changenote.toml one"


# -- (d) metrics and document keys are documented ------------------------------------


def test_every_standard_metric_is_in_probes_doc():
    from changenote.measure.probes import BETTER, UNITS

    text = _read(DOCS / "PROBES.md")
    for metric in BETTER:
        assert f"`{metric}`" in text, f"docs/PROBES.md does not name {metric}"
        row = re.search(rf"^\| `{metric}` \| `([^`]*)` \| (\w+) \|", text, flags=re.M)
        assert row, f"docs/PROBES.md has no table row for {metric}"
        assert row.group(1) == UNITS[metric], f"{metric}: unit in docs/PROBES.md"
        assert row.group(2) == BETTER[metric], f"{metric}: direction in docs/PROBES.md"


def test_metric_line_examples_behave_as_documented():
    from changenote.specs import parse_metric_line

    text = _read(DOCS / "PROBES.md")
    checked = 0
    for block in _fenced(text, "text"):
        for line in block.splitlines():
            if not line.strip() or "NAME=NUMBER" in line:
                continue
            ignored = re.match(r"^(.*?)\s+\([^)]*\)\s*$", line)
            if ignored:  # a line documented as ignored, with the reason after it
                example = ignored.group(1)
                assert parse_metric_line(example) is None, f"documented as ignored: {example!r}"
            else:
                assert parse_metric_line(line) is not None, f"documented as valid: {line!r}"
            checked += 1
    assert checked >= 5


def _keys(value: Any, skip: frozenset[str] = frozenset({"error_kinds", "statuses"})) -> set[str]:
    """Every key of the document and of the objects nested in it (not data-keyed maps)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key not in skip:
                found |= _keys(item, skip)
    elif isinstance(value, list):
        for item in value:
            found |= _keys(item, skip)
    return found


@pytest.fixture
def documents(project: Path) -> dict[str, Any]:
    """Real documents built through the CLI: a measured run, a shipped change, the list."""
    line = "echo 'changenote-metric: rows=5 count better=lower'"
    result = invoke(
        "baseline",
        "Slow report",
        "--cmd",
        line,
        "--cmd",
        "exit 1",
        "--metric",
        "p95_ms=120ms",
        "--runs",
        "3",
        "--warmup",
        "0",
        "--tag",
        "docs",
        "--json",
    )
    assert result.code == 0, result.stderr
    measured = invoke("measure", "--label", "try 1", "--metric", "p95_ms=100ms", "--json")
    assert measured.code == 0, measured.stderr
    assert invoke("tick", "backup", "--note", "snapshot taken").code == 0
    shipped = invoke(
        "ship", "--reason", "r", "--metric", "p95_ms=80ms", "--command", "make", "--json"
    )
    assert shipped.code == 0, shipped.stderr
    shown = invoke("show", str(shipped.json()["id"]), "--json")
    assert shown.code == 0, shown.stderr
    listed = invoke("list", "--json")
    assert listed.code == 0, listed.stderr
    return {
        "measure": measured.json(),
        "ship": shipped.json(),
        "show": shown.json(),
        "list": listed.json(),
    }


def test_every_document_key_is_in_json_doc(documents: dict[str, Any]):
    from changenote.notebook.document import SCHEMA

    text = _read(DOCS / "JSON.md")
    doc = documents["show"]
    assert doc["schema"] == SCHEMA and f"`{SCHEMA}`" in text
    # The document holds every part the doc describes, so no key goes unchecked.
    for part in ("runs", "comparison", "warnings", "checklist", "command_log"):
        assert doc[part], f"the test document has no {part}"
    assert doc["runs"][0]["metrics"] and doc["runs"][0]["probe_results"]
    keys = _keys(doc) | _keys(documents["ship"]) | set(documents["measure"])
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert not missing, f"docs/JSON.md does not describe: {missing}"
    assert "measured_run" in documents["measure"]
    list_keys = _keys(documents["list"], skip=frozenset({"verdicts"}))
    missing = sorted(k for k in list_keys if f"`{k}`" not in _section(text, "`list --json`"))
    assert not missing, f"docs/JSON.md's list --json section does not describe: {missing}"


def test_warning_codes_are_documented(documents: dict[str, Any]):
    from changenote.measure import comparing, diagnostics
    from changenote.notebook import workflow

    source = "".join(Path(m.__file__).read_text() for m in (comparing, diagnostics, workflow))
    codes = set(re.findall(r'"code": "([a-z-]+)"', source))
    codes |= {w["code"] for w in documents["ship"]["warnings"]}
    assert {
        "cache-state-changed",
        "cold-first-run",
        "outliers",
        "unstable",
        "too-few-samples",
        "environment-changed",
        "probe-errors",
        "secret-not-stored",
    } <= codes
    for doc in ("JSON.md", "PROBES.md"):
        text = _read(DOCS / doc)
        for code in codes:
            assert f"`{code}`" in text, f"docs/{doc} does not describe warning {code}"


# -- (e) the README quick start is what CI runs --------------------------------------


def test_quick_start_is_two_commands_and_ci_runs_the_tests():
    quick = _section(_read(REPO / "README.md"), "Quick start")
    blocks = _fenced(quick, "sh")
    assert len(blocks) == 2, f"expected two ```sh blocks under Quick start, got {len(blocks)}"
    commands = []
    for block in blocks:
        lines = [ln for ln in block.splitlines() if ln.strip()]
        assert len(lines) == 1, f"a quick start block must be one command: {block!r}"
        commands.append(lines[0].strip())
    demo = [c for c in commands if "changenote demo" in c]
    tests = [c for c in commands if "pytest" in c]
    assert len(demo) == 1 and len(tests) == 1 and demo != tests, commands
    ci = _read(REPO / ".ci" / "run")
    assert tests[0] in {ln.strip() for ln in ci.splitlines()}, (
        f".ci/run does not run the README's test command verbatim: {tests[0]}"
    )
