"""The write side of the PostgreSQL store: a batch of operations, one transaction.

``write_batch`` runs whatever the store's writer task has queued in one transaction and
returns the results only once COMMIT has returned (with ``synchronous_commit=on``, once the
WAL is flushed). Several hosts write the same database: before touching an application's
clients the batch takes that application's advisory lock, all of them in one fixed order,
so that batches of different hosts on one application run one after the other (no lost
update, no double count, no deadlock) and everything committed before is visible to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.store import _pg_db as db
from openkms.store import _pg_schema as schema
from openkms.store.base import RequestRecord

__all__ = ["Forget", "WriteOp", "write_batch"]

# Retention deletes a tenth of the allowance at a time: one DELETE per many inserts.
_PRUNE_FRACTION: Final = 10
_PRUNE_CHUNK_MAX: Final = 10_000
_HOUR: Final = 3600


@dataclass(frozen=True, slots=True)
class Forget:
    """Remove one client (it leaves the count)."""

    application_id: str
    cmid: str


WriteOp = RequestRecord | EventRecord | Forget


class _Batch:
    """Applies the requests of one transaction with as few round trips as possible.

    Events, counters, hourly activity and the hosts' last requests are written once at
    ``flush()``. The count rule's
    queries are answered from what the transaction already knows whenever that is exact
    (the application's lock keeps every other writer out): the cap only changes with an
    N-policy row; within one horizon a count that reached the cap stays there (a client's
    time only grows, or moves back from the future to a request's time, which forgets the
    horizons later than it), and then a client's upsert is only queued, to go with the
    others in one pipelined ``executemany``.
    """

    def __init__(self, conn: asyncpg.Connection, policy: CountPolicy, host_id: str) -> None:
        self._conn = conn
        self._policy = policy
        self._host_id = host_id
        self._events: list[tuple[object, ...]] = []
        self._counters: dict[tuple[str, int], list[int]] = {}
        self._activity: dict[tuple[int, str], list[int]] = {}
        self._hosts: dict[str, list[int]] = {}  # host -> [first, last] request time
        self._clients: list[tuple[object, ...]] = []
        self._activated: list[tuple[str, str, int]] = []  # (application, cmid, time)
        self._n_seen: dict[tuple[str, int], int] = {}
        self._caps: dict[tuple[str, int], int] = {}
        self._full: set[tuple[str, int, int]] = set()  # (application, horizon, cap) at cap

    async def record(self, request: RequestRecord) -> int:
        """Record one request; return the application's count after it."""
        self.add_event(
            request.event, int(request.result), request.host_id, request.cmid, request.activation_id
        )
        totals = self._counters.setdefault((request.host_id, request.license_status), [0, 0])
        totals[0] += 1
        totals[1] += request.failed
        app, t = request.application_id, request.time
        seen = self._hosts.setdefault(request.host_id, [t, t])
        seen[0], seen[1] = min(seen[0], t), max(seen[1], t)
        if request.counted:
            row = (app, request.cmid, request.activation_id, request.machine_name, t,
                   request.license_status, request.n_policy, request.host_id)  # fmt: skip
            n_key = (app, request.n_policy)
            new_n = self._n_seen.get(n_key) != t
            self._forget_later_horizons(t)
            if not new_n and self._at_cap(app, t):
                self._clients.append(row)
            else:
                await self._flush_clients()
                await self._conn.execute(schema.UPSERT_CLIENT, *row)
            if new_n:
                await self._conn.execute(schema.UPSERT_N_POLICY, app, request.n_policy, t)
                self._n_seen[n_key] = t
                self.forget()
        count = await self._count(app, t)
        if request.earns_ticket(count):
            self._activated.append((app, request.cmid, t))
        return count

    def add_event(
        self,
        event: EventRecord,
        hresult: int | None,
        host_id: str | None,
        cmid: str | None = None,
        activation: str | None = None,
    ) -> None:
        """Queue one event's row (and its hour's activity for a 12290)."""
        self._events.append(
            (event.event_id, event.time, event.info, cmid, activation, hresult, host_id)
        )
        if event.event_id == 12290:
            hour = self._activity.setdefault((event.time // _HOUR * _HOUR, host_id or ""), [0, 0])
            hour[0 if hresult == 0 else 1] += 1

    async def flush(self) -> None:
        """Write the clients, events, counters and activity gathered so far."""
        await self._flush_clients()
        conn = self._conn
        if self._events:
            await conn.executemany(schema.INSERT_EVENT, self._events)
            self._events.clear()
        if self._counters:
            rows = [(h, s, t, f) for (h, s), (t, f) in sorted(self._counters.items())]
            await conn.executemany(schema.ADD_COUNTERS, rows)
            self._counters.clear()
        if self._activity:
            hours = [(hour, h, ok, bad) for (hour, h), (ok, bad) in sorted(self._activity.items())]
            await conn.executemany(schema.ADD_ACTIVITY, hours)
            self._activity.clear()
        if self._hosts:
            seen = [(h, first, last) for h, (first, last) in sorted(self._hosts.items())]
            await conn.executemany(schema.SEE_HOST, seen)
            self._hosts.clear()

    def forget(self) -> None:
        """Drop what this batch knows about counts: the tables changed under it."""
        self._caps.clear()
        self._full.clear()

    async def _flush_clients(self) -> None:
        if self._clients:
            await self._conn.executemany(schema.UPSERT_CLIENT, self._clients)
            self._clients.clear()
        if self._activated:  # after the upserts of their clients
            await self._conn.executemany(schema.SET_ACTIVATED, self._activated)
            self._activated.clear()

    def _forget_later_horizons(self, t: int) -> None:
        # A client dated in the future moves back to the request's time ``t``: that can
        # take it out of the window of a horizon later than ``t``, whose count may then
        # fall below the cap.
        if any(horizon > t for _, horizon, _ in self._full):
            self._full = {full for full in self._full if full[1] <= t}

    def _at_cap(self, application_id: str, now: int) -> bool:
        horizon = self._policy.horizon(now)
        cap = self._caps.get((application_id, horizon))
        return cap is not None and (application_id, horizon, cap) in self._full

    async def _count(self, application_id: str, now: int) -> int:
        horizon, ceiling = self._policy.horizon(now), self._policy.ceiling(now)
        cap = self._caps.get((application_id, horizon))
        if cap is None:
            await self._flush_clients()
            largest = await db.largest_n_policy(self._conn, application_id, horizon, ceiling)
            cap = self._caps[(application_id, horizon)] = self._policy.cap_factor * largest
        if cap <= 0:
            return 0
        if (application_id, horizon, cap) in self._full:
            return cap
        await self._flush_clients()
        count = await db.recent_clients(self._conn, application_id, horizon, ceiling, cap)
        if count >= cap:
            self._full.add((application_id, horizon, cap))
        return count


async def write_batch(
    conn: asyncpg.Connection,
    ops: Sequence[WriteOp],
    *,
    policy: CountPolicy,
    host_id: str | None,
    event_retention: int,
) -> list[Any]:
    """Run ``ops`` in order in one transaction; their results once COMMIT has returned.

    ``host_id`` names the writing host in the rows of host events (12293, 12294).
    """
    async with conn.transaction():
        await _lock_applications(conn, ops)
        batch = _Batch(conn, policy, host_id or "")
        results: list[Any] = []
        for op in ops:
            if isinstance(op, RequestRecord):
                results.append(await batch.record(op))
                continue
            await batch.flush()
            batch.forget()
            if isinstance(op, EventRecord):
                batch.add_event(op, op.hresult, host_id)  # a host event: no client
                results.append(None)
            else:
                results.append(await _forget_client(conn, op))
        await batch.flush()
        await _prune_events(conn, event_retention)
    return results


async def _lock_applications(conn: asyncpg.Connection, ops: Sequence[WriteOp]) -> None:
    """Take the batch's applications' locks, in key order (no two hosts wait on each other)."""
    keys = sorted(
        {schema.app_lock_key(op.application_id) for op in ops if not isinstance(op, EventRecord)}
    )
    for key in keys:
        await conn.execute(schema.APP_LOCK, schema.LOCK_CLASS, key)


async def _forget_client(conn: asyncpg.Connection, op: Forget) -> bool:
    status = await conn.execute(
        "DELETE FROM clients WHERE application_id = $1 AND cmid = $2", op.application_id, op.cmid
    )
    return str(status) != "DELETE 0"


async def _prune_events(conn: asyncpg.Connection, retention: int) -> None:
    """Keep about ``retention`` events, deleting the oldest a chunk at a time.

    One host prunes at a time (the others skip): a try-lock, never a wait.
    """
    row = await conn.fetchrow("SELECT min(seq), max(seq) FROM events")
    oldest, newest = (row[0], row[1]) if row is not None else (None, None)
    # Identity numbers only grow (gaps aside), so the rows are at most this many.
    if newest is None or newest - oldest + 1 <= retention:
        return
    if not await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock($1, $2)", schema.LOCK_CLASS, schema.PRUNE_LOCK
    ):
        return
    chunk = min(retention // _PRUNE_FRACTION, _PRUNE_CHUNK_MAX)
    await conn.execute("DELETE FROM events WHERE seq < $1", newest - retention + 1 + chunk)
