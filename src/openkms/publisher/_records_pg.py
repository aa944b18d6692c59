"""The publisher's records in PostgreSQL (``--database DSN``).

A small pool; a claim is one transaction that locks the key's row (``SELECT ... FOR
UPDATE``) before it reads the key's machines, so concurrent claims of one key run one after
the other on every server process. The schema and its migrations are in
:mod:`openkms.publisher._records_pg_schema`. A read-only instance (``publisher report``,
``list-keys``) runs every statement in a read-only transaction
(``default_transaction_read_only``) and checks the schema version instead of migrating.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.publisher._records_pg_ro import check_read_only
from openkms.publisher._records_pg_schema import (
    ACTIVATION_COLUMNS,
    MIGRATIONS,
    Conn,
    activation,
    append,
    delete_activation,
    insert_activation,
    migrate,
    rewrite_activation,
)
from openkms.publisher.machines import claimed_row, match_machine
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
from openkms.store._pg_db import map_error

__all__ = ["MIGRATIONS", "PostgresRecords"]


_KEY_COLUMNS = KEY_COLUMNS


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
                    await migrate(conn, self.dsn)
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
                await append(
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
                for machine in machines:
                    await insert_activation(conn, machine)
                await append(
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
        sql = f"SELECT {ACTIVATION_COLUMNS} FROM key_activations ORDER BY first_at, machine"  # noqa: S608
        for row in await self._fetch(sql):
            machine = activation(row)
            machines.setdefault(machine.key_id, []).append(machine)
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
                await append(conn, AuditEntry(now, actor, "block-key", key_id, key.kind.value))
                return key
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise map_error(exc, self.dsn) from None

    async def audit(self, entry: AuditEntry) -> None:
        """Append one audit line."""
        try:
            async with self._require().acquire() as conn:
                await append(conn, entry)
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


async def _claim(conn: Conn, request: ClaimRequest) -> Claim:
    key_id = request.key_id
    row = await conn.fetchrow(
        f"SELECT {_KEY_COLUMNS} FROM issued_keys WHERE key_id = $1 FOR UPDATE",  # noqa: S608
        key_id,
    )
    key = _key(row) if row is not None else None
    found = await conn.fetch(
        f"SELECT {ACTIVATION_COLUMNS} FROM key_activations WHERE key_id = $1 "  # noqa: S608
        "AND (machine = $2 OR machine = $3 OR phone_ref = $3)",
        key_id,
        request.machine,
        request.phone_ref,
    )
    match = match_machine(request, [activation(r) for r in found])
    used = int(
        await conn.fetchval("SELECT count(*) FROM key_activations WHERE key_id = $1", key_id)
    )
    outcome = decide_claim(key, request.kind, match.existing, used)
    merged: tuple[str, ...] = ()
    if outcome is ClaimOutcome.NEW_MACHINE:
        await insert_activation(conn, claimed_row(request, match))
        used += 1
    elif outcome is ClaimOutcome.SAME_MACHINE and match.keep is not None:
        merged = match.drop
        for machine in merged:
            await delete_activation(conn, key_id, machine)
        await rewrite_activation(conn, match.keep, claimed_row(request, match))
        used -= len(merged)
    if key is not None:
        await append(conn, request.audit_entry(outcome, merged))
    return Claim(outcome, key, used)


async def _insert_key(conn: Conn, key: IssuedKey) -> None:
    await conn.execute(
        f"INSERT INTO issued_keys ({_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",  # noqa: S608
        *key.row(),
    )
