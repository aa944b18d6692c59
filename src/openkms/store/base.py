"""The store interface, in two sides: ``HostStoreReader`` reads, ``HostStore`` also writes.

A host hands the store one ``RequestRecord`` per activation request. The store, in one
durable transaction, appends the request's 12290 event, bumps the cumulative counters and,
for a *counted* (valid) request, records the client and the N-policy it was judged by; it
then returns the application's current count. Only when the future of ``submit_record``
settles is the write durable, so only then does the host answer the client.

A reader (``openkms.store.open_reader``: ``host dli``, the doctor, support bundles) never
writes: it creates no file, migrates nothing and starts no writer. Implementations: SQLite
(``sqlite``) and in-memory (``memory``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Self

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.store.database import PeerHost

if TYPE_CHECKING:  # annotations only: the writer process runs without asyncio
    import asyncio

__all__ = [
    "CLIENT_SORTS",
    "EVENT_PAGE",
    "ActivityBucket",
    "ClientPage",
    "ClientQuery",
    "ClientRecord",
    "ClientSearch",
    "ClientTotal",
    "Counters",
    "EventQuery",
    "EventSearch",
    "HostStore",
    "HostStoreReader",
    "RequestRecord",
]


class RequestRecord(msgspec.Struct, frozen=True):
    """Everything the store keeps about one activation request.

    ``result`` is the host's verdict; the stored flags derive from it: a request is
    *counted* (its client joins the count) when the result is OK, *failed* otherwise.
    """

    time: int
    host_id: str
    application_id: str
    activation_id: str
    cmid: str
    machine_name: str
    license_status: int
    n_policy: int
    result: ResultCode
    event: EventRecord

    @property
    def counted(self) -> bool:
        """Whether the request was valid: its client counts and its N-policy is kept."""
        return self.result is ResultCode.OK

    @property
    def failed(self) -> bool:
        """Whether the request failed (the cumulative counters' ``failed``)."""
        return self.result is not ResultCode.OK

    def earns_ticket(self, count: int) -> bool:
        """Whether the host answers this request with a ticket, given the count after it.

        The host's rule (``HostService``): a counted request whose count reaches the
        N-policy it was judged by (the catalog's, kept in ``n_policy``) is activated.
        """
        return self.counted and count >= self.n_policy


class Counters(msgspec.Struct):
    """Cumulative request counters of one host (reset only when the host is reinstalled)."""

    total: int = 0
    failed: int = 0
    by_status: dict[int, int] = msgspec.field(default_factory=dict)


class ClientRecord(msgspec.Struct, frozen=True):
    """A client machine as the host last saw it.

    ``license_status`` is the status the client *reported* with its last counted request;
    ``last_activated`` is when the host last gave it a ticket (None: never). What the
    client is in now is derived from both (``openkms.core.derived_state``).
    """

    cmid: str
    application_id: str
    activation_id: str
    machine_name: str
    first_seen: int
    last_seen: int
    license_status: int
    n_policy: int
    requests: int
    last_activated: int | None = None


class EventQuery(msgspec.Struct, frozen=True):
    """Which events to read: by ID, time range, after a sequence number, at most ``limit``."""

    event_ids: tuple[int, ...] = ()
    since: int | None = None
    until: int | None = None
    after_seq: int = 0
    limit: int = 1000


class ClientQuery(msgspec.Struct, frozen=True):
    """Which clients to read."""

    application_id: str | None = None
    seen_since: int | None = None
    limit: int = 1000
    offset: int = 0


# Columns a client list may be sorted by (the admin API's ``sort`` values).
CLIENT_SORTS = (
    "last_seen",
    "first_seen",
    "machine_name",
    "cmid",
    "requests",
    "license_status",
    "activation_id",
)


class ClientSearch(msgspec.Struct, frozen=True):
    """A page of clients for an administrator: filters, sort, and keyset or offset paging.

    ``text`` matches a substring of the machine name or the CMID; ``seen_before`` is
    exclusive, ``seen_since`` inclusive; ``sort`` is one of ``CLIENT_SORTS``. ``after`` is
    the ``(sort value, application ID, CMID)`` of the last client of the previous page: the
    page starts after it (a keyset page, as cheap deep as shallow; ``offset`` walks).
    """

    application_id: str | None = None
    activation_id: str | None = None
    license_status: int | None = None
    seen_since: int | None = None
    seen_before: int | None = None
    text: str | None = None
    sort: str = "last_seen"
    descending: bool = True
    limit: int = 50
    offset: int = 0
    after: tuple[int | str, str, str] | None = None


class ClientPage(msgspec.Struct):
    """One page of clients and how many match in all."""

    total: int
    clients: list[ClientRecord]


class ClientTotal(msgspec.Struct, frozen=True):
    """How many clients of one product (activation ID) are in one license status."""

    activation_id: str
    license_status: int
    clients: int


class EventSearch(msgspec.Struct, frozen=True):
    """Events for an administrator, newest first, paged by a ``(time, seq)`` cursor.

    ``before`` is the ``(time, seq)`` of the last event of the previous page; ``failed``
    keeps only 12290 events whose HRESULT is not 0.
    """

    event_ids: tuple[int, ...] = ()
    since: int | None = None
    until: int | None = None
    cmid: str | None = None
    failed: bool = False
    before: tuple[int, int] | None = None
    limit: int = 100


class ActivityBucket(msgspec.Struct, frozen=True):
    """Activation requests (12290) in one time bucket starting at ``start``."""

    start: int
    succeeded: int
    failed: int


EVENT_PAGE = 10_000  # events per query when streaming the whole log


class HostStoreReader(abc.ABC):
    """The read side of a host store: counts, counters, clients and events.

    Usable as ``async with``. Every call after ``close()`` raises StoreError.
    """

    policy: CountPolicy

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the store (a reader only opens what exists; StoreError if it cannot)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close; idempotent, later calls raise StoreError."""

    @abc.abstractmethod
    async def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now`` without recording anything."""

    @abc.abstractmethod
    async def future_clients(self, application_id: str, now: int) -> int:
        """Clients of the application last seen later than the count's ceiling at ``now``
        (dated in the future: stored, not counted)."""

    @abc.abstractmethod
    async def counters(self, host_id: str) -> Counters:
        """The cumulative counters of one host."""

    @abc.abstractmethod
    async def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query``, oldest first."""

    async def iter_events(
        self, query: EventQuery, page: int = EVENT_PAGE
    ) -> AsyncIterator[EventRecord]:
        """Every event matching ``query``, oldest first, read ``page`` at a time (exports)."""
        after = query.after_seq
        while True:
            batch = await self.events(msgspec.structs.replace(query, after_seq=after, limit=page))
            for event in batch:
                yield event
            if len(batch) < page:
                return
            after = batch[-1].seq

    async def peer_hosts(self) -> list[PeerHost]:
        """The hosts sharing this store, most recently active first; none for one host's own
        store (SQLite, memory): only a shared database has peers."""
        return []

    @abc.abstractmethod
    async def clients(self, query: ClientQuery) -> list[ClientRecord]:
        """Clients matching ``query``, most recently seen first."""

    # -- administration (the admin API and dashboard) ------------------------------------

    @abc.abstractmethod
    async def search_clients(self, search: ClientSearch) -> ClientPage:
        """One page of clients matching ``search`` and the number matching in all."""

    @abc.abstractmethod
    async def client_totals(self, application_id: str | None) -> list[ClientTotal]:
        """Clients by product and license status (all applications when None)."""

    @abc.abstractmethod
    async def search_events(self, search: EventSearch) -> list[EventRecord]:
        """Events matching ``search``, newest first."""

    @abc.abstractmethod
    async def activity(self, since: int, until: int, bucket: int) -> list[ActivityBucket]:
        """12290 requests in ``[since, until)`` by buckets of ``bucket`` seconds (a whole
        number of hours), oldest first, empty buckets left out."""

    @abc.abstractmethod
    async def recent_last_seen(self, application_id: str, limit: int) -> list[int]:
        """The last-seen times of the ``limit`` most recently seen clients, newest first."""


class HostStore(HostStoreReader):
    """A host store that also writes: durable storage of clients, counters and events."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the store, creating or migrating its schema, and start its writer."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and close; later calls raise StoreError."""

    @abc.abstractmethod
    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        """Queue one request's record; the future gives the count once it is durable.

        A plain function, not a coroutine: the host's listener adds a done callback to the
        future instead of running a task per request. Must be called on the event loop.
        """

    async def record(self, request: RequestRecord) -> int:
        """Durably record one request; return the application's count after it."""
        return await self.submit_record(request)

    @abc.abstractmethod
    async def log_event(self, event: EventRecord) -> None:
        """Durably append a host event (12293, 12294, ...)."""

    @abc.abstractmethod
    async def forget_client(self, application_id: str, cmid: str) -> bool:
        """Durably remove one client (it leaves the count); False if it was unknown."""
