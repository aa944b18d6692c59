"""The write side of the SQLite store: a batch of operations, one transaction.

``BatchWriter`` owns the writer's connection. It is driven by the store's writer thread or,
for a host, by the writer process (``_writer_process``); both hand it whatever has queued
up and wake the waiters only once ``commit()`` has returned, i.e. once the batch is on disk
(``synchronous=FULL``).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.store import _sqlite_admin as admin
from openkms.store import _sqlite_db as db
from openkms.store.base import RequestRecord

__all__ = ["BatchWriter", "Forget", "WriteOp"]

logger = logging.getLogger("openkms.store")

# Retention deletes a tenth of the allowance at a time, so that pruning costs one DELETE
# per many inserts instead of one per insert.
_PRUNE_FRACTION: Final = 10
_PRUNE_CHUNK_MAX: Final = 10_000


class Forget(msgspec.Struct, frozen=True, array_like=True):
    """Remove one client (it leaves the count)."""

    application_id: str
    cmid: str


# What a batch holds: plain data, so that it can cross to a writer process. A callable on
# the connection is accepted too, by the in-process writer only.
WriteOp = RequestRecord | EventRecord | Forget | Callable[[sqlite3.Connection], Any]


class BatchWriter:
    """Runs batches of write operations, one ``BEGIN IMMEDIATE ... COMMIT`` each."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, policy: CountPolicy, event_retention: int
    ) -> None:
        self.conn = conn
        self.path = path
        self.policy = policy
        self.event_retention = event_retention
        self._prune_chunk = min(event_retention // _PRUNE_FRACTION, _PRUNE_CHUNK_MAX)

    def commit(self, ops: Sequence[WriteOp]) -> list[Any]:
        """Run ``ops`` in order in one transaction; their results once it is durable.

        A failure rolls the whole batch back and raises a StoreError naming the fix.
        """
        conn = self.conn
        try:
            return self._run(conn, ops)
        except sqlite3.Error as exc:
            db.rollback(conn)
            raise db.map_error(exc, self.path) from exc
        except Exception as exc:  # a bug fails its batch but must never kill the writer
            db.rollback(conn)
            logger.exception("store write of %d items failed", len(ops))
            raise StoreError(f"the store {self.path} failed: {exc!r}") from exc

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _run(self, conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> list[Any]:
        conn.execute("BEGIN IMMEDIATE")
        # In order: each record's count sees every row written before it, its own included.
        records = db.RecordBatch(self.policy)
        results: list[Any] = []
        for op in ops:
            if isinstance(op, RequestRecord):
                results.append(records.apply(conn, op))
                continue
            # Anything else may read or change what the batch has in hand.
            records.flush(conn)
            records.forget()
            if isinstance(op, EventRecord):
                insert_event(conn, op)
                results.append(None)
            elif isinstance(op, Forget):
                results.append(admin.forget_client(conn, op.application_id, op.cmid))
            else:
                results.append(op(conn))
        records.flush(conn)
        self._prune_events(conn)
        conn.execute("COMMIT")
        return results

    def _prune_events(self, conn: sqlite3.Connection) -> None:
        """Keep at most ``event_retention`` events, deleting the oldest a chunk at a time."""
        (newest,) = conn.execute("SELECT max(seq) FROM events").fetchone()
        (oldest,) = conn.execute("SELECT min(seq) FROM events").fetchone()
        # seq only grows and only the oldest are deleted, so the rows are (at most) this many.
        if newest is None or newest - oldest + 1 <= self.event_retention:
            return
        keep_from = newest - self.event_retention + 1 + self._prune_chunk
        conn.execute("DELETE FROM events WHERE seq < ?", (keep_from,))


def insert_event(conn: sqlite3.Connection, event: EventRecord) -> None:
    """Append one host event (12293, 12294, ...)."""
    fields = event.fields()
    conn.execute(
        db.INSERT_EVENT,
        (
            event.event_id,
            event.time,
            event.info,
            fields.get("cmid"),
            fields.get("activation_id"),
            db.hresult(event.info) if "hresult" in fields else None,
        ),
    )
