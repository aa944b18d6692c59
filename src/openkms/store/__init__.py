"""Host stores: one interface in two sides (read, write), an embedded SQLite default, an
in-memory one for tests. ``open_store`` and ``open_reader`` decide which store a host uses.

The names below load on first use (PEP 562): the SQLite store's writer process
(``python -m openkms.store._writer_process``) imports this package first, and must not pay
for the asyncio side, the readers and the other stores it never uses
(tests/unit/test_import_weight.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    "check_integrity",
    "open_reader",
    "open_store",
    "sqlite_path",
    "store_kind",
]

_LAZY = {
    "SQLITE_FILE": "openkms.store._open",
    "BlockingReader": "openkms.store._blocking",
    "ClientQuery": "openkms.store.base",
    "ClientRecord": "openkms.store.base",
    "Counters": "openkms.store.base",
    "EventQuery": "openkms.store.base",
    "HostStore": "openkms.store.base",
    "HostStoreReader": "openkms.store.base",
    "RequestRecord": "openkms.store.base",
    "StoreKind": "openkms.store._open",
    "check_integrity": "openkms.store._open",
    "open_reader": "openkms.store._open",
    "open_store": "openkms.store._open",
    "sqlite_path": "openkms.store._open",
    "store_kind": "openkms.store._open",
}

if TYPE_CHECKING:
    from openkms.store._blocking import BlockingReader
    from openkms.store._open import (
        SQLITE_FILE,
        StoreKind,
        check_integrity,
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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'openkms.store' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
