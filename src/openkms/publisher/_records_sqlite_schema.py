"""The schema of the publisher's SQLite records: migrations and the rows of machines.

``PRAGMA user_version`` holds the schema version; migrations are appended, never edited. A
migration may have a step in Python (``_STEPS``), run in the same transaction after its
statements: migration 2 gives every record its phone reference and merges a machine
recorded both online and by phone (:func:`openkms.publisher.machines.relinked`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.publisher.machines import relinked
from openkms.publisher.records import AuditEntry, MachineActivation
from openkms.store.backup import backup_before_migration

__all__ = [
    "ACTIVATION_COLUMNS",
    "MIGRATIONS",
    "activation",
    "append",
    "delete_activation",
    "insert_activation",
    "migrate",
    "rewrite_activation",
]

# Migration i takes the database from version i to i + 1. Append only.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE issued_keys (
            key_id TEXT PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            group_name TEXT,
            activation_id TEXT,
            activations_allowed INTEGER NOT NULL,
            per_machine_limit INTEGER,
            issued_at INTEGER NOT NULL,
            blocked_at INTEGER
        )""",
        """CREATE TABLE key_activations (
            key_id TEXT NOT NULL REFERENCES issued_keys (key_id),
            machine TEXT NOT NULL,
            machine_name TEXT NOT NULL,
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (key_id, machine)
        ) WITHOUT ROWID""",
        """CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    ),
    (  # 2: each machine's phone reference (online and phone activations are one machine)
        "ALTER TABLE key_activations ADD COLUMN phone_ref TEXT",
        "CREATE INDEX key_activations_phone_ref ON key_activations (key_id, phone_ref)",
    ),
]

ACTIVATION_COLUMNS = "key_id, machine, machine_name, first_at, last_at, count, phone_ref"
_MIGRATION_ACTOR = "migration"


def activation(row: tuple[object, ...]) -> MachineActivation:
    """A ``key_activations`` row (``ACTIVATION_COLUMNS``) as a MachineActivation."""
    key_id, machine, name, first, last, count, phone_ref = row
    return MachineActivation(
        str(key_id),
        str(machine),
        str(name),
        int(str(first)),
        int(str(last)),
        int(str(count)),
        None if phone_ref is None else str(phone_ref),
    )


def insert_activation(conn: sqlite3.Connection, m: MachineActivation) -> None:
    """Insert the row of a machine."""
    conn.execute(
        f"INSERT INTO key_activations ({ACTIVATION_COLUMNS}) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (m.key_id, m.machine, m.machine_name, m.first_at, m.last_at, m.count, m.phone_ref),
    )


def rewrite_activation(conn: sqlite3.Connection, machine: str, m: MachineActivation) -> None:
    """Rewrite the row of ``machine`` as ``m`` (its machine may change: the online ID)."""
    conn.execute(
        "UPDATE key_activations SET machine = ?, machine_name = ?, first_at = ?, last_at = ?, "
        "count = ?, phone_ref = ? WHERE key_id = ? AND machine = ?",
        (m.machine, m.machine_name, m.first_at, m.last_at, m.count, m.phone_ref, m.key_id, machine),
    )


def delete_activation(conn: sqlite3.Connection, key_id: str, machine: str) -> None:
    """Delete the row of a machine (merged into another)."""
    conn.execute("DELETE FROM key_activations WHERE key_id = ? AND machine = ?", (key_id, machine))


def _link_phone_refs(conn: sqlite3.Connection) -> None:
    """Migration 2: every record's phone reference; a machine recorded both ways merged."""
    now = int(time.time())
    keys = conn.execute("SELECT key_id, kind FROM issued_keys ORDER BY key_id").fetchall()
    for key_id, kind in keys:
        rows = conn.execute(
            f"SELECT {ACTIVATION_COLUMNS} FROM key_activations WHERE key_id = ?",  # noqa: S608
            (key_id,),
        ).fetchall()
        relink = relinked(KeyKind(kind), [activation(r) for r in rows])
        for machine in relink.drop:
            delete_activation(conn, key_id, machine)
        for row in relink.changed:
            rewrite_activation(conn, row.machine, row)
        for dropped, kept in relink.merges:
            detail = f"{dropped} into {kept}"
            append(conn, AuditEntry(now, _MIGRATION_ACTOR, "merge-machine", key_id, detail))


# A migration's step in Python, by the version it reaches.
_STEPS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _link_phone_refs}


def append(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    """Append one line to the audit log."""
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)",
        (entry.at, entry.actor, entry.action, entry.subject, entry.detail),
    )


def migrate(conn: sqlite3.Connection, path: Path | None) -> None:
    """Take the database to the latest schema version, in one transaction.

    A database of an older version is first copied to ``<db>.schema-<version>.bak`` (0600),
    as the host's store is: a migration may merge records (schema 2), and the copy is what
    the operator restores if the new version has to be rolled back (docs/upgrading.md).
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if path is not None and 0 < found < len(MIGRATIONS):
        backup_before_migration(conn, path, found)
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > len(MIGRATIONS):
            raise StoreError(
                _(
                    "{path} has schema version {found}, newer than this OpenKMS supports ({count})"
                ).format(path=path, found=found, count=len(MIGRATIONS)),
                code=ResultCode.UNSUPPORTED_VERSION,
                fix=_("Upgrade OpenKMS on this machine."),
            )
        for version in range(found, len(MIGRATIONS)):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            step = _STEPS.get(version + 1)
            if step is not None:
                step(conn)
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
