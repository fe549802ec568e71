"""Mask secrets in commands, URLs, headers and output before they are stored or rendered."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

__all__ = [
    "MASK",
    "compile_extra",
    "is_redacted_change",
    "might_hold_secret",
    "redact",
    "redact_header",
    "redact_message",
]

MASK = "***"

_F = re.IGNORECASE | re.ASCII

# --------------------------------------------------------------------------- vocabulary
# A "component" boundary: start/end of the name, a separator (_ - . etc.) or a camelCase hump.
_LB = r"(?-i:(?<![A-Za-z0-9])|(?<=[a-z])(?=[A-Z]))"
_RB = r"(?-i:(?![A-Za-z0-9])|(?<=[a-z])(?=[A-Z]))"
# KEY only as a component (API_KEY, key-id, apiKey, secretKeys) or glued to a telling prefix
# (apikey, privatekey); never inside a word (monkey, keyboard, turkey).
_KEY = (
    r"(?:" + _LB + r"|(?<=api)|(?<=private)|(?<=secret)|(?<=access)|(?<=signing)"
    r"|(?<=encryption)|(?<=master)|(?<=client)|(?<=license)|(?<=auth)|(?<=ssh))"
    r"key(?:s|id)?" + _RB
)
_SECRET_WORD = (
    r"(?:passw(?:or)?d|passphrase|pwd|secret|credential|token(?!i[sz])|auth(?!or(?!iz))"
    r"|cookie|session|signature|" + _LB + r"(?:pass|sig)" + _RB + r"|" + _KEY + r")"
)
# A whole name (env var, flag, JSON key, header, query parameter) holding a secret word.
_NAME = r"(?=[\w.-]*?" + _SECRET_WORD + r")[\w.-]++"
_NAME_START = r"(?<![\w.$*-])"

# Values.
_DQ = r'"(?:[^"\\\r\n]|\\.)*"'
_SQ = r"'(?:[^'\\\r\n]|\\.)*'"
_EDQ = r'\\"(?:[^\\\r\n]|\\(?!"))*\\"'  # \"...\" inside a quoted JSON body
_QUOTED = _DQ + "|" + _SQ
_WORD = r"[^\s\"'`;&|<>)]"  # one character of an unquoted shell word
_SHELL_VALUE = (
    _QUOTED
    + r"|\$\([^()\r\n]*\)"
    + _WORD
    + r"*|\$?\{\{[^{}\r\n]*\}\}"
    + _WORD
    + r"*|"
    + _WORD
    + r"+"
)
_JSON_VALUE = _QUOTED + "|" + _EDQ + r"|[^\s,}\]\"'\\)]+"

# $VAR, ${VAR}, $(command), {{ template }} / ${{ secrets.X }}, %VAR%; "*" as left by masking.
_REF = (
    r"(?:\$[A-Za-z_][\w*]*|\$\{[A-Za-z_][\w*]*\}|\$\([^()\r\n]*\)"
    r"|\$?\{\{[^{}\r\n]*\}\}|%[A-Za-z_][\w*]*%)"
)
_REF_ONLY = re.compile(r"[-:/@.]*(?:" + _REF + r"[-:/@.]*)+", re.ASCII)
_KEY_FILE = re.compile(
    r"@?[\w./~*-]*\.(?:pem|key|crt|cer|der|p12|pfx|jks|json|txt|asc|gpg|pub)", _F
)
_SCHEME_VALUE = re.compile(r"([A-Za-z][A-Za-z0-9_*-]*|\*+)([ \t]+)(\S.*)", re.ASCII | re.DOTALL)
_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_AFTER_MASKED_TOKEN = re.compile(r"[ \t]+\*+")

_SCHEMES = frozenset(
    {"bearer", "basic", "token", "digest", "negotiate", "ntlm", "bot", "apikey", "oauth", "dpop"}
)
_LITERALS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", "nil"})
# Last name component that says the value is *about* a secret, not the secret itself.
_META_SUFFIXES = frozenset(
    {
        "url", "uri", "urls", "endpoint", "host", "hostname", "port", "path", "file", "dir",
        "type", "method", "name", "mode", "ttl", "timeout", "expiry", "expires", "expiration",
        "count", "limit", "len", "length", "stdin", "env", "var", "arn", "algorithm", "alg",
        "provider", "backend", "store", "user", "username", "login", "email", "error",
        "exception", "warning", "interrupt", "enabled", "required", "version", "format",
    }
)  # fmt: skip
_COUNT_WORDS = frozenset(
    {"max", "min", "num", "n", "total", "prompt", "completion", "input", "output", "context"}
)
# `<kind>_key` where the key is a lookup key, not a credential.
_LOOKUP_KEYS = frozenset(
    {
        "cache", "sort", "primary", "foreign", "partition", "idempotency", "lookup", "routing",
        "shard", "group", "order", "index", "object", "row", "dedup", "dedupe", "unique",
        "composite", "natural", "range", "hash", "dict", "map", "hot",
    }
)  # fmt: skip
_BEARER_WORDS = frozenset(
    {
        "token", "tokens", "auth", "authentication", "authorization", "header", "headers",
        "scheme", "type", "and", "or", "is", "the", "to", "of", "in", "for", "with", "credentials",
        "string", "value", "prefix", "realm", "a", "an",
    }
)  # fmt: skip

# --------------------------------------------------------------------------- patterns
_PEM_RE = re.compile(
    r"(?P<begin>-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----)(?P<body>.*?)"
    r"(?P<end>-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL | re.ASCII,
)
_SCHEME_TOKEN_RE = re.compile(
    r"(?<![A-Za-z0-9_*-])(?P<scheme>(?i:bearer)|Basic)[ \t]+(?P<tok>[A-Za-z0-9._~+/-]+=*)",
    re.ASCII,
)
# "password": "x", 'api_key': 'x', \"token\": \"x\"
_JSON_RE = re.compile(
    r"(?P<q>\\?[\"'])(?P<name>" + _NAME + r")(?P=q)[ \t]*[:=](?!=)[ \t]*"
    r"(?P<val>" + _JSON_VALUE + r")",
    _F,
)
# Authorization: Bearer x / Cookie: a=b / password: x (the rest of the line, or of the quotes).
_COLON_RE = re.compile(
    r"(?:(?P<q>[\"'])|" + _NAME_START + r")(?=[\w.-]++:)(?P<name>" + _NAME + r"):"
    r"(?:[ \t]+|(?<=authorization:)|(?<=cookie:))"
    r"(?P<val>(?(q)(?:(?!(?P=q))[^\r\n])*|(?:" + _QUOTED + r"|[^\r\n]*)))",
    _F,
)
# NAME=value, export NAME=value, --password=value, ?token=value&..., key = value
_EQUALS_RE = re.compile(
    _NAME_START + r"(?=[\w.-]++[ \t]*=)(?P<name>" + _NAME + r")"
    r"(?:=(?!=)(?P<val>" + _SHELL_VALUE + r")"
    r"|(?:[ \t]+=[ \t]*|=[ \t]+)(?!=)(?P<sval>" + _QUOTED + r"|[^\r\n]+))",
    _F,
)
# --password value, -token value
_FLAG_RE = re.compile(
    _NAME_START
    + r"(?P<name>--?(?=[A-Za-z_])"
    + _NAME
    + r")[ \t]+(?P<val>(?!-)(?:"
    + _SHELL_VALUE
    + r"))",
    _F,
)
# curl -u user:password, --user=user:password
_USER_RE = re.compile(
    _NAME_START
    + r"(?:-u|--user|--proxy-user)(?:[ \t]+|=)[\"']?(?P<user>[^\s:\"'/@]+):(?!//)"
    + r"(?P<val>[^\s\"']+)",
    re.ASCII,
)
# scheme://user:password@host
_URL_RE = re.compile(
    r"(?<![A-Za-z0-9+.*-])[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\"'<>\\]*:(?P<val>[^\s/?#\"'<>\\]*)@",
    re.ASCII,
)
# Well-known token shapes: the recognisable prefix stays (ghp_***), the rest goes.
_SHAPES_RE = re.compile(
    r"(?<=[A_/a1t-])(?:"
    + "|".join(
        (
            r"(?<=(?<![A-Za-z0-9_*])A(?:KIA|SIA))[A-Z0-9]{16}(?![A-Za-z0-9])",
            r"(?<=(?<![A-Za-z0-9_*])gh[pousr]_)[A-Za-z0-9]{20,}",
            r"(?<=(?<![A-Za-z0-9_*])github_pat_)[A-Za-z0-9_]{20,}",
            r"(?<=(?<![A-Za-z0-9_*-])xox[abprs]-)[A-Za-z0-9-]{8,}",
            r"(?<=(?<![A-Za-z0-9_*-])xapp-)[A-Za-z0-9-]{8,}",
            r"(?<=(?<![A-Za-z0-9_*-])gl(?:pat|ptt)-)[A-Za-z0-9_-]{20,}",
            r"(?<=(?<![A-Za-z0-9_*-])GR1348941)[A-Za-z0-9_-]{20,}",
            r"(?<=(?<![A-Za-z0-9_*])hf_)[A-Za-z0-9]{34,}",
            r"(?<=hooks\.slack\.com/services/)[A-Za-z0-9_/-]+",
            r"(?<=hooks\.slack\.com/workflows/)[A-Za-z0-9_/-]+",
            r"(?<=hooks\.slack\.com/triggers/)[A-Za-z0-9_/-]+",
            # Chat and CI webhooks carry their secret in the path (as gitleaks and
            # trufflehog find them): Discord, Microsoft Teams and Office 365, Zapier,
            # IFTTT, Telegram bots, and Mattermost or Rocket.Chat incoming hooks.
            r"(?<=discord\.com/api/webhooks/)[0-9]+/[A-Za-z0-9_-]+",
            r"(?<=discordapp\.com/api/webhooks/)[0-9]+/[A-Za-z0-9_-]+",
            r"(?<=webhook\.office\.com/webhookb2/)[A-Za-z0-9@/-]+",
            r"(?<=outlook\.office\.com/webhook/)[A-Za-z0-9@/-]+",
            r"(?<=hooks\.zapier\.com/hooks/catch/)[0-9]+/[A-Za-z0-9]+",
            r"(?<=ifttt\.com/trigger/)[A-Za-z0-9_-]+/with/key/[A-Za-z0-9_-]+",
            r"(?<=api\.telegram\.org/bot)[0-9]{5,}:[A-Za-z0-9_-]{30,}",
            r"(?<=/hooks/)(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{20,}(?:/[A-Za-z0-9_-]{20,})?",
            r"(?<=(?<![A-Za-z0-9_*])[sr]k_live_)[A-Za-z0-9]{10,}",
            r"(?<=(?<![A-Za-z0-9_*])[sr]k_test_)[A-Za-z0-9]{10,}",
            r"(?<=(?<![A-Za-z0-9_*])whsec_)[A-Za-z0-9]{16,}",
            r"(?<=(?<![A-Za-z0-9_*-])AIza)[A-Za-z0-9_-]{30,}",
            r"(?<=(?<![A-Za-z0-9_*])npm_)[A-Za-z0-9]{30,}",
            r"(?<=(?<![A-Za-z0-9_*-])sk-)(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}",
        )
    )
    + r")|(?<![A-Za-z0-9_*-])eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
    re.ASCII,
)

# Password options of particular programs. A short flag only counts after its program, so
# `ls -a`, `cp -p`, `ssh -p 2222` or `docker run -p 8080:80` stay as they are.
_PROGRAM_RE = re.compile(
    r"(?:(?<![\w./-])|(?<=bin/))(?:"
    r"(?P<redis>redis-cli)"
    r"|(?P<mysql>mysql(?:dump|admin|import|check|show|pump)?"
    r"|mariadb(?:-dump|-admin|-import|-check|-show)?)"
    r"|(?P<sshpass>sshpass)"
    r"|(?P<login>(?:docker|podman|nerdctl|buildah|skopeo|oras)[ \t]+login"
    r"|helm[ \t]+registry[ \t]+login|crane[ \t]+auth[ \t]+login)"
    r")(?![\w.:/-])",
    re.ASCII,
)
# The program name as the value of a long or find-style option (`--name mysql`, `-name mysql`):
# what follows is not the program's own arguments.
_OPTION_BEFORE_RE = re.compile(
    r"(?<!\S)(?:--[A-Za-z][\w-]*(?:[ \t]+|=)|-[a-z]{3,}[ \t]+)\Z", re.ASCII
)
# One shell argument (quotes, $(...), ${...}, {{ ... }} and backslash escapes kept whole);
# a command ends at ; & | ( ) < > ` or a line end not escaped by a backslash.
_ARG_RE = re.compile(
    r"(?:[ \t]|\\\r?\n)++(?P<arg>(?:"
    + _QUOTED
    + r"|\$\([^()\r\n]*\)|\$\{[^{}\r\n]*\}|\$?\{\{[^{}\r\n]*\}\}|\\[^\r\n]"
    + r"|[^\s\"'`;&|<>()\\])++)"
)


class _Program:
    """How a program takes its password on the command line (no typing import: see tests)."""

    __slots__ = ("flag", "glued", "separate", "stop", "takes_value")

    def __init__(
        self, flag: str, *, separate: bool, glued: bool, takes_value: str, stop: bool
    ) -> None:
        self.flag = flag  # the short option whose value is the password
        self.separate = separate  # `-a PW`: the password may be the next argument
        self.glued = glued  # `-pPW`: the password may follow the flag directly
        self.takes_value = takes_value  # other short options with a value (only with `stop`)
        self.stop = stop  # getopt-style: options (maybe bundled) end at the first operand


_PROGRAMS = {
    "redis": _Program("a", separate=True, glued=False, takes_value="", stop=False),
    # A bare `mysql -p` prompts; the next argument is the database name.
    "mysql": _Program("p", separate=False, glued=True, takes_value="", stop=False),
    # The first operand is the wrapped command: `sshpass -p PW ssh -p 2222 host`.
    "sshpass": _Program("p", separate=True, glued=True, takes_value="fdP", stop=True),
    "login": _Program("p", separate=True, glued=True, takes_value="", stop=False),
}


# --------------------------------------------------------------------------- helpers
def _is_masked(value: str) -> bool:
    """True for the empty string and for a run of MASK characters."""
    return not value.strip("*")


def _keep(core: str) -> bool:
    """True when a bare value is no secret: empty, masked, an ellipsis, env reference,
    literal, key file."""
    return (
        _is_masked(core)
        or core in ("...", "\u2026")  # a placeholder in a hint: "Authorization: ..."
        or core.lower() in _LITERALS
        or _REF_ONLY.fullmatch(core) is not None
        or _KEY_FILE.fullmatch(core) is not None
    )


def _mask_bare(value: str, any_scheme: bool) -> str:
    """Mask an unquoted value, keeping surrounding blanks and an auth scheme word."""
    core = value.strip()
    if _keep(core):
        return value
    lead = value[: len(value) - len(value.lstrip())]
    trail = value[len(value.rstrip()) :]
    m = _SCHEME_VALUE.fullmatch(core)
    if m and (any_scheme or m.group(1).lower() in _SCHEMES):
        if _keep(m.group(3).strip()):
            return value
        return lead + m.group(1) + m.group(2) + MASK + trail
    return lead + MASK + trail


def _mask_value(value: str, any_scheme: bool = False) -> str:
    """Mask a value, keeping its quotes (\\"...\\", "...", '...')."""
    for q in ('\\"', '"', "'"):
        if len(value) >= 2 * len(q) and value.startswith(q) and value.endswith(q):
            return q + _mask_bare(value[len(q) : -len(q)], any_scheme) + q
    return _mask_bare(value, any_scheme)


def _is_secret_name(name: str, value: str) -> bool:
    """Refine the regex pre-filter: drop names that describe a secret rather than hold one."""
    bare = name.lstrip("-")
    if bare.lower() in ("pwd", "oldpwd") and value.lstrip("\"'").startswith(("/", "~")):
        return False  # the shell's working directory
    parts = [p.lower() for p in _NAME_PARTS.findall(bare)]
    if len(parts) < 2:
        return True
    last, before = parts[-1], parts[-2]
    if last in _META_SUFFIXES:
        return False
    if last in ("token", "tokens") and before in _COUNT_WORDS:
        return False
    return not (last in ("key", "keys") and before in _LOOKUP_KEYS)


def _is_authorization(name: str) -> bool:
    """True for Authorization-like names whose value starts with a scheme word."""
    return "authoriz" in name.lower()


def _assignment_repl(m: re.Match[str]) -> str | None:
    """Mask the value of a NAME=value / NAME: value / --name value match (None: not a secret)."""
    group = "val" if m.group("val") is not None else "sval"
    value = m.group(group)
    name = m.group("name")
    if not _is_secret_name(name, value):
        return None
    whole = m.group(0)
    cut = m.start(group) - m.start()
    authorization = _is_authorization(name)
    if (
        authorization
        and value.lower() in _SCHEMES
        and _AFTER_MASKED_TOKEN.match(m.string, m.end()) is not None
    ):
        return whole  # Authorization=Bearer ***: the token is already gone
    return whole[:cut] + _mask_value(value, any_scheme=authorization) + whole[cut + len(value) :]


def _sub_assignments(pattern: re.Pattern[str], text: str) -> str:
    """pattern.sub(_assignment_repl, text), except that a name which turns out not to be a
    secret consumes nothing beyond itself: the search resumes right after the name."""
    parts: list[str] = []
    done = 0
    m = pattern.search(text)
    while m is not None:
        replacement = _assignment_repl(m)
        if replacement is None:
            m = pattern.search(text, m.end("name"))
            continue
        parts.append(text[done : m.start()])
        parts.append(replacement)
        done = m.end()
        m = pattern.search(text, done)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _assignments(text: str) -> str:
    """Apply the name/value rules (JSON, header/YAML, env, flags) to text."""
    for pattern in (_JSON_RE, _COLON_RE, _EQUALS_RE, _FLAG_RE):
        text = _sub_assignments(pattern, text)
    return text


def _option_value(
    program: _Program, text: str, start: int, end: int
) -> tuple[int, int] | bool | None:
    """Read one option argument text[start:end]: the span of a password glued to it, True
    when the next argument is the password, False when it is another option's value."""
    arg = text[start:end]
    if len(arg) < 2 or arg[0] != "-" or arg[1] == "-":
        return None
    for i in range(1, len(arg) if program.stop else 2):
        char = arg[i]
        if char == program.flag:
            if i + 1 == len(arg):
                return True if program.separate else None
            if not program.glued:
                return None
            cut = start + i + 1 + (arg[i + 1] == "=")
            return (cut, end)
        if char in program.takes_value:
            return False if i + 1 == len(arg) else None
    return None


def _program_secrets(program: _Program, text: str, pos: int) -> tuple[list[tuple[int, int]], int]:
    """Spans of the passwords among the arguments from pos, and where the arguments end."""
    spans: list[tuple[int, int]] = []
    pending: bool | None = None  # True: the next argument is the password; False: skip it
    end = pos
    m = _ARG_RE.match(text, pos)
    while m is not None:
        start, end = m.span("arg")
        if pending is not None:
            if pending:
                spans.append((start, end))
            pending = None
        elif program.stop and (text[start] != "-" or end - start == 1):
            return spans, start  # the wrapped command: scanned by the caller on its own
        elif program.stop and text[start:end] == "--":
            return spans, end
        else:
            found = _option_value(program, text, start, end)
            if isinstance(found, tuple):
                spans.append(found)
            else:
                pending = found
        m = _ARG_RE.match(text, end)
    return spans, end


def _commands(text: str) -> str:
    """Mask the password options of the programs in _PROGRAMS (redis-cli -a, mysql -p, ...)."""
    parts: list[str] = []
    done = 0
    m = _PROGRAM_RE.search(text)
    while m is not None:
        resume = m.end()
        start = m.start()
        if _OPTION_BEFORE_RE.search(text, max(0, start - 80), start) is None:
            program = _PROGRAMS[m.lastgroup or ""]
            spans, resume = _program_secrets(program, text, m.end())
            for begin, finish in spans:
                value = text[begin:finish]
                masked = _mask_value(value)
                if masked != value:
                    parts.append(text[done:begin])
                    parts.append(masked)
                    done = finish
        m = _PROGRAM_RE.search(text, max(resume, m.end()))
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _val_repl(m: re.Match[str]) -> str:
    """Mask group 'val' unless it is empty, already masked or an env reference."""
    value = m.group("val")
    if _is_masked(value) or _REF_ONLY.fullmatch(value):
        return m.group(0)
    cut = m.start("val") - m.start()
    return m.group(0)[:cut] + MASK + m.group(0)[cut + len(value) :]


def _user_repl(m: re.Match[str]) -> str:
    """curl -u user:password; leave docker's -u uid:gid and a reference cut at a blank
    (`-u user:{{ secrets.PW }}`, `$(pass show x)`) alone."""
    val = m.group("val")
    if (m.group("user").isdigit() and val.isdigit()) or val.startswith(("{{", "${{", "$(")):
        return m.group(0)
    return _val_repl(m)


def _scheme_token_repl(m: re.Match[str]) -> str:
    """Bearer <token> anywhere; Basic <base64> when it looks like credentials, not prose."""
    tok = m.group("tok")
    if m.group("scheme") == "Basic":
        random_looking = len(tok) >= 8 and (
            any(c.isdigit() or c in "+/=" for c in tok) or re.search("[a-z][A-Z]", tok)
        )
        if not random_looking:
            return m.group(0)
    elif tok.rstrip(".").lower() in _BEARER_WORDS:
        return m.group(0)
    return m.group(0)[: m.start("tok") - m.start()] + MASK


def _pem_repl(m: re.Match[str]) -> str:
    """Replace a private key block body, keeping its BEGIN/END lines."""
    body = m.group("body")
    if "\n" in body:
        nl = "\n"
    elif "\\n" in body:
        nl = "\\n"
    else:
        nl = ""
    return m.group("begin") + nl + MASK + (nl if m.group("end") else "") + m.group("end")


def _compile_one(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """Compile one extra pattern, naming it in the error."""
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise ValueError(f"redaction pattern must be a string, got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid redaction pattern {pattern!r}: {exc}") from exc
    except (OverflowError, RecursionError) as exc:  # a{4294967296}, deep nesting
        raise ValueError(f"invalid redaction pattern {pattern[:80]!r}: too large") from exc


@functools.lru_cache(maxsize=64)
def _compiled(patterns: tuple[str | re.Pattern[str], ...]) -> tuple[re.Pattern[str], ...]:
    """Cached compile_extra for the hot path (the config hands the same patterns every time)."""
    return tuple(_compile_one(p) for p in patterns)


def _extra_repl(m: re.Match[str]) -> str:
    """Replace the match, or its group 1 when the pattern has groups; never re-mask a mask."""
    whole = m.group(0)
    if m.re.groups:
        start, end = m.span(1)
        if start < 0 or _is_masked(m.group(1)):
            return whole
        return whole[: start - m.start()] + MASK + whole[end - m.start() :]
    return whole if _is_masked(whole) else MASK


# --------------------------------------------------------------------------- public API
def compile_extra(patterns: Iterable[str | re.Pattern[str]]) -> list[re.Pattern[str]]:
    """Compile user-configured patterns; raise ValueError naming the first invalid one."""
    return [_compile_one(p) for p in patterns]


def redact(text: str, extra_patterns: Sequence[str | re.Pattern[str]] = ()) -> str:
    """Return text with secrets replaced by MASK, keeping enough around them to read.

    Handles Authorization/Cookie headers, bearer tokens, URL passwords, secret-named
    assignments (env, YAML, JSON, CLI flags, query parameters), the password options of
    redis-cli, mysql, sshpass and registry logins, private key blocks and well-known token
    shapes; extra_patterns (regexes) mask their match, or group 1.
    Environment references ($TOKEN, ${TOKEN}) are kept. redact(redact(x)) == redact(x).
    """
    if extra_patterns:
        text = _extra(text, extra_patterns)
    elif not might_hold_secret(text):
        return text
    return _builtin_rules(text)


def _extra(text: str, patterns: Sequence[str | re.Pattern[str]]) -> str:
    """The configured patterns' masks."""
    for pattern in _compiled(tuple(patterns)):
        text = pattern.sub(_extra_repl, text)
    return text


# Every built-in rule needs one of these in the text to change anything: a secret word of
# a name (_SECRET_WORD), an auth scheme, `-u`/`--user`, a program of _PROGRAMS, a token
# shape's prefix, or `://` with `@` for a URL password. None holds a character that JSON
# escapes, so the test also holds on the JSON text of a whole structure. It runs on the
# lower-cased text (ten times faster than re.IGNORECASE here): that matches more than the
# rules' ASCII-only case folding, never less.
_TRIGGER = re.compile(
    r"pass|pwd|secret|credential|token|auth|cookie|session|sig|key|bearer|basic|-u"
    r"|redis-cli|mysql|mariadb|sshpass|login|akia|asia|gh[pousr]_|github_pat_|xox|xapp-"
    r"|glp|gr1348941|hf_|hooks|webhook|ifttt|telegram|k_live_|k_test_|whsec_|aiza|npm_|sk-"
    r"|eyj"
)


def might_hold_secret(text: str) -> bool:
    """False when the built-in rules would leave text as it is (a quick pre-filter)."""
    return _TRIGGER.search(text.lower()) is not None or ("@" in text and "://" in text)


def _builtin_rules(text: str) -> str:
    """The built-in rules of redact(), without the pre-filter."""
    if "PRIVATE KEY" in text:
        text = _PEM_RE.sub(_pem_repl, text)
    text = _SCHEME_TOKEN_RE.sub(_scheme_token_repl, text)
    text = _assignments(text)
    if "-u" in text:
        text = _USER_RE.sub(_user_repl, text)
    if "://" in text:
        text = _URL_RE.sub(_val_repl, text)
    if "-" in text:
        text = _commands(text)
    return _SHAPES_RE.sub(MASK, text)


_QUOTED_PART = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")


def redact_message(text: str, extra_patterns: Sequence[str | re.Pattern[str]] = ()) -> str:
    """An error line that may quote what was typed: quoted parts get every rule, the
    prose around them only those that cannot misread prose (token shapes, bearer tokens,
    URL passwords, private keys, the extra patterns), so `secrets: no files` stays."""
    parts: list[str] = []
    done = 0
    for m in _QUOTED_PART.finditer(text):
        parts.append(_unambiguous(text[done : m.start()], extra_patterns))
        parts.append(redact(m.group(0), extra_patterns))
        done = m.end()
    parts.append(_unambiguous(text[done:], extra_patterns))
    return "".join(parts)


def _unambiguous(text: str, extra_patterns: Sequence[str | re.Pattern[str]]) -> str:
    if extra_patterns:
        text = _extra(text, extra_patterns)
    if "PRIVATE KEY" in text:
        text = _PEM_RE.sub(_pem_repl, text)
    text = _SCHEME_TOKEN_RE.sub(_scheme_token_repl, text)
    if "://" in text:
        text = _URL_RE.sub(_val_repl, text)
    return _SHAPES_RE.sub(MASK, text)


_SECRET_HEADER = re.compile(r"token|secret|key|auth|passw|session|cookie", re.IGNORECASE)


def redact_header(name: str, value: str) -> str:
    """Redact one HTTP header value.

    Authorization/Proxy-Authorization keep the scheme word (``Bearer ***``); Cookie,
    Set-Cookie and any name mentioning token/secret/key/auth/password/session/cookie
    become MASK; other values go through redact(). Env references are kept.
    """
    lname = name.strip().lower()
    if lname in ("authorization", "proxy-authorization"):
        return _mask_value(value, any_scheme=True)
    if _SECRET_HEADER.search(lname):
        core = value.strip()
        if _is_masked(core) or _REF_ONLY.fullmatch(core):
            return value
        return MASK
    return redact(value)


def is_redacted_change(original: str, redacted: str) -> bool:
    """True when redaction changed the text, i.e. the stored copy lost information."""
    return original != redacted
