"""PostgreSQL queries of the admin dashboard: client pages, event search, activity, forecast.

The same answers as ``_sqlite_admin``, read-only, on a pooled connection. Every value goes
through ``$n`` parameters; only fixed column names and placeholders are interpolated.
"""

from __future__ import annotations

from typing import Final

import msgspec

from openkms.core.events import EventRecord
from openkms.store._pg_db import CLIENT_COLUMNS, EVENT_COLUMNS, Queryable, Where, event_records
from openkms.store.base import (
    CLIENT_SORTS,
    ActivityBucket,
    ClientPage,
    ClientRecord,
    ClientSearch,
    ClientTotal,
    EventSearch,
)

__all__ = [
    "activity",
    "client_totals",
    "kept_total",
    "recent_last_seen",
    "search_clients",
    "search_events",
]

_HOUR: Final = 3600


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with its wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _client_where(search: ClientSearch) -> Where:
    where = Where()
    for column, value in (
        ("application_id", search.application_id),
        ("activation_id", search.activation_id),
        ("license_status", search.license_status),
    ):
        if value is not None:
            where.add(f"{column} = {{}}", value)
    if search.seen_since is not None:
        where.add("last_seen >= {}", search.seen_since)
    if search.seen_before is not None:
        where.add("last_seen < {}", search.seen_before)
    if search.text:
        pattern = _like(search.text)
        # ILIKE: case-insensitive, as SQLite's LIKE is for ASCII; pg_trgm's index serves it.
        where.add("(machine_name ILIKE {0} ESCAPE '\\' OR cmid ILIKE {0} ESCAPE '\\')", pattern)
    if search.after is not None:
        value, application_id, cmid = search.after
        cmp, col = ("<" if search.descending else ">"), search.sort
        # Redundant first condition: it bounds the walk of the sort's index.
        where.add(
            f"{col} {cmp}= {{0}} AND "
            f"({col} {cmp} {{0}} OR (application_id, cmid) {cmp} ({{1}}, {{2}}))",
            value,
            application_id,
            cmid,
        )
    return where


async def search_clients(conn: Queryable, search: ClientSearch) -> ClientPage:
    """One page of clients and the number matching in all."""
    if search.sort not in CLIENT_SORTS:
        raise ValueError(f"cannot sort clients by {search.sort!r}")
    where = _client_where(search)
    direction = "DESC" if search.descending else "ASC"  # ties too (as _sqlite_admin)
    order = f"ORDER BY {search.sort} {direction}, application_id {direction}, cmid {direction}"
    limit, offset = max(search.limit, 0), max(search.offset, 0)
    sql = (
        f"SELECT {CLIENT_COLUMNS} FROM clients {where.sql()} "  # noqa: S608
        f"{order} LIMIT {where.param(limit)} OFFSET {where.param(offset)}"
    )
    page = [ClientRecord(*row) for row in await conn.fetch(sql, *where.params)]
    everything = msgspec.structs.replace(search, after=None)
    if search.text:
        total = await _counted(conn, everything)
    elif search.after is None and offset == 0 and len(page) < limit:
        total = len(page)  # the whole answer is on this page
    else:
        total = await kept_total(conn, everything)
    return ClientPage(total, page)


async def _counted(conn: Queryable, search: ClientSearch) -> int:
    """Clients matching ``search``, counted row by row."""
    where = _client_where(search)
    total = await conn.fetchval(f"SELECT count(*) FROM clients {where.sql()}", *where.params)  # noqa: S608
    return int(str(total))


async def kept_total(conn: Queryable, search: ClientSearch) -> int:
    """Clients matching ``search`` (no text) from the kept totals: whole hours of last_seen
    summed, the partial hours at each end of the range counted (as ``_sqlite_admin``)."""
    since, before = search.seen_since, search.seen_before
    first = 1 if since is None else max(1, -(-since // _HOUR))
    end = None if before is None else before // _HOUR
    if end is not None and first >= end:
        return await _counted(conn, search)
    where = Where()
    where.add("hour >= {}", first)
    if end is not None:
        where.add("hour < {}", end)
    for column, value in (
        ("application_id", search.application_id),
        ("activation_id", search.activation_id),
        ("license_status", search.license_status),
    ):
        if value is not None:
            where.add(f"{column} = {{}}", value)
    whole = await conn.fetchval(
        f"SELECT coalesce(sum(clients), 0) FROM client_totals {where.sql()}",  # noqa: S608
        *where.params,
    )
    total = int(str(whole))
    total += await _counted(conn, msgspec.structs.replace(search, seen_before=first * _HOUR))
    if end is not None:
        total += await _counted(conn, msgspec.structs.replace(search, seen_since=end * _HOUR))
    return total


async def client_totals(conn: Queryable, application_id: str | None) -> list[ClientTotal]:
    """Clients by product and license status (from the kept totals)."""
    where = Where()
    if application_id:
        where.add("application_id = {}", application_id)
    rows = await conn.fetch(
        "SELECT activation_id, license_status, sum(clients) FROM client_totals "  # noqa: S608
        f"{where.sql()} GROUP BY 1, 2 HAVING sum(clients) > 0 ORDER BY 1, 2",
        *where.params,
    )
    return [ClientTotal(str(a), int(s), int(n)) for a, s, n in rows]


def _event_where(search: EventSearch) -> Where:
    where = Where()
    if search.failed:
        where.add("event_id = 12290 AND hresult <> 0")  # the partial index events_failed
    if search.event_ids:
        where.add("event_id = ANY({}::int[])", list(search.event_ids))
        if 12290 not in search.event_ids:
            where.add("event_id <> 12290")  # the partial index events_other
    for condition, value in (
        ("time >= {}", search.since),
        ("time <= {}", search.until),
        ("cmid = {}", search.cmid),
    ):
        if value is not None:
            where.add(condition, value)
    if search.before is not None:
        where.add("(time, seq) < ({}, {})", *search.before)
    return where


async def search_events(conn: Queryable, search: EventSearch) -> list[EventRecord]:
    """Events matching ``search``, newest first (by time, then sequence number)."""
    where = _event_where(search)
    limit = where.param(max(search.limit, 0))
    sql = (
        f"SELECT {EVENT_COLUMNS} FROM events {where.sql()} "  # noqa: S608
        f"ORDER BY time DESC, seq DESC LIMIT {limit}"
    )
    return event_records(await conn.fetch(sql, *where.params))


async def activity(conn: Queryable, since: int, until: int, bucket: int) -> list[ActivityBucket]:
    """12290 requests in ``[since, until)`` by buckets of ``bucket`` seconds, oldest first.

    The hourly rows are per host; a bucket sums every host's.
    """
    if bucket < _HOUR or bucket % _HOUR:
        raise ValueError(f"bucket must be a whole number of hours, got {bucket} s")
    rows = await conn.fetch(
        "SELECT hour / $1 * $1 AS start, sum(succeeded), sum(failed) FROM activity_hourly "
        "WHERE hour >= $2 AND hour < $3 GROUP BY start ORDER BY start",
        bucket,
        since,
        until,
    )
    return [ActivityBucket(int(start), int(ok), int(failed)) for start, ok, failed in rows]


async def recent_last_seen(conn: Queryable, application_id: str, limit: int) -> list[int]:
    """Last-seen times of the ``limit`` most recently seen clients, newest first."""
    rows = await conn.fetch(
        "SELECT last_seen FROM clients WHERE application_id = $1 ORDER BY last_seen DESC LIMIT $2",
        application_id,
        max(limit, 0),
    )
    return [int(row[0]) for row in rows]
