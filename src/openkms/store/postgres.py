"""The PostgreSQL host store: one database shared by the hosts of a site.

Each host runs one writer task on its event loop: it takes whatever has queued up (at most
``batch_max`` items), runs the batch in one transaction (``_pg_writer.write_batch``) and only
after COMMIT wakes the waiting requests, once per batch: group commit, as with SQLite, and
nothing is acknowledged before the server has it (``synchronous_commit`` decides where:
see docs/operations.md). Reads use a small pool of other connections (``PostgresReader``).

When the database is unreachable, a batch fails at once with a StoreError
(0xE0040005, the store is unavailable) instead of waiting, and one that does not answer
fails after ``batch_timeout`` (5 s): the writer reconnects for the next batch, at most once
a second, logs the outage once and the recovery once. With a multi-host
DSN (``postgresql://u@db1,db2/openkms?target_session_attrs=read-write``) the reconnection
finds the new primary after a fail-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Final

import asyncpg

from openkms.core import settings
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store import _pg_db as db
from openkms.store._pg_reader import PostgresReader
from openkms.store._pg_writer import Forget, WriteOp, write_batch
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
from openkms.store.database import PeerHost

__all__ = ["PostgresReader", "PostgresStore"]

logger = logging.getLogger("openkms.store")

_DEFAULT_POLICY: Final = CountPolicy()
RECONNECT_INTERVAL: Final = 1.0  # seconds between connection attempts while the server is down
BATCH_TIMEOUT: Final = 5.0  # seconds for one batch, connecting included (clients wait 10)
_Item = tuple[WriteOp, "asyncio.Future[Any]"]


class PostgresStore(HostStore):
    """A host store in a PostgreSQL database that several hosts may share."""

    def __init__(
        self,
        dsn: str,
        *,
        policy: CountPolicy = _DEFAULT_POLICY,
        event_retention: int = settings.EVENT_RETENTION,
        batch_max: int = 256,
        host_id: str | None = None,
        batch_timeout: float = BATCH_TIMEOUT,
    ) -> None:
        if event_retention < 1:
            raise ValueError(f"event_retention must be at least 1, got {event_retention}")
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        self.dsn = dsn
        self.policy = policy
        self.event_retention = event_retention
        self.batch_max = batch_max
        self.host_id = host_id
        self.batch_timeout = batch_timeout
        self._reader = PostgresReader(dsn, policy=policy)
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._retry_at = 0.0  # while down, no connection attempt before this monotonic time
        self._down_since: float | None = None
        self._down_error: StoreError | None = None
        self._cut_off = False  # the running batch passed its deadline
        self._state = "new"

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create or migrate the schema, start the writer task."""
        if self._state == "closed":
            raise db.closed_error()
        if self._state in ("open", "opening"):
            return
        self._state = "opening"
        try:
            self._conn = await self._connect()
            try:
                await db.migrate(self._conn, self.dsn)
            except Exception as exc:
                raise db.map_error(exc, self.dsn) from exc
            await self._reader.open(check=False)
        except BaseException:
            await self._drop_connection()
            self._state = "new"
            raise
        self._queue = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop(), name="openkms-store-writer")
        self._state = "open"
        logger.info("store %s open", db.redact(self.dsn))

    async def close(self) -> None:
        """Commit every queued write, stop the writer, close the connections; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._writer is not None:
            self._queue.put_nowait(None)  # FIFO: what was queued before commits first
            await self._writer
        await self._drop_connection(graceful=True)
        await self._reader.close()
        logger.info("store %s closed", db.redact(self.dsn))

    def _check_open(self) -> None:
        if self._state == "closed":
            raise db.closed_error()
        if self._state != "open":
            raise StoreError(
                _("the store {dsn} is not open").format(dsn=db.redact(self.dsn)),
                fix=_("Call open() before using the store."),
            )

    # -- writes ----------------------------------------------------------------------------

    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        """Queue one request's record; the future gives the count once it is committed."""
        return self._submit(request)

    async def log_event(self, event: EventRecord) -> None:
        """Durably append a host event (12293, 12294, ...)."""
        await self._submit(event)

    async def forget_client(self, application_id: str, cmid: str) -> bool:
        """Durably remove one client (through the writer); False if it was unknown."""
        forgotten: bool = await self._submit(Forget(application_id, cmid))
        return forgotten

    def _submit(self, op: WriteOp) -> asyncio.Future[Any]:
        self._check_open()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, future))
        return future

    # -- the writer task -------------------------------------------------------------------

    async def _write_loop(self) -> None:
        more = True
        while more:
            batch, more = await self._take_batch()
            if batch:
                await self._commit(batch)

    async def _take_batch(self) -> tuple[list[_Item], bool]:
        """Wait for one item, then drain what is queued; False once the sentinel is seen."""
        item = await self._queue.get()
        batch: list[_Item] = []
        while item is not None:
            batch.append(item)
            if len(batch) >= self.batch_max or self._queue.empty():
                return batch, True
            item = self._queue.get_nowait()
        return batch, False

    async def _commit(self, batch: list[_Item]) -> None:
        """Run one batch in one transaction, then settle its futures (results or the error)."""
        started = time.perf_counter()
        # A database that hangs (stopped, partitioned) is answered too, before the clients
        # give up: past the deadline the connection is cut, which fails every await on it at
        # once (a cancelled query would still wait for its ROLLBACK).
        deadline = asyncio.get_running_loop().call_later(self.batch_timeout, self._cut)
        try:
            conn = await self._connection()
            results = await write_batch(
                conn,
                [op for op, _ in batch],
                policy=self.policy,
                host_id=self.host_id,
                event_retention=self.event_retention,
            )
        except Exception as exc:  # a failed batch must never stop the writer
            failure: Exception = TimeoutError() if self._cut_off else exc
            self._cut_off = False
            error = await self._failed(failure, len(batch))
            for _op, future in batch:
                if not future.done():
                    future.set_exception(error.copy())
            return
        finally:
            deadline.cancel()
        self._recovered()
        if logger.isEnabledFor(logging.DEBUG):
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("store committed a batch of %d in %.2f ms", len(batch), elapsed_ms)
        for (_op, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def _cut(self) -> None:
        """The batch's deadline passed: close the connection's socket (no goodbye)."""
        if self._conn is not None and not self._conn.is_closed():
            self._cut_off = True
            self._conn.terminate()

    async def _connect(self) -> asyncpg.Connection:
        try:
            return await db.connect(self.dsn)
        except Exception as exc:
            raise db.map_error(exc, self.dsn) from exc

    async def _connection(self) -> asyncpg.Connection:
        """The writer's connection; a new one if it was lost (at most once a second)."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        if self._down_error is not None and time.monotonic() < self._retry_at:
            raise self._down_error
        self._conn = await self._connect()
        return self._conn

    async def _failed(self, exc: Exception, size: int) -> StoreError:
        """The batch's error; an outage drops the connection and is logged once."""
        error = db.map_error(exc, self.dsn)
        waiting = exc is self._down_error  # no attempt: the next one is not due yet
        if not waiting and not db.is_connection_error(exc) and not _is_unreachable(exc):
            logger.error("store write of %d items failed: %s", size, error)
            return error
        await self._drop_connection()
        if self._down_since is None:
            self._down_since = time.monotonic()
            logger.error("%s; writes fail until it is back", error.message)
        if not waiting:
            # Counted from the failure: an attempt that timed out is not followed by another
            # at once, so a request waits for at most one attempt.
            self._retry_at = time.monotonic() + RECONNECT_INTERVAL
        self._down_error = error
        return error

    def _recovered(self) -> None:
        if self._down_since is not None:
            outage = time.monotonic() - self._down_since
            logger.warning("database %s is back after %.1f s", db.redact(self.dsn), outage)
        self._down_since = None
        self._down_error = None

    async def _drop_connection(self, *, graceful: bool = False) -> None:
        """Forget the writer's connection: closed politely on ``close()``, else cut."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        if graceful:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)
        if not conn.is_closed():
            conn.terminate()

    # -- reads (a pool apart from the writer's connection) ---------------------------------

    async def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now`` without recording anything."""
        self._check_open()
        return await self._reader.current_count(application_id, now)

    async def future_clients(self, application_id: str, now: int) -> int:
        """Clients of the application dated in the future at ``now`` (not counted)."""
        self._check_open()
        return await self._reader.future_clients(application_id, now)

    async def counters(self, host_id: str) -> Counters:
        """The cumulative counters of one host."""
        self._check_open()
        return await self._reader.counters(host_id)

    async def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query``, oldest first."""
        self._check_open()
        return await self._reader.events(query)

    async def clients(self, query: ClientQuery) -> list[ClientRecord]:
        """Clients matching ``query``, most recently seen first."""
        self._check_open()
        return await self._reader.clients(query)

    async def peer_hosts(self) -> list[PeerHost]:
        """The hosts sharing this database, most recently active first."""
        self._check_open()
        return await self._reader.peer_hosts()

    async def search_clients(self, search: ClientSearch) -> ClientPage:
        """One page of clients matching ``search`` and the number matching in all."""
        self._check_open()
        return await self._reader.search_clients(search)

    async def client_totals(self, application_id: str | None) -> list[ClientTotal]:
        """Clients by product and license status."""
        self._check_open()
        return await self._reader.client_totals(application_id)

    async def search_events(self, search: EventSearch) -> list[EventRecord]:
        """Events matching ``search``, newest first."""
        self._check_open()
        return await self._reader.search_events(search)

    async def activity(self, since: int, until: int, bucket: int) -> list[ActivityBucket]:
        """12290 requests in ``[since, until)`` by buckets of ``bucket`` seconds."""
        self._check_open()
        return await self._reader.activity(since, until, bucket)

    async def recent_last_seen(self, application_id: str, limit: int) -> list[int]:
        """Last-seen times of the ``limit`` most recently seen clients, newest first."""
        self._check_open()
        return await self._reader.recent_last_seen(application_id, limit)


def _is_unreachable(exc: BaseException) -> bool:
    """A StoreError raised while connecting (already mapped) is an outage too."""
    return (
        isinstance(exc, StoreError)
        and exc.__cause__ is not None
        and (db.is_connection_error(exc.__cause__))
    )
