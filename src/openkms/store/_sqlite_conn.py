"""Connections to the SQLite store and the mapping of sqlite3 errors to StoreError.

Three kinds of connection: the writer's (creates and migrates the file, WAL,
``synchronous=FULL``, ``secure_delete=FAST``), the pooled readers of a running store
(``query_only``), and the read-only connection of ``open_reader`` (``mode=ro``), which never
creates, migrates or changes a file.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Final

from openkms._files import PRIVATE_FILE
from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store._sqlite_schema import check_version, migrate

__all__ = [
    "closed_error",
    "connect_read_only",
    "connect_reader",
    "connect_writer",
    "create_private",
    "damaged_error",
    "is_environmental",
    "map_error",
    "read_only_uri",
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
            _("the store {path} cannot grow: the disk is full ({exc})").format(path=path, exc=exc),
            code=ResultCode.DISK_FULL,
        )
    if primary in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
        return StoreError(
            _("{path} is not an OpenKMS store or is damaged ({exc})").format(path=path, exc=exc),
            code=ResultCode.STATE_CORRUPT,
            fix=_(
                "Restore the store from a backup, or move the file aside: the host starts an "
                "empty store and the count rebuilds as clients renew."
            ),
        )
    if primary == _SQLITE_BUSY:
        return StoreError(
            _("the store {path} is locked by another process ({exc})").format(path=path, exc=exc),
            fix=_("Check that only one host uses this store; stop the other one."),
        )
    if primary in (_SQLITE_CANTOPEN, _SQLITE_PERM, _SQLITE_READONLY):
        return StoreError(
            _("cannot open or write the store {path} ({exc})").format(path=path, exc=exc),
            code=ResultCode.ACCESS_DENIED,
            fix=_(
                "Make the store directory and its host.db* files writable by the user the "
                "host runs as, on a file system mounted read-write."
            ),
        )
    if primary == _SQLITE_IOERR:
        return StoreError(
            _("cannot read or write the store {path} ({exc})").format(path=path, exc=exc)
        )
    return StoreError(_("the store {path} failed: {exc}").format(path=path, exc=exc))


# Errors of the file or the disk, not of one operation: every write would fail the same way.
_ENVIRONMENTAL: Final = frozenset(
    {_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT,
     _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB}
)  # fmt: skip


def is_environmental(exc: BaseException | None) -> bool:
    """Whether ``exc`` (an sqlite3 error) is the store's, not one operation's: a closed
    connection, a full disk, a read-only or damaged file, a lock."""
    if not isinstance(exc, sqlite3.Error):
        return False
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _ENVIRONMENTAL


def closed_error() -> StoreError:
    """The error of any call made after ``close()``."""
    return StoreError(_("store is closed"), fix=_("Open the store again before using it."))


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


def connect_writer(path: Path, *, check: bool = True) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the store; return the writer's connection.

    ``check``: refuse a store that fails SQLite's quick integrity check, and one that
    cannot be written (a read-only file or file system), now rather than at every request.
    """
    if not path.parent.is_dir():
        raise StoreError(
            _("the directory of the store {path} does not exist").format(path=path),
            fix=_("Create the directory, or choose a store path in an existing one."),
        )
    create_private(path)
    conn = _connect(str(path), path, uri=False)
    try:
        _configure_writer(conn, path)
        migrate(conn, path)
        if check:
            _check_sound(conn, path)
            _check_writable(conn)
    except sqlite3.Error as exc:
        conn.close()
        raise map_error(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def create_private(path: Path) -> None:
    """Create a missing store file owner-only (0600, whatever the umask): SQLite would make
    it 0644 less the umask, and gives its -wal and -shm files the mode of the store."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_FILE))
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(
            _("cannot create the store {path}: {error}").format(
                path=path, error=exc.strerror or exc
            ),
            code=ResultCode.ACCESS_DENIED,
            fix=_("Make the store directory writable by the user the host runs as."),
        ) from None


def _check_sound(conn: sqlite3.Connection, path: Path) -> None:
    """StoreError if ``PRAGMA quick_check`` finds damage."""
    problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        raise damaged_error(path, problems)


def damaged_error(path: Path, problems: list[str]) -> StoreError:
    """The error of a store whose integrity check found ``problems``."""
    shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if problems[3:] else "")
    return StoreError(
        _("the store {path} is damaged: {shown}").format(path=path, shown=shown),
        code=ResultCode.STATE_CORRUPT,
        fix=_(
            "Run 'openkms host check --store DIR' for the full check; restore host.db from a "
            "backup, or move it aside: the host starts an empty store and the count rebuilds as "
            "clients renew."
        ),
    )


def _check_writable(conn: sqlite3.Connection) -> None:
    """Write the header's user_version back unchanged: sqlite3.Error if the store is read-only."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA user_version = {int(version)}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _configure_writer(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
    if str(mode).lower() != "wal":
        logger.warning("store %s cannot use WAL (journal_mode=%s); readers may wait", path, mode)
    # FULL: a commit is on disk when COMMIT returns, which is when the host may answer.
    conn.execute("PRAGMA synchronous = FULL")
    # A deleted row (a forgotten client and its note, retention's old events) is overwritten
    # with zeros in the pages its transaction writes anyway: no more I/O. A page that becomes
    # free keeps its old bytes until it is used again (ON would overwrite it too, one more
    # page write each).
    conn.execute("PRAGMA secure_delete = FAST")


def _missing_error(path: Path) -> StoreError:
    return StoreError(
        _("there is no store at {path}").format(path=path),
        fix=_(
            "Check the --store directory; the host creates its store when it first starts "
            "('openkms host serve')."
        ),
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
    conn = _connect(read_only_uri(path), path, uri=True)
    return _prepared(
        conn, path, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA query_only = ON"
    )


def read_only_uri(path: Path) -> str:
    """The URI that opens the SQLite database ``path`` without creating or changing a file:
    ``mode=ro`` beside a ``-wal`` file (its writer's commits are seen), else ``immutable``."""
    wal = path.with_name(path.name + "-wal")
    return path.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open (SQLite may already have rolled back on FULL/IOERR)."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        logger.warning("rollback failed", exc_info=True)
