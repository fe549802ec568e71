"""The data parts of a note: its short front matter and its record block (pure).

A note is written for people first. Its front matter holds only what a reader scans
(who, what, when, the headline verdicts), so GitHub's front-matter table and the
first screen of the file stay short. The whole change document, lossless, is a YAML
block at the end of the note, folded in a ``<details>`` element that GitHub, cmark-gfm
and MkDocs show closed; ``changenote import notes/`` and ``changenote wiki
--from-notes`` read it from there. Notes written before this format (the whole
document as front matter) still read.

All YAML here is written so that YAML 1.1 readers (PyYAML) and YAML 1.2 readers
(ruamel.yaml, js-yaml) agree on every scalar's type: a string that a 1.2 reader would
take for a number or a boolean (``1e3``, ``0o17``, ``+.5E3``) is quoted.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from changenote.errors import ChangenoteError

#: The line that opens the record block; user text never renders to it (``<`` before a
#: letter is escaped in every field a note shows).
RECORD_MARK = "<!-- changenote record: the whole change as data; changenote import reads it -->"
#: Verdict lines in the front matter; the rest are counted, not listed.
FRONT_VERDICTS = 8
#: Characters of a command's output a note keeps (the store keeps it whole).
RECORD_OUTPUT = 2048

# YAML 1.2 core schema numbers that YAML 1.1 does not read as numbers (PyYAML would
# write them unquoted): exponents without a dot, 0o octal, and the like.
_YAML12_NUMBER = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
        |0o[0-7]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""",
    re.X,
)
_YAML12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE|null|Null|NULL|~)$")


class _Flow(list[Any]):
    """A list written on one line (``tags: [performance, search]``)."""


@lru_cache(maxsize=1)
def _dumper() -> Any:
    import yaml

    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    class Dumper(base):  # type: ignore[valid-type,misc]
        pass

    def represent_list(dumper: Any, data: list[Any]) -> Any:
        flow = bool(data) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in data
        )
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)

    def represent_str(dumper: Any, data: str) -> Any:
        if _YAML12_NUMBER.match(data) or _YAML12_BOOL.match(data):
            return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'")
        return dumper.represent_str(data)

    def represent_flow(dumper: Any, data: _Flow) -> Any:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", list(data), flow_style=True)

    Dumper.add_representer(list, represent_list)
    Dumper.add_representer(_Flow, represent_flow)
    Dumper.add_representer(str, represent_str)
    return Dumper


def dump(value: Any) -> str:
    """YAML that 1.1 and 1.2 readers read alike; lists of numbers on one line each."""
    import yaml

    return str(yaml.dump(value, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100))


def record(doc: dict[str, Any]) -> str:
    """The whole change document as YAML (a command's output kept to its last 2 KB)."""
    data = {k: v for k, v in doc.items() if k != "note_path"}
    data["runs"] = [
        {
            **run,
            "probe_results": [
                {**p, "last_output": _tail(p.get("last_output") or "", RECORD_OUTPUT)}
                for p in run.get("probe_results", [])
            ],
        }
        for run in doc.get("runs", [])
    ]
    return dump(data)


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "[...]" + text[-limit:]


def front_matter(doc: dict[str, Any]) -> str:
    """What a reader scans, as YAML: about 25 lines whatever the number of runs."""
    from changenote.notebook.document import fmt_change, probe_refs

    comparison = doc.get("comparison") or []
    refs = probe_refs(doc)
    several = len({c["probe"] for c in comparison}) > 1
    verdicts: dict[str, str] = {}
    for c in comparison[:FRONT_VERDICTS]:
        key = f"{c['metric']} ({refs.get(c['probe'], c['probe'])})" if several else c["metric"]
        change = fmt_change(c, interval=False)
        verdicts[key] = c["verdict"] if change == "—" else f"{c['verdict']}, {change}"
    ship = next((r for r in reversed(doc.get("runs") or []) if r["label"] == "after"), None)
    checked = [e for e in doc.get("expectations") or [] if e.get("met") is not None]
    review = doc.get("review") or {}
    superseded = doc.get("superseded_by") or {}
    data: dict[str, Any] = {
        "id": doc.get("id"),
        "uid": doc["uid"],
        "slug": doc["slug"],
        "title": doc["title"],
        "status": doc["status"],
        "review": review.get("status"),
        "service": doc.get("service"),
        "owner": doc.get("owner"),
        "created": doc.get("created_at"),
        "shipped": doc.get("shipped_at"),
        "commit": ((ship or {}).get("git_commit") or "")[:12] or None,
        "tags": _Flow(doc.get("tags") or []) or None,
        "verdicts": verdicts or None,
        "more_verdicts": len(comparison) - len(verdicts) or None,
        "expected": f"{sum(1 for e in checked if e['met'])} of {len(checked)} met"
        if checked
        else None,
        "superseded_by": superseded.get("slug") or superseded.get("uid"),
        "record": "at the end of this note",
    }
    return dump({k: v for k, v in data.items() if v is not None})


def record_block(record_yaml: str) -> str:
    """The record as a folded block: a fenced YAML block inside ``<details>``.

    The fence is longer than any run of backticks in the YAML, so no line of it can
    close the block in GFM or in Python-Markdown."""
    longest = max((len(m) for m in re.findall(r"`+", record_yaml)), default=0)
    fence = "`" * max(3, longest + 1)
    return (
        f"{RECORD_MARK}\n<details>\n<summary>Change record (the whole change as data, "
        f"for changenote import)</summary>\n\n{fence}yaml\n{record_yaml}{fence}\n\n</details>\n"
    )


_FENCE = re.compile(r"^(`{3,})yaml\n", re.M)


def split(text: str, name: str) -> tuple[str | None, str | None]:
    """A note's front matter and its record block's YAML (None when absent)."""
    front = None
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end < 0:
            raise ChangenoteError(f"{name}: front matter has no closing '---'")
        front = text[4 : end + 1]
    at = text.rfind("\n" + RECORD_MARK + "\n")
    if at < 0:
        return front, None
    opening = _FENCE.search(text, at)
    if opening is None:
        raise ChangenoteError(f"{name}: the change record block has no ```yaml fence")
    fence = opening.group(1)
    close = text.find("\n" + fence + "\n", opening.end() - 1)
    if close < 0:
        raise ChangenoteError(f"{name}: the change record block is not closed ({fence})")
    return front, text[opening.end() : close + 1]


def load(yaml_text: str, name: str, where: str) -> Any:
    """YAML read safely; a malformed block is one ChangenoteError naming the file."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(yaml_text, Loader=loader)
    except yaml.YAMLError as exc:
        raise ChangenoteError(f"{name}: {where} is not valid YAML: {exc}") from None
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as exc:
        # PyYAML's constructors leak these on bad values: "2024-13-45", "!!int x", "!!bool x"
        raise ChangenoteError(
            f"{name}: {where} is not valid YAML: {type(exc).__name__}: {exc}"
        ) from None
