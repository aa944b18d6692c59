"""An in-memory host store for tests: the same interface, nothing on disk.

It applies ``openkms.core.counting.current_count`` directly, so it is also the reference
the SQLite and PostgreSQL stores are held to.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Final, TypeVar

import msgspec

from openkms.core import settings
from openkms.core.counting import CountPolicy, current_count, future_rows, seen_again
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store import _memory_admin as admin
from openkms.store.base import (
    ActivityBucket,
    ClientPage,
    ClientQuery,
    ClientRecord,
    ClientSearch,
    ClientTotal,
    Counters,
    EventQuery,
    EventSearch,
    HostStore,
    RequestRecord,
)

__all__ = ["MemoryStore"]

_DEFAULT_POLICY: Final = CountPolicy()

K = TypeVar("K")


class MemoryStore(HostStore):
    """A host store held in dictionaries; usable without ``open()``, unusable after ``close()``."""

    def __init__(
        self,
        *,
        policy: CountPolicy = _DEFAULT_POLICY,
        event_retention: int = settings.EVENT_RETENTION,
    ) -> None:
        if event_retention < 1:
            raise ValueError(f"event_retention must be at least 1, got {event_retention}")
        self.policy = policy
        self.event_retention = event_retention
        self._clients: dict[tuple[str, str], ClientRecord] = {}
        self._last_seen: dict[str, dict[bytes, int]] = {}
        self._n_policy_seen: dict[str, dict[int, int]] = {}
        self._counters: dict[str, Counters] = {}
        self._events: collections.deque[admin.StoredEvent] = collections.deque(
            maxlen=event_retention
        )
        self._seq = 0
        self._closed = False
        self._activity = admin.HourlyActivity()

    async def open(self) -> None:
        """Nothing to open; fails only after ``close()``."""
        self._check_open()

    async def close(self) -> None:
        """Mark the store closed; idempotent."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(_("store is closed"), fix=_("Open the store again before using it."))

    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        """Record one request at once; the future holds the application's count after it."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._record(request))
        except StoreError as exc:
            future.set_exception(exc)
        return future

    def _record(self, request: RequestRecord) -> int:
        self._check_open()
        self._append(request.event, int(request.result), request.cmid)
        self._count_request(request)
        if request.counted:
            self._see_client(request)
        count = self._count(request.application_id, request.time)
        if request.earns_ticket(count):
            self._activated(request)
        return count

    def _activated(self, request: RequestRecord) -> None:
        key = (request.application_id, request.cmid)
        client = self._clients[key]
        when = max(client.last_activated or request.time, request.time)
        self._clients[key] = msgspec.structs.replace(client, last_activated=when)

    async def log_event(self, event: EventRecord) -> None:
        """Append a host event."""
        self._check_open()
        self._append(event, event.hresult, None)

    def _append(self, event: EventRecord, hresult: int | None, cmid: str | None) -> None:
        self._seq += 1
        stored = EventRecord(event.event_id, event.time, event.info, self._seq, hresult)
        self._events.append(admin.StoredEvent(stored, cmid))
        self._activity.add(stored)

    def _count_request(self, request: RequestRecord) -> None:
        counters = self._counters.setdefault(request.host_id, Counters())
        counters.total += 1
        counters.failed += int(request.failed)
        status = request.license_status
        counters.by_status[status] = counters.by_status.get(status, 0) + 1

    def _see_client(self, request: RequestRecord) -> None:
        key = (request.application_id, request.cmid)
        previous = self._clients.get(key)
        last = seen_again(previous.last_seen if previous else None, request.time)
        source = previous if previous is not None and last != request.time else request
        self._clients[key] = ClientRecord(
            cmid=request.cmid,
            application_id=request.application_id,
            activation_id=source.activation_id,
            machine_name=source.machine_name,
            first_seen=min(request.time, previous.first_seen) if previous else request.time,
            last_seen=last,
            license_status=source.license_status,
            n_policy=source.n_policy,
            requests=previous.requests + 1 if previous else 1,
            last_activated=previous.last_activated if previous else None,
        )
        last_seen = self._last_seen.setdefault(request.application_id, {})
        _see(last_seen, request.cmid.encode(), request.time)
        n_policy_seen = self._n_policy_seen.setdefault(request.application_id, {})
        _see(n_policy_seen, request.n_policy, request.time)

    def _count(self, application_id: str, now: int) -> int:
        return current_count(
            self._last_seen.get(application_id, {}),
            self._n_policy_seen.get(application_id, {}),
            now,
            self.policy,
        )

    async def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now``."""
        self._check_open()
        return self._count(application_id, now)

    async def future_clients(self, application_id: str, now: int) -> int:
        """Clients of the application dated in the future at ``now`` (not counted)."""
        self._check_open()
        return future_rows(self._last_seen.get(application_id, {}), now, self.policy)

    async def counters(self, host_id: str) -> Counters:
        """A copy of one host's cumulative counters."""
        self._check_open()
        counters = self._counters.get(host_id, Counters())
        return Counters(counters.total, counters.failed, dict(counters.by_status))

    async def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query`` (``since``/``until`` inclusive), oldest first."""
        self._check_open()
        matching = (s.event for s in self._events if _event_matches(s.event, query))
        return [event for _, event in zip(range(max(query.limit, 0)), matching, strict=False)]

    async def clients(self, query: ClientQuery) -> list[ClientRecord]:
        """Clients matching ``query``, most recently seen first."""
        self._check_open()
        matching = sorted(
            (client for client in self._clients.values() if _client_matches(client, query)),
            key=lambda c: (-c.last_seen, c.application_id, c.cmid),
        )
        start = max(query.offset, 0)
        return matching[start : start + max(query.limit, 0)]

    # -- administration (the admin API and dashboard) ------------------------------------

    async def search_clients(self, search: ClientSearch) -> ClientPage:
        """One page of clients matching ``search`` and the number matching in all."""
        self._check_open()
        return admin.search_clients(self._clients.values(), search)

    async def client_totals(self, application_id: str | None) -> list[ClientTotal]:
        """Clients by product and license status."""
        self._check_open()
        return admin.client_totals(self._clients.values(), application_id)

    async def search_events(self, search: EventSearch) -> list[EventRecord]:
        """Events matching ``search``, newest first."""
        self._check_open()
        return admin.search_events(self._events, search)

    async def activity(self, since: int, until: int, bucket: int) -> list[ActivityBucket]:
        """12290 requests in ``[since, until)`` by buckets of ``bucket`` seconds."""
        self._check_open()
        return self._activity.buckets(since, until, bucket)

    async def recent_last_seen(self, application_id: str, limit: int) -> list[int]:
        """Last-seen times of the ``limit`` most recently seen clients, newest first."""
        self._check_open()
        times = sorted(self._last_seen.get(application_id, {}).values(), reverse=True)
        return times[: max(limit, 0)]

    async def forget_client(self, application_id: str, cmid: str) -> bool:
        """Remove one client (it leaves the count); False if it was unknown."""
        self._check_open()
        self._last_seen.get(application_id, {}).pop(cmid.encode(), None)
        return self._clients.pop((application_id, cmid), None) is not None


def _see(last_seen: dict[K, int], key: K, time: int) -> None:
    # Last seen is the latest time, even when requests arrive out of order, unless it is
    # dated in the future (as in SQL).
    last_seen[key] = seen_again(last_seen.get(key), time)


def _event_matches(event: EventRecord, query: EventQuery) -> bool:
    return (
        event.seq > query.after_seq
        and (not query.event_ids or event.event_id in query.event_ids)
        and (query.since is None or event.time >= query.since)
        and (query.until is None or event.time <= query.until)
    )


def _client_matches(client: ClientRecord, query: ClientQuery) -> bool:
    return (query.application_id is None or client.application_id == query.application_id) and (
        query.seen_since is None or client.last_seen >= query.seen_since
    )
