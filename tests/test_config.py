"""Finding and validating the configuration; `changenote init`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from changenote.config import load_config, parse_config
from changenote.errors import ConfigError
from changenote.notebook import note_yaml
from tests.conftest import git, invoke


def test_changenote_toml_found_walking_up(tmp_path: Path):
    (tmp_path / "changenote.toml").write_text('service = "api"\nruns = 5\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    config = load_config(deep)
    assert config.root == tmp_path.resolve()
    assert (config.service, config.runs) == ("api", 5)
    assert config.store_url() == f"sqlite:///{tmp_path.resolve()}/.changenote/changenote.db"


def test_pyproject_table_and_nearest_wins(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.changenote]\nservice = "outer"\n')
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: keep walking
    assert load_config(inner).service == "outer"
    (inner / "changenote.toml").write_text('service = "inner"\n')
    assert load_config(inner).service == "inner"


def test_root_falls_back_to_git_root_then_cwd(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q")
    assert load_config(repo / "src").root == repo.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert load_config(plain).root == plain.resolve()


def test_environment_overrides_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "changenote.toml").write_text('database_url = "sqlite:///data/x.db"\n')
    config = load_config(tmp_path)
    assert config.store_url() == f"sqlite:///{tmp_path.resolve()}/data/x.db"
    monkeypatch.setenv("CHANGENOTE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert config.store_url() == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('runs = "ten"', "'runs' must be int"),
        ("runs = 0", "'runs' must be at least 1"),
        ("timeout = -1", "'timeout' must be greater than 0"),
        ("warmup = true", "must be a number"),
        ('redact_patterns = ["("]', "redact_patterns"),
        ('[checks.api]\nhtp = "http://x"', "unknown key 'htp'; did you mean 'http'?"),
        ('[checks.api]\nhttp = "http://x"\ncmd = "true"', "exactly one of 'http', 'cmd' or 'prom'"),
        ('[[checklist]]\nkey = "perm"', "needs both 'key' and 'label'"),
        ("min_efect = 3", "did you mean 'min_effect'?"),
    ],
)
def test_invalid_settings_are_named(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError, match=None) as info:
        parse_config(tomllib.loads(text), tmp_path, tmp_path / "changenote.toml")
    assert message in str(info.value)


def test_checks_and_checklist_parse(tmp_path: Path):
    text = """
[checks.health]
http = "GET http://127.0.0.1:8000/health"
headers = { Authorization = "Bearer ${TOKEN}" }
runs = 3

[[checklist]]
key = "permissions"
label = "confirm permissions"
"""
    config = parse_config(tomllib.loads(text), tmp_path, None)
    assert config.checks["health"].runs == 3
    assert config.checks["health"].headers == {"Authorization": "Bearer ${TOKEN}"}
    assert config.checklist[0].key == "permissions"


def test_init_writes_valid_config_with_git_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    repo = tmp_path / "svc"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.name", "Ada Lovelace")
    monkeypatch.chdir(repo)
    result = invoke("init", "--service", "search-api")
    assert result.code == 0, result.stderr
    config = load_config(repo)
    assert (config.service, config.owner, config.notes_dir) == (
        "search-api",
        "Ada Lovelace",
        "notes",
    )
    again = invoke("init")
    assert again.code != 0 and "already exists" in again.stderr


def test_project_checklist_items_and_check_probe(project: Path, server):
    (project / "changenote.toml").write_text(
        f'[checks.home]\nhttp = "{server.url}/"\nruns = 4\n\n'
        '[[checklist]]\nkey = "permissions"\nlabel = "confirm permissions"\n'
    )
    result = invoke("baseline", "security headers", "--check", "home", "--json")
    assert result.code == 0, result.stderr
    doc = result.json()
    assert [i["key"] for i in doc["checklist"]][-1] == "permissions"
    assert doc["probes"] == [f"check home: GET {server.url}/"]
    assert {m["metric"]: m["n"] for m in doc["runs"][0]["metrics"]}["time_ms"] == 4
    ticked = invoke("tick", "perm", "--note", "reviewed file modes")
    assert ticked.code == 0, ticked.stderr


def test_template_override_replaces_one_template(project: Path, server):
    (project / "changenote.toml").write_text('templates_dir = "my-templates"\n')
    (project / "my-templates").mkdir()
    (project / "my-templates" / "note.md.j2").write_text("# {{ doc.title }} by {{ doc.owner }}\n")
    assert invoke("baseline", "custom", "--metric", "x=1", "--owner", "Kim").code == 0
    doc = invoke("ship", "--reason", "r", "--metric", "x=2", "--json").json()
    text = (project / doc["note_path"]).read_text()
    readable, mark, _ = text.partition(note_yaml.RECORD_MARK)
    assert readable == "# custom by Kim\n\n" and mark  # the record follows, whatever the template


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[checks.api]\nhttp = "ftp://x"', "[checks.api]: http: malformed URL 'ftp://x'"),
        ('[checks.api]\nhttp = "http://x"\nheaders = { "Bad Name" = "v" }', "headers:"),
        ('[[checklist]]\nkey = "backup"\nlabel = "again"', "key 'backup' is already used"),
        ('[[checklist]]\nkey = " "\nlabel = "x"', "is empty"),
        ("timeout = nan", "'timeout' must be a finite number"),
        ('[metrics.time_ms]\nbetter = "faster"', "'better' must be"),
    ],
)
def test_more_invalid_settings(tmp_path: Path, text: str, message: str):
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), tmp_path, tmp_path / "changenote.toml")
    assert message in str(info.value)


def test_missing_template_folder_is_one_line_at_render(project: Path):
    (project / "changenote.toml").write_text('templates_dir = "nowhere"\n')
    assert invoke("baseline", "t", "--metric", "x=1").code == 0
    result = invoke("ship", "--reason", "r", "--metric", "x=2")
    assert result.code != 0
    assert "templates_dir 'nowhere' is not a folder" in result.stderr
    assert invoke("show", "--json").json()["status"] == "baseline"  # nothing shipped
