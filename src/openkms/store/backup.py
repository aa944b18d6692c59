"""Backups of the SQLite store: online copies, checks of a copy, restores, and the serve lock.

A backup uses SQLite's online backup API from its own connection, so it runs while a host
serves (WAL: the writer is not blocked, the copy is one consistent snapshot). The copy is
written beside the target and renamed into place, and is a single file (journal mode DELETE)
that any ``sqlite3`` can open.

A restore holds the serve lock (``store/lock.py``) so it never replaces a database under a host.

This module does not import the schema code: that code calls ``backup_before_migration``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from openkms._files import PRIVATE_FILE
from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.i18n import _

__all__ = [
    "BackupInfo",
    "backup_before_migration",
    "backup_database",
    "restore_database",
    "verify_backup",
]

_PAGES_PER_STEP: Final = 1024  # copy in steps so the writer is never held up for long

logger = logging.getLogger("openkms.store")


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A checked copy of a store: where it is, its schema version and size in bytes."""

    path: Path
    schema_version: int
    size: int


def _sqlite_error(exc: sqlite3.Error | OSError, what: str) -> StoreError:
    return StoreError(
        _("{what}: {exc}").format(what=what, exc=exc),
        fix=_("Check the paths, the free space and that this user may read and write them."),
    )


def _copy(source: sqlite3.Connection, output: Path) -> None:
    """Online backup of ``source`` into a new file ``output`` (fsynced, journal mode DELETE),
    owner-only like the store (0600 whatever the umask: it holds every client's CMID and
    name, and a restore installs it as the store)."""
    os.close(os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE))
    os.chmod(output, PRIVATE_FILE)  # an existing file keeps its mode through O_CREAT
    destination = sqlite3.connect(output, isolation_level=None)
    try:
        source.backup(destination, pages=_PAGES_PER_STEP)
        destination.execute("PRAGMA journal_mode = DELETE")
    finally:
        destination.close()
    with output.open("rb") as copied:
        os.fsync(copied.fileno())


def _temporary(output: Path) -> Path:
    return output.with_name(f".{output.name}.{os.getpid()}.tmp")


def _install(temporary: Path, output: Path) -> None:
    os.replace(temporary, output)
    directory = os.open(output.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _open_source(database: Path) -> sqlite3.Connection:
    if not database.is_file():
        raise StoreError(
            _("there is no store at {database}").format(database=database),
            fix=_("Check --store: the host creates host.db when it first starts."),
        )
    # mode=rw + query_only, as the store's readers: a WAL reader may need to create -shm.
    conn = sqlite3.connect(database.resolve().as_uri() + "?mode=rw", uri=True)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def backup_database(
    database: Path, output: Path, newest_version: int, *, force: bool = False
) -> BackupInfo:
    """Copy a store, served or not, into ``output``; refuses to overwrite without ``force``."""
    if output.exists() and not force:
        raise StoreError(
            _("{output} exists").format(output=output),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Choose another file name, or give --force to replace it."),
        )
    if not output.parent.is_dir():
        raise StoreError(
            _("the directory of {output} does not exist").format(output=output),
            fix=_("Create it or choose another path."),
        )
    temporary = _temporary(output)
    try:
        source = _open_source(database)
        try:
            _copy(source, temporary)
        finally:
            source.close()
        info = verify_backup(temporary, newest_version)
        _install(temporary, output)
    except (sqlite3.Error, OSError) as exc:
        raise _sqlite_error(
            exc, _("cannot back up {database} to {output}").format(database=database, output=output)
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    logger.info(
        "store %s backed up to %s (schema version %d)", database, output, info.schema_version
    )
    return BackupInfo(output, info.schema_version, info.size)


def backup_before_migration(conn: sqlite3.Connection, database: Path, version: int) -> Path:
    """Copy a store about to be migrated from ``version`` to ``<db>.schema-<version>.bak``."""
    output = database.with_name(f"{database.name}.schema-{version}.bak")
    temporary = _temporary(output)
    try:
        _copy(conn, temporary)
        _install(temporary, output)
    except (sqlite3.Error, OSError) as exc:
        temporary.unlink(missing_ok=True)
        raise _sqlite_error(
            exc, _("cannot back up {database} before migrating it").format(database=database)
        ) from None
    logger.info("store %s backed up to %s before its migration", database, output)
    return output


def verify_backup(path: Path, newest_version: int) -> BackupInfo:
    """Check that ``path`` is an intact OpenKMS store this version can use."""
    not_a_store = StoreError(
        _("{path} is not an OpenKMS store").format(path=path),
        code=ResultCode.STATE_CORRUPT,
        fix=_("Choose a file written by 'openkms host backup'."),
    )
    if not path.is_file():
        raise StoreError(
            _("there is no file {path}").format(path=path), fix=_("Check the path of the backup.")
        )
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            checks = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise not_a_store from None
    if checks != ["ok"]:
        raise StoreError(
            _("{path} is damaged: {checks}").format(path=path, checks="; ".join(checks[:3])),
            code=ResultCode.STATE_CORRUPT,
            fix=_("Use another backup; this one cannot be restored."),
        )
    if version < 1 or not {"events", "clients", "counters"} <= tables:
        raise not_a_store
    if version > newest_version:
        raise StoreError(
            _(
                "{path} has schema version {version}, newer than this OpenKMS supports "
                "({newest_version})"
            ).format(path=path, version=version, newest_version=newest_version),
            code=ResultCode.UNSUPPORTED_VERSION,
            fix=_("Restore it with the OpenKMS version that wrote it (see docs/upgrading.md)."),
        )
    return BackupInfo(path, int(version), path.stat().st_size)


def restore_database(backup: Path, database: Path, newest_version: int) -> Path | None:
    """Replace ``database`` by a checked copy of ``backup``; the caller holds the serve lock.

    The replaced database is kept as ``<db>.before-restore-<time>``, whose path is returned.
    """
    info = verify_backup(backup, newest_version)
    temporary = _temporary(database)
    kept = database.with_name(f"{database.name}.before-restore-{int(time.time())}")
    try:
        source = sqlite3.connect(info.path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            _copy(source, temporary)
        finally:
            source.close()
        had_database = database.exists()
        if had_database:
            os.replace(database, kept)
        # Belong to the replaced database (its search index is built again from this one).
        for suffix in ("-wal", "-shm", "-search", "-search-wal", "-search-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        _install(temporary, database)
    except (sqlite3.Error, OSError) as exc:
        raise _sqlite_error(
            exc, _("cannot restore {backup} to {database}").format(backup=backup, database=database)
        ) from None
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("store %s restored from %s", database, backup)
    return kept if had_database else None
