"""Writing files atomically: a reader sees the old file or the new one, never half.

Used by every room that writes (notes, the wiki, the config, exports); it knows
nothing of what it writes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def remove_stale_temporaries(folder: Path, name: str = "*") -> list[Path]:
    """Remove what a killed :func:`write_atomic` left behind in ``folder`` (for ``name``).

    A process killed between creating its temporary file and renaming it cannot clean
    up; the next writer of the same folder does. The pattern is ours alone.
    """
    removed = []
    if folder.is_dir():
        for stale in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
                removed.append(stale)
    return removed


def write_atomic(path: Path, text: str, durable: bool = True) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the new one, never half.

    ``durable`` also flushes the file to disk before it replaces the old one (so a power
    cut cannot leave it empty); files that can be made again (wiki pages) skip that.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
