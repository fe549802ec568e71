"""What git knows: the commit, the dirty state, the files a change touched.

Outside a git repository (or without git installed) every function answers
"nothing known" instead of failing: changenote works without git.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    """The repository at one moment."""

    commit: str | None = None
    dirty: bool = False
    #: Modified or untracked files (relative to the root) and a hash of their content.
    dirty_files: dict[str, str] = field(default_factory=dict)


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


def state(root: Path) -> GitState:
    """The current commit and dirty files of the repository at ``root``."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return GitState()
    root = Path(top.strip())
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    commit = head.strip() if head else None
    dirty = _changed_paths(root, commit or None) if commit else _changed_paths(root, None)
    return GitState(commit=commit, dirty=bool(dirty), dirty_files=_hashes(root, dirty))


@dataclass(frozen=True)
class Touched:
    """The files a change touched, and whether the baseline commit could still be found."""

    paths: list[str]
    base_missing: bool = False


def files_touched(
    root: Path, base_commit: str | None, base_dirty: dict[str, str], exclude: list[Path]
) -> Touched:
    """Everything changed since ``base_commit``, committed or not.

    A file that was already dirty at baseline and has not changed since is left out;
    so is anything under the ``exclude`` folders (the notes folder, the store). When
    the baseline commit is gone (amended, rebased, another clone), only what differs
    from HEAD can be told, and ``base_missing`` says so.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return Touched([])
    top_path = Path(top.strip()).resolve()
    rel_excludes = []
    for path in exclude:
        try:
            rel_excludes.append(path.resolve().relative_to(top_path).as_posix())
        except ValueError:
            continue
    base_missing = False
    if base_commit and _git(root, "cat-file", "-e", f"{base_commit}^{{commit}}") is None:
        base_missing = True
        head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
        base_commit = head.strip() if head else None
    paths = _changed_paths(top_path, base_commit)
    current = _hashes(top_path, [p for p in paths if p in base_dirty])
    prefixes = tuple(e.rstrip("/") + "/" for e in rel_excludes if e and e != ".")
    kept = [
        p
        for p in paths
        if not p.startswith(prefixes) and not (p in base_dirty and current.get(p) == base_dirty[p])
    ]
    return Touched(kept, base_missing)


def user_name(root: Path) -> str | None:
    out = _git(root, "config", "user.name")
    return out.strip() or None if out else None
