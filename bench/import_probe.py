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
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    export = Path(sys.argv[1]).resolve()
    with export.open("rb") as fh:
        changes = sum(1 for line in fh if line.strip())
    folder = Path(tempfile.mkdtemp(prefix="changenote-import-probe-"))
    try:
        (folder / "changenote.toml").write_text("")
        env = {k: v for k, v in os.environ.items() if k != "CHANGENOTE_DATABASE_URL"}
        cmd = [sys.executable, "-m", "changenote", "import", str(export)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"changenote import failed ({status})")
    print(f"changenote-metric: import_rate={changes / seconds:.1f} changes/s better=higher")
    print(f"changenote-metric: peak_rss_mb={usage.ru_maxrss / 1024:.1f} MB better=lower")


if __name__ == "__main__":
    main()
