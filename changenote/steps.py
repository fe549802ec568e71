"""The checklist's standard steps: the five steps of the field note, in order."""

from __future__ import annotations

#: The five steps of the field note, in order: (key, label).
STANDARD_CHECKLIST: tuple[tuple[str, str], ...] = (
    ("capture", "capture the current behavior"),
    ("backup", "create a safe backup"),
    ("test", "test the smallest change"),
    ("watch", "watch logs after release"),
    ("note", "write the final note"),
)
