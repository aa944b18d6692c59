"""Host stores: one interface in two sides (read, write), an embedded SQLite default, an
in-memory one for tests. ``open_store`` and ``open_reader`` decide which store a host uses."""

from openkms.store._blocking import BlockingReader
from openkms.store._open import (
    SQLITE_FILE,
    StoreKind,
    open_reader,
    open_store,
    sqlite_path,
    store_kind,
)
from openkms.store.base import (
    ClientQuery,
    ClientRecord,
    Counters,
    EventQuery,
    HostStore,
    HostStoreReader,
    RequestRecord,
)

__all__ = [
    "SQLITE_FILE",
    "BlockingReader",
    "ClientQuery",
    "ClientRecord",
    "Counters",
    "EventQuery",
    "HostStore",
    "HostStoreReader",
    "RequestRecord",
    "StoreKind",
    "open_reader",
    "open_store",
    "sqlite_path",
    "store_kind",
]
