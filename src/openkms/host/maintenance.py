"""Backing up and restoring a host's store directory (``openkms host backup|restore``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openkms.store import sqlite_path
from openkms.store._sqlite_schema import schema_version
from openkms.store.backup import (
    BackupInfo,
    backup_database,
    restore_database,
    verify_backup,
)
from openkms.store.database import refuse_shared_database
from openkms.store.lock import StoreLock

__all__ = ["RestoreResult", "backup_store", "restore_store"]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did: the backup it checked, and where the replaced database was kept."""

    backup: BackupInfo
    kept: Path | None


def backup_store(
    store_dir: Path, output: Path, *, force: bool = False, database: str | None = None
) -> BackupInfo:
    """An online copy of the store's database, safe while the host serves; StoreError at
    once for a shared PostgreSQL store (``database``, else ``$OPENKMS_DATABASE``: pg_dump)."""
    refuse_shared_database(database, "backup")
    return backup_database(sqlite_path(store_dir), output, schema_version(), force=force)


def restore_store(store_dir: Path, backup: Path, database: str | None = None) -> RestoreResult:
    """Replace the store's database by ``backup``; refused while a host serves the store, and
    at once for a shared PostgreSQL store (pg_restore)."""
    refuse_shared_database(database, "restore")
    with StoreLock(store_dir):
        path = sqlite_path(store_dir)
        kept = restore_database(backup, path, schema_version())
        return RestoreResult(verify_backup(path, schema_version()), kept)
