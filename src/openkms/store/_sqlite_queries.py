"""The SQLite store's reads: the count rule, counters, events and clients.

Plain functions on a connection, shared by the store's pooled readers, the read-only
reader of a CLI and the writer (whose batches answer the count inside the transaction).
"""

from __future__ import annotations

import sqlite3
from typing import Final

from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.store.base import ClientQuery, ClientRecord, Counters, EventQuery

__all__ = [
    "CLIENT_COLUMNS",
    "EVENT_COLUMNS",
    "count_at",
    "event_from_row",
    "future_clients",
    "largest_n_policy",
    "read_clients",
    "read_counters",
    "read_events",
    "recent_clients",
]

# In the field order of ClientRecord.
CLIENT_COLUMNS: Final = (
    "cmid, application_id, activation_id, machine_name, first_seen, last_seen, "
    "license_status, n_policy, requests, last_activated"
)
# In the order event_from_row takes them.
EVENT_COLUMNS: Final = "seq, event_id, time, info, hresult"


def event_from_row(row: tuple[int, int, int, str, int | None]) -> EventRecord:
    """An event from a row of ``EVENT_COLUMNS``."""
    seq, event_id, time, info, hresult = row
    return EventRecord(event_id, time, info, seq, hresult)


def count_at(conn: sqlite3.Connection, policy: CountPolicy, application_id: str, now: int) -> int:
    """The count rule of ``openkms.core.counting.current_count``, in two cheap queries."""
    horizon, ceiling = policy.horizon(now), policy.ceiling(now)
    cap = policy.cap_factor * largest_n_policy(conn, application_id, horizon, ceiling)
    if cap <= 0:
        return 0
    return recent_clients(conn, application_id, horizon, ceiling, cap)


def largest_n_policy(
    conn: sqlite3.Connection, application_id: str, horizon: int, ceiling: int
) -> int:
    """The largest N-policy seen for the application in ``[horizon, ceiling]`` (0 if none)."""
    (largest_n,) = conn.execute(
        "SELECT max(n_policy) FROM n_policy_seen "
        "WHERE application_id = ? AND last_seen BETWEEN ? AND ?",
        (application_id, horizon, ceiling),
    ).fetchone()
    return int(largest_n or 0)


def recent_clients(
    conn: sqlite3.Connection, application_id: str, horizon: int, ceiling: int, cap: int
) -> int:
    """Clients of the application seen in ``[horizon, ceiling]``, counting no further than
    ``cap``."""
    # LIMIT inside: walk at most ``cap`` index entries however many clients there are.
    (count,) = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM clients "
        "WHERE application_id = ? AND last_seen BETWEEN ? AND ? LIMIT ?)",
        (application_id, horizon, ceiling, cap),
    ).fetchone()
    return int(count)


def future_clients(conn: sqlite3.Connection, application_id: str, ceiling: int) -> int:
    """Clients of the application last seen after ``ceiling``: dated in the future."""
    (count,) = conn.execute(
        "SELECT count(*) FROM clients WHERE application_id = ? AND last_seen > ?",
        (application_id, ceiling),
    ).fetchone()
    return int(count)


def read_counters(conn: sqlite3.Connection, host_id: str) -> Counters:
    """The cumulative counters of one host."""
    rows = conn.execute(
        "SELECT license_status, total, failed FROM counters WHERE host_id = ?", (host_id,)
    ).fetchall()
    counters = Counters()
    for status, total, failed in rows:
        counters.total += total
        counters.failed += failed
        counters.by_status[int(status)] = int(total)
    return counters


def read_events(conn: sqlite3.Connection, query: EventQuery) -> list[EventRecord]:
    """Events matching ``query`` (since and until inclusive), oldest first."""
    where = ["seq > ?"]
    params: list[object] = [query.after_seq]
    if query.event_ids:
        where.append(f"event_id IN ({', '.join('?' * len(query.event_ids))})")
        params.extend(query.event_ids)
    if query.since is not None:
        where.append("time >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("time <= ?")
        params.append(query.until)
    params.append(max(query.limit, 0))
    conditions = " AND ".join(where)
    # Only placeholders are interpolated; every value goes through ``params``.
    sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE {conditions} "  # noqa: S608
    rows = conn.execute(sql + "ORDER BY seq LIMIT ?", params).fetchall()
    return [event_from_row(row) for row in rows]


def read_clients(conn: sqlite3.Connection, query: ClientQuery) -> list[ClientRecord]:
    """Clients matching ``query``, most recently seen first."""
    where = ["1"]
    params: list[object] = []
    if query.application_id is not None:
        where.append("application_id = ?")
        params.append(query.application_id)
    if query.seen_since is not None:
        where.append("last_seen >= ?")
        params.append(query.seen_since)
    params += [max(query.limit, 0), max(query.offset, 0)]
    conditions = " AND ".join(where)
    # Only placeholders are interpolated; every value goes through ``params``.
    sql = f"SELECT {CLIENT_COLUMNS} FROM clients WHERE {conditions} "  # noqa: S608
    sql += "ORDER BY last_seen DESC, application_id, cmid LIMIT ? OFFSET ?"
    return [ClientRecord(*row) for row in conn.execute(sql, params).fetchall()]
