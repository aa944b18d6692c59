"""Which store a directory holds, and the two ways to open it: to write, or only to read.

The one place that decides the store's kind and location: an SQLite file ``host.db`` in the
host's store directory, or a PostgreSQL database shared by the hosts of a site when a
``database`` DSN is given (or ``$OPENKMS_DATABASE`` is set).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Final

from openkms.store._sqlite_reader import SqliteStoreReader
from openkms.store.base import HostStore, HostStoreReader
from openkms.store.database import resolve_database
from openkms.store.memory import MemoryStore
from openkms.store.sqlite import SqliteStore

__all__ = ["SQLITE_FILE", "StoreKind", "open_reader", "open_store", "sqlite_path", "store_kind"]

SQLITE_FILE: Final = "host.db"


class StoreKind(enum.StrEnum):
    """What a store directory belongs to."""

    HOST = "host"
    CLIENT = "client"


def store_kind(directory: Path) -> StoreKind | None:
    """HOST, CLIENT or None, from the files of a store directory (``host.json``/``client.json``)."""
    if (directory / "host.json").is_file():
        return StoreKind.HOST
    if (directory / "client.json").is_file():
        return StoreKind.CLIENT
    return None


def sqlite_path(store_dir: Path) -> Path:
    """The SQLite file of a host's store directory."""
    return store_dir / SQLITE_FILE


def open_store(store_dir: Path, database: str | None = None) -> HostStore:
    """The host's store, to write (not opened yet): the shared PostgreSQL database named by
    ``database`` or ``$OPENKMS_DATABASE``, else SQLite with its writer process."""
    dsn = resolve_database(database)
    if dsn is not None:
        # Imported only for a PostgreSQL store: asyncpg would add 4-5 MiB and start-up time
        # to every SQLite host and to its writer process (which imports this package).
        from openkms.store.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(dsn)
    return SqliteStore(sqlite_path(store_dir), writer="process")


def open_reader(
    store_dir: Path, database: str | None = None, *, missing_ok: bool = False
) -> HostStoreReader:
    """The host's store, only to read (not opened yet): ``open()`` creates no file,
    migrates nothing and starts no writer; StoreError if the store is missing or of another
    schema version. With ``missing_ok``, a store the host has not created yet (it never
    ran) reads as an empty one. ``database`` as for ``open_store``."""
    dsn = resolve_database(database)
    if dsn is not None:
        from openkms.store._pg_reader import PostgresReader  # noqa: PLC0415 - as in open_store

        return PostgresReader(dsn)
    path = sqlite_path(store_dir)
    if missing_ok and not path.exists():
        return MemoryStore()
    return SqliteStoreReader(path)
