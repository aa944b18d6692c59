"""The schema of the publisher's PostgreSQL records: migrations and the rows of machines.

The schema version is in ``openkms_publisher_schema``; services starting together migrate
once (an advisory lock). Migrations are appended, never edited; a migration may have a step
in Python (``_STEPS``), run in the same transaction after its statements: migration 2 gives
every record its phone reference and merges a machine recorded both online and by phone
(:func:`openkms.publisher.machines.relinked`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.publisher.machines import relinked
from openkms.publisher.records import AuditEntry, MachineActivation
from openkms.store._pg_db import redact

__all__ = [
    "ACTIVATION_COLUMNS",
    "MIGRATIONS",
    "Conn",
    "activation",
    "append",
    "delete_activation",
    "insert_activation",
    "migrate",
    "rewrite_activation",
]

# A connection, or a pool's proxy of one.
Conn = asyncpg.Connection | PoolConnectionProxy

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
    (  # 2: each machine's phone reference (online and phone activations are one machine)
        "ALTER TABLE key_activations ADD COLUMN phone_ref TEXT",
        "CREATE INDEX key_activations_phone_ref ON key_activations (key_id, phone_ref)",
    ),
]

ACTIVATION_COLUMNS = "key_id, machine, machine_name, first_at, last_at, count, phone_ref"
_MIGRATION_ACTOR = "migration"


def activation(row: Any) -> MachineActivation:
    """A ``key_activations`` row (``ACTIVATION_COLUMNS``) as a MachineActivation."""
    return MachineActivation(
        row["key_id"],
        row["machine"],
        row["machine_name"],
        row["first_at"],
        row["last_at"],
        row["count"],
        row["phone_ref"],
    )


async def insert_activation(conn: Conn, m: MachineActivation) -> None:
    """Insert the row of a machine."""
    await conn.execute(
        f"INSERT INTO key_activations ({ACTIVATION_COLUMNS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        m.key_id,
        m.machine,
        m.machine_name,
        m.first_at,
        m.last_at,
        m.count,
        m.phone_ref,
    )


async def rewrite_activation(conn: Conn, machine: str, m: MachineActivation) -> None:
    """Rewrite the row of ``machine`` as ``m`` (its machine may change: the online ID)."""
    await conn.execute(
        "UPDATE key_activations SET machine = $1, machine_name = $2, first_at = $3, "
        "last_at = $4, count = $5, phone_ref = $6 WHERE key_id = $7 AND machine = $8",
        m.machine,
        m.machine_name,
        m.first_at,
        m.last_at,
        m.count,
        m.phone_ref,
        m.key_id,
        machine,
    )


async def delete_activation(conn: Conn, key_id: str, machine: str) -> None:
    """Delete the row of a machine (merged into another)."""
    await conn.execute(
        "DELETE FROM key_activations WHERE key_id = $1 AND machine = $2", key_id, machine
    )


async def append(conn: Conn, entry: AuditEntry) -> None:
    """Append one line to the audit log."""
    await conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)",
        entry.at,
        entry.actor,
        entry.action,
        entry.subject,
        entry.detail,
    )


async def _link_phone_refs(conn: Conn) -> None:
    """Migration 2: every record's phone reference; a machine recorded both ways merged."""
    now = int(time.time())
    for key in await conn.fetch("SELECT key_id, kind FROM issued_keys ORDER BY key_id"):
        rows = await conn.fetch(
            f"SELECT {ACTIVATION_COLUMNS} FROM key_activations WHERE key_id = $1",  # noqa: S608
            key["key_id"],
        )
        relink = relinked(KeyKind(key["kind"]), [activation(r) for r in rows])
        for machine in relink.drop:
            await delete_activation(conn, key["key_id"], machine)
        for row in relink.changed:
            await rewrite_activation(conn, row.machine, row)
        for dropped, kept in relink.merges:
            detail = f"{dropped} into {kept}"
            entry = AuditEntry(now, _MIGRATION_ACTOR, "merge-machine", key["key_id"], detail)
            await append(conn, entry)


# A migration's step in Python, by the version it reaches.
_STEPS: dict[int, Callable[[Conn], Awaitable[None]]] = {2: _link_phone_refs}


async def migrate(conn: Conn, dsn: str) -> None:
    """Take the database to the latest schema version (once, under an advisory lock)."""
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
            step = _STEPS.get(version + 1)
            if step is not None:
                await step(conn)
        await conn.execute("UPDATE openkms_publisher_schema SET version = $1", len(MIGRATIONS))
