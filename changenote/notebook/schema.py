"""The change document's JSON Schema (``export.schema.json``, shipped beside this module,
copied to docs/) and what checks a document against it without a library.

:func:`problem` walks a document through the schema and answers the first thing wrong
as ``(field, what is wrong)``, the field a JSON path such as
``runs[0].metrics[2].samples[3]``. Import asks it why a document failed the compiled
validator (``jsonschema_rs``, a hundred times faster, checks every document first);
:func:`changenote.notebook.document.load` asks it, in its loose form, whether a change
read from the store is still a document every reader can use. :func:`door` refuses
what a JSON or YAML parser can hand over and no store keeps (lone surrogates, NaN
outside measurements, integers past 64 bits, keys that are not text). Pure.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

#: The schema file; docs/export.schema.json is a copy (a test holds them equal).
SCHEMA_PATH = Path(__file__).with_name("export.schema.json")

#: The longest part of a value an error message quotes.
QUOTE = 60

#: Keywords a loose check skips: what the store's columns and the import's sanity
#: bounds ask for, not what a reader needs (an old store may hold a longer name).
_STRICT_ONLY = frozenset({"maxLength", "minimum", "maximum", "exclusiveMinimum", "pattern"})

_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description"})

Problem = tuple[str, str]


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The export line's schema, as shipped."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def schema_bytes() -> bytes:
    """The schema file byte for byte, as shipped (``changenote export --schema``)."""
    return SCHEMA_PATH.read_bytes()


def change_schema() -> dict[str, Any]:
    """The schema of a document to import: ``#/$defs/change`` as a schema of its own."""
    root = schema()
    return {"$schema": root["$schema"], "$defs": root["$defs"], "$ref": "#/$defs/change"}


# -- messages ---------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def field(path: tuple[str | int, ...] | list[str | int]) -> str:
    """``runs[0].metrics[2]``; a key that is no name is quoted: ``settings["a b"]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _NAME.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{_quoted(part[:QUOTE])}]"
    return text


def _quoted(key: str) -> str:
    """A key in double quotes, escaped where it is no text a terminal can show."""
    plain = json.dumps(key, ensure_ascii=False)
    try:
        plain.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return json.dumps(key)
    return plain


def show(value: Any) -> str:
    """A value as an error message quotes it: never more than about 60 characters."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value[:QUOTE]) + ("…" if len(value) > QUOTE else "")
    if isinstance(value, (int, float)):
        text = repr(value) if isinstance(value, float) else _digits(value)
        return text if len(text) <= QUOTE else f"{text[:20]}… ({len(text)} characters)"
    return _kind(value)


def _digits(value: int) -> str:
    if value.bit_length() > 200:  # str() of a huge integer is slow (and refused past 4300)
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    return str(value)


def shorten(text: str, limit: int = QUOTE) -> str:
    """An error message from elsewhere (a driver, a database) on one line, every long
    run of characters in it cut to ``limit``: it may quote a value of any size."""
    line = " ".join(str(text).split())
    line = re.sub(rf"\S{{{limit + 1},}}", lambda m: m.group()[:limit] + "…", line)
    line = re.sub(rf"([\"'])([^\"']{{{limit}}})[^\"']+\1", r"\1\2…\1", line)
    return line[:300]


_KINDS = {str: "a string", bool: "true or false", int: "an integer", float: "a number",
          list: "a list", dict: "an object", type(None): "null"}  # fmt: skip
_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "array": "a list", "object": "an object",
               "null": "null"}  # fmt: skip


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


# -- the check --------------------------------------------------------------------------

#: A compiled schema node: value -> None, or the problem as (the path's parts innermost
#: first, what is wrong). Paths are put together only on the way out of a failure.
Found = tuple[list[str | int], str]
Check = Callable[[Any], Found | None]

_SIMPLE = {"string": str, "boolean": bool, "object": dict, "array": list, "null": type(None)}


def _type_test(kinds: list[str]) -> Callable[[Any], bool]:
    """Whether a value is of one of the JSON types (booleans are no numbers; 2.0 is an
    integer)."""
    simple = tuple(_SIMPLE[k] for k in kinds if k in _SIMPLE)
    number, integer = "number" in kinds, "integer" in kinds
    if not (number or integer):
        return lambda v: type(v) in simple
    if number:
        numeric: tuple[type, ...] = (*simple, int, float)
        return lambda v: type(v) in numeric

    def test(v: Any) -> bool:
        kind = type(v)
        return kind in simple or kind is int or (kind is float and v.is_integer())

    return test


def _number(value: Any) -> bool:
    return type(value) is int or type(value) is float


class _Compiler:
    def __init__(self, root: dict[str, Any], strict: bool) -> None:
        self.root = root
        self.strict = strict
        self.refs: dict[str, Check] = {}
        self.open: set[str] = set()

    def ref(self, target: str) -> Check:
        if target in self.refs:
            return self.refs[target]
        if not target.startswith("#/"):
            raise ValueError(f"schema: only local $ref is supported, not {target!r}")
        if target in self.open:  # a schema that refers to itself: through a cell
            cell: list[Check] = []
            self.refs[target] = lambda v: cell[0](v)
            return self.refs[target]
        node: Any = self.root
        for part in target[2:].split("/"):
            node = node[part]
        self.open.add(target)
        check = self.compile(node)
        self.open.discard(target)
        self.refs[target] = check
        return check

    def compile(self, node: dict[str, Any]) -> Check:
        keys = set(node) - _ANNOTATIONS
        if not self.strict:
            keys -= _STRICT_ONLY
        unknown = keys - {
            "$ref", "type", "enum", "const", "required", "properties", "additionalProperties",
            "items", "minItems", "maxItems", "minLength", *_STRICT_ONLY,
        }  # fmt: skip
        if unknown:
            raise ValueError(f"schema: keyword {sorted(unknown)[0]!r} is not supported here")
        checks = [self._keyword(node, key) for key in _ORDER if key in keys]
        if not checks:
            return lambda v: None
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda v: first(v) or second(v)

        def every(v: Any) -> Found | None:
            for check in checks:
                found = check(v)
                if found is not None:
                    return found
            return None

        return every

    def _keyword(self, node: dict[str, Any], key: str) -> Check:
        value = node[key]
        if key == "type":
            kinds = [value] if isinstance(value, str) else list(value)
            test = _type_test(kinds)
            words = " or ".join(_TYPE_WORDS[k] for k in kinds)

            def typed(v: Any) -> Found | None:
                return None if test(v) else ([], f"must be {words}, not {_kind(v)}")

            typed.test = test  # type: ignore[attr-defined]  # lists of it: one pass
            return typed
        if key == "enum":
            options = [(o, type(o)) for o in value]
            said = ", ".join(show(o) for o, _ in options)
            return lambda v: (
                None
                if any(v == o and type(v) is kind for o, kind in options)
                else ([], f"{show(v)} is not one of {said}")
            )
        if key == "const":
            return lambda v: None if v == value else ([], f"must be {show(value)}, not {show(v)}")
        if key in _BOUNDS:
            word, bad = _BOUNDS[key]
            said = f"{value:,}" if isinstance(value, int) else f"{value:g}"
            return lambda v: (
                ([], f"must be {word} {said}, not {show(v)}")
                if _number(v) and bad(v, value)
                else None
            )
        if key == "minLength":
            short = "cannot be empty" if value == 1 else f"must be at least {value} characters"
            return lambda v: ([], short) if type(v) is str and len(v) < value else None
        if key == "maxLength":
            return lambda v: (
                ([], f"is longer than {value} characters ({len(v):,})")
                if type(v) is str and len(v) > value
                else None
            )
        if key == "pattern":
            rule = re.compile(re.sub(r"\$$", r"\\Z", value))
            what = node.get("description")
            said = f"is not {what}" if what else f"does not match {value}"
            return lambda v: (
                ([], f"{show(v)} {said}") if type(v) is str and not rule.search(v) else None
            )
        if key == "required":
            return _required(list(value))
        if key == "properties":
            return self._object(node)
        if key == "items":
            return self._array(node)
        if key in ("minItems", "maxItems"):
            most = key == "maxItems"
            return lambda v: (
                ([], f"must have {'at most' if most else 'at least'} {value} item(s), not {len(v)}")
                if type(v) is list and (len(v) > value if most else len(v) < value)
                else None
            )
        if key == "additionalProperties":
            if "properties" in node:  # checked with them
                return lambda v: None
            return self._object(node)
        return self.ref(value)  # $ref

    def _object(self, node: dict[str, Any]) -> Check:
        props = [(k, self.compile(s)) for k, s in node.get("properties", {}).items()]
        known = {k for k, _ in props}
        extra = node.get("additionalProperties")
        others = self.compile(extra) if isinstance(extra, dict) else None

        def obj(v: Any) -> Found | None:
            if type(v) is not dict:
                return None
            for key, check in props:
                if key in v:
                    found = check(v[key])
                    if found is not None:
                        found[0].append(key)
                        return found
            if others is not None:
                for key, item in v.items():
                    if key not in known:
                        found = others(item)
                        if found is not None:
                            found[0].append(key)
                            return found
            return None

        return obj

    def _array(self, node: dict[str, Any]) -> Check:
        each = self.compile(node["items"])
        test = getattr(each, "test", None)

        def array(v: Any) -> Found | None:
            if type(v) is not list or (test is not None and all(map(test, v))):
                return None
            for i, item in enumerate(v):
                found = each(item)
                if found is not None:
                    found[0].append(i)
                    return found
            return None

        return array


def _required(names: list[str]) -> Check:
    def required(v: Any) -> Found | None:
        if type(v) is not dict:
            return None
        missing = [n for n in names if n not in v]
        return ([], f"missing {', '.join(missing)}") if missing else None

    return required


#: The order keywords are checked in: a value of the wrong type says so first.
_ORDER = ("type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "minLength",
          "maxLength", "pattern", "required", "properties", "additionalProperties", "items",
          "minItems", "maxItems", "$ref")  # fmt: skip

_BOUNDS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "minimum": ("at least", lambda v, n: v < n),
    "maximum": ("at most", lambda v, n: v > n),
    "exclusiveMinimum": ("greater than", lambda v, n: v <= n),
}


@functools.lru_cache(maxsize=2)
def _compiler(strict: bool) -> _Compiler:
    return _Compiler(schema(), strict)


def problem(doc: Any, strict: bool = True, at: str = "#/$defs/change") -> Problem | None:
    """The first way ``doc`` breaks the change schema (or the part of it ``at`` names), as
    ``(field, what is wrong)``.

    ``strict=False`` leaves out lengths, bounds and patterns (what a store's columns and
    the import's sanity limits ask for): what is left is what every reader relies on.
    """
    try:
        found = _compiler(strict).ref(at)(doc)
    except RecursionError:
        return "", "nested too deeply"
    if found is None:
        return None
    parts, what = found
    return field(parts[::-1]), what


# -- the door ---------------------------------------------------------------------------

#: Where a number that is not a number (NaN, Infinity) may stand: measurements.
_NOT_A_NUMBER_OK = ("runs", "comparison", "expectations")


def door(doc: Any) -> Any:
    """``doc`` as a store can keep it, or ValueError ``(field, what is wrong)``: for what a
    JSON parser hands over from escapes and literals the strict one refuses (lone
    surrogates, NaN and Infinity, integers past 64 bits) and YAML from a note (times,
    keys that are not text, values JSON has not). A time becomes its ISO 8601 text."""
    return _door(doc, ())


def _door(value: Any, path: tuple[str | int, ...]) -> Any:
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(field(path), _surrogate(value, exc.start)) from None
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64 and path != ("id",):
            raise ValueError(field(path), f"{show(value)} is past 64 bits: no store keeps it")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) and (not path or path[0] not in _NOT_A_NUMBER_OK):
            raise ValueError(field(path), f"must be a number, not {value!r}")
        return value
    if isinstance(value, list):
        return [_door(v, (*path, i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise ValueError(field(path) or "document", f"key {show(key)} is not text")
            if not key.isascii():
                try:
                    key.encode("utf-8")
                except UnicodeEncodeError as exc:
                    why = "its name " + _surrogate(key, exc.start)
                    raise ValueError(field((*path, key)), why) from None
            out[key] = _door(v, (*path, key))
        return out
    if isinstance(value, datetime):  # YAML reads an unquoted time as one
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment.year >= 1970 else moment.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise ValueError(field(path), f"{_kind(value)} is not a JSON value")


def _surrogate(text: str, at: int) -> str:
    return f"holds a lone surrogate ({text[at]!r} at character {at}), which is not text"


def finite_copy(value: Any) -> Any:
    """``value`` with every NaN and Infinity as 0.5: the compiled validator reads them as
    null, the schema's numbers take them (they are kept as they are)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else 0.5
    if isinstance(value, list):
        return [finite_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: finite_copy(v) for k, v in value.items()}
    return value


def has_nan(value: Any) -> bool:
    """Whether a NaN or an Infinity is anywhere inside ``value``."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(has_nan(v) for v in value)
    if isinstance(value, dict):
        return any(has_nan(v) for v in value.values())
    return False
