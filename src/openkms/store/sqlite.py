"""The embedded SQLite host store: one writer with group commit, readers apart.

Writes (``record``, ``log_event``, ``forget_client``) go to a single writer: a thread of this
process (``writer="thread"``) or, for a host, a child process (``writer="process"``, see
``_writer_process``: it never competes with the event loop for the GIL). The writer takes
whatever has queued up (at most ``batch_max`` items), runs the batch in one
``BEGIN IMMEDIATE ... COMMIT`` with ``synchronous=FULL`` (``_sqlite_writer.BatchWriter``) and
only then wakes the waiting coroutines, once per batch. One fsync thus acknowledges many
requests, the event loop never touches the disk, and nothing is acknowledged before it is
durable. Reads use their own connections in worker threads (WAL lets them run while the
writer commits); ``SqliteReader`` offers the same reads synchronously to another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, TypeVar

import msgspec

from openkms.core import settings
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.store import _sqlite_admin as admin
from openkms.store import _sqlite_db as db
from openkms.store._sqlite_writer import BatchWriter, Forget, WriteOp
from openkms.store._writer_process import ProcessWriter
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

__all__ = ["SqliteReader", "SqliteStore"]

_DEFAULT_POLICY: Final = CountPolicy()

logger = logging.getLogger("openkms.store")

T = TypeVar("T")
# (an operation, the future to settle, the loop owning the future)
_Item = tuple[WriteOp, "asyncio.Future[Any]", asyncio.AbstractEventLoop]

_IDLE_READERS: Final = 4


class SqliteReader:
    """Synchronous reads of a store, e.g. from a CLI process while a host is writing it."""

    def __init__(self, path: Path, *, policy: CountPolicy = _DEFAULT_POLICY) -> None:
        self.path = Path(path)
        self.policy = policy
        self._conn = db.connect_reader(self.path)
        self._closed = False

    def __enter__(self) -> SqliteReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; idempotent."""
        self._closed = True
        self._conn.close()

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise db.closed_error()
        try:
            yield self._conn
        except sqlite3.Error as exc:
            raise db.map_error(exc, self.path) from exc

    def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now``."""
        with self._mapped() as conn:
            return db.count_at(conn, self.policy, application_id, now)

    def counters(self, host_id: str) -> Counters:
        """The cumulative counters of one host."""
        with self._mapped() as conn:
            return db.read_counters(conn, host_id)

    def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query`` (``since``/``until`` inclusive), oldest first."""
        with self._mapped() as conn:
            return db.read_events(conn, query)

    def iter_events(self, query: EventQuery, page: int = 10_000) -> Iterator[EventRecord]:
        """Every event matching ``query``, page by page: memory does not grow with the log."""
        after = query.after_seq
        while True:
            batch = self.events(msgspec.structs.replace(query, after_seq=after, limit=page))
            yield from batch
            if len(batch) < page:
                return
            after = batch[-1].seq

    def clients(self, query: ClientQuery) -> list[ClientRecord]:
        """Clients matching ``query``, most recently seen first."""
        with self._mapped() as conn:
            return db.read_clients(conn, query)

    def run(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only function on this reader's connection, errors mapped."""
        with self._mapped() as conn:
            return read(conn)


class SqliteStore(HostStore):
    """The default host store: one SQLite file in WAL mode, one writer, group commit."""

    def __init__(
        self,
        path: Path,
        *,
        policy: CountPolicy = _DEFAULT_POLICY,
        event_retention: int = settings.EVENT_RETENTION,
        batch_max: int = 256,
        writer: Literal["thread", "process"] = "thread",
    ) -> None:
        if event_retention < 1:
            raise ValueError(f"event_retention must be at least 1, got {event_retention}")
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        self.path = Path(path)
        self.policy = policy
        self.event_retention = event_retention
        self.batch_max = batch_max
        self.writer_mode = writer
        self._process: ProcessWriter | None = None
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._state = "new"
        self._readers_lock = threading.Lock()
        self._idle_readers: list[SqliteReader] = []

    async def __aenter__(self) -> SqliteStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file (creating and migrating its schema) and start the writer."""
        if self._state == "closed":
            raise db.closed_error()
        if self._state == "open":
            return
        if self._state == "opening":
            raise StoreError(f"the store {self.path} is already being opened")
        self._state = "opening"
        try:
            if self.writer_mode == "process":
                await self._start_process()
            else:
                await self._start_thread()
        except BaseException:
            if self._state == "opening":
                self._state = "new"
            raise
        if self._state == "closed":  # close() ran while the file was being opened
            await self._stop_writer()
            raise db.closed_error()
        self._state = "open"
        logger.info("store %s open (writer %s)", self.path, self.writer_mode)

    async def _start_thread(self) -> None:
        conn = await asyncio.to_thread(db.connect_writer, self.path)
        writer = BatchWriter(conn, self.path, self.policy, self.event_retention)
        self._writer = threading.Thread(
            target=self._write_loop, args=(writer,), name="openkms-store-writer", daemon=True
        )
        self._writer.start()

    async def _start_process(self) -> None:
        process = ProcessWriter(
            self.path,
            policy=self.policy,
            event_retention=self.event_retention,
            batch_max=self.batch_max,
        )
        await process.start()
        self._process = process

    async def close(self) -> None:
        """Commit every queued write, stop the writer and close all connections; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        await self._stop_writer()
        self._close_idle_readers()
        logger.info("store %s closed", self.path)

    async def _stop_writer(self) -> None:
        if self._process is not None:
            await self._process.stop()
        if self._writer is not None:
            # FIFO: the writer commits everything queued before this sentinel, then stops.
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join)

    def _check_open(self) -> None:
        if self._state == "closed":
            raise db.closed_error()
        if self._state != "open":
            raise StoreError(
                f"the store {self.path} is not open", fix="Call open() before using the store."
            )

    # -- writes ----------------------------------------------------------------------------

    async def record(self, request: RequestRecord) -> int:
        """Durably record one request; return the application's count after it."""
        return await self.submit_record(request)

    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        """Queue one request's record; the future gives the count once it is durable.

        ``record()`` without the coroutine, for a caller (the host's listener) that would
        rather add a done callback than run a task per request.
        """
        return self._submit(request)

    async def log_event(self, event: EventRecord) -> None:
        """Durably append a host event (12293, 12294, ...)."""
        await self._submit(event)

    def _submit(self, op: WriteOp) -> asyncio.Future[Any]:
        """Queue ``op`` for the writer; the future settles once its batch has committed."""
        self._check_open()
        if self._process is not None:
            return self._process.submit(op)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((op, future, loop))
        return future

    # -- the writer thread -----------------------------------------------------------------

    def _write_loop(self, writer: BatchWriter) -> None:
        try:
            more = True
            while more:
                batch, more = self._take_batch()
                try:
                    self._commit(writer, batch)
                except Exception:  # last resort: later writes must still find a writer
                    logger.critical("store writer error; continuing", exc_info=True)
        finally:
            writer.close()

    def _take_batch(self) -> tuple[list[_Item], bool]:
        """Block for one item, then drain what is queued; False once the stop sentinel is seen."""
        item = self._queue.get()
        batch: list[_Item] = []
        while item is not None:
            batch.append(item)
            if len(batch) >= self.batch_max:
                return batch, True
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, True
        return batch, False

    def _commit(self, writer: BatchWriter, batch: list[_Item]) -> None:
        """Run one batch in one transaction, then settle its futures (results or the error)."""
        if not batch:
            return
        started = time.perf_counter()
        try:
            results = writer.commit([op for op, _, _ in batch])
        except StoreError as error:
            logger.error("store write of %d items failed: %s", len(batch), error)
            _settle_all(batch, None, error)
            return
        if logger.isEnabledFor(logging.DEBUG):
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.debug("store committed a batch of %d in %.2f ms", len(batch), elapsed_ms)
        _settle_all(batch, results, None)

    # -- reads -----------------------------------------------------------------------------

    async def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now`` without recording anything."""
        return await self._read(lambda reader: reader.current_count(application_id, now))

    async def counters(self, host_id: str) -> Counters:
        """The cumulative counters of one host."""
        return await self._read(lambda reader: reader.counters(host_id))

    async def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query`` (``since``/``until`` inclusive), oldest first."""
        return await self._read(lambda reader: reader.events(query))

    async def clients(self, query: ClientQuery) -> list[ClientRecord]:
        """Clients matching ``query``, most recently seen first."""
        return await self._read(lambda reader: reader.clients(query))

    # -- administration (queries in _sqlite_admin) -----------------------------------------

    async def search_clients(self, search: ClientSearch) -> ClientPage:
        """One page of clients matching ``search`` and the number matching in all."""
        return await self._read_sql(functools.partial(admin.search_clients, search=search))

    async def client_totals(self, application_id: str | None) -> list[ClientTotal]:
        """Clients by product and license status."""
        return await self._read_sql(
            functools.partial(admin.client_totals, application_id=application_id)
        )

    async def search_events(self, search: EventSearch) -> list[EventRecord]:
        """Events matching ``search``, newest first."""
        return await self._read_sql(functools.partial(admin.search_events, search=search))

    async def activity(self, since: int, until: int, bucket: int) -> list[ActivityBucket]:
        """12290 requests in ``[since, until)`` by buckets of ``bucket`` seconds."""
        return await self._read_sql(
            functools.partial(admin.activity, since=since, until=until, bucket=bucket)
        )

    async def recent_last_seen(self, application_id: str, limit: int) -> list[int]:
        """Last-seen times of the ``limit`` most recently seen clients, newest first."""
        return await self._read_sql(
            functools.partial(admin.recent_last_seen, application_id=application_id, limit=limit)
        )

    async def forget_client(self, application_id: str, cmid: str) -> bool:
        """Durably remove one client (through the writer); False if it was unknown."""
        forgotten: bool = await self._submit(Forget(application_id, cmid))
        return forgotten

    async def _read_sql(self, read: Callable[[sqlite3.Connection], T]) -> T:
        return await self._read(lambda reader: reader.run(read))

    async def _read(self, read: Callable[[SqliteReader], T]) -> T:
        """Run ``read`` in a worker thread on a pooled reader connection, never the writer's."""
        self._check_open()
        return await asyncio.to_thread(self._with_reader, read)

    def _with_reader(self, read: Callable[[SqliteReader], T]) -> T:
        reader = self._acquire_reader()
        try:
            return read(reader)
        finally:
            self._release_reader(reader)

    def _acquire_reader(self) -> SqliteReader:
        with self._readers_lock:
            if self._idle_readers:
                return self._idle_readers.pop()
        return SqliteReader(self.path, policy=self.policy)

    def _release_reader(self, reader: SqliteReader) -> None:
        with self._readers_lock:
            if self._state == "open" and len(self._idle_readers) < _IDLE_READERS:
                self._idle_readers.append(reader)
                return
        reader.close()

    def _close_idle_readers(self) -> None:
        with self._readers_lock:
            readers, self._idle_readers = self._idle_readers, []
        for reader in readers:
            reader.close()


def _settle_all(batch: list[_Item], results: list[Any] | None, error: StoreError | None) -> None:
    """Wake the batch's waiters: one call_soon_threadsafe per event loop, not per item."""
    groups: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for index, (_, future, loop) in enumerate(batch):
        outcome = error if results is None else results[index]
        groups.setdefault(loop, []).append((future, outcome))
    for loop, outcomes in groups.items():
        try:
            loop.call_soon_threadsafe(_settle, outcomes, error is not None)
        except RuntimeError:  # the loop closed while its writes were in flight
            logger.warning("%d store writes finished after their event loop closed", len(outcomes))


def _settle(outcomes: list[tuple[asyncio.Future[Any], Any]], failed: bool) -> None:
    """Runs on the event loop: set each future's result or a fresh copy of the batch error."""
    for future, outcome in outcomes:
        if future.cancelled():
            continue
        if failed:
            future.set_exception(outcome.copy())
        else:
            future.set_result(outcome)
