"""The SQLModel tables of the notebook.

Every schema change needs a migration under ``changenote/migrations/versions``;
``tests/test_store.py`` fails when the models and the migrations disagree.
Text that may have held a secret (commands, URLs, output) is redacted before it
is assigned to any of these fields.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text
from sqlmodel import Field, SQLModel

from changenote.steps import STANDARD_CHECKLIST

__all__ = [
    "STANDARD_CHECKLIST",
    "Change",
    "CheckRecord",
    "ChecklistItem",
    "CommandRecord",
    "Event",
    "FileTouched",
    "FollowUp",
]


def utcnow() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


class Change(SQLModel, table=True):
    """One change to a service: its baseline, its ship, its note."""

    __tablename__ = "change"

    id: int | None = Field(default=None, primary_key=True)
    #: Stable across stores (export/import merge on it).
    uid: str = Field(max_length=32, unique=True)
    slug: str = Field(max_length=80, unique=True)
    title: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="baseline", max_length=16, index=True)
    service: str | None = None
    owner: str | None = None
    route: str | None = None
    input: str | None = Field(default=None, sa_column=Column(Text))
    noticed: str | None = Field(default=None, sa_column=Column(Text))
    expected: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    rollback: str | None = Field(default=None, sa_column=Column(Text))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: The probe specs (redacted) that baseline, measure and ship all run.
    probes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    #: runs, warmup, timeout, clear_cache (redacted), min_effect.
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    base_commit: str | None = Field(default=None, max_length=64)
    base_dirty: bool = False
    #: Files already modified at baseline, with their content hash, so an unchanged
    #: dirty file is not reported as touched by this change.
    base_dirty_files: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    head_commit: str | None = Field(default=None, max_length=64)
    comparison: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    warnings: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    #: The checkable clauses of ``expected``, evaluated on the after-run (since 0002).
    expectations: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    note_path: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    shipped_at: datetime | None = None
    #: What ``changenote watch`` saw after the release, one entry per watch (since 0004).
    watches: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    #: ``recorded`` (by baseline here), ``imported``, or ``unknown`` (before 0007).
    origin: str = Field(
        default="recorded", sa_column=Column(String(16), nullable=False, server_default="unknown")
    )
    #: The user who recorded it here (its commands run for that user without ``trust``).
    recorded_by: str | None = Field(default=None, max_length=64)
    #: Who ran ``changenote trust`` on it, and when (since 0007).
    trusted_by: str | None = Field(default=None, max_length=64)
    trusted_at: datetime | None = None
    #: The note's review (since 0009): ``drafted`` from ship, then ``in-review``,
    #: ``reviewed``, ``needs-update``, or ``superseded`` (by the change ``superseded_by``).
    review_status: str | None = Field(default=None, max_length=16)
    reviewed_by: str | None = Field(default=None, max_length=64)
    reviewed_at: datetime | None = None
    #: The uid of the change that supersedes this one (uids hold across stores).
    superseded_by: str | None = Field(default=None, max_length=32, index=True)


class Run(SQLModel, table=True):
    """One measurement of a change's probes: the baseline, a test run, the after-run."""

    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change.id", index=True, ondelete="CASCADE")
    position: int = 0
    label: str = Field(max_length=80)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime = Field(default_factory=utcnow)
    git_commit: str | None = Field(default=None, max_length=64)
    git_dirty: bool = False
    #: Per probe: label, attempts, errors, last status and output tail (all redacted).
    probes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: Host, Python, platform and changenote version the run was measured with (since 0002).
    environment: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class Metric(SQLModel, table=True):
    """One metric of one probe in one run, with its raw samples."""

    __tablename__ = "metric"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True, ondelete="CASCADE")
    probe_index: int = 0
    probe: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(max_length=64)
    unit: str = Field(default="", max_length=16)
    better: str | None = Field(default=None, max_length=8)
    n: int = 0
    median: float | None = None
    p95: float | None = None
    mean: float | None = None
    stdev: float | None = None
    min: float | None = None
    max: float | None = None
    samples: list[float] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class CommandRecord(SQLModel, table=True):
    """A command used for the change: a probe, a clear-cache, a tick's evidence, a ship extra."""

    __tablename__ = "command"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change.id", index=True, ondelete="CASCADE")
    position: int = 0
    command: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(max_length=16)
    exit_status: int | None = None
    recorded_at: datetime = Field(default_factory=utcnow)


class FileTouched(SQLModel, table=True):
    """A file the change touched, from git or given with ``--file``."""

    __tablename__ = "file_touched"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change.id", index=True, ondelete="CASCADE")
    path: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(default="git", max_length=16)


class ChecklistItem(SQLModel, table=True):
    """One step of the change's checklist and the evidence that it was done."""

    __tablename__ = "checklist_item"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change.id", index=True, ondelete="CASCADE")
    position: int = 0
    key: str = Field(max_length=40)
    label: str
    done: bool = False
    evidence: str | None = Field(default=None, sa_column=Column(Text))
    done_at: datetime | None = None


class Event(SQLModel, table=True):
    """Something done to a change besides measuring it, with when and who (since 0009):
    ``abandon`` and ``reopen`` (``note``: why), ``edit`` (``name``: the field, ``old`` and
    ``new``: its values)."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow)
    by: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=24)
    name: str | None = Field(default=None, max_length=40)
    old: str | None = Field(default=None, sa_column=Column(Text))
    new: str | None = Field(default=None, sa_column=Column(Text))
    note: str | None = Field(default=None, sa_column=Column(Text))


class FollowUp(SQLModel, table=True):
    """Something to do after the change, with an owner and a due date (since 0009)."""

    __tablename__ = "follow_up"

    id: int | None = Field(default=None, primary_key=True)
    change_id: int = Field(foreign_key="change.id", index=True, ondelete="CASCADE")
    #: Its number on the change: 1, 2, 3... (``follow-up ID --done N``).
    number: int = 1
    text: str = Field(sa_column=Column(Text, nullable=False))
    owner: str | None = Field(default=None, max_length=64)
    due: date | None = None
    done: bool = False
    done_at: datetime | None = None
    done_note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=64)


class CheckRecord(SQLModel, table=True):
    """One run of a configured check by ``changenote check --record`` (since 0003)."""

    __tablename__ = "check_result"
    __table_args__ = (Index("ix_check_result_name_checked_at", "name", "checked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    checked_at: datetime = Field(default_factory=utcnow)
    state: str = Field(max_length=8)
    probe: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = 0
    errors: int = 0
    #: Per metric: median, unit, n, and the reference median when there was one.
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: The slug of the change whose after-run was the reference.
    reference: str | None = Field(default=None, max_length=80)
    environment: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
