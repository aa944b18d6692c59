"""SQLite queries of the admin dashboard: client pages, event search, activity, forecast.

Read-only functions on a reader's connection (the one exception, ``forget_client``, runs on
the writer's). Every value goes through parameters; only fixed column names and
placeholders are interpolated into the SQL.
"""

from __future__ import annotations

import sqlite3
from typing import Final

import msgspec

from openkms.core.events import EventRecord
from openkms.store import _sqlite_text as text
from openkms.store._sqlite_queries import CLIENT_COLUMNS, EVENT_COLUMNS, event_from_row
from openkms.store._sqlite_schema import EVENTS_BY_CMID
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
    "forget_client",
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


def _client_where(search: ClientSearch) -> tuple[str, list[object]]:
    where = ["1"]
    params: list[object] = []
    for column, value in (
        ("application_id", search.application_id),
        ("activation_id", search.activation_id),
        ("license_status", search.license_status),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if search.seen_since is not None:
        where.append("last_seen >= ?")
        params.append(search.seen_since)
    if search.seen_before is not None:
        where.append("last_seen < ?")
        params.append(search.seen_before)
    if search.text:
        where.append("(machine_name LIKE ? ESCAPE '\\' OR cmid LIKE ? ESCAPE '\\')")
        params += [_like(search.text)] * 2
    if search.after is not None:
        condition, values = _after(search)
        where.append(condition)
        params += values
    return " AND ".join(where), params


def _after(search: ClientSearch) -> tuple[str, list[object]]:
    """The condition of a keyset page: the rows after ``search.after`` in the order."""
    assert search.after is not None
    value, application_id, cmid = search.after
    # Ties are ordered by (application, CMID) in the sort's direction. The redundant first
    # condition bounds the walk of the sort's index.
    cmp = "<" if search.descending else ">"
    return (
        f"{search.sort} {cmp}= ? AND "
        f"({search.sort} {cmp} ? OR (application_id, cmid) {cmp} (?, ?))",
        [value, value, application_id, cmid],
    )


def _source(conn: sqlite3.Connection, search: ClientSearch) -> tuple[str, list[object]]:
    """The FROM clause: every client, or the text index's candidates joined to theirs."""
    found = text.candidates(conn, search.text) if search.text else None
    if found is None:
        return "clients", []
    subquery, params = found
    # CROSS JOIN: SQLite keeps this order, from the few candidates to their rows.
    return (
        f"({subquery}) AS m CROSS JOIN clients "
        "ON clients.application_id = m.m_app AND clients.cmid = m.m_cmid",
        params,
    )


def search_clients(conn: sqlite3.Connection, search: ClientSearch) -> ClientPage:
    """One page of clients and the number matching in all."""
    if search.sort not in CLIENT_SORTS:
        raise ValueError(f"cannot sort clients by {search.sort!r}")
    indexed = search.text is not None and len(search.text) >= text.MIN_INDEXED
    with text.attached(conn, wanted=indexed):
        return _search_text(conn, search) if indexed else _search_page(conn, search)


def _search_page(conn: sqlite3.Connection, search: ClientSearch) -> ClientPage:
    """One page of clients (no text, or text too short for the index)."""
    source, source_params = _source(conn, search)
    conditions, params = _client_where(search)
    # Ties in the same direction: an index of the sort column (which ends with the key)
    # then gives the whole order, and a deep offset walks it without sorting.
    order = _order(search)
    # A deferred join: the inner query skips ``offset`` rows on an index alone (keys only),
    # and only the page's rows are read whole; a deep page costs an index walk (``after``,
    # a keyset page, costs none).
    sql = (
        f"SELECT {CLIENT_COLUMNS} FROM clients WHERE (application_id, cmid) IN "  # noqa: S608
        f"(SELECT clients.application_id, clients.cmid FROM {source} WHERE {conditions} "
        f"{order} LIMIT ? OFFSET ?) {order}"
    )
    limit, offset = max(search.limit, 0), max(search.offset, 0)
    rows = conn.execute(sql, [*source_params, *params, limit, offset]).fetchall()
    page = [ClientRecord(*row) for row in rows]
    everything = msgspec.structs.replace(search, after=None)
    if search.text:  # too short for the index: a scan
        total = _counted(conn, everything)
    elif search.after is None and offset == 0 and len(page) < limit:
        total = len(page)  # the whole answer is on this page
    else:
        total = kept_total(conn, everything)
    return ClientPage(total, page)


def _order(search: ClientSearch) -> str:
    direction = "DESC" if search.descending else "ASC"
    return f"ORDER BY {search.sort} {direction}, application_id {direction}, cmid {direction}"


def _search_text(conn: sqlite3.Connection, search: ClientSearch) -> ClientPage:
    """A page of a search by text, and the total, in one pass over the index's candidates
    (each read whole anyway, for its name)."""
    source, source_params = _source(conn, search)
    conditions, params = _client_where(msgspec.structs.replace(search, after=None))
    beyond, beyond_params = _after(search) if search.after is not None else ("1", [])
    sql = (
        f"SELECT {CLIENT_COLUMNS}, total FROM (SELECT {CLIENT_COLUMNS}, "  # noqa: S608
        f"count(*) OVER () AS total, {beyond} AS beyond FROM {source} WHERE {conditions}) "
        f"WHERE beyond {_order(search)} LIMIT ? OFFSET ?"
    )
    limit, offset = max(search.limit, 0), max(search.offset, 0)
    rows = conn.execute(sql, [*beyond_params, *source_params, *params, limit, offset]).fetchall()
    if not rows:
        return ClientPage(_counted(conn, msgspec.structs.replace(search, after=None)), [])
    return ClientPage(int(rows[0][-1]), [ClientRecord(*row[:-1]) for row in rows])


def _counted(conn: sqlite3.Connection, search: ClientSearch) -> int:
    """Clients matching ``search``, counted row by row (a text search: few candidates)."""
    source, source_params = _source(conn, search)
    conditions, params = _client_where(search)
    (total,) = conn.execute(
        f"SELECT count(*) FROM {source} WHERE {conditions}",  # noqa: S608
        [*source_params, *params],
    ).fetchone()
    return int(total)


def kept_total(conn: sqlite3.Connection, search: ClientSearch) -> int:
    """Clients matching ``search`` (no text) from the kept totals: the sum of the whole hours
    of last_seen inside the search's range, plus the clients of its partial hours at each
    end, counted on the index of last_seen (an hour's clients at most, at either end)."""
    since, before = search.seen_since, search.seen_before
    # Hours are last_seen / 3600 (rounded towards zero): from hour 1 on, exactly the times
    # [3600 h, 3600 h + 3600), all positive. Times before that are always counted exactly.
    first = 1 if since is None else max(1, -(-since // _HOUR))
    end = None if before is None else before // _HOUR
    if end is not None and first >= end:
        return _counted(conn, search)
    where = ["hour >= ?"]
    params: list[object] = [first]
    if end is not None:
        where.append("hour < ?")
        params.append(end)
    for column, value in (
        ("application_id", search.application_id),
        ("activation_id", search.activation_id),
        ("license_status", search.license_status),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    (whole,) = conn.execute(
        f"SELECT ifnull(sum(clients), 0) FROM client_totals WHERE {' AND '.join(where)}",  # noqa: S608
        params,
    ).fetchone()
    total = int(whole) + _counted(conn, msgspec.structs.replace(search, seen_before=first * _HOUR))
    if end is not None:
        total += _counted(conn, msgspec.structs.replace(search, seen_since=end * _HOUR))
    return total


def client_totals(conn: sqlite3.Connection, application_id: str | None) -> list[ClientTotal]:
    """Clients by product and license status (from the kept totals)."""
    where, params = ("WHERE application_id = ?", [application_id]) if application_id else ("", [])
    rows = conn.execute(
        "SELECT activation_id, license_status, sum(clients) FROM client_totals "  # noqa: S608
        f"{where} GROUP BY 1, 2 HAVING sum(clients) > 0 ORDER BY 1, 2",
        params,
    ).fetchall()
    return [ClientTotal(str(a), int(s), int(n)) for a, s, n in rows]


def _event_where(search: EventSearch) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if search.failed:
        # Verbatim the WHERE of the partial index events_failed, so the planner uses it.
        where.append("event_id = 12290 AND hresult <> 0")
    if search.event_ids:
        where.append(f"event_id IN ({', '.join('?' * len(search.event_ids))})")
        params.extend(search.event_ids)
        if 12290 not in search.event_ids:
            where.append("event_id <> 12290")  # the WHERE of the partial index events_other
    for condition, value in (("time >= ?", search.since), ("time <= ?", search.until)):
        if value is not None:
            where.append(condition)
            params.append(value)
    if search.cmid is not None:
        # The run of the index EVENTS_BY_CMID, then the CMID it holds. ``+cmid``: with a
        # plain ``cmid = ?`` SQLite substitutes the value into ``substr(cmid, 1, 1)`` and
        # no longer sees the index's expression.
        where.append("substr(cmid, 1, 1) = ? AND cmid IS NOT NULL AND +cmid = ?")
        params.extend((search.cmid[:1], search.cmid))
    if search.before is not None:
        where.append("(time, seq) < (?, ?)")
        params.extend(search.before)
    return where, params


def search_events(conn: sqlite3.Connection, search: EventSearch) -> list[EventRecord]:
    """Events matching ``search``, newest first (by time, then sequence number)."""
    where, params = _event_where(search)
    conditions = " AND ".join(where) if where else "1"
    # A client's events: its run of the index, whatever the planner guesses (newest first
    # by events_time would walk every event to find a client's few).
    indexed = f" INDEXED BY {EVENTS_BY_CMID}" if search.cmid is not None else ""
    sql = (
        f"SELECT {EVENT_COLUMNS} FROM events{indexed} WHERE {conditions} "  # noqa: S608
        "ORDER BY time DESC, seq DESC LIMIT ?"
    )
    rows = conn.execute(sql, [*params, max(search.limit, 0)]).fetchall()
    return [event_from_row(row) for row in rows]


def activity(conn: sqlite3.Connection, since: int, until: int, bucket: int) -> list[ActivityBucket]:
    """12290 requests in ``[since, until)`` by buckets of ``bucket`` seconds, oldest first."""
    if bucket < _HOUR or bucket % _HOUR:
        raise ValueError(f"bucket must be a whole number of hours, got {bucket} s")
    rows = conn.execute(
        "SELECT hour / ?1 * ?1 AS start, sum(succeeded), sum(failed) FROM activity_hourly "
        "WHERE hour >= ?2 AND hour < ?3 GROUP BY start ORDER BY start",
        (bucket, since, until),
    ).fetchall()
    return [ActivityBucket(int(start), int(ok), int(failed)) for start, ok, failed in rows]


def recent_last_seen(conn: sqlite3.Connection, application_id: str, limit: int) -> list[int]:
    """Last-seen times of the ``limit`` most recently seen clients, newest first."""
    rows = conn.execute(
        "SELECT last_seen FROM clients WHERE application_id = ? ORDER BY last_seen DESC LIMIT ?",
        (application_id, max(limit, 0)),
    ).fetchall()
    return [int(last_seen) for (last_seen,) in rows]


def forget_client(conn: sqlite3.Connection, application_id: str, cmid: str) -> bool:
    """Delete one client row (on the writer's connection); False if there was none."""
    cursor = conn.execute(
        "DELETE FROM clients WHERE application_id = ? AND cmid = ?", (application_id, cmid)
    )
    return cursor.rowcount > 0
