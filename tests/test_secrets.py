"""Secrets given anywhere never reach the store files or a note; the probes still use them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import invoke
from tests.servers import TestServer

GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
BEARER = "tok_live_8f3a9c2e7b1d4f6a"
URL_PASSWORD = "pw_9sd8f7g6h5"
QUERY_TOKEN = "qt_77aa88bb99cc"
DB_PASSWORD = "hunter2hunter2"
REASON_SECRET = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----"
)
SECRETS = [
    GITHUB,
    AWS,
    SLACK,
    BEARER,
    URL_PASSWORD,
    QUERY_TOKEN,
    DB_PASSWORD,
    REASON_SECRET,
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
]


def _leaks(root: Path) -> list[str]:
    """Every secret found in any file under the store folder or the notes folder."""
    found = []
    for folder in (root / ".changenote", root / "notes"):
        for path in folder.rglob("*") if folder.exists() else []:
            if path.is_file():
                data = path.read_bytes()
                low = data.lower()
                found += [f"{s[:8]}… in {path.name}" for s in SECRETS if s.lower().encode() in low]
    return found


def test_probes_that_could_not_be_rerun_are_refused_before_measuring(
    project: Path, server: TestServer
):
    for probe in (
        ["--cmd", f"PGPASSWORD={DB_PASSWORD} psql -c 'select 1'"],
        ["--http", f"GET {server.url}/search?q=x&access_token={QUERY_TOKEN}"],
        ["--http", f"GET http://admin:{URL_PASSWORD}@127.0.0.1:{server.url.rsplit(':', 1)[1]}/a"],
        ["--metric", "x=1", "--clear-cache", f"redis-cli -a {DB_PASSWORD} flushall"],
    ):
        server.behaviour.requests.clear()
        result = invoke("baseline", "t", *probe)
        assert result.code != 0, probe
        assert "would not be stored" in result.stderr and "environment" in result.stderr
        assert server.behaviour.requests == []  # refused before measuring anything
        assert not [s for s in SECRETS if s in result.stderr]
    assert not (project / ".changenote").exists()


def test_no_secret_reaches_store_or_note(project: Path, server: TestServer, monkeypatch):
    (project / "key.pem").write_text(PRIVATE_KEY + "\n")
    monkeypatch.setenv("SLACK_TOKEN", SLACK)
    monkeypatch.setenv("QUERY_TOKEN", QUERY_TOKEN)
    monkeypatch.setenv("DB_PASSWORD", DB_PASSWORD)
    result = invoke(
        "baseline",
        f"Slow /search (token {GITHUB})",
        "--http",
        f"GET {server.url}/search?q=x&access_token=${{QUERY_TOKEN}}",
        "--header",
        f"Authorization: Bearer {BEARER}",
        "--cmd",
        'echo "$SLACK_TOKEN"; cat key.pem; PGPASSWORD="$DB_PASSWORD" true',
        "--noticed",
        f"support ticket pasted AWS key {AWS}",
        "--runs",
        "3",
        "--json",
    )
    assert result.code == 0, result.stderr
    # The probes really used the real values; only what is stored is masked.
    assert server.behaviour.requests[-1]["authorization"] == f"Bearer {BEARER}"
    assert server.behaviour.paths[-1].endswith(f"access_token={QUERY_TOKEN}")
    doc = result.json()
    assert any(w["code"] == "secret-not-stored" for w in doc["warnings"])
    assert "ghp-" not in doc["slug"] and "ghp_" not in doc["slug"]
    assert not [s for s in SECRETS if s in result.stdout]
    assert not _leaks(project)
    import sqlite3

    conn = sqlite3.connect(project / ".changenote" / "changenote.db")
    stored = str(conn.execute("SELECT probes FROM change").fetchone()[0])
    conn.close()
    assert "Bearer ***" in stored and "access_token=${QUERY_TOKEN}" in stored

    # The header is needed again at ship; the URL and command re-run from the environment.
    refused = invoke("ship", "--reason", "r")
    assert refused.code != 0 and "--header 'Authorization: ...'" in refused.stderr
    shipped = invoke("ship", "--reason", "r", "--header", f"Authorization: Bearer {BEARER}")
    assert shipped.code == 0, shipped.stderr
    assert not _leaks(project)


def test_secret_header_given_again_at_ship(project: Path, server: TestServer, monkeypatch):
    monkeypatch.setenv("API_TOKEN", BEARER)
    base = invoke(
        "baseline",
        "authenticated route",
        "--http",
        f"{server.url}/private",
        "--header",
        "X-Api-Key: ${API_TOKEN}",
        "--header",
        f"Authorization: Bearer {BEARER}",
        "--runs",
        "3",
        "--json",
    )
    assert base.code == 0, base.stderr
    assert server.behaviour.requests[-1]["x-api-key"] == BEARER  # env reference expanded
    missing = invoke("ship", "--reason", "r")
    assert missing.code != 0
    assert "pass it again with --header 'Authorization: ...'" in missing.stderr
    server.behaviour.requests.clear()
    shipped = invoke(
        "ship",
        "--reason",
        f"rotate key {REASON_SECRET}",
        "--rollback",
        f"export GITHUB_TOKEN={GITHUB}; ./rollback.sh",
        "--command",
        f"aws configure set aws_access_key_id {AWS}",
        "--header",
        f"authorization: Bearer {BEARER}",
        "--json",
    )
    assert shipped.code == 0, shipped.stderr
    assert server.behaviour.requests[-1]["authorization"] == f"Bearer {BEARER}"
    ticked = invoke(
        "tick",
        base.json()["slug"],
        "watch",
        "--cmd",
        f"echo {SLACK} >/dev/null",
        "--note",
        f"password={DB_PASSWORD}",
    )
    assert ticked.code == 0, ticked.stderr
    note = (project / shipped.json()["note_path"]).read_text()
    assert "rotate key" in note and "Bearer \\*\\*\\*" not in note
    assert not [s for s in SECRETS if s in shipped.stdout]
    assert not _leaks(project)
