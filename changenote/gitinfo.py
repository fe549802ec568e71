"""What git knows: the commit, the dirty state, the files a change touched.

Outside a git repository (or without git installed) every function answers
"nothing known" instead of failing: changenote works without git.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: A folder holding this file is a wiki changenote wrote (``changenote wiki --out``).
WIKI_MARKER = ".changenote-wiki.db"


@dataclass(frozen=True)
class GitState:
    """The repository at one moment."""

    commit: str | None = None
    dirty: bool = False
    #: Modified or untracked files (relative to the root) and a hash of their content.
    dirty_files: dict[str, str] = field(default_factory=dict)
    #: False outside a git repository (or without git): nothing here could be known.
    repository: bool = True


def _own(top: Path, exclude: list[Path]) -> Callable[[str], bool]:
    """Whether a path (relative to ``top``) is changenote's own: under one of ``exclude``
    (files or folders: the notes, the store, the config it wrote) or in a wiki folder."""
    rel: list[str] = []
    for path in exclude:
        try:
            rel.append(path.resolve().relative_to(top).as_posix())
        except ValueError:
            continue
    exact = {e for e in rel if e and e != "."}
    prefixes = tuple(e.rstrip("/") + "/" for e in exact)
    wikis: dict[str, bool] = {}

    def in_wiki(path: str) -> bool:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in wikis:
                wikis[folder] = (top / folder / WIKI_MARKER).is_file()
            if wikis[folder]:
                return True
        return False

    return lambda path: path in exact or path.startswith(prefixes) or in_wiki(path)


def _git(root: Path, *args: str, input_text: str | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=30,
            input=input_text,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _changed_paths(root: Path, since: str | None) -> list[str]:
    """Tracked files differing from ``since`` (or HEAD) plus untracked, not ignored, files."""
    paths: set[str] = set()
    diff_args = ["diff", "--name-only", "-z", "--no-renames"]
    if since:
        diff_args.append(since)
        listed = _git(root, *diff_args)
    else:
        # No commit yet: everything in the index or the tree is new.
        listed = _git(root, "ls-files", "-z")
    if listed:
        paths.update(p for p in listed.split("\0") if p)
    # `git diff <commit>` already compares the work tree, staged or not.
    staged = None if since else _git(root, "diff", "--name-only", "-z", "--cached")
    if staged:
        paths.update(p for p in staged.split("\0") if p)
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    if untracked:
        paths.update(p for p in untracked.split("\0") if p)
    return sorted(paths)


def _hashes(root: Path, paths: list[str]) -> dict[str, str]:
    existing = [p for p in paths if (root / p).is_file()]
    hashes = dict.fromkeys(paths, "deleted")
    if existing:
        out = _git(root, "hash-object", "--stdin-paths", input_text="\n".join(existing) + "\n")
        if out:
            hashes.update(zip(existing, out.split(), strict=False))
    return hashes


def state(root: Path, exclude: list[Path] | None = None) -> GitState:
    """The current commit and dirty files of the repository at ``root``; files that are
    changenote's own (``exclude``, wiki folders) do not make it dirty."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return GitState(repository=False)
    root = Path(top.strip()).resolve()
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    commit = head.strip() if head else None
    own = _own(root, exclude or [])
    dirty = [p for p in _changed_paths(root, commit or None) if not own(p)]
    return GitState(commit=commit, dirty=bool(dirty), dirty_files=_hashes(root, dirty))


@dataclass(frozen=True)
class Touched:
    """The files a change touched, and whether the baseline commit could still be found."""

    paths: list[str]
    base_missing: bool = False
    #: False outside a git repository: the files touched could not be collected.
    repository: bool = True


def files_touched(
    root: Path, base_commit: str | None, base_dirty: dict[str, str], exclude: list[Path]
) -> Touched:
    """Everything changed since ``base_commit``, committed or not.

    A file that was already dirty at baseline and has not changed since is left out;
    so is what is changenote's own (``exclude``: the notes, the store, the config it
    wrote; and any wiki folder it built). When
    the baseline commit is gone (amended, rebased, another clone), only what differs
    from HEAD can be told, and ``base_missing`` says so.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return Touched([], repository=False)
    top_path = Path(top.strip()).resolve()
    own = _own(top_path, exclude)
    base_missing = False
    if base_commit and _git(root, "cat-file", "-e", f"{base_commit}^{{commit}}") is None:
        base_missing = True
        head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
        base_commit = head.strip() if head else None
    paths = _changed_paths(top_path, base_commit)
    current = _hashes(top_path, [p for p in paths if p in base_dirty])
    kept = [
        p for p in paths if not own(p) and not (p in base_dirty and current.get(p) == base_dirty[p])
    ]
    return Touched(kept, base_missing)


def user_name(root: Path) -> str | None:
    out = _git(root, "config", "user.name")
    return out.strip() or None if out else None


def author_name(root: Path) -> str | None:
    """The name git would put on a commit made here (``GIT_AUTHOR_NAME``, else
    ``user.name``); None when git has none."""
    out = _git(root, "var", "GIT_AUTHOR_IDENT")
    name = out.split(" <", 1)[0].strip() if out and " <" in out else ""
    return name or None
