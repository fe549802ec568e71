"""Probes as a change stores them, and running them again for `measure` and `ship`.

A secret is masked before a probe is stored. One in a header can be given again
(``--header``); one inside a command, a URL or a clear-cache command is lost, so
``baseline`` refuses such a probe before measuring, and re-running refuses it too
(for stores written before that rule).
"""

from __future__ import annotations

from typing import Any

from changenote.config import Config
from changenote.errors import ChangenoteError, ProbeError
from changenote.measure.probes import MeasureSettings
from changenote.redact import MASK
from changenote.specs import MAX_RUNS, MAX_TIMEOUT, MAX_WARMUP, ProbeSpec, parse_header

HINT = (
    "keep it in an environment variable instead: '$NAME' in a command (single "
    "quotes), '${NAME}' in a URL or header"
)


def lost_secret(data: dict[str, Any]) -> str | None:
    """What part of a stored probe lost a secret to redaction, or None."""
    if data.get("kind") == "results":  # never run: matched by its (masked) name
        return None
    if MASK in (data.get("target") or ""):
        where = "command" if data["kind"] == "cmd" else "URL"
        return f"the {where} of {data['label']}"
    clear = (data.get("settings") or {}).get("clear_cache")
    if clear and MASK in clear:
        return f"the clear-cache command of {data['label']}"
    return None


def refuse_unrepeatable(stored: list[dict[str, Any]], clear_cache_stored: str | None) -> None:
    """At baseline, before measuring: refuse probes that ship could never run again."""
    for data in stored:
        what = lost_secret(data)
        if what is not None:
            tail = ", so ship could not run it again" if not what.startswith("the clear") else ""
            raise ProbeError(f"{what} holds a secret that would not be stored{tail}; {HINT}")
    if clear_cache_stored and MASK in clear_cache_stored:
        raise ProbeError(
            f"the --clear-cache command holds a secret that would not be stored; {HINT}"
        )


def _not_stored(what: str) -> ProbeError:
    return ProbeError(
        f"{what} held a secret that was not stored, so it cannot be run again; {HINT}"
    )


def rerun_specs(stored: list[dict[str, Any]], headers: list[str]) -> list[ProbeSpec]:
    """The change's probes with real values: stored ones, plus headers given again."""
    given = {name.lower(): value for name, value in (parse_header(h) for h in headers)}
    specs = []
    for data in stored:
        what = lost_secret(data)
        if what is not None and not what.startswith("the clear"):
            raise _not_stored(what)
        spec = ProbeSpec.from_dict(data)
        fixed = []
        for name, value in spec.headers:
            if name.lower() in given:
                value = given[name.lower()]
            elif MASK in value:
                raise ProbeError(
                    f"header {name} of {data['label']} was redacted when stored; "
                    f"pass it again with --header '{name}: ...'"
                )
            fixed.append((name, value))
        specs.append(ProbeSpec(spec.kind, spec.target, tuple(fixed), spec.check, spec.settings))
    return specs


def rerun_settings(stored: dict[str, Any], config: Config) -> MeasureSettings:
    """The measuring settings the baseline used."""
    from changenote.notebook.schema import show

    clear = stored.get("clear_cache")
    if clear is not None and not isinstance(clear, str):
        raise ChangenoteError(f"the change's stored clear-cache command is {show(clear)}")
    if clear and MASK in clear:
        raise _not_stored("the clear-cache command")
    runs, warmup, timeout = (
        stored.get("runs", config.runs),
        stored.get("warmup", config.warmup),
        stored.get("timeout", config.timeout),
    )
    # What an older changenote let an import store: a measurement that never ends.
    for name, value, least, most in (
        ("runs", runs, 1, MAX_RUNS),
        ("warmup", warmup, 0, MAX_WARMUP),
        ("timeout", timeout, 0, MAX_TIMEOUT),
    ):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        whole = name == "timeout" or (number and float(value).is_integer())
        if not (number and whole and least <= value <= most) or (name == "timeout" and not value):
            raise ChangenoteError(
                f"the change's stored settings ask for {name} {show(value)}; "
                f"changenote measures with {least} to {most:,}"
            )
    return MeasureSettings(
        runs=int(runs), warmup=int(warmup), timeout=float(timeout), clear_cache=clear
    )
