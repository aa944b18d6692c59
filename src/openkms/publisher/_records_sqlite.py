"""The publisher's records in SQLite (``DIR/publisher.db``, mode 0600).

One connection guarded by a lock, used from a worker thread (``asyncio.to_thread``); every
claim runs in ``BEGIN IMMEDIATE``, so two processes on the same file (the service and a CLI
command) serialise on the database's write lock. The schema and its migrations are in
:mod:`openkms.publisher._records_sqlite_schema`.

A read-only instance (``publisher report``, ``list-keys``) never writes, migrates or
creates a file: it opens the database ``mode=ro`` while a ``-wal`` file is present (the
service has it open: the reader shares its WAL index and sees every committed claim), and
``immutable`` otherwise (a ``mode=ro`` open would create ``-wal`` and ``-shm`` files and
leave them behind), as the host store's readers do (``store/_sqlite_conn.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from openkms._files import PRIVATE_FILE
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.publisher._records_sqlite_ro import open_read_only
from openkms.publisher._records_sqlite_schema import (
    ACTIVATION_COLUMNS,
    MIGRATIONS,
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

__all__ = ["MIGRATIONS", "SqliteRecords"]

_T = TypeVar("_T")

_KEY_COLUMNS = KEY_COLUMNS


def _key(row: tuple[object, ...]) -> IssuedKey:
    key_id, key, kind, group, activation_id, allowed, per_machine, issued, blocked = row
    return IssuedKey(
        str(key_id),
        str(key),
        KeyKind(kind),
        None if group is None else str(group),
        None if activation_id is None else str(activation_id),
        int(str(allowed)),
        None if per_machine is None else int(str(per_machine)),
        int(str(issued)),
        None if blocked is None else int(str(blocked)),
    )


class SqliteRecords:
    """:class:`~openkms.publisher.records.PublisherRecords` on SQLite.

    ``path`` None keeps the records in memory (a read-only look at a directory that has
    no database yet: nothing is written).
    """

    def __init__(self, path: Path | None, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly and path is not None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Create the file (0600) if needed and migrate it."""
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        if self.readonly and self.path is not None:
            self._conn = open_read_only(self.path, len(MIGRATIONS))
            return
        target = ":memory:"
        if self.path is not None:
            with _mapped(self.path):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
                os.close(fd)
            target = str(self.path)
        conn = sqlite3.connect(target, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn = conn
        self._locked(self._migrate)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA foreign_keys = ON")
        if self.path is not None:
            conn.execute("PRAGMA journal_mode = WAL")
        migrate(conn, self.path)

    async def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- plumbing ------------------------------------------------------------------------

    def _locked(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            if self._conn is None:
                raise StoreError(_("the publisher records are closed"))
            with _mapped(self.path):
                return work(self._conn)

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        return await asyncio.to_thread(self._locked, work)

    async def _write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """``work`` in one ``BEGIN IMMEDIATE`` transaction."""

        def transaction(conn: sqlite3.Connection) -> _T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._run(transaction)

    # -- keys ----------------------------------------------------------------------------

    async def add_key(self, key: IssuedKey, actor: str) -> None:
        """Record an issued key and its audit line."""

        def work(conn: sqlite3.Connection) -> None:
            _insert_key(conn, key)
            scope = key.group if key.group is not None else key.activation_id
            detail = f"{key.kind.value} {scope} activations={key.activations_allowed}"
            append(conn, AuditEntry(key.issued_at, actor, "issue-key", key.key_id, detail))

        await self._write(work)

    async def import_key(
        self, key: IssuedKey, machines: tuple[MachineActivation, ...], actor: str
    ) -> bool:
        """Record a key and its machines from an older ledger; False if already recorded."""

        def work(conn: sqlite3.Connection) -> bool:
            if _find_key(conn, key.key_id) is not None:
                return False
            _insert_key(conn, key)
            for m in machines:
                insert_activation(conn, m)
            detail = f"{key.kind.value} {key.group} machines={len(machines)}"
            append(conn, AuditEntry(key.issued_at, actor, "import-key", key.key_id, detail))
            return True

        return await self._write(work)

    async def key(self, key_id: str) -> IssuedKey | None:
        """The issued key with this ID, or None."""
        return await self._run(lambda conn: _find_key(conn, key_id))

    async def keys(self) -> list[IssuedKey]:
        """Every issued key, oldest first."""
        sql = f"SELECT {_KEY_COLUMNS} FROM issued_keys ORDER BY issued_at, key_id"  # noqa: S608
        return await self._run(lambda conn: [_key(r) for r in conn.execute(sql)])

    async def usage(self) -> list[KeyUsage]:
        """Every issued key with its machines, oldest first."""

        def work(conn: sqlite3.Connection) -> list[KeyUsage]:
            machines: dict[str, list[MachineActivation]] = {}
            sql = f"SELECT {ACTIVATION_COLUMNS} FROM key_activations ORDER BY first_at, machine"  # noqa: S608
            for row in conn.execute(sql):
                machine = activation(row)
                machines.setdefault(machine.key_id, []).append(machine)
            sql = f"SELECT {_KEY_COLUMNS} FROM issued_keys ORDER BY issued_at, key_id"  # noqa: S608
            keys = [_key(r) for r in conn.execute(sql)]
            return [KeyUsage(k, tuple(machines.get(k.key_id, ()))) for k in keys]

        return await self._run(work)

    async def claim(self, request: ClaimRequest) -> Claim:
        """Apply the claim rule under the database's write lock and record it."""

        key_id = request.key_id

        def work(conn: sqlite3.Connection) -> Claim:
            key = _find_key(conn, key_id)
            rows = conn.execute(
                f"SELECT {ACTIVATION_COLUMNS} FROM key_activations "  # noqa: S608
                "WHERE key_id = ? AND (machine = ? OR machine = ? OR phone_ref = ?)",
                (key_id, request.machine, request.phone_ref, request.phone_ref),
            ).fetchall()
            match = match_machine(request, [activation(r) for r in rows])
            used = _used(conn, key_id)
            outcome = decide_claim(key, request.kind, match.existing, used)
            merged: tuple[str, ...] = ()
            if outcome is ClaimOutcome.NEW_MACHINE:
                insert_activation(conn, claimed_row(request, match))
                used += 1
            elif outcome is ClaimOutcome.SAME_MACHINE and match.keep is not None:
                merged = match.drop
                for machine in merged:
                    delete_activation(conn, key_id, machine)
                rewrite_activation(conn, match.keep, claimed_row(request, match))
                used -= len(merged)
            if key is not None:
                append(conn, request.audit_entry(outcome, merged))
            return Claim(outcome, key, used)

        return await self._write(work)

    async def block_key(self, key_id: str, now: int, actor: str) -> IssuedKey | None:
        """Mark a key blocked; None when unknown."""

        def work(conn: sqlite3.Connection) -> IssuedKey | None:
            conn.execute(
                "UPDATE issued_keys SET blocked_at = ? WHERE key_id = ? AND blocked_at IS NULL",
                (now, key_id),
            )
            key = _find_key(conn, key_id)
            if key is not None:
                append(conn, AuditEntry(now, actor, "block-key", key_id, key.kind.value))
            return key

        return await self._write(work)

    # -- audit ---------------------------------------------------------------------------

    async def audit(self, entry: AuditEntry) -> None:
        """Append one audit line."""
        await self._write(lambda conn: append(conn, entry))

    async def audit_log(self, limit: int = 1000) -> list[AuditEntry]:
        """The last ``limit`` audit lines, oldest first."""
        sql = (
            "SELECT seq, at, actor, action, subject, detail FROM audit_log "
            "ORDER BY seq DESC LIMIT ?"
        )

        def work(conn: sqlite3.Connection) -> list[AuditEntry]:
            rows = conn.execute(sql, (limit,)).fetchall()
            return [
                AuditEntry(int(at), str(actor), str(action), str(subject), str(detail), int(seq))
                for seq, at, actor, action, subject, detail in reversed(rows)
            ]

        return await self._run(work)

    async def audit_entries(self, action: str) -> list[AuditEntry]:
        """Every audit line of ``action``, oldest first."""
        sql = (
            "SELECT seq, at, actor, action, subject, detail FROM audit_log "
            "WHERE action = ? ORDER BY seq"
        )

        def work(conn: sqlite3.Connection) -> list[AuditEntry]:
            return [
                AuditEntry(int(at), str(actor), str(act), str(subject), str(detail), int(seq))
                for seq, at, actor, act, subject, detail in conn.execute(sql, (action,))
            ]

        return await self._run(work)


def _insert_key(conn: sqlite3.Connection, key: IssuedKey) -> None:
    conn.execute(
        f"INSERT INTO issued_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        key.row(),
    )


def _find_key(conn: sqlite3.Connection, key_id: str) -> IssuedKey | None:
    row = conn.execute(
        f"SELECT {_KEY_COLUMNS} FROM issued_keys WHERE key_id = ?",  # noqa: S608
        (key_id,),
    ).fetchone()
    return _key(row) if row is not None else None


def _used(conn: sqlite3.Connection, key_id: str) -> int:
    row = conn.execute("SELECT count(*) FROM key_activations WHERE key_id = ?", (key_id,))
    return int(row.fetchone()[0])


@contextlib.contextmanager
def _mapped(path: Path | None) -> Iterator[None]:
    """sqlite3 and OS errors as StoreError naming the database."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise StoreError(
            _("{path}: {exc}").format(path=path, exc=exc), code=ResultCode.INVALID_ARGUMENT
        ) from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(_("{path}: {exc}").format(path=path, exc=exc)) from None
    except OSError as exc:
        raise StoreError(
            _("cannot open {path}: {error}").format(path=path, error=exc.strerror or exc)
        ) from None
