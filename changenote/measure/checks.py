"""Configured checks as probes: a ``[checks.NAME]`` table turned into what measures it.

``baseline --check``, ``ship``, ``watch`` and ``changenote check`` all run a check
through the probe this module builds, so each sees the same definition.
"""

from __future__ import annotations

import difflib
from typing import Any

from changenote.config import CheckConfig, Config
from changenote.errors import NotFoundError
from changenote.specs import ProbeSpec, parse_cmd, parse_http

#: Without ``expect_status``, an HTTP check is up when it answers below 400.
UP_STATUSES = tuple(range(200, 400))


def find_check(config: Config, name: str) -> CheckConfig:
    """The configured check ``name``, or an error that suggests the nearest name."""
    check = config.checks.get(name)
    if check is not None:
        return check
    known = sorted(config.checks)
    hint = difflib.get_close_matches(name, known, n=1)
    if hint:
        extra = f"; did you mean '{hint[0]}'?"
    else:
        extra = f" (configured: {', '.join(known)})" if known else " (none configured)"
    raise NotFoundError(f"unknown check {name!r}{extra}")


def check_spec(check: CheckConfig, headers: tuple[tuple[str, str], ...] = ()) -> ProbeSpec:
    """The probe a check runs, with what it expects and its whole definition kept."""
    if check.prom:
        from changenote.specs import parse_offset, parse_prom_duration

        prom_settings: dict[str, Any] = {"name": check.name, "definition": check.definition()}
        for key in ("window", "step"):
            raw = getattr(check, key)
            if raw:
                prom_settings[key] = parse_prom_duration(raw, key)
        if check.vs:
            prom_settings["vs"] = parse_offset(check.vs, "vs")
        if check.unit:
            prom_settings["unit"] = check.unit
        return ProbeSpec(
            "prom", check.prom.strip(), tuple(check.headers.items()), check.name, prom_settings
        )
    base = parse_http(check.http) if check.http else parse_cmd(check.cmd or "")
    settings = {
        "runs": check.runs,
        "warmup": check.warmup,
        "timeout": check.timeout,
        "clear_cache": check.clear_cache,
        "expect_status": list(check.expect_status) or None,
        "expect_json": check.expect_json or None,
        "better": check.better or None,
        # kept whole, so ship can say when the config changed since the baseline
        "definition": check.definition(),
    }
    return ProbeSpec(
        base.kind,
        base.target,
        tuple(check.headers.items()) + (headers if base.kind == "http" else ()),
        check=check.name,
        settings={k: v for k, v in settings.items() if v is not None},
    )


def monitoring_spec(check: CheckConfig) -> ProbeSpec:
    """The check's probe for monitoring (``check``, ``watch``): without ``expect_status``,
    an HTTP answer counts as up only below 400."""
    spec = check_spec(check)
    if spec.kind != "http" or check.expect_status:
        return spec
    settings = {**spec.settings, "expect_status": list(UP_STATUSES)}
    return ProbeSpec(spec.kind, spec.target, spec.headers, spec.check, settings)
