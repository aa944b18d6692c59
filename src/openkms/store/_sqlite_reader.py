"""Reads of the SQLite store: a synchronous ``SqliteReader`` and the async read side.

``SqliteReader`` is one connection: read-only by default (``open_reader``, CLIs, tests),
or one of the pooled readers of a running ``SqliteStore``. ``SqliteReads`` implements the
async reads of ``HostStoreReader`` over such connections in worker threads, for both the
store and ``SqliteStoreReader``, the read-only store of ``open_reader``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Final, TypeVar

import msgspec

from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store import _sqlite_admin as admin
from openkms.store import _sqlite_queries as queries
from openkms.store._sqlite_conn import closed_error, connect_read_only, connect_reader, map_error
from openkms.store.base import (
    EVENT_PAGE,
    ActivityBucket,
    ClientPage,
    ClientQuery,
    ClientRecord,
    ClientSearch,
    ClientTotal,
    Counters,
    EventQuery,
    EventSearch,
    HostStoreReader,
)

__all__ = ["SqliteReader", "SqliteReads", "SqliteStoreReader"]

DEFAULT_POLICY: Final = CountPolicy()

T = TypeVar("T")


class SqliteReader:
    """Synchronous reads of a store on one connection, e.g. a CLI's while a host writes.

    By default the connection never writes (``connect_read_only``). ``pooled`` readers
    belong to a running ``SqliteStore`` in the same process as its writer's parent.
    """

    def __init__(
        self, path: Path, *, policy: CountPolicy = DEFAULT_POLICY, pooled: bool = False
    ) -> None:
        self.path = Path(path)
        self.policy = policy
        self._conn = connect_reader(self.path) if pooled else connect_read_only(self.path)
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
            raise closed_error()
        try:
            yield self._conn
        except sqlite3.Error as exc:
            raise map_error(exc, self.path) from exc

    def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now``."""
        with self._mapped() as conn:
            return queries.count_at(conn, self.policy, application_id, now)

    def future_clients(self, application_id: str, now: int) -> int:
        """Clients of the application dated in the future at ``now``."""
        with self._mapped() as conn:
            return queries.future_clients(conn, application_id, self.policy.ceiling(now))

    def counters(self, host_id: str) -> Counters:
        """The cumulative counters of one host."""
        with self._mapped() as conn:
            return queries.read_counters(conn, host_id)

    def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query`` (``since``/``until`` inclusive), oldest first."""
        with self._mapped() as conn:
            return queries.read_events(conn, query)

    def iter_events(self, query: EventQuery, page: int = EVENT_PAGE) -> Iterator[EventRecord]:
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
            return queries.read_clients(conn, query)

    def run(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only function on this reader's connection, errors mapped."""
        with self._mapped() as conn:
            return read(conn)


class SqliteReads(HostStoreReader):
    """The async reads of ``HostStoreReader``, each on a ``SqliteReader`` in a worker thread."""

    @abc.abstractmethod
    async def _read(self, read: Callable[[SqliteReader], T]) -> T:
        """Run ``read`` off the event loop on a reader connection."""

    async def _read_sql(self, read: Callable[[sqlite3.Connection], T]) -> T:
        return await self._read(lambda reader: reader.run(read))

    async def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now`` without recording anything."""
        return await self._read(lambda reader: reader.current_count(application_id, now))

    async def future_clients(self, application_id: str, now: int) -> int:
        """Clients of the application dated in the future at ``now`` (not counted)."""
        return await self._read(lambda reader: reader.future_clients(application_id, now))

    async def counters(self, host_id: str) -> Counters:
        """The cumulative counters of one host."""
        return await self._read(lambda reader: reader.counters(host_id))

    async def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query`` (``since``/``until`` inclusive), oldest first."""
        return await self._read(lambda reader: reader.events(query))

    async def clients(self, query: ClientQuery) -> list[ClientRecord]:
        """Clients matching ``query``, most recently seen first."""
        return await self._read(lambda reader: reader.clients(query))

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


class SqliteStoreReader(SqliteReads):
    """A store opened only to read (``open_reader``): one read-only connection.

    It creates no file, migrates nothing and starts no writer; a missing store, or one of
    another schema version, fails ``open()`` with a StoreError that says what to do.
    """

    def __init__(self, path: Path, *, policy: CountPolicy = DEFAULT_POLICY) -> None:
        self.path = Path(path)
        self.policy = policy
        self._reader: SqliteReader | None = None
        self._closed = False

    async def open(self) -> None:
        """Open the read-only connection and check the schema version."""
        if self._closed:
            raise closed_error()
        if self._reader is None:
            self._reader = await asyncio.to_thread(SqliteReader, self.path, policy=self.policy)

    async def close(self) -> None:
        """Close the connection; idempotent."""
        self._closed = True
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    async def _read(self, read: Callable[[SqliteReader], T]) -> T:
        reader = self._reader
        if reader is None:
            if self._closed:
                raise closed_error()
            raise StoreError(
                _("the store {path} is not open").format(path=self.path),
                fix=_("Call open() before reading the store."),
            )
        return await asyncio.to_thread(read, reader)
