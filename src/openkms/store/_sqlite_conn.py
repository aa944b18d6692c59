"""Connections to the SQLite store and the mapping of sqlite3 errors to StoreError.

Three kinds of connection: the writer's (creates and migrates the file, WAL,
``synchronous=FULL``), the pooled readers of a running store (``query_only``), and the
read-only connection of ``open_reader`` (``mode=ro``), which never creates, migrates or
changes a file.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Final

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.store._sqlite_schema import check_version, migrate

__all__ = [
    "closed_error",
    "connect_read_only",
    "connect_reader",
    "connect_writer",
    "map_error",
    "rollback",
]

logger = logging.getLogger("openkms.store")

BUSY_TIMEOUT_MS: Final = 5000

# Primary result codes (the low byte of an extended code) of sqlite3.Error.sqlite_errorcode.
_SQLITE_PERM: Final = 3
_SQLITE_BUSY: Final = 5
_SQLITE_READONLY: Final = 8
_SQLITE_IOERR: Final = 10
_SQLITE_CORRUPT: Final = 11
_SQLITE_FULL: Final = 13
_SQLITE_CANTOPEN: Final = 14
_SQLITE_NOTADB: Final = 26


def map_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """Translate an sqlite3 error into a StoreError that names the file and the fix."""
    primary = exc.sqlite_errorcode & 0xFF if hasattr(exc, "sqlite_errorcode") else 0
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return closed_error()
    if primary == _SQLITE_FULL:
        return StoreError(
            f"the store {path} cannot grow: the disk is full ({exc})", code=ResultCode.DISK_FULL
        )
    if primary in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
        return StoreError(
            f"{path} is not an OpenKMS store or is damaged ({exc})",
            code=ResultCode.STATE_CORRUPT,
            fix="Restore the store from a backup, or move the file aside: the host starts an "
            "empty store and the count rebuilds as clients renew.",
        )
    if primary == _SQLITE_BUSY:
        return StoreError(
            f"the store {path} is locked by another process ({exc})",
            fix="Check that only one host uses this store; stop the other one.",
        )
    if primary in (_SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR):
        return StoreError(f"cannot open or write the store {path} ({exc})")
    return StoreError(f"the store {path} failed: {exc}")


def closed_error() -> StoreError:
    """The error of any call made after ``close()``."""
    return StoreError("store is closed", fix="Open the store again before using it.")


def _connect(target: str, path: Path, *, uri: bool) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(
            target,
            uri=uri,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # handed from the opening thread to the one using it
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
    except sqlite3.Error as exc:
        raise map_error(exc, path) from exc
    return conn


def _prepared(conn: sqlite3.Connection, path: Path, *statements: str) -> sqlite3.Connection:
    """Run the checks and settings of a new connection; close it if they fail."""
    try:
        for statement in statements:
            conn.execute(statement)
        check_version(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise map_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def connect_writer(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the store; return the writer's connection."""
    if not path.parent.is_dir():
        raise StoreError(
            f"the directory of the store {path} does not exist",
            fix="Create the directory, or choose a store path in an existing one.",
        )
    conn = _connect(str(path), path, uri=False)
    try:
        _configure_writer(conn, path)
        migrate(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise map_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _configure_writer(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if str(mode).lower() != "wal":
        logger.warning("store %s cannot use WAL (journal_mode=%s); readers may wait", path, mode)
    # FULL: a commit is on disk when COMMIT returns, which is when the host may answer.
    conn.execute("PRAGMA synchronous = FULL")


def _missing_error(path: Path) -> StoreError:
    return StoreError(
        f"there is no store at {path}",
        fix="Check the --store directory; the host creates its store when it first starts "
        "('openkms host serve').",
    )


def connect_reader(path: Path) -> sqlite3.Connection:
    """A reading connection of the store's own process, next to its writer."""
    if not path.is_file():
        raise _missing_error(path)
    # mode=rw, not ro: when this process's connections close, the last one checkpoints and
    # removes the -wal and -shm files, as the writer's would; query_only keeps it from
    # writing anything else.
    conn = _connect(path.resolve().as_uri() + "?mode=rw", path, uri=True)
    return _prepared(
        conn, path, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA query_only = ON"
    )


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes: no file created or changed, no migration.

    With a ``-wal`` file present (a host has the store open, or was killed) the reader
    opens it ``mode=ro`` and shares the WAL index, seeing every committed write. Without
    one, the store was closed cleanly and nothing is in a WAL: it is read ``immutable``,
    since a ``mode=ro`` open would create the ``-wal`` and ``-shm`` files and leave them
    behind. (A host starting during such a read only appends to its new WAL; it copies
    pages back into the file only at a checkpoint, a thousand pages later.)
    """
    if not path.is_file():
        raise _missing_error(path)
    wal = path.with_name(path.name + "-wal")
    mode = "?mode=ro" if wal.exists() else "?mode=ro&immutable=1"
    conn = _connect(path.resolve().as_uri() + mode, path, uri=True)
    return _prepared(
        conn, path, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA query_only = ON"
    )


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open (SQLite may already have rolled back on FULL/IOERR)."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        logger.warning("rollback failed", exc_info=True)
