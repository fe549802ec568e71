"""Write docs/CLI.md from the commands' own --help, or check it is current (--check).

python docs/cli_reference.py          # rewrite docs/CLI.md
python docs/cli_reference.py --check  # exit 1 if docs/CLI.md is out of date
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).with_name("CLI.md")
COMMANDS = [
    "init",
    "baseline",
    "measure",
    "tick",
    "ship",
    "abandon",
    "reopen",
    "edit",
    "delete",
    "review",
    "follow-up",
    "trust",
    "status",
    "list",
    "search",
    "show",
    "render",
    "wiki",
    "check",
    "watch",
    "export",
    "import",
    "demo",
]


def _help(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "changenote", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return done.stdout.rstrip() + "\n"


def generate() -> str:
    parts = [
        "# Command reference\n",
        "Generated from `--help` by `python docs/cli_reference.py`; a test fails when it drifts.\n",
        "```text\n$ changenote --help\n" + _help() + "```\n",
    ]
    for command in COMMANDS:
        parts.append(f"## changenote {command}\n")
        parts.append(f"```text\n$ changenote {command} --help\n" + _help(command) + "```\n")
    return "\n".join(parts)


def main() -> int:
    text = generate()
    if "--check" in sys.argv[1:]:
        if not DOC.exists() or DOC.read_text() != text:
            print("docs/CLI.md is out of date: run python docs/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
