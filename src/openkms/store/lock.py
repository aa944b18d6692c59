"""The serve lock: which host process serves a store directory, and on which addresses.

A serving host holds an exclusive ``flock`` on ``host.lock`` in its store directory and
writes into it its pid and the addresses it actually listens on. A second host on the same
store is refused, a restore takes the lock (so it never replaces a database under a host),
and ``dli`` reads the addresses without writing anything (``serving_host``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Final

import msgspec

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import _

__all__ = ["LOCK_NAME", "ServingHost", "StoreLock", "serving_host"]

LOCK_NAME: Final = "host.lock"
_MAX_LOCK_BYTES: Final = 64 * 1024


class ServingHost(msgspec.Struct, frozen=True):
    """The process serving a store: its pid, activation listeners and admin address."""

    pid: int
    listen: list[str] = []
    admin: str | None = None


def _decode(data: bytes) -> ServingHost | None:
    try:
        return msgspec.json.decode(data, type=ServingHost)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def serving_host(directory: Path) -> ServingHost | None:
    """The host serving ``directory`` now, or None; reads only (creates no file)."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            return _decode(os.pread(fd, _MAX_LOCK_BYTES, 0)) or ServingHost(pid=0)
        return None  # nobody holds it: a file left by a host that stopped
    finally:
        os.close(fd)


class StoreLock:
    """The exclusive lock a serving host (or a restore) holds on its store directory."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or fail at once naming the pid that holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(
                _("cannot open {path}: {error}").format(path=self.path, error=exc.strerror),
                fix=_("Check that this user owns the store directory."),
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _decode(os.pread(fd, _MAX_LOCK_BYTES, 0))
            os.close(fd)
            pid = holder.pid if holder is not None else "unknown"
            raise StoreError(
                _("the store {parent} is in use by a running host (pid {pid})").format(
                    parent=self.path.parent, pid=pid
                ),
                code=ResultCode.STORE_UNAVAILABLE,
                fix=_("Stop that host first (e.g. 'systemctl stop openkms'), then try again."),
            ) from None
        self._fd = fd
        self.publish(ServingHost(pid=os.getpid()))

    def publish(self, serving: ServingHost) -> None:
        """Write what ``serving_host`` reads (the bound addresses, once known)."""
        if self._fd is None:
            raise RuntimeError("the store lock is not held")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, msgspec.json.encode(serving), 0)

    def release(self) -> None:
        """Give the lock back, emptying the file (it means nothing without the lock)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
