"""A batch's requests in the SQLite store's write transaction: ``RecordBatch``, with as few
statements as possible, and the statements themselves (``_sqlite_writer.BatchWriter`` runs
one batch per transaction)."""

from __future__ import annotations

import sqlite3
from typing import Final

from openkms.core import settings
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.store._sqlite_queries import largest_n_policy, recent_clients
from openkms.store.base import RequestRecord

__all__ = [
    "ADD_COUNTERS",
    "INSERT_EVENT",
    "SET_ACTIVATED",
    "UPSERT_ACTIVATED_CLIENT",
    "UPSERT_CLIENT",
    "UPSERT_N_POLICY",
    "RecordBatch",
    "insert_event",
]

INSERT_EVENT: Final = (
    "INSERT INTO events (event_id, time, info, cmid, activation_id, hresult) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
# A batch's requests are added to the counters at once: (host, status, total, failed).
ADD_COUNTERS: Final = (
    "INSERT INTO counters VALUES (?, ?, ?, ?) ON CONFLICT (host_id, license_status) "
    "DO UPDATE SET total = total + excluded.total, failed = failed + excluded.failed"
)
# A stored row takes the request's values when the request is at least as recent, or when
# the row is dated in the future beyond the tolerance of the request's time (the host's clock
# was ahead): ``openkms.core.counting.seen_again``. The tolerance is an integer constant.
_TAKES_REQUEST: Final = (
    "(excluded.last_seen >= last_seen OR "
    f"last_seen > excluded.last_seen + {int(settings.COUNT_FUTURE_TOLERANCE_SECONDS)})"
)
# Descriptive fields follow the most recent request, even if requests arrive out of order.
_CLIENT_UPDATE: Final = f"""
    activation_id = iif({_TAKES_REQUEST}, excluded.activation_id, activation_id),
    machine_name = iif({_TAKES_REQUEST}, excluded.machine_name, machine_name),
    license_status = iif({_TAKES_REQUEST}, excluded.license_status, license_status),
    n_policy = iif({_TAKES_REQUEST}, excluded.n_policy, n_policy),
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = iif({_TAKES_REQUEST}, excluded.last_seen, last_seen),
    requests = requests + 1"""
UPSERT_CLIENT: Final = (
    "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, NULL) "  # noqa: S608 (constants only)
    f"ON CONFLICT (application_id, cmid) DO UPDATE SET {_CLIENT_UPDATE}"
)
# The same for a request known to earn a ticket before its upsert (its application's count
# is at the cap): ``last_activated`` is set by the same statement, as ``SET_ACTIVATED`` does.
UPSERT_ACTIVATED_CLIENT: Final = (
    "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "  # noqa: S608 (constants only)
    f"ON CONFLICT (application_id, cmid) DO UPDATE SET {_CLIENT_UPDATE}, "
    "last_activated = max(ifnull(last_activated, excluded.last_activated), "
    "excluded.last_activated)"
)
# The client of a request that earned a ticket (after its upsert, in the same batch).
SET_ACTIVATED: Final = (
    "UPDATE clients SET last_activated = max(ifnull(last_activated, ?1), ?1) "
    "WHERE application_id = ?2 AND cmid = ?3"
)
UPSERT_N_POLICY: Final = f"""
INSERT INTO n_policy_seen VALUES (?, ?, ?) ON CONFLICT (application_id, n_policy)
DO UPDATE SET last_seen = iif({_TAKES_REQUEST}, excluded.last_seen, last_seen)
"""  # noqa: S608 (the only interpolation is an integer constant)


class RecordBatch:
    """Applies the requests of one write transaction with as few statements as possible.

    Per request only the client upsert remains: events are inserted with one
    ``executemany`` and counters added once per (host, status) at ``flush()``, and the count
    rule's two queries are answered from what this transaction already knows whenever that
    is exact (no other writer can change the tables while it holds the write lock):

    * an N-policy already upserted in this batch at the same time needs no upsert;
    * the cap (``cap_factor`` x the largest recent N-policy) only changes when an N-policy
      row does, so it is queried once per application and horizon;
    * within one horizon, a count that reached the cap stays at the cap: a client's
      ``last_seen`` only grows, or moves back from the future to a request's time ``t``,
      which can only take it out of the windows of horizons later than ``t`` (those are
      forgotten then).

    Call ``flush()`` before any other statement runs on the connection, and make a new batch
    for every transaction.
    """

    def __init__(self, policy: CountPolicy) -> None:
        self._policy = policy
        self._events: list[tuple[object, ...]] = []
        self._counters: dict[tuple[str, int], list[int]] = {}
        self._activated: list[tuple[int, str, str]] = []  # (time, application, cmid)
        self._n_seen: dict[tuple[str, int], int] = {}
        self._caps: dict[tuple[str, int], int] = {}
        self._full: set[tuple[str, int, int]] = set()  # (application, horizon, cap) at cap

    def apply(self, conn: sqlite3.Connection, request: RequestRecord) -> int:
        """Record one request; return the application's count after it."""
        event = request.event
        self._events.append(
            (
                event.event_id,
                event.time,
                event.info,
                request.cmid,
                request.activation_id,
                int(request.result),
            )
        )
        totals = self._counters.setdefault((request.host_id, request.license_status), [0, 0])
        totals[0] += 1
        totals[1] += request.failed
        if request.counted:
            known = self._known_count(request)
            if known is not None and request.earns_ticket(known):
                # Steady state: the count stays at the cap, so the ticket is known before
                # the upsert, which then records it too (one statement instead of two).
                self._upsert_client(conn, request, activated=True)
                return known
            self._upsert_client(conn, request)
        count = self._count(conn, request.application_id, request.time)
        if request.earns_ticket(count):
            self._activated.append((request.time, request.application_id, request.cmid))
        return count

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write the events and counters gathered so far."""
        if self._events:
            conn.executemany(INSERT_EVENT, self._events)
            self._events.clear()
        if self._counters:
            conn.executemany(
                ADD_COUNTERS,
                [(host, status, t, f) for (host, status), (t, f) in self._counters.items()],
            )
            self._counters.clear()
        if self._activated:
            conn.executemany(SET_ACTIVATED, self._activated)
            self._activated.clear()

    def forget(self) -> None:
        """Drop what this batch knows: another statement changed the tables."""
        self._n_seen.clear()
        self._caps.clear()
        self._full.clear()

    def _known_count(self, request: RequestRecord) -> int | None:
        """The count after ``request``, when it is known without a query: its application's
        count is at the cap for the request's horizon and the upsert will change neither
        (its N-policy was already upserted at its time in this batch)."""
        app, t = request.application_id, request.time
        if self._n_seen.get((app, request.n_policy)) != t:
            return None
        horizon = self._policy.horizon(t)
        cap = self._caps.get((app, horizon))
        if cap is None or cap <= 0 or (app, horizon, cap) not in self._full:
            return None
        return cap

    def _upsert_client(
        self, conn: sqlite3.Connection, request: RequestRecord, *, activated: bool = False
    ) -> None:
        app, t = request.application_id, request.time
        values = (app, request.cmid, request.activation_id, request.machine_name, t, t,
                  request.license_status, request.n_policy)  # fmt: skip
        if activated:
            conn.execute(UPSERT_ACTIVATED_CLIENT, (*values, t))
        else:
            conn.execute(UPSERT_CLIENT, values)
        if any(horizon > t for _, horizon, _ in self._full):
            self._full = {full for full in self._full if full[1] <= t}
        key = (app, request.n_policy)
        if self._n_seen.get(key) != t:
            conn.execute(UPSERT_N_POLICY, (app, request.n_policy, t))
            self._n_seen[key] = t
            self._caps.clear()
            self._full.clear()

    def _count(self, conn: sqlite3.Connection, application_id: str, now: int) -> int:
        horizon, ceiling = self._policy.horizon(now), self._policy.ceiling(now)
        cap = self._caps.get((application_id, horizon))
        if cap is None:
            largest = largest_n_policy(conn, application_id, horizon, ceiling)
            cap = self._caps[(application_id, horizon)] = self._policy.cap_factor * largest
        if cap <= 0:
            return 0
        if (application_id, horizon, cap) in self._full:
            return cap
        count = recent_clients(conn, application_id, horizon, ceiling, cap)
        if count >= cap:
            self._full.add((application_id, horizon, cap))
        return count


def insert_event(conn: sqlite3.Connection, event: EventRecord) -> None:
    """Append one host event (12293, 12294, ...): no client, its typed HRESULT if any."""
    conn.execute(INSERT_EVENT, (event.event_id, event.time, event.info, None, None, event.hresult))
