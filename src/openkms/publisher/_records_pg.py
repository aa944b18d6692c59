"""The publisher's records in PostgreSQL (``--database DSN``).

A small pool; a claim is one transaction that locks the key's row (``SELECT ... FOR
UPDATE``) before it reads the key's machines, so concurrent claims of one key run one after
the other on every server process. The schema version is in ``openkms_publisher_schema``;
services starting together migrate once (an advisory lock). A read-only instance
(``publisher report``, ``list-keys``) runs every statement in a read-only transaction
(``default_transaction_read_only``) and checks the schema version instead of migrating.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.publisher._records_pg_ro import check_read_only
from openkms.publisher.records import (
    KEY_COLUMNS,
    AuditEntry,
    Claim,
    ClaimOutcome,
    ClaimRequest,
    IssuedKey,
    KeyUsage,
    MachineActivation,
    decide_claim,
)
from openkms.store._pg_db import map_error, redact

__all__ = ["MIGRATIONS", "PostgresRecords"]

# A connection, or a pool's proxy of one.
_Conn = asyncpg.Connection | PoolConnectionProxy

_MIGRATION_LOCK = 0x0C4E5012  # advisory lock key of the publisher's migrations
# Migration i takes the database from version i to i + 1. Append only.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE openkms_publisher_schema (version INTEGER NOT NULL)",
        "INSERT INTO openkms_publisher_schema VALUES (0)",
        """CREATE TABLE issued_keys (
            key_id TEXT PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            group_name TEXT,
            activation_id TEXT,
            activations_allowed INTEGER NOT NULL,
            per_machine_limit INTEGER,
            issued_at BIGINT NOT NULL,
            blocked_at BIGINT
        )""",
        """CREATE TABLE key_activations (
            key_id TEXT NOT NULL REFERENCES issued_keys (key_id),
            machine TEXT NOT NULL,
            machine_name TEXT NOT NULL,
            first_at BIGINT NOT NULL,
            last_at BIGINT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (key_id, machine)
        )""",
        """CREATE TABLE audit_log (
            seq BIGSERIAL PRIMARY KEY,
            at BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        """CREATE FUNCTION openkms_audit_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION openkms_audit_append_only()""",
    ),
]

_KEY_COLUMNS = KEY_COLUMNS
_ACTIVATION_COLUMNS = "key_id, machine, machine_name, first_at, last_at, count"


def _key(row: Any) -> IssuedKey:
    return IssuedKey(
        row["key_id"],
        row["key"],
        KeyKind(row["kind"]),
        row["group_name"],
        row["activation_id"],
        row["activations_allowed"],
        row["per_machine_limit"],
        row["issued_at"],
        row["blocked_at"],
    )


def _activation(row: Any) -> MachineActivation:
    return MachineActivation(
        row["key_id"],
        row["machine"],
        row["machine_name"],
        row["first_at"],
        row["last_at"],
        row["count"],
    )


class PostgresRecords:
    """:class:`~openkms.publisher.records.PublisherRecords` on PostgreSQL."""

    def __init__(self, dsn: str, *, readonly: bool = False) -> None:
        self.dsn = dsn
        self.readonly = readonly
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connect (a pool of up to 8) and migrate (read-only: check the version)."""
        settings = {"default_transaction_read_only": "on"} if self.readonly else None
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=1 if self.readonly else 8,
                timeout=5.0,
                command_timeout=10.0,
                server_settings=settings,
            )
            async with self._pool.acquire() as conn:
                if self.readonly:
                    await check_read_only(conn, self.dsn, len(MIGRATIONS))
                else:
                    await _migrate(conn, self.dsn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()
            raise map_error(exc, self.dsn) from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError(_("the publisher records are closed"))
        return self._pool

    async def add_key(self, key: IssuedKey, actor: str) -> None:
        """Record an issued key and its audit line."""
        scope = key.group if key.group is not None else key.activation_id
        detail = f"{key.kind.value} {scope} activations={key.activations_allowed}"
        try:
            async with self._require().acquire() as conn, conn.transaction():
                await _insert_key(conn, key)
                await _append(
                    conn, AuditEntry(key.issued_at, actor, "issue-key", key.key_id, detail)
                )
        except asyncpg.UniqueViolationError:
            raise StoreError(
                _("this key is already recorded"), code=ResultCode.INVALID_ARGUMENT
            ) from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise map_error(exc, self.dsn) from None

    async def import_key(
        self, key: IssuedKey, machines: tuple[MachineActivation, ...], actor: str
    ) -> bool:
        """Record a key and its machines from an older ledger; False if already recorded."""
        detail = f"{key.kind.value} {key.group} machines={len(machines)}"
        try:
            async with self._require().acquire() as conn, conn.transaction():
                if await conn.fetchval("SELECT 1 FROM issued_keys WHERE key_id = $1", key.key_id):
                    return False
                await _insert_key(conn, key)
                await conn.executemany(
                    f"INSERT INTO key_activations ({_ACTIVATION_COLUMNS}) "  # noqa: S608
                    "VALUES ($1, $2, $3, $4, $5, $6)",
                    [
                        (m.key_id, m.machine, m.machine_name, m.first_at, m.last_at, m.count)
                        for m in machines
                    ],
                )
                await _append(
                    conn, AuditEntry(key.issued_at, actor, "import-key", key.key_id, detail)
                )
                return True
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise map_error(exc, self.dsn) from None

    async def key(self, key_id: str) -> IssuedKey | None:
        """The issued key with this ID, or None."""
        row = await self._fetchrow(
            f"SELECT {_KEY_COLUMNS} FROM issued_keys WHERE key_id = $1",  # noqa: S608
            key_id,
        )
        return _key(row) if row is not None else None

    async def keys(self) -> list[IssuedKey]:
        """Every issued key, oldest first."""
        rows = await self._fetch(
            f"SELECT {_KEY_COLUMNS} FROM issued_keys ORDER BY issued_at, key_id"  # noqa: S608
        )
        return [_key(r) for r in rows]

    async def usage(self) -> list[KeyUsage]:
        """Every issued key with its machines, oldest first."""
        machines: dict[str, list[MachineActivation]] = {}
        sql = f"SELECT {_ACTIVATION_COLUMNS} FROM key_activations ORDER BY first_at, machine"  # noqa: S608
        for row in await self._fetch(sql):
            activation = _activation(row)
            machines.setdefault(activation.key_id, []).append(activation)
        return [KeyUsage(k, tuple(machines.get(k.key_id, ()))) for k in await self.keys()]

    async def claim(self, request: ClaimRequest) -> Claim:
        """Apply the claim rule with the key's row locked, and record it."""
        try:
            async with self._require().acquire() as conn, conn.transaction():
                return await _claim(conn, request)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise map_error(exc, self.dsn) from None

    async def block_key(self, key_id: str, now: int, actor: str) -> IssuedKey | None:
        """Mark a key blocked; None when unknown."""
        try:
            async with self._require().acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE issued_keys SET blocked_at = $1 WHERE key_id = $2 "
                    "AND blocked_at IS NULL",
                    now,
                    key_id,
                )
                row = await conn.fetchrow(
                    f"SELECT {_KEY_COLUMNS} FROM issued_keys WHERE key_id = $1",  # noqa: S608
                    key_id,
                )
                if row is None:
                    return None
                key = _key(row)
                await _append(conn, AuditEntry(now, actor, "block-key", key_id, key.kind.value))
                return key
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise map_error(exc, self.dsn) from None

    async def audit(self, entry: AuditEntry) -> None:
        """Append one audit line."""
        try:
            async with self._require().acquire() as conn:
                await _append(conn, entry)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise map_error(exc, self.dsn) from None

    async def audit_log(self, limit: int = 1000) -> list[AuditEntry]:
        """The last ``limit`` audit lines, oldest first."""
        rows = await self._fetch(
            "SELECT seq, at, actor, action, subject, detail FROM audit_log "
            "ORDER BY seq DESC LIMIT $1",
            limit,
        )
        return [
            AuditEntry(r["at"], r["actor"], r["action"], r["subject"], r["detail"], r["seq"])
            for r in reversed(rows)
        ]

    async def audit_entries(self, action: str) -> list[AuditEntry]:
        """Every audit line of ``action``, oldest first."""
        rows = await self._fetch(
            "SELECT seq, at, actor, action, subject, detail FROM audit_log "
            "WHERE action = $1 ORDER BY seq",
            action,
        )
        return [
            AuditEntry(r["at"], r["actor"], r["action"], r["subject"], r["detail"], r["seq"])
            for r in rows
        ]

    async def _fetch(self, sql: str, *args: object) -> list[Any]:
        try:
            async with self._require().acquire() as conn:
                return list(await conn.fetch(sql, *args))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise map_error(exc, self.dsn) from None

    async def _fetchrow(self, sql: str, *args: object) -> Any:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None


async def _claim(conn: _Conn, request: ClaimRequest) -> Claim:
    key_id, machine, machine_name, now = (
        request.key_id,
        request.machine,
        request.machine_name,
        request.now,
    )
    row = await conn.fetchrow(
        f"SELECT {_KEY_COLUMNS} FROM issued_keys WHERE key_id = $1 FOR UPDATE",  # noqa: S608
        key_id,
    )
    key = _key(row) if row is not None else None
    found = await conn.fetchrow(
        f"SELECT {_ACTIVATION_COLUMNS} FROM key_activations WHERE key_id = $1 AND machine = $2",  # noqa: S608
        key_id,
        machine,
    )
    existing = _activation(found) if found is not None else None
    used = int(
        await conn.fetchval("SELECT count(*) FROM key_activations WHERE key_id = $1", key_id)
    )
    outcome = decide_claim(key, request.kind, existing, used)
    if outcome is ClaimOutcome.NEW_MACHINE:
        await conn.execute(
            f"INSERT INTO key_activations ({_ACTIVATION_COLUMNS}) VALUES ($1, $2, $3, $4, $4, 1)",  # noqa: S608
            key_id,
            machine,
            machine_name,
            now,
        )
        used += 1
    elif outcome is ClaimOutcome.SAME_MACHINE:
        await conn.execute(
            "UPDATE key_activations SET count = count + 1, last_at = $1, machine_name = $2 "
            "WHERE key_id = $3 AND machine = $4",
            now,
            machine_name,
            key_id,
            machine,
        )
    if key is not None:
        await _append(conn, request.audit_entry(outcome))
    return Claim(outcome, key, used)


async def _insert_key(conn: _Conn, key: IssuedKey) -> None:
    await conn.execute(
        f"INSERT INTO issued_keys ({_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",  # noqa: S608
        *key.row(),
    )


async def _append(conn: _Conn, entry: AuditEntry) -> None:
    await conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
        entry.at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.detail,
    )


async def _migrate(conn: _Conn, dsn: str) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        exists = await conn.fetchval("SELECT to_regclass('openkms_publisher_schema')")
        found = (
            0
            if exists is None
            else int(await conn.fetchval("SELECT version FROM openkms_publisher_schema"))
        )
        if found > len(MIGRATIONS):
            raise StoreError(
                _(
                    "the database {dsn} has publisher schema version {found}, newer than "
                    "this OpenKMS supports ({count})"
                ).format(dsn=redact(dsn), found=found, count=len(MIGRATIONS)),
                code=ResultCode.UNSUPPORTED_VERSION,
                fix=_("Upgrade OpenKMS on this machine."),
            )
        for version in range(found, len(MIGRATIONS)):
            for statement in MIGRATIONS[version]:
                await conn.execute(statement)
        await conn.execute("UPDATE openkms_publisher_schema SET version = $1", len(MIGRATIONS))
