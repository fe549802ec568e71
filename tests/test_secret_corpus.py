"""Every secret shape of the corpus through every way in: none reaches a file or an output.

The corpus is test_redact's (carrier text, secret, readable rest) list: cloud keys, VCS and
chat tokens, JWTs, bearer and basic auth, URL passwords, password/secret/token/key
assignments in env, flags, JSON and query strings, database URLs, programs' password
options; plus a private key block. Each shape goes, in one change or another, through:
the title, route, input, noticed and expected fields, a command probe's output (and a
metric line it prints), a manual metric's name, `--cmd` and `--http` probes, `tick --cmd`
and `--note`, and ship's `--reason`, `--rollback` and `--command`. Afterwards no secret
may be found, in any of the forms it could be written in (as is, lower-cased, as a slug,
HTML-, markdown-, JSON- or URL-escaped), in the database files, the notes, the export,
the markdown and HTML wikis, or anything the commands printed.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import quote

from changenote.formatting import md_inline
from changenote.redact import redact
from changenote.store.db import slugify
from tests.conftest import invoke
from tests.servers import TestServer
from tests.test_redact import SECRETS

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBVdGhpc2lzbm90YXJlYWxrZXlqdXN0YXRlc3R2YWx1ZQAAAJg=\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
#: (carrier text, the secret in it); secrets shorter than 6 characters would be found in
#: innocent text, so those shapes are left to test_redact.
CORPUS: list[tuple[str, str]] = [
    (carrier, core) for carrier, secret, _ in SECRETS if len(core := secret.strip("'&.\" ")) >= 6
] + [(PRIVATE_KEY, "QyNTUxOQAAACBVdGhpc2lzbm90YXJlYWxrZXlqdXN0YXRlc3R2YWx1ZQ")]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")  # a valid metric name


def _alone(secret: str) -> bool:
    """A metric name that is a secret by its shape alone (a bare `hunter2` is just a word)."""
    return _NAME.fullmatch(secret) is not None and redact(secret) != secret


def _line(carrier: str) -> str:
    """A carrier as the rest of one shell line (a comment: nothing of it runs)."""
    return " ".join(carrier.splitlines())


def _forms(secret: str) -> set[str]:
    """The ways a secret could be written into a file or onto the terminal."""
    forms = {secret, secret.lower(), html.escape(secret), md_inline(secret),
             json.dumps(secret)[1:-1], quote(secret, safe="")}  # fmt: skip
    slug = slugify(secret)
    if len(slug) >= 8:
        forms.add(slug)
    return {f for f in forms if f}


def _leaks(texts: dict[str, str]) -> list[str]:
    """One line per leaked secret: the form found and the first places."""
    lowered = {where: text.lower() for where, text in texts.items()}
    found = []
    for _, secret in CORPUS:
        for form in sorted(_forms(secret)):
            places = [where for where, low in lowered.items() if form.lower() in low]
            if places:
                found.append(f"{form!r} in {len(places)} place(s): {', '.join(places[:3])}")
                break
    return found


def _files(root: Path) -> dict[str, str]:
    texts = {}
    for folder in (".changenote", "notes", "wiki"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "backups" not in path.parts:
                texts[str(path.relative_to(root))] = path.read_bytes().decode("utf-8", "replace")
    return texts


#: Shapes carried by one change: each free-text field holds that many carriers, one a line
#: (every built-in rule stops at a line's end: `_packed` checks that, for every value), and
#: each repeatable option (`--cmd` outputs, `--metric`, ship's `--command`) is given that many
#: times. The refused `--cmd` and `--http` probes stay one shape per command: only the first
#: refused probe of a command would reach its error line.
PER_CHANGE = 5


def _packed(parts: list[str]) -> str:
    """Carriers one a line, where redaction masks each exactly as it masks it alone."""
    value = "\n".join(parts)
    assert redact(value) == "\n".join(redact(part) for part in parts), parts
    return value


def test_no_secret_of_the_corpus_survives_any_way_in(
    project: Path, server: TestServer, monkeypatch
):
    assert len(CORPUS) >= 50
    n = len(CORPUS)
    port = server.url.rsplit(":", 1)[1]
    printed: dict[str, str] = {}
    refused: list[str] = []

    def run(*args: str) -> None:
        result = invoke(*args)
        printed[f"output {len(printed)} of {' '.join(args)[:60]}"] = result.stdout + result.stderr
        if result.code != 0:  # refusing (a secret it could not store, a bad name) is fine
            assert result.stderr.count("\n") == 1, result.stderr
            refused.append(f"{args[0]} {args[1][:30]!r}: {result.stderr.strip()[:150]}")

    def shape(i: int, way: int) -> tuple[str, str]:
        return CORPUS[(i + way * 7) % n]

    for k in range(n):
        carrier = shape(k, 0)[0]
        # --cmd and --http holding the secret itself: refused, or stored redacted
        run("baseline", f"refused cmd {k}", "--cmd", f"true # {_line(carrier)}", "--runs", "1",
            "--warmup", "0")  # fmt: skip
        url_secret = shape(k, 1)[1]
        run("baseline", f"refused http {k}", "--http",
            f"GET http://127.0.0.1:{port}/x?access_token={quote(url_secret, safe='')}",
            "--runs", "1", "--warmup", "0")  # fmt: skip
    changes = range(0, n, PER_CHANGE)
    for c in changes:
        slots = range(c, min(c + PER_CHANGE, n))

        def field(way: int, slots: range = slots) -> str:
            return _packed([shape(i, way)[0] for i in slots])

        # commands whose output holds a secret (and a metric line named like one), and fields
        titles = [shape(i, 3)[0] for i in slots]
        args = ["baseline", _packed([f"{c} {titles[0]}", *titles[1:]])]
        manual = set()
        for j, i in enumerate(slots):
            out_carrier, out_secret = shape(i, 2)
            lines = [out_carrier]
            if _alone(out_secret):
                lines.append(f"changenote-metric: {out_secret}=3 ms")
            monkeypatch.setenv(f"CN_SECRET_OUT{j}", "\n".join(lines))
            args += ["--cmd", f'printf "%s\\n" "$CN_SECRET_OUT{j}"']
            name = shape(i, 8)[1]
            manual.add(name if _alone(name) else "p95_ms")
        args += ["--runs", "1", "--warmup", "0"]
        for way, flag in enumerate(("--route", "--input", "--noticed", "--expect"), start=4):
            args += [flag, field(way)]
        for name in sorted(manual):
            args += ["--metric", f"{name}=9ms"]
        run(*args)
        tick_cmd = _packed([f"true # {_line(shape(i, 9)[0])}" for i in slots])
        run("tick", "backup", "--cmd", tick_cmd, "--note", field(10))
        commands = [arg for i in slots for arg in ("--command", shape(i, 13)[0])]
        run("ship", "--reason", field(11), "--rollback", field(12), *commands,
            "--metric", "p95_ms=5ms")  # fmt: skip
    export = invoke("export")
    assert export.code == 0, export.stderr
    wiki = invoke("wiki", "--out", "wiki", "--format", "both")
    assert wiki.code == 0, wiki.stderr
    texts = {**_files(project), "export": export.stdout, **printed}
    assert len([t for t in texts if t.startswith("notes/")]) >= len(changes), "\n".join(refused)
    assert any(t.endswith("search-index.js") for t in texts)
    leaks = _leaks(texts)
    assert not leaks, "\n".join(leaks)
    # what is left is readable: the masks show where the secrets were
    reasons = "\n".join(json.loads(line)["reason"] for line in export.stdout.splitlines()
                        if json.loads(line)["reason"])  # fmt: skip
    assert "Bearer ***" in reasons and "postgres://app:***@db/prod" in reasons


def test_the_configs_own_patterns_are_masked_everywhere(project: Path, monkeypatch):
    config = project / "changenote.toml"
    config.write_text(config.read_text() + "redact_patterns = ['acme-[0-9a-f]{16}']\n")
    ticket = "acme-0123456789abcdef"
    monkeypatch.setenv("CN_SECRET_OUT", f"deployed with {ticket}")
    printed = []
    for args in (
        ("baseline", f"Slow with {ticket}", "--noticed", f"in {ticket}", "--runs", "1",
         "--warmup", "0", "--cmd", 'printf "%s\\n" "$CN_SECRET_OUT"'),
        ("tick", "backup", "--note", f"kept {ticket}"),
        ("ship", "--reason", f"rotated {ticket}", "--command", f"vault rotate {ticket}"),
        ("export", "--out", "all.jsonl"),
        ("wiki", "--out", "wiki", "--format", "both"),
    ):  # fmt: skip
        result = invoke(*args)
        assert result.code == 0, result.stderr
        printed.append(result.stdout + result.stderr)
    # an export from elsewhere is masked on the way in, by the same patterns
    line = json.loads((project / "all.jsonl").read_text())
    line.update(uid="b" * 32, slug="from-elsewhere", id=None, reason=f"theirs {ticket}")
    (project / "theirs.jsonl").write_text(json.dumps(line) + "\n")
    assert invoke("import", "theirs.jsonl").code == 0
    texts = {**_files(project), "export": invoke("export").stdout,
             **{f"output {i}": text for i, text in enumerate(printed)}}  # fmt: skip
    assert [where for where, text in texts.items() if ticket in text] == []
    assert "rotated ***" in texts["export"] and "theirs ***" in texts["export"]


def test_error_lines_mask_what_was_typed_and_stay_readable(project: Path):
    config = project / "changenote.toml"
    config.write_text(config.read_text() + "redact_patterns = ['acme-[0-9a-f]{16}']\n")
    (project / "secrets").mkdir()
    token = "xapp-1-A0123456789-1234567890123-" + "aB3dE5gH7jK9mN1pQ2" * 3  # too long a name
    for args, shown in (
        (("baseline", "x", "--metric", "acme-0123456789abcdef"), "--metric '***'"),
        (("baseline", "x", "--metric", f"{token}=1"), "metric name 'xapp-***'"),
        (("baseline", "x", "--http", "GET http://u:pw1234@127.0.0.1:1/ x"), "u:***@"),
        (("import", "secrets"), "secrets: no .jsonl or .md files to import"),
    ):
        result = invoke(*args)
        assert result.code != 0 and shown in result.stderr, result.stderr
        assert "acme-0123" not in result.stderr and token not in result.stderr
        assert "pw1234" not in result.stderr
