"""Trust: whose changes may run their commands on this machine.

A change's probes are shell commands and HTTP targets, and its clear-cache command is
a shell command; ``measure`` and ``ship`` run them again. They run only for a change
recorded in this store by this user (or by anyone, with ``trust = "store"`` in the
config of a team store), or after ``changenote trust ID`` showed what it will run. A
change that came in through ``import`` is never trusted on its own: its commands are
someone else's words.
"""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING, Any

from changenote.config import Config
from changenote.errors import ChangenoteError

if TYPE_CHECKING:
    from changenote.store.models import Change


class UntrustedError(ChangenoteError):
    """A change whose commands would run here, and nobody here has said they may."""


def current_user() -> str:
    """Who runs this command (the login name, else the numeric user id)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError, ImportError):  # no passwd entry, no LOGNAME: a container
        name = ""
    if not name.strip():
        name = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return name[:64]


def what_it_runs(change: Change) -> list[dict[str, str]]:
    """Everything ``measure`` and ``ship`` would run for the change, in order."""
    runs: list[dict[str, str]] = []
    clear = (change.settings or {}).get("clear_cache")
    if clear:
        runs.append({"kind": "clear-cache", "what": str(clear)})
    for probe in change.probes or []:
        if not isinstance(probe, dict):
            continue
        kind, target = probe.get("kind"), str(probe.get("target") or "")
        if kind == "cmd" and target:
            runs.append({"kind": "command", "what": target})
        elif kind == "http" and target:
            runs.append({"kind": "http", "what": f"GET {target}"})
        probe_clear = (probe.get("settings") or {}).get("clear_cache")
        if probe_clear and probe_clear != clear:
            runs.append({"kind": "clear-cache", "what": str(probe_clear)})
    return runs


def why_not(change: Change, config: Config, user: str | None = None) -> str | None:
    """Why the change's commands may not run here, or None when they may."""
    if change.trusted_at is not None:
        return None
    user = current_user() if user is None else user
    if change.origin == "recorded":
        if config.trust == "store" or change.recorded_by == user:
            return None
        who = change.recorded_by or "someone else"
        return f"was recorded by {who}, not by {user}"
    if change.origin == "imported":
        return "came from an import"
    return "was recorded before changenote kept who recorded a change"


def refuse_untrusted(change: Change, config: Config) -> None:
    """Raise :class:`UntrustedError` unless the change's commands may run here."""
    reason = why_not(change, config)
    if reason is None or not what_it_runs(change):
        return
    raise UntrustedError(
        f"change {change.slug!r} {reason}, so its commands do not run here until you "
        f"trust them: see them with `changenote trust {change.slug}`"
    )


def summary(change: Change, config: Config) -> dict[str, Any]:
    """The trust record of a change, as ``trust`` and ``show`` report it."""
    reason = why_not(change, config)
    return {
        "id": change.id,
        "slug": change.slug,
        "origin": change.origin,
        "recorded_by": change.recorded_by,
        "trusted": reason is None,
        "why_not": reason,
        "trusted_by": change.trusted_by,
        "trusted_at": change.trusted_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if change.trusted_at
        else None,
        "runs": what_it_runs(change),
    }
