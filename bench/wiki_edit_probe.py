"""A command probe for changenote's own notes: rebuild a wiki after editing one note.

``python bench/wiki_edit_probe.py PROJECT [FIELD]`` edits the ``reason`` (or FIELD, e.g.
``title``, which other pages show) of the next note in ``PROJECT/notes`` (round robin, as
a person fixing a sentence), runs
``python -m changenote wiki --from-notes notes --format html`` with the same interpreter
(so whatever ``changenote`` it imports is the one measured) into an output folder named
after that code's location, and prints two ``changenote-metric:`` lines: the rebuild's
wall time and its peak RSS (``os.wait4``). The first run into a new folder is a full
build: use a warm-up run.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from probe_run import timed  # bench/probe_run.py, beside this file


def main() -> None:
    project = Path(sys.argv[1]).resolve()
    field = sys.argv[2] if len(sys.argv) > 2 else "reason"
    notes = sorted((project / "notes").glob("*.md"))
    counter = project / ".edit-probe-counter"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    note = notes[(n * 7919) % len(notes)]
    text = note.read_text(encoding="utf-8")
    head, sep, rest = text.partition(f"\n{field}: ")
    _, _, after = rest.partition("\n")
    while after.startswith("  "):  # a folded long reason
        after = after.partition("\n")[2]
    note.write_text(f"{head}{sep}{json.dumps(f'Edited {n}')}\n{after}", encoding="utf-8")
    code = subprocess.run(  # in the project, as the build itself will import it
        [sys.executable, "-c", "import changenote; print(changenote.__file__)"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = f"out-{hashlib.sha1(code.encode()).hexdigest()[:8]}"
    cmd = [sys.executable, "-m", "changenote", "wiki", "--from-notes", "notes", "--out", out,
           "--format", "html"]  # fmt: skip
    seconds, peak_mb = timed(cmd, project)
    print(f"changenote-metric: rebuild_s={seconds:.4f} s better=lower")
    print(f"changenote-metric: peak_rss_mb={peak_mb:.1f} MB better=lower")


if __name__ == "__main__":
    main()
