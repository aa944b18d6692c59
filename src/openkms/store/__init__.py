"""Host stores: one interface, an embedded SQLite default, an in-memory one for tests."""

from openkms.store.base import (
    ClientQuery,
    ClientRecord,
    Counters,
    EventQuery,
    HostStore,
    RequestRecord,
)

__all__ = [
    "ClientQuery",
    "ClientRecord",
    "Counters",
    "EventQuery",
    "HostStore",
    "RequestRecord",
]
