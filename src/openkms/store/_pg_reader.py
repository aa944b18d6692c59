"""The read side of the PostgreSQL store: a small pool of connections, never a writer.

``host dli``, the doctor and the admin API of a host on a shared database read through it;
it neither creates nor migrates anything, and refuses a database of another schema version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import asyncpg

from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store import _pg_admin as admin
from openkms.store import _pg_db as db
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
    HostStoreReader,
)
from openkms.store.database import PeerHost

__all__ = ["PostgresReader"]

_DEFAULT_POLICY: Final = CountPolicy()
T = TypeVar("T")


class PostgresReader(HostStoreReader):
    """Reads of a shared store through a small pool; it never writes nor migrates."""

    def __init__(self, dsn: str, *, policy: CountPolicy = _DEFAULT_POLICY, size: int = 4) -> None:
        self.dsn = dsn
        self.policy = policy
        self._size = size
        self._pool: asyncpg.Pool | None = None
        self._closed = False

    async def open(self, *, check: bool = True) -> None:
        """Make the pool; with ``check``, refuse a database of another schema version."""
        if self._closed:
            raise db.closed_error()
        if self._pool is not None:
            return
        pool = asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self._size,
            timeout=db.CONNECT_TIMEOUT,
            command_timeout=db.COMMAND_TIMEOUT,
        )
        try:
            await pool
            if check:
                async with pool.acquire(timeout=db.CONNECT_TIMEOUT) as conn:
                    await db.check_readable(conn, self.dsn)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, Exception):
                raise db.map_error(exc, self.dsn) from exc
            raise
        self._pool = pool

    async def close(self) -> None:
        """Close the pool; idempotent. Later calls raise StoreError."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def run(self, read: Callable[[db.Queryable], Awaitable[T]]) -> T:
        """Run ``read`` on a pooled connection, errors mapped to StoreError."""
        if self._closed:
            raise db.closed_error()
        if self._pool is None:
            raise StoreError(
                _("the store {dsn} is not open").format(dsn=db.redact(self.dsn)),
                fix=_("Call open() before using the store."),
            )
        try:
            async with self._pool.acquire(timeout=db.CONNECT_TIMEOUT) as conn:
                return await read(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise db.map_error(exc, self.dsn) from exc

    async def current_count(self, application_id: str, now: int) -> int:
        """The application's count at ``now`` (over every host of the database)."""
        return await self.run(lambda c: db.count_at(c, self.policy, application_id, now))

    async def future_clients(self, application_id: str, now: int) -> int:
        """Clients of the application dated in the future at ``now`` (over every host)."""
        ceiling = self.policy.ceiling(now)
        return await self.run(lambda c: db.future_clients(c, application_id, ceiling))

    async def counters(self, host_id: str) -> Counters:
        """The cumulative counters of one host."""
        return await self.run(lambda c: db.read_counters(c, host_id))

    async def events(self, query: EventQuery) -> list[EventRecord]:
        """Events matching ``query`` (``since``/``until`` inclusive), oldest first."""
        return await self.run(lambda c: db.read_events(c, query))

    async def peer_hosts(self) -> list[PeerHost]:
        """The hosts sharing this database (by their requests), most recently active first."""
        return await self.run(db.read_hosts)

    async def clients(self, query: ClientQuery) -> list[ClientRecord]:
        """Clients matching ``query``, most recently seen first."""
        return await self.run(lambda c: db.read_clients(c, query))

    async def search_clients(self, search: ClientSearch) -> ClientPage:
        """One page of clients matching ``search`` and the number matching in all."""
        return await self.run(lambda c: admin.search_clients(c, search))

    async def client_totals(self, application_id: str | None) -> list[ClientTotal]:
        """Clients by product and license status."""
        return await self.run(lambda c: admin.client_totals(c, application_id))

    async def search_events(self, search: EventSearch) -> list[EventRecord]:
        """Events matching ``search``, newest first."""
        return await self.run(lambda c: admin.search_events(c, search))

    async def activity(self, since: int, until: int, bucket: int) -> list[ActivityBucket]:
        """12290 requests of every host in ``[since, until)`` by buckets of ``bucket`` s."""
        return await self.run(lambda c: admin.activity(c, since, until, bucket))

    async def recent_last_seen(self, application_id: str, limit: int) -> list[int]:
        """Last-seen times of the ``limit`` most recently seen clients, newest first."""
        return await self.run(lambda c: admin.recent_last_seen(c, application_id, limit))
