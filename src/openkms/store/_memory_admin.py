"""The admin queries of the in-memory store: the reference the SQL versions are held to."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Final, NamedTuple

from openkms.core.events import EventRecord
from openkms.store.base import (
    CLIENT_SORTS,
    ActivityBucket,
    ClientPage,
    ClientRecord,
    ClientSearch,
    ClientTotal,
    EventSearch,
)

__all__ = ["HourlyActivity", "StoredEvent", "client_totals", "search_clients", "search_events"]

_HOUR: Final = 3600


class StoredEvent(NamedTuple):
    """An event as the in-memory store keeps it: with the CMID of its request, if any."""

    event: EventRecord
    cmid: str | None


class HourlyActivity:
    """Hourly totals of 12290 requests, as the SQLite store's ``activity_hourly`` table."""

    def __init__(self) -> None:
        self._hours: dict[int, list[int]] = {}

    def add(self, event: EventRecord) -> None:
        """Count one event if it is a 12290."""
        if event.event_id != 12290:
            return
        totals = self._hours.setdefault(event.time // _HOUR * _HOUR, [0, 0])
        totals[0 if event.hresult == 0 else 1] += 1

    def buckets(self, since: int, until: int, bucket: int) -> list[ActivityBucket]:
        """Totals in ``[since, until)`` by buckets of ``bucket`` seconds, oldest first."""
        if bucket < _HOUR or bucket % _HOUR:
            raise ValueError(f"bucket must be a whole number of hours, got {bucket} s")
        sums: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0])
        for hour, (ok, failed) in self._hours.items():
            if since <= hour < until:
                totals = sums[hour // bucket * bucket]
                totals[0] += ok
                totals[1] += failed
        return [ActivityBucket(start, ok, failed) for start, (ok, failed) in sorted(sums.items())]


def _client_matches(client: ClientRecord, search: ClientSearch) -> bool:
    text = (search.text or "").lower()
    return (
        (search.application_id is None or client.application_id == search.application_id)
        and (search.activation_id is None or client.activation_id == search.activation_id)
        and (search.license_status is None or client.license_status == search.license_status)
        and (search.seen_since is None or client.last_seen >= search.seen_since)
        and (search.seen_before is None or client.last_seen < search.seen_before)
        and (not text or text in client.machine_name.lower() or text in client.cmid.lower())
    )


def search_clients(clients: Iterable[ClientRecord], search: ClientSearch) -> ClientPage:
    """One page of ``clients`` matching ``search`` and the number matching in all."""
    if search.sort not in CLIENT_SORTS:
        raise ValueError(f"cannot sort clients by {search.sort!r}")
    matching = [client for client in clients if _client_matches(client, search)]
    # Stable sorts: the tie-breakers first, then the column, both in the sort's direction.
    matching.sort(key=lambda c: (c.application_id, c.cmid), reverse=search.descending)
    matching.sort(key=lambda c: getattr(c, search.sort), reverse=search.descending)
    total = len(matching)
    if search.after is not None:
        matching = [c for c in matching if _after(c, search)]
    start = max(search.offset, 0)
    return ClientPage(total, matching[start : start + max(search.limit, 0)])


def _after(client: ClientRecord, search: ClientSearch) -> bool:
    """Whether ``client`` comes after the cursor ``search.after`` in the search's order."""
    assert search.after is not None
    value, application_id, cmid = search.after
    mine = getattr(client, search.sort)
    key = (mine, client.application_id, client.cmid)
    return (
        key < (value, application_id, cmid)
        if search.descending
        else key
        > (
            value,
            application_id,
            cmid,
        )
    )


def client_totals(clients: Iterable[ClientRecord], application_id: str | None) -> list[ClientTotal]:
    """Clients by product and license status."""
    totals = collections.Counter(
        (c.activation_id, c.license_status)
        for c in clients
        if application_id is None or c.application_id == application_id
    )
    return [ClientTotal(a, s, n) for (a, s), n in sorted(totals.items())]


def _event_matches(stored: StoredEvent, search: EventSearch) -> bool:
    event, cmid = stored
    return (
        (not search.event_ids or event.event_id in search.event_ids)
        and (search.since is None or event.time >= search.since)
        and (search.until is None or event.time <= search.until)
        and (search.cmid is None or cmid == search.cmid)
        and (not search.failed or (event.event_id == 12290 and event.hresult not in (0, None)))
        and (search.before is None or (event.time, event.seq) < search.before)
    )


def search_events(events: Iterable[StoredEvent], search: EventSearch) -> list[EventRecord]:
    """Events matching ``search``, newest first (by time, then sequence number)."""
    matching = [s.event for s in events if _event_matches(s, search)]
    matching.sort(key=lambda e: (e.time, e.seq), reverse=True)
    return matching[: max(search.limit, 0)]
