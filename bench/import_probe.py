"""A command probe for changenote's own notes: import an export into a new store.

``python bench/import_probe.py EXPORT.jsonl`` runs ``python -m changenote import`` with
the same interpreter (so whatever ``changenote`` it imports is the one measured) into a
new SQLite store in a temporary folder, and prints two ``changenote-metric:`` lines: the
import rate (changes per second of the command's wall time, start-up included) and the
command's peak RSS (``os.wait4``). ``python bench/store.py --changes N --keep`` leaves
an export file to use.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from probe_run import timed  # bench/probe_run.py, beside this file


def main() -> None:
    export = Path(sys.argv[1]).resolve()
    with export.open("rb") as fh:
        changes = sum(1 for line in fh if line.strip())
    folder = Path(tempfile.mkdtemp(prefix="changenote-import-probe-"))
    try:
        (folder / "changenote.toml").write_text("")
        env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
        cmd = [sys.executable, "-m", "changenote", "import", str(export)]
        seconds, peak_mb = timed(cmd, folder, env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"changenote-metric: import_rate={changes / seconds:.1f} changes/s better=higher")
    print(f"changenote-metric: peak_rss_mb={peak_mb:.1f} MB better=lower")


if __name__ == "__main__":
    main()
