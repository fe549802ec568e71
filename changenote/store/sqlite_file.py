"""The SQLite store file on disk, and what SQLite says about it, as one line each.

Every line here names the store's path: what is wrong with the file itself (damaged,
empty, read-only, a dangling link, a full disk) is told before, or instead of, any
database message. Changenote never leaves a 0-byte store behind (a new store is built
under a temporary name and linked into place), so a 0-byte file lost its content.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from pathlib import Path

from changenote.errors import StoreError


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or None for other databases and memory."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("///", 1)[1] if "///" in url else ""
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


#: SQLite's primary result codes explained here (sqlite3.h).
_READONLY, _IOERR, _CORRUPT, _CANTOPEN, _FULL, _NOTADB = 8, 10, 11, 14, 13, 26
#: Less free space than this on the store's disk when SQLite fails to write is a full disk.
_LOW_SPACE = 1 << 20


def sidecar(path: Path, suffix: str) -> Path:
    """``NAME-wal``, ``NAME-shm``: SQLite's files next to the store."""
    return path.with_name(path.name + suffix)


def file_size(path: Path) -> int:
    """The size of a file, 0 when it is not there."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def store_file_exists(path: Path) -> bool:
    """Whether the SQLite store file is there (False: nothing was recorded yet).

    What is there but cannot be a store is refused, with a line saying what it is: a
    symbolic link to nothing, a folder, a 0-byte file.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise StoreError(
                f"the store {path} is a symbolic link to {os.readlink(path)}, which does not "
                "exist (a disk not mounted?): fix the link, or remove it to start a new store"
            ) from None
        return False
    except NotADirectoryError:
        raise StoreError(f"the store {path} cannot be: a part of its folder is a file") from None
    except OSError as exc:
        raise StoreError(f"cannot open the store {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(f"the store {path} is a folder, not a file: give the path of a file")
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"the store {path} is not a regular file")
    if info.st_size == 0:
        raise StoreError(
            f"the store {path} is empty (0 bytes), so whatever it held is gone: restore it "
            f"from a copy (changenote keeps one in {path.parent / 'backups'} before each "
            "upgrade), or delete the file to start a new store"
        )
    return True


def writable(path: Path) -> bool:
    """Whether SQLite can write the store: the file, and its folder for the -wal and -shm
    files (unless both are there already and writable). ``os.access`` also answers False
    on a read-only mount and for an immutable file, even for root."""
    if not os.access(path, os.W_OK):
        return False
    if os.access(path.parent, os.W_OK | os.X_OK):
        return True
    return all(os.access(sidecar(path, s), os.W_OK) for s in ("-wal", "-shm"))


def readonly_uri(path: Path) -> str:
    """An SQLite URI opening the store read-only.

    In a folder that cannot be written no -shm file can be made, which WAL mode needs to
    read; ``immutable=1`` reads without one, and is right there: no one can write the
    store meanwhile either. Unless a -wal file holds changes not merged into the store
    yet: those are read through the -shm file if there is one (else the open fails and
    :func:`sqlite_failure` says why).
    """
    from urllib.parse import quote

    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    if not os.access(path.parent, os.W_OK) and file_size(sidecar(path, "-wal")) == 0:
        uri += "&immutable=1"
    return uri


def _disk_full(path: Path) -> bool:
    """Whether the store's disk has (next to) no space or no file left."""
    try:
        info = os.statvfs(path.parent)
    except (OSError, AttributeError):  # pragma: no cover - no statvfs on this platform
        return False
    free = info.f_bfree if os.geteuid() == 0 else info.f_bavail
    return free * info.f_frsize < _LOW_SPACE or bool(info.f_files and info.f_ffree == 0)


def _printable(text: str, limit: int = 200) -> str:
    """SQLite's message as one short printable line (a damaged store's may quote garbage)."""
    clean = "".join(c if c.isprintable() else "?" for c in text.replace("\ufffd", "?"))
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def disk_full_line(path: Path) -> str:
    return (
        f"disk full: no space left for the store {path}; nothing was changed "
        "(free some space and run the command again)"
    )


def read_only_line(path: Path) -> str:
    return (
        f"the store {path} is read-only (its file or its folder cannot be written); "
        "nothing was changed"
    )


def sqlite_failure(exc: BaseException, path: Path) -> StoreError | None:
    """What an SQLite error says about the store file itself, as a line naming it: damaged,
    disk full, read-only, cannot be opened; None for any other error.

    ``exc`` is the driver's error, or SQLAlchemy's around it. A ``UnicodeDecodeError``
    is SQLite's message quoting the garbled text of a damaged schema.
    """
    error = getattr(exc, "orig", None) or exc
    if isinstance(error, UnicodeDecodeError):
        raw = error.object
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(error)
        return StoreError(_damaged_line(path, message))
    if not isinstance(error, sqlite3.Error):
        return None
    message = _printable(str(error).splitlines()[0] if str(error) else type(error).__name__)
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in (_CORRUPT, _NOTADB) or message.startswith("Could not decode to UTF-8"):
        return StoreError(_damaged_line(path, message))
    if primary == _FULL or (primary == _IOERR and _disk_full(path)):
        return StoreError(disk_full_line(path))
    if primary == _READONLY:
        return StoreError(f"{read_only_line(path)} (SQLite: {message})")
    if primary == _CANTOPEN:
        wal = sidecar(path, "-wal")
        if file_size(wal) and not os.access(path.parent, os.W_OK):
            return StoreError(
                f"the store {path} has changes in {wal.name} not merged into it yet, and its "
                "folder is read-only, so they cannot be read: open the store once where its "
                "folder can be written (or copy the folder elsewhere)"
            )
        return StoreError(f"cannot open the store {path} (SQLite: {message})")
    if primary == _IOERR:
        return StoreError(f"the disk failed on the store {path} (SQLite: {message})")
    return None


def _damaged_line(path: Path, message: str) -> str:
    import shlex

    return (
        f"the store {path} is damaged (SQLite: {_printable(message)}); "
        f"`sqlite3 {shlex.quote(str(path))} .recover` can save what is left"
    )


def os_failure(exc: OSError, path: Path, doing: str) -> StoreError:
    """An ``OSError`` met while ``doing`` something to the store, as one line."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(disk_full_line(path))
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(read_only_line(path))
    where = f": {exc.filename}" if exc.filename else ""
    return StoreError(f"{doing}: {exc.strerror or exc}{where}")


def remove_sqlite_files(path: Path) -> None:
    """Remove a file SQLite wrote and its -wal, -shm and -journal files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            sidecar(path, suffix).unlink()
