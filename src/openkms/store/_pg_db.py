"""PostgreSQL plumbing of the host store: connections, migrations, error mapping, reads.

Shared by the writer (``_pg_writer``) and the readers (``postgres``), so that both read the
same rows the same way. Every function takes an asyncpg connection (or pool); values always
go through ``$n`` parameters.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store import _pg_schema as schema
from openkms.store.base import ClientQuery, ClientRecord, Counters, EventQuery
from openkms.store.database import PeerHost

__all__ = [
    "CLIENT_COLUMNS",
    "COMMAND_TIMEOUT",
    "CONNECT_TIMEOUT",
    "EVENT_COLUMNS",
    "Queryable",
    "Where",
    "check_readable",
    "closed_error",
    "connect",
    "count_at",
    "event_records",
    "future_clients",
    "is_connection_error",
    "map_error",
    "migrate",
    "read_clients",
    "read_counters",
    "read_events",
    "read_hosts",
    "redact",
]

logger = logging.getLogger("openkms.store")

CONNECT_TIMEOUT: Final = 5.0  # seconds to reach the server (each host of a multi-host DSN)
COMMAND_TIMEOUT: Final = 10.0  # seconds for one statement, COMMIT included

# In the field order of ClientRecord.
CLIENT_COLUMNS: Final = (
    "cmid, application_id, activation_id, machine_name, first_seen, last_seen, "
    "license_status, n_policy, requests, last_activated"
)
EVENT_COLUMNS: Final = "seq, event_id, time, info, hresult"

# Errors after which the connection is gone or useless: reconnect, the server may be back.
_CONNECTION_ERRORS: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a demoted primary, or a standby
    asyncpg.exceptions.TooManyConnectionsError,
)


class Queryable(Protocol):
    """An asyncpg connection or pool: what the read functions need."""

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]: ...
    async def fetchval(self, query: str, *args: object) -> object: ...


class Where:
    """A WHERE clause built condition by condition, numbering its ``$n`` placeholders."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[object] = []

    def param(self, value: object) -> str:
        """Add a parameter; return its placeholder."""
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, condition: str, *values: object) -> None:
        """Add ``condition``, whose ``{}`` fields are filled with the values' placeholders."""
        self.conditions.append(condition.format(*(self.param(v) for v in values)))

    def sql(self) -> str:
        """``WHERE ...`` (or nothing)."""
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


def redact(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means the database is unreachable (reconnect later)."""
    return isinstance(exc, _CONNECTION_ERRORS)


def map_error(exc: BaseException, dsn: str) -> StoreError:
    """Translate a driver error into a StoreError that names the database and the fix."""
    where = redact(dsn)
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, asyncpg.exceptions.DiskFullError):
        return StoreError(
            _("the database {where} cannot grow: its disk is full ({exc})").format(
                where=where, exc=exc
            ),
            code=ResultCode.DISK_FULL,
            fix=_("Free space on the database server; nothing acknowledged has been lost."),
        )
    if isinstance(exc, asyncpg.exceptions.InvalidPasswordError | asyncpg.InvalidCatalogNameError):
        return StoreError(
            _("cannot log in to the database {where} ({exc})").format(where=where, exc=exc),
            fix=_("Check the DSN's user, password and database name, and pg_hba.conf."),
        )
    if isinstance(exc, TimeoutError):
        return StoreError(
            _("the database {where} is unreachable: it did not answer in time").format(where=where),
            fix=_(
                "Check that PostgreSQL is running and reachable; the host retries by itself "
                "and nothing acknowledged has been lost."
            ),
        )
    if is_connection_error(exc):
        return StoreError(
            _("the database {where} is unreachable ({kind}: {exc})").format(
                where=where, kind=type(exc).__name__, exc=exc
            ),
            fix=_(
                "Check that PostgreSQL is running and reachable; the host retries by itself "
                "and nothing acknowledged has been lost."
            ),
        )
    return StoreError(
        _("the database {where} failed: {kind}: {exc}").format(
            where=where, kind=type(exc).__name__, exc=exc
        )
    )


def closed_error() -> StoreError:
    """The error of any call made after ``close()``."""
    return StoreError(_("store is closed"), fix=_("Open the store again before using it."))


async def connect(dsn: str, *, timeout: float = CONNECT_TIMEOUT) -> asyncpg.Connection:
    """One connection to the (read-write, for a multi-host DSN that asks for it) server."""
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn, timeout=timeout, command_timeout=COMMAND_TIMEOUT
    )
    return conn


async def version(conn: Queryable) -> int:
    """The schema version of the database (0 for one without an OpenKMS store)."""
    if await conn.fetchval("SELECT to_regclass('openkms_schema')") is None:
        return 0
    return int(str(await conn.fetchval("SELECT version FROM openkms_schema")))


async def _has_tables(conn: Queryable) -> bool:
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema())"
    )
    return bool(found)


def _newer_error(dsn: str, found: int) -> StoreError:
    return StoreError(
        _(
            "the database {dsn} has schema version {found}, newer than this OpenKMS "
            "supports ({schema_version})"
        ).format(dsn=redact(dsn), found=found, schema_version=schema.schema_version()),
        code=ResultCode.UNSUPPORTED_VERSION,
        fix=_("Upgrade OpenKMS on this machine (every host of a site runs the same version)."),
    )


def _foreign_error(dsn: str) -> StoreError:
    return StoreError(
        _("the database {dsn} has tables but no OpenKMS store").format(dsn=redact(dsn)),
        code=ResultCode.STATE_CORRUPT,
        fix=_("Give OpenKMS a database (or schema) of its own."),
    )


async def check_readable(conn: Queryable, dsn: str) -> None:
    """Refuse, with a clear error, a database whose schema is not exactly this version's."""
    found = await version(conn)
    if found > schema.schema_version():
        raise _newer_error(dsn, found)
    if found == 0:
        raise (
            _foreign_error(dsn)
            if await _has_tables(conn)
            else StoreError(
                _("the database {dsn} has no OpenKMS store yet").format(dsn=redact(dsn)),
                fix=_("Start a host on this database once to create the store."),
            )
        )
    if found < schema.schema_version():
        raise StoreError(
            _("the database {dsn} has the older schema version {found}").format(
                dsn=redact(dsn), found=found
            ),
            fix=_("Start a host of this version once (it migrates the store), then read again."),
        )


async def migrate(conn: asyncpg.Connection, dsn: str) -> None:
    """Bring the schema to ``schema_version()``; hosts starting together migrate once."""
    await conn.execute("SELECT pg_advisory_lock($1, $2)", schema.LOCK_CLASS, schema.MIGRATION_LOCK)
    try:
        found = await version(conn)
        target = schema.schema_version()
        if found > target:
            raise _newer_error(dsn, found)
        if found == 0 and await _has_tables(conn):
            raise _foreign_error(dsn)
        for step in range(found, target):
            async with conn.transaction():
                for statement in schema.MIGRATIONS[step]:
                    await conn.execute(statement)
                await conn.execute("UPDATE openkms_schema SET version = $1", step + 1)
            logger.info("database %s migrated to schema version %d", redact(dsn), step + 1)
    finally:
        await conn.execute(
            "SELECT pg_advisory_unlock($1, $2)", schema.LOCK_CLASS, schema.MIGRATION_LOCK
        )


async def count_at(conn: Queryable, policy: CountPolicy, application_id: str, now: int) -> int:
    """The count rule of ``openkms.core.counting.current_count``, in two cheap queries."""
    horizon, ceiling = policy.horizon(now), policy.ceiling(now)
    cap = policy.cap_factor * await largest_n_policy(conn, application_id, horizon, ceiling)
    if cap <= 0:
        return 0
    return await recent_clients(conn, application_id, horizon, ceiling, cap)


async def largest_n_policy(conn: Queryable, application_id: str, horizon: int, ceiling: int) -> int:
    """The largest N-policy seen for the application in ``[horizon, ceiling]`` (0 if none)."""
    largest = await conn.fetchval(schema.LARGEST_N_POLICY, application_id, horizon, ceiling)
    return int(str(largest))


async def recent_clients(
    conn: Queryable, application_id: str, horizon: int, ceiling: int, cap: int
) -> int:
    """Clients of the application seen in ``[horizon, ceiling]``, counting no further than
    ``cap``."""
    count = await conn.fetchval(schema.RECENT_CLIENTS, application_id, horizon, ceiling, cap)
    return int(str(count))


async def future_clients(conn: Queryable, application_id: str, ceiling: int) -> int:
    """Clients of the application last seen after ``ceiling``: dated in the future."""
    return int(str(await conn.fetchval(schema.FUTURE_CLIENTS, application_id, ceiling)))


async def read_hosts(conn: Queryable) -> list[PeerHost]:
    """The hosts that wrote requests to the database, most recently active first."""
    rows = await conn.fetch(
        "SELECT host_id, first_request, last_request FROM hosts ORDER BY last_request DESC, host_id"
    )
    return [PeerHost(str(h), int(first), int(last)) for h, first, last in rows]


async def read_counters(conn: Queryable, host_id: str) -> Counters:
    """The cumulative counters of one host."""
    rows = await conn.fetch(
        "SELECT license_status, total, failed FROM counters WHERE host_id = $1", host_id
    )
    counters = Counters()
    for status, total, failed in rows:
        counters.total += total
        counters.failed += failed
        counters.by_status[int(status)] = int(total)
    return counters


def event_records(rows: list[asyncpg.Record]) -> list[EventRecord]:
    """EventRecords of rows selected as ``EVENT_COLUMNS``."""
    return [
        EventRecord(event_id, time, info, seq, hresult)
        for seq, event_id, time, info, hresult in rows
    ]


async def read_events(conn: Queryable, query: EventQuery) -> list[EventRecord]:
    """Events matching ``query`` (since and until inclusive), oldest first."""
    where = Where()
    where.add("seq > {}", query.after_seq)
    if query.event_ids:
        where.add("event_id = ANY({}::int[])", list(query.event_ids))
    if query.since is not None:
        where.add("time >= {}", query.since)
    if query.until is not None:
        where.add("time <= {}", query.until)
    limit = where.param(max(query.limit, 0))
    # Only placeholders and fixed column names are interpolated.
    sql = f"SELECT {EVENT_COLUMNS} FROM events {where.sql()} ORDER BY seq LIMIT {limit}"  # noqa: S608
    return event_records(await conn.fetch(sql, *where.params))


async def read_clients(conn: Queryable, query: ClientQuery) -> list[ClientRecord]:
    """Clients matching ``query``, most recently seen first."""
    where = Where()
    if query.application_id is not None:
        where.add("application_id = {}", query.application_id)
    if query.seen_since is not None:
        where.add("last_seen >= {}", query.seen_since)
    limit, offset = where.param(max(query.limit, 0)), where.param(max(query.offset, 0))
    sql = (
        f"SELECT {CLIENT_COLUMNS} FROM clients {where.sql()} "  # noqa: S608
        f"ORDER BY last_seen DESC, application_id, cmid LIMIT {limit} OFFSET {offset}"
    )
    return [ClientRecord(*row) for row in await conn.fetch(sql, *where.params)]
