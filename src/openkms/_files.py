"""Atomic, durable file writes and guarded reads (the only file helpers the package uses)."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from openkms.core.codes import ResultCode
from openkms.errors import StateError, StoreError
from openkms.i18n import _

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "append_durably",
    "atomic_write",
    "private_directory",
    "read_bytes",
]

_MAX_STATE_FILE = 16 * 1024 * 1024
# Store, publisher and client directories, and the keys and databases in them: the owner
# only, whatever the umask (a mode given to mkdir/open is only ever narrowed by the umask).
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_directory(path: Path) -> None:
    """Create ``path`` (and its parents) if missing; ``path`` itself owner-only (0700).

    An existing directory is left as it is: it may be the user's own.
    """
    try:
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    except OSError as exc:
        raise _store_error(path, exc) from None


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file.

    A missing directory is created owner-only (``private_directory``).
    """
    # tempfile (0.8 MiB resident with shutil, random, bz2 and lzma) is loaded by the first
    # write: the store's writer process imports this module and never writes a file.
    import tempfile  # noqa: PLC0415

    private_directory(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
    except OSError as exc:
        raise _store_error(path, exc) from None


def append_durably(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Append ``data`` to ``path`` and fsync it (a log: a crash may tear only the last line)."""
    private_directory(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _store_error(path, exc) from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _store_error(path: Path, exc: OSError) -> StoreError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(
            _("cannot write {path}: disk full").format(path=path), code=ResultCode.DISK_FULL
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreError(
            _("cannot write {path}: {error}").format(path=path, error=exc.strerror),
            code=ResultCode.ACCESS_DENIED,
        )
    return StoreError(
        _("cannot write {path}: {error}").format(path=path, error=exc.strerror or exc)
    )


def read_bytes(path: Path, what: str) -> bytes:
    """Read a state file; a missing, unreadable or huge file raises StateError naming it."""
    try:
        size = path.stat().st_size
        if size > _MAX_STATE_FILE:
            raise StateError(
                _("{what} {path} is {size} bytes: not an OpenKMS file").format(
                    what=what, path=path, size=size
                )
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise StateError(_("{what} {path} does not exist").format(what=what, path=path)) from None
    except IsADirectoryError:
        raise StateError(_("{what} {path} is a directory").format(what=what, path=path)) from None
    except PermissionError:
        raise StateError(
            _("cannot read {what} {path}").format(what=what, path=path),
            code=ResultCode.ACCESS_DENIED,
        ) from None
