"""Paths and files: nothing a user types can put a file outside the notes folder.

Titles become slugs and slugs become file names; imported documents carry a note path
of their own. Neither may leave the notes folder, make an unusable file name (NUL, too
long, a reserved device name, dots only) or collide. The store is the owner's alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from changenote.store.db import slugify
from tests.conftest import invoke

pytestmark = pytest.mark.usefixtures("store_backend")

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
HOSTILE_TITLES = [
    "../../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\system32\\config",
    "..",
    ".",
    "~/.ssh/authorized_keys",
    "CON",
    "nul.txt",
    "COM1",
    "a" * 10_000,
    "\u0430\u0440\u0440\u04cf\u0435 (Cyrillic look-alike of apple)",
    "\uff43\uff4f\uff4e (fullwidth con)",
    "\u202eevil\u202c.md",
    "名前だけのタイトル",
    "x/../../y",
    "$(rm -rf ~) `id`",
    "title\nwith\nnewlines",
    "notes/../../outside",
]


@settings(max_examples=400, deadline=None, database=None)
@given(st.text())
@example("../" * 50)
@example("\x00")
@example("ǅ" * 100)
def test_any_title_gives_a_plain_bounded_slug(title: str):
    slug = slugify(title)
    assert SLUG.fullmatch(slug), slug
    assert len(slug) <= 60


def _note_files(project: Path) -> list[Path]:
    return sorted((project / "notes").glob("*.md"))


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_a_hostile_title_stays_a_plain_note_in_the_notes_folder(project: Path, title: str):
    assert invoke("baseline", title, "--metric", "x=1").code == 0
    shipped = invoke("ship", "--reason", "r", "--metric", "x=2", "--json")
    assert shipped.code == 0, shipped.stderr
    doc = shipped.json()
    assert doc["title"].split() == title.split() or "***" in doc["title"]
    [note] = _note_files(project)
    assert note.parent == project / "notes"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md", note.name), note.name
    assert len(note.name.encode()) < 100
    assert (project / doc["note_path"]).resolve() == note.resolve()
    # nothing was written anywhere else in the project
    written = {p for p in project.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert {p for p in written if ".changenote" not in p.parts} == {
        note,
        project / "app" / "search.py",
        project / "changenote.toml",
        project / ".gitignore",
    }


@pytest.mark.parametrize(
    "note_path",
    ["../outside.md", "/tmp/changenote-evil.md", "notes/../../outside.md", "notes/x.txt",
     "notes/sub\x00.md", ""],
)  # fmt: skip
def test_an_imported_note_path_outside_the_notes_folder_is_put_back_in_it(
    project: Path, note_path: object
):
    assert invoke("baseline", "Shipped one", "--metric", "x=1").code == 0
    assert invoke("ship", "--reason", "r", "--metric", "x=2").code == 0
    doc = json.loads(invoke("export").stdout)
    doc.update(uid="c" * 32, slug="from-elsewhere", id=77, note_path=note_path)
    (project / "theirs.jsonl").write_text(json.dumps(doc) + "\n")
    result = invoke("import", "theirs.jsonl")
    assert result.code == 0, result.stderr
    shown = invoke("show", "from-elsewhere", "--json").json()
    assert shown["note_path"] == f"notes/{doc['shipped_at'][:10]}-from-elsewhere.md"
    rendered = invoke("render")
    assert rendered.code == 0, rendered.stderr
    assert (project / shown["note_path"]).is_file()
    assert not (project.parent / "outside.md").exists()
    assert not Path("/tmp/changenote-evil.md").exists()


def test_an_imported_note_path_inside_the_notes_folder_is_kept(project: Path):
    assert invoke("baseline", "Shipped one", "--metric", "x=1").code == 0
    assert invoke("ship", "--reason", "r", "--metric", "x=2").code == 0
    doc = json.loads(invoke("export").stdout)
    doc.update(uid="d" * 32, slug="kept-path", id=78, note_path="notes/2020/kept-path.md")
    (project / "theirs.jsonl").write_text(json.dumps(doc) + "\n")
    assert invoke("import", "theirs.jsonl").code == 0
    assert invoke("show", "kept-path", "--json").json()["note_path"] == "notes/2020/kept-path.md"
    assert invoke("render").code == 0
    assert (project / "notes" / "2020" / "kept-path.md").is_file()


@pytest.mark.parametrize(
    "given", ["notes/../notes/2020/kept-path.md", "{root}/notes/2020/kept-path.md"]
)
def test_an_imported_note_path_is_kept_relative_and_plain(project: Path, given: str):
    assert invoke("baseline", "Shipped one", "--metric", "x=1").code == 0
    assert invoke("ship", "--reason", "r", "--metric", "x=2").code == 0
    doc = json.loads(invoke("export").stdout)
    first = doc["note_path"]
    twin = {**doc, "uid": "e" * 32, "slug": "twin", "id": 79}  # the first one's note path
    doc.update(uid="d" * 32, slug="kept-path", id=78, note_path=given.format(root=project))
    (project / "theirs.jsonl").write_text(json.dumps(doc) + "\n" + json.dumps(twin) + "\n")
    assert invoke("import", "theirs.jsonl").code == 0
    assert invoke("show", "kept-path", "--json").json()["note_path"] == "notes/2020/kept-path.md"
    twin_path = invoke("show", "twin", "--json").json()["note_path"]
    assert twin_path != first and twin_path.endswith("-twin.md")  # no shared note file
