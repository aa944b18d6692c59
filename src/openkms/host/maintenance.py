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
from openkms.store.lock import StoreLock

__all__ = ["RestoreResult", "backup_store", "restore_store"]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did: the backup it checked, and where the replaced database was kept."""

    backup: BackupInfo
    kept: Path | None


def backup_store(store_dir: Path, output: Path, *, force: bool = False) -> BackupInfo:
    """An online copy of the store's database, safe while the host serves."""
    return backup_database(sqlite_path(store_dir), output, schema_version(), force=force)


def restore_store(store_dir: Path, backup: Path) -> RestoreResult:
    """Replace the store's database by ``backup``; refused while a host serves the store."""
    with StoreLock(store_dir):
        database = sqlite_path(store_dir)
        kept = restore_database(backup, database, schema_version())
        return RestoreResult(verify_backup(database, schema_version()), kept)
