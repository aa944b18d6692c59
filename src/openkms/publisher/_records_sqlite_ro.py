"""A read-only connection to ``publisher.db``: nothing created, changed or migrated.

With a ``-wal`` file present (the service has the database open, or was killed) the
database is opened ``mode=ro``: the reader shares the WAL index and sees every committed
write. Without one, the database was closed cleanly and nothing is in a WAL: it is read
``immutable``, since a ``mode=ro`` open would create ``-wal`` and ``-shm`` files (and leave
them behind, or fail on a read-only directory). The same rule as the host store's readers
(``store/_sqlite_conn.py``, ``connect_read_only``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store._sqlite_conn import read_only_uri

__all__ = ["open_read_only"]

_BUSY_TIMEOUT_MS = 5000


def open_read_only(path: Path, version: int) -> sqlite3.Connection:
    """A ``query_only`` connection to the records at ``path`` (schema ``version`` exactly)."""
    try:
        conn = sqlite3.connect(
            read_only_uri(path),
            uri=True,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from None
    try:
        conn.execute("PRAGMA query_only = ON")
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        conn.close()
        raise _unreadable(path, exc) from None
    if found != version:
        conn.close()
        raise _version_error(path, found, version)
    return conn


def _unreadable(path: Path, exc: sqlite3.Error) -> StoreError:
    return StoreError(
        _("cannot read the publisher records {path} ({exc})").format(path=path, exc=exc),
        code=ResultCode.ACCESS_DENIED,
        fix=_(
            "Check that the file is readable by this user; a copy taken while the service "
            "ran needs its publisher.db-wal and publisher.db-shm files beside it."
        ),
    )


def _version_error(path: Path, found: int, version: int) -> StoreError:
    if found > version:
        return StoreError(
            _(
                "{path} has schema version {found}, newer than this OpenKMS supports ({count})"
            ).format(path=path, found=found, count=version),
            code=ResultCode.UNSUPPORTED_VERSION,
            fix=_("Upgrade OpenKMS on this machine."),
        )
    return StoreError(
        _("{path} has the older schema version {found} (this OpenKMS reads {count})").format(
            path=path, found=found, count=version
        ),
        code=ResultCode.UNSUPPORTED_VERSION,
        fix=_(
            "Run a publisher command that writes (for example 'openkms publisher "
            "sign-catalog DIR') once to upgrade the records, then read them again."
        ),
    )
