"""Finding and validating the project configuration.

A project is configured by ``changenote.toml`` (keys at the top level) or by the
``[tool.changenote]`` table of ``pyproject.toml``. The file is found by walking up
from the current folder; the folder that holds it is the project root. Without a
config file the root is the git root, else the current folder.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from changenote.errors import ConfigError
from changenote.specs import MAX_RUNS, MAX_TIMEOUT, MAX_WARMUP

CONFIG_NAME = "changenote.toml"
DATABASE_ENV = "CHANGENOTE_DATABASE_URL"
STORE_DIR = ".changenote"
STORE_FILE = "changenote.db"


@dataclass(frozen=True)
class ChecklistItemConfig:
    """An extra checklist item a project adds after the five standard steps."""

    key: str
    label: str


@dataclass(frozen=True)
class MetricConfig:
    """How one metric is judged, under ``[metrics.NAME]``."""

    name: str
    #: Smallest change (percent; percentage points for rates) called improved/regressed.
    min_effect: float | None = None
    #: Which way is better: "lower" or "higher".
    better: str | None = None


@dataclass(frozen=True)
class CheckConfig:
    """A reusable probe defined once under ``[checks.NAME]``."""

    name: str
    #: ``"[METHOD] URL"`` for an HTTP check.
    http: str | None = None
    #: A shell command for a command check.
    cmd: str | None = None
    #: A PromQL query for a Prometheus check, read over a window (docs/PROMETHEUS.md).
    prom: str | None = None
    #: The Prometheus check's window and step, as durations (``30m``, ``15s``).
    window: str | None = None
    step: str | None = None
    #: A Prometheus check's second reference, how far back (``-7d``), and its unit.
    vs: str | None = None
    unit: str | None = None
    #: Headers sent with the HTTP check (``{"Authorization": "Bearer ${TOKEN}"}``).
    headers: dict[str, str] = field(default_factory=dict)
    #: Per-check overrides of the measuring settings.
    runs: int | None = None
    warmup: int | None = None
    timeout: float | None = None
    clear_cache: str | None = None
    #: HTTP statuses that count as success (default: any below 500 measures, below 400
    #: is up for ``changenote check``).
    expect_status: tuple[int, ...] = ()
    #: JSON fields the HTTP response must hold, by dotted path: ``{"ok": true}``.
    expect_json: dict[str, Any] = field(default_factory=dict)
    #: A median response time above this many milliseconds is "slow".
    slow_ms: float | None = None
    #: An error rate above this (0 to 1) is "failing"; default 0.
    max_error_rate: float | None = None
    #: Which way is better for the custom metrics a command check prints.
    better: dict[str, str] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        """What the check measures and expects, as stored with a change that used it."""
        data: dict[str, Any]
        if self.prom:
            data = {"prom": self.prom}
        else:
            data = {"http": self.http} if self.http else {"cmd": self.cmd}
        if self.headers:
            data["headers"] = sorted(self.headers)  # names only: values may be secrets
        for key in ("runs", "warmup", "timeout", "clear_cache", "slow_ms", "max_error_rate",
                    "window", "step", "vs", "unit"):  # fmt: skip
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.expect_status:
            data["expect_status"] = list(self.expect_status)
        if self.expect_json:
            data["expect_json"] = dict(sorted(self.expect_json.items()))
        if self.better:
            data["better"] = dict(sorted(self.better.items()))
        return data


@dataclass(frozen=True)
class Config:
    """The validated settings of one project. Every field is documented in docs/CONFIG.md."""

    #: The folder that holds the config file (or the git root, or the current folder).
    root: Path
    #: The file the settings came from, if any.
    source: Path | None = None
    #: Default service name for new changes.
    service: str | None = None
    #: Default owner for new changes (``init`` fills it from ``git config user.name``).
    owner: str | None = None
    #: Where notes are written, relative to the root.
    notes_dir: str = "notes"
    #: An SQLAlchemy URL; default ``sqlite:///<root>/.changenote/changenote.db``.
    database_url: str | None = None
    #: The Prometheus server ``--prom`` probes ask (``CHANGENOTE_PROMETHEUS_URL`` wins).
    prometheus_url: str | None = None
    #: A folder of templates that override the built-in ones, relative to the root.
    templates_dir: str | None = None
    #: Measured runs per probe.
    runs: int = 10
    #: Unmeasured warm-up runs per probe.
    warmup: int = 1
    #: Seconds before one probe run counts as an error (commands are killed).
    timeout: float = 30.0
    #: Smallest relative change (percent) reported as improved or regressed.
    min_effect: float = 5.0
    #: Extra regular expressions whose matches are redacted before storing.
    redact_patterns: tuple[str, ...] = ()
    #: Project checklist items added after the five standard steps.
    checklist: tuple[ChecklistItemConfig, ...] = ()
    #: Reusable checks by name.
    checks: dict[str, CheckConfig] = field(default_factory=dict)
    #: Per-metric judging: minimum effect and which way is better.
    metrics: dict[str, MetricConfig] = field(default_factory=dict)
    #: Whose recorded changes run here without ``changenote trust``: ``own`` (the user
    #: who recorded them) or ``store`` (anyone recording in this store: a team store).
    trust: str = "own"
    #: Days after which a reviewed note is due for review again (None: never).
    review_after_days: int | None = None

    def metric_rules(self) -> dict[str, dict[str, Any]]:
        """The per-metric settings a change keeps, so ship judges as baseline meant."""
        return {
            name: {k: v for k, v in (("min_effect", m.min_effect), ("better", m.better)) if v}
            for name, m in self.metrics.items()
        }

    @property
    def notes_path(self) -> Path:
        """The absolute notes folder."""
        return (self.root / self.notes_dir).resolve()

    @property
    def templates_path(self) -> Path | None:
        """The absolute template override folder, if configured."""
        return (self.root / self.templates_dir).resolve() if self.templates_dir else None

    def own_paths(self) -> list[Path]:
        """What changenote itself writes in the project: the notes folder, the store
        folder, and the config file when it is changenote's own (not pyproject.toml).
        None of it is the user's change: it never makes the tree dirty or a file touched."""
        own = [self.notes_path, self.root / STORE_DIR]
        if self.source is not None and self.source.name == CONFIG_NAME:
            own.append(self.source)
        return own

    def store_url(self) -> str:
        """The database URL: the environment wins, then the config, then the default file."""
        url = os.environ.get(DATABASE_ENV) or self.database_url
        if not url:
            return f"sqlite:///{self.root / STORE_DIR / STORE_FILE}"
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url[len("sqlite:///") :]
            if rel and rel != ":memory:" and not Path(rel).is_absolute():
                return f"sqlite:///{(self.root / rel).resolve()}"
        return url


#: Settings of ``trust``: whose recorded changes run without ``changenote trust``.
TRUST_LEVELS = ("own", "store")
_TOP_KEYS = {f.name for f in fields(Config)} - {"root", "source"}
_CHECK_KEYS = {f.name for f in fields(CheckConfig)} - {"name"}
_ITEM_KEYS = {"key", "label"}
_STANDARD_KEYS = {"capture", "backup", "test", "watch", "note"}
_METRIC_KEYS = {f.name for f in fields(MetricConfig)} - {"name"}


def _unknown(key: str, allowed: set[str], where: str) -> ConfigError:
    hint = difflib.get_close_matches(key, sorted(allowed), n=1, cutoff=0.6)
    suggestion = (
        f"; did you mean '{hint[0]}'?" if hint else f" (known: {', '.join(sorted(allowed))})"
    )
    return ConfigError(f"{where}: unknown key '{key}'{suggestion}")


def _expect(value: Any, kind: type | tuple[type, ...], key: str, where: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{where}: '{key}' must be a number, not a boolean")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: '{key}' must be {names}, got {type(value).__name__}")
    return value


def _positive_int(value: Any, key: str, where: str, minimum: int, maximum: int) -> int:
    _expect(value, int, key, where)
    if value < minimum:
        raise ConfigError(f"{where}: '{key}' must be at least {minimum}, got {value}")
    if value > maximum:
        shown = value if value.bit_length() < 64 else "more"
        raise ConfigError(f"{where}: '{key}' can be at most {maximum:,}, got {shown}")
    return int(value)


def _positive_float(value: Any, key: str, where: str) -> float:
    _expect(value, (int, float), key, where)
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer past the float range (TOML integers are unbounded)
        finite = False
    if not finite:
        raise ConfigError(f"{where}: '{key}' must be a finite number, got {value}")
    if value <= 0:
        raise ConfigError(f"{where}: '{key}' must be greater than 0, got {value}")
    return float(value)


def _timeout(value: Any, where: str) -> float:
    seconds = _positive_float(value, "timeout", where)
    if seconds > MAX_TIMEOUT:
        raise ConfigError(f"{where}: 'timeout' can be at most {MAX_TIMEOUT:,} s, got {seconds:g}")
    return seconds


def _parse_check(name: str, raw: Any, where: str) -> CheckConfig:
    here = f"{where} [checks.{name}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{here}: must be a table")
    for key in raw:
        if key not in _CHECK_KEYS:
            raise _unknown(key, _CHECK_KEYS, here)
    http = raw.get("http")
    cmd = raw.get("cmd")
    prom = raw.get("prom")
    if sum(x is not None for x in (http, cmd, prom)) != 1:
        raise ConfigError(f"{here}: give exactly one of 'http', 'cmd' or 'prom'")
    from changenote.errors import UsageError
    from changenote.specs import (
        parse_cmd,
        parse_header,
        parse_http,
        parse_offset,
        parse_prom,
        parse_prom_duration,
    )

    try:  # the same rules as on the command line, reported against the config
        if http is not None:
            parse_http(_expect(http, str, "http", here))
        if cmd is not None:
            parse_cmd(_expect(cmd, str, "cmd", here))
        if prom is not None and parse_prom(_expect(prom, str, "prom", here)).settings.get("name"):
            raise UsageError("--prom: a check's query is named by the check; drop 'NAME='")
        if prom is None:
            prom_only = [k for k in ("window", "step", "vs", "unit") if k in raw]
            if prom_only:
                raise UsageError(f"'{prom_only[0]}' applies to a Prometheus check only")
        for key in ("window", "step"):
            if key in raw:
                parse_prom_duration(_expect(raw[key], str, key, here), key)
        if "vs" in raw:
            parse_offset(_expect(raw["vs"], str, "vs", here), "vs")
        if "unit" in raw:
            unit = _expect(raw["unit"], str, "unit", here)
            if not unit.strip() or len(unit) > 16 or any(c < " " for c in unit):
                raise UsageError('\'unit\' must be a short unit such as "s" or "ratio"')
    except UsageError as exc:
        text = str(exc)
        for flag in ("--http", "--cmd", "--prom"):
            text = text.replace(flag, flag[2:])
        raise ConfigError(f"{here}: {text}") from None
    headers: dict[str, str] = {}
    for hname, hvalue in _expect(raw.get("headers", {}), dict, "headers", here).items():
        _expect(hvalue, str, f"headers.{hname}", here)
        try:
            parsed, value = parse_header(f"{hname}: {hvalue}")
        except UsageError as exc:
            raise ConfigError(f"{here}: headers: {str(exc).replace('--header ', '')}") from None
        if parsed != hname:  # "X: y" = "z" would read as X, and be sent as a broken name
            raise ConfigError(f"{here}: headers: {hname!r} is not a header name")
        headers[hname] = value  # stripped, as on the command line (the client refuses spaces)
    http_only = [k for k in ("expect_status", "expect_json", "headers") if k in raw]
    if cmd is not None and http_only:
        raise ConfigError(f"{here}: '{http_only[0]}' applies to an HTTP check only")
    if prom is not None:
        wrong = [k for k in ("expect_status", "expect_json", "clear_cache", "runs", "warmup",
                             "slow_ms", "max_error_rate", "better") if k in raw]  # fmt: skip
        if wrong:
            raise ConfigError(f"{here}: '{wrong[0]}' does not apply to a Prometheus check")
    return CheckConfig(
        name=name,
        http=_expect(http, str, "http", here) if http is not None else None,
        cmd=_expect(cmd, str, "cmd", here) if cmd is not None else None,
        prom=prom,
        window=raw.get("window"),
        step=raw.get("step"),
        vs=raw.get("vs"),
        unit=raw["unit"].strip() if "unit" in raw else None,
        headers=headers,
        runs=_positive_int(raw["runs"], "runs", here, 1, MAX_RUNS) if "runs" in raw else None,
        warmup=_positive_int(raw["warmup"], "warmup", here, 0, MAX_WARMUP)
        if "warmup" in raw
        else None,
        timeout=_timeout(raw["timeout"], here) if "timeout" in raw else None,
        clear_cache=_expect(raw["clear_cache"], str, "clear_cache", here)
        if "clear_cache" in raw
        else None,
        expect_status=_statuses(raw.get("expect_status", []), here),
        expect_json=_json_fields(raw.get("expect_json", {}), here),
        slow_ms=_positive_float(raw["slow_ms"], "slow_ms", here) if "slow_ms" in raw else None,
        max_error_rate=_rate(raw["max_error_rate"], "max_error_rate", here)
        if "max_error_rate" in raw
        else None,
        better=_better_table(raw.get("better", {}), here),
    )


def _statuses(value: Any, where: str) -> tuple[int, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        _expect(item, int, "expect_status", where)
        if not 100 <= item <= 599:
            raise ConfigError(f"{where}: 'expect_status' must be HTTP statuses, got {item}")
    return tuple(items)


def _json_fields(value: Any, where: str) -> dict[str, Any]:
    _expect(value, dict, "expect_json", where)
    for key, expected in value.items():
        if not isinstance(expected, (str, int, float, bool)):
            raise ConfigError(
                f"{where}: 'expect_json.{key}' must be a string, number or boolean, "
                f"got {type(expected).__name__}"
            )
    return dict(value)


def _rate(value: Any, key: str, where: str) -> float:
    _expect(value, (int, float), key, where)
    if not 0 <= value <= 1:
        raise ConfigError(f"{where}: '{key}' must be between 0 and 1, got {value}")
    return float(value)


def _better_table(value: Any, where: str) -> dict[str, str]:
    _expect(value, dict, "better", where)
    for metric, way in value.items():
        if way not in ("lower", "higher"):
            raise ConfigError(f'{where}: \'better.{metric}\' must be "lower" or "higher"')
    return dict(value)


def _parse_metric(name: str, raw: Any, where: str) -> MetricConfig:
    here = f"{where} [metrics.{name}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{here}: must be a table")
    for key in raw:
        if key not in _METRIC_KEYS:
            raise _unknown(key, _METRIC_KEYS, here)
    better = raw.get("better")
    if better is not None and better not in ("lower", "higher"):
        raise ConfigError(f'{here}: \'better\' must be "lower" or "higher", got {better!r}')
    return MetricConfig(
        name=name,
        min_effect=_positive_float(raw["min_effect"], "min_effect", here)
        if "min_effect" in raw
        else None,
        better=better,
    )


def parse_config(raw: dict[str, Any], root: Path, source: Path | None) -> Config:
    """Validate a raw TOML table into a :class:`Config`; unknown keys are errors."""
    where = str(source.name if source else "config")
    if source is not None and source.name == "pyproject.toml":
        where = "pyproject.toml [tool.changenote]"
    for key in raw:
        if key not in _TOP_KEYS:
            raise _unknown(key, _TOP_KEYS, where)
    values: dict[str, Any] = {}
    for key in ("service", "owner", "notes_dir", "database_url", "templates_dir", "prometheus_url"):
        if key in raw:
            values[key] = _expect(raw[key], str, key, where)
    if "runs" in raw:
        values["runs"] = _positive_int(raw["runs"], "runs", where, 1, MAX_RUNS)
    if "warmup" in raw:
        values["warmup"] = _positive_int(raw["warmup"], "warmup", where, 0, MAX_WARMUP)
    if "timeout" in raw:
        values["timeout"] = _timeout(raw["timeout"], where)
    if "review_after_days" in raw:
        values["review_after_days"] = _positive_int(
            raw["review_after_days"], "review_after_days", where, 1, 36_500
        )
    if "trust" in raw:
        trust = _expect(raw["trust"], str, "trust", where)
        if trust not in TRUST_LEVELS:
            raise ConfigError(
                f"{where}: 'trust' is {trust!r}; use one of: {', '.join(TRUST_LEVELS)}"
            )
        values["trust"] = trust
    if "min_effect" in raw:
        values["min_effect"] = _positive_float(raw["min_effect"], "min_effect", where)
    if "redact_patterns" in raw:
        patterns = _expect(raw["redact_patterns"], list, "redact_patterns", where)
        from changenote.redact import compile_extra

        try:
            compile_extra(patterns)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: 'redact_patterns': {exc}") from None
        except (OverflowError, RecursionError) as exc:  # re.compile: a{4294967296}, ((((...
            raise ConfigError(
                f"{where}: 'redact_patterns': a pattern is too large to compile ({exc})"
            ) from None
        values["redact_patterns"] = tuple(patterns)
    if "checklist" in raw:
        items: list[ChecklistItemConfig] = []
        for i, item in enumerate(_expect(raw["checklist"], list, "checklist", where)):
            here = f"{where} checklist[{i}]"
            _expect(item, dict, "checklist item", here)
            for key in item:
                if key not in _ITEM_KEYS:
                    raise _unknown(key, _ITEM_KEYS, here)
            if "key" not in item or "label" not in item:
                raise ConfigError(f"{here}: needs both 'key' and 'label'")
            key = _expect(item["key"], str, "key", here).strip()
            if not key or key in {i.key for i in items} or key in _STANDARD_KEYS:
                what = "empty" if not key else "already used"
                raise ConfigError(f"{here}: key {key!r} is {what}")
            items.append(
                ChecklistItemConfig(
                    key=_expect(item["key"], str, "key", here),
                    label=_expect(item["label"], str, "label", here),
                )
            )
        values["checklist"] = tuple(items)
    if "metrics" in raw:
        table = _expect(raw["metrics"], dict, "metrics", where)
        values["metrics"] = {name: _parse_metric(name, spec, where) for name, spec in table.items()}
    if "checks" in raw:
        checks = _expect(raw["checks"], dict, "checks", where)
        values["checks"] = {name: _parse_check(name, spec, where) for name, spec in checks.items()}
    return Config(root=root, source=source, **values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: not UTF-8 ({exc.reason})") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: not valid TOML: nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Walk up from ``start`` to the first changenote.toml or pyproject.toml with our table."""
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            data = _read_toml(candidate)
            # changenote.toml may also nest its keys under [tool.changenote].
            tool = data.get("tool")
            nested = (
                tool.get("changenote") if set(data) == {"tool"} and isinstance(tool, dict) else None
            )
            return candidate, (nested if isinstance(nested, dict) else data)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            data = _read_toml(pyproject)
            tool = data.get("tool")
            table = tool.get("changenote") if isinstance(tool, dict) else None
            if table is not None:
                if not isinstance(table, dict):
                    raise ConfigError("pyproject.toml: [tool.changenote] must be a table")
                return pyproject, table
    return None


def git_root(start: Path) -> Path | None:
    """The top of the git work tree holding ``start``, or None (no subprocess needed)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def load_config(start: Path | None = None) -> Config:
    """Find and validate the configuration for the folder ``start`` (default: cwd)."""
    global REDACT_PATTERNS
    here = (start or Path.cwd()).resolve()
    found = find_config_file(here)
    if found is not None:
        path, table = found
        config = parse_config(table, path.parent, path)
        REDACT_PATTERNS = tuple(config.redact_patterns)
        return config
    return Config(root=git_root(here) or here)


#: The redaction patterns of the configuration loaded last (for error lines: cli._fail).
REDACT_PATTERNS: tuple[str, ...] = ()


def _toml_string(value: str) -> str:
    """A TOML basic string; JSON's escapes (\\n, \\u0001) are valid TOML too, and DEL, which
    JSON leaves alone and TOML refuses, is escaped the same way."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def starter_config(service: str, owner: str | None, notes_dir: str) -> str:
    """The text of a starter ``changenote.toml``, every setting explained."""
    owner_line = f"owner = {_toml_string(owner)}" if owner else '# owner = "your name"'
    return f"""# changenote configuration; changenote's docs/CONFIG.md describes every setting.
# The folder holding this file is the project root; the store lives in .changenote/.

# Defaults for new changes.
service = {_toml_string(service)}
{owner_line}

# Where notes are written (relative to this folder).
notes_dir = {_toml_string(notes_dir)}

# How probes measure: measured runs, warm-up runs, seconds before a run fails.
runs = 10
warmup = 1
timeout = 30

# Smallest relative change (percent) reported as improved or regressed.
min_effect = 5

# A shared store for the team instead of the local SQLite file:
# database_url = "postgresql+psycopg://changenote@db.internal/changenote"

# Reusable checks, used with `changenote baseline --check health`:
# [checks.health]
# http = "GET http://127.0.0.1:8000/health"
# expect_status = 200
# expect_json = {{ ok = true }}
# slow_ms = 200
"""


def init_project(
    folder: Path, service: str | None = None, owner: str | None = None, notes_dir: str = "notes"
) -> Path:
    """Write a starter ``changenote.toml`` in ``folder``; refuse to overwrite a config."""
    target = folder / CONFIG_NAME
    if target.exists():
        raise ConfigError(f"{target} already exists; edit it instead")
    pyproject = folder / "pyproject.toml"
    tool = _read_toml(pyproject).get("tool") if pyproject.is_file() else None
    if isinstance(tool, dict) and "changenote" in tool:
        raise ConfigError(f"{pyproject} already has [tool.changenote]; edit it instead")
    if not notes_dir.strip():
        raise ConfigError("--notes-dir cannot be empty")
    if owner is None:
        from changenote.gitinfo import user_name

        owner = user_name(folder)
    text = starter_config(service or folder.resolve().name, owner, notes_dir)
    parse_config(tomllib.loads(text), folder, target)  # the starter must itself be valid
    from changenote.files import write_atomic

    write_atomic(target, text)
    return target
