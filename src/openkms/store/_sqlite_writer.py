"""The write side of the SQLite store: the writer interface, and one transaction per batch.

``StoreWriter`` is what ``SqliteStore`` writes through: ``start()``, ``submit(op)`` giving a
future, ``stop()``. Two implementations drive the same ``BatchWriter``: a thread of this
process (``_writer_thread``) and a child process (``_writer_process``, the default). Both
hand it whatever has queued up and settle the futures only once ``commit()`` has returned,
i.e. once the batch is on disk (``synchronous=FULL``).
"""

from __future__ import annotations

import abc
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store import _sqlite_admin as admin
from openkms.store._sqlite_conn import (
    BUSY_TIMEOUT_MS,
    connect_writer,
    is_environmental,
    map_error,
    rollback,
)
from openkms.store._sqlite_indexer import SearchIndexer
from openkms.store._sqlite_records import RecordBatch, insert_event
from openkms.store.base import RequestRecord

if TYPE_CHECKING:  # annotations only: the writer process runs without asyncio
    import asyncio

__all__ = [
    "CHECKPOINT_COMMITS",
    "FORGOTTEN_POLL",
    "PRUNE_STEP",
    "BatchWriter",
    "Forget",
    "StoreWriter",
    "WriteOp",
    "WriteOutcome",
    "WriteResult",
]

logger = logging.getLogger("openkms.store")

# Retention, incrementally (docs/architecture.md, "Decisions"): a batch deletes only the
# oldest events that take the store over the limit (about as many as it inserted), and the
# writer deletes ahead between batches, at most PRUNE_STEP rows per transaction, until the
# store is a headroom (a tenth of the allowance, at most 10,000) below the limit; bursts
# then find room and commit no deletes at all. Never a big DELETE in one commit: the batch
# whose commit carries it waits for it.
PRUNE_STEP: Final = 256
# WAL checkpoints, too, between batches: a passive one once this many commits have gone
# into the WAL since the last, so that SQLite's own (at 1,000 pages, inside whichever COMMIT
# crosses it, before that batch is answered) is only the backstop of a writer never idle.
CHECKPOINT_COMMITS: Final = 16
# Seconds an idle writer waits at most, while the search index has not yet taken in a note
# of a forgotten client, before it looks again whether it may delete the note: an idle host
# must not keep a forgotten CMID until its next write (``BatchWriter.idle_timeout``).
FORGOTTEN_POLL: Final = 0.5
# Seconds before a deletion of notes that failed (a lock, a read-only or full store) is tried
# again: the notes stay owed, and an idle writer neither gives them up nor spins on them.
FORGOTTEN_RETRY: Final = 5.0
# Milliseconds the checkpoint that empties the -wal after such a deletion waits for readers.
_SCRUB_BUSY_MS: Final = 1000
_HEADROOM_FRACTION: Final = 10
_HEADROOM_MAX: Final = 10_000


class Forget(msgspec.Struct, frozen=True, array_like=True):
    """Remove one client (it leaves the count)."""

    application_id: str
    cmid: str


# What a batch holds: plain data, so that it can cross to a writer process.
WriteOp = RequestRecord | EventRecord | Forget
# What each gives back: the count after a request, None for an event, whether a client
# was forgotten.
WriteResult = int | bool | None
# What ``commit_each`` gives back for each operation: its result or its own error.
WriteOutcome = WriteResult | StoreError


class StoreWriter(abc.ABC):
    """The single writer of an SQLite store: operations in, futures settled after COMMIT."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open (creating and migrating) the store; return once ``submit`` may be called."""

    @abc.abstractmethod
    def submit(self, op: WriteOp) -> asyncio.Future[WriteResult]:
        """Queue ``op`` (on the event loop); the future settles once its batch is durable."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Commit everything submitted, then stop; idempotent."""


class BatchWriter:
    """Runs batches of write operations, one ``BEGIN IMMEDIATE ... COMMIT`` each."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, policy: CountPolicy, event_retention: int
    ) -> None:
        self.conn = conn
        self.path = path
        self.policy = policy
        self.event_retention = event_retention
        self._headroom = min(event_retention // _HEADROOM_FRACTION, _HEADROOM_MAX)
        # Events beyond (retention - headroom) after the last commit: what housekeeping owes.
        self._over = 0
        self._commits = 0  # commits since the last checkpoint of ours
        self._stale = False  # the connection failed with the store's error: open a new one
        # The search index, kept by a thread of its own once started (``_sqlite_indexer``).
        self.search = SearchIndexer(path)
        # Notes of forgotten clients deleted up to here (the index had taken them in), and
        # the newest note written (whose deletion an idle writer still owes).
        self._forgotten_purged = 0
        self._forgotten_noted = _newest_note(conn)
        self._purge_after = 0.0  # monotonic time before which no deletion of notes is tried

    def commit(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Run ``ops`` in order in one transaction; their results once it is durable.

        A failure rolls the whole batch back and raises a StoreError naming the fix. After
        a failure of the store itself (read-only, I/O error, disk full), the next batch runs
        on a new connection: once the store is writable again, writes succeed again.
        """
        if self._stale:
            self._reopen()
        conn = self.conn
        try:
            return self._run(conn, ops)
        except sqlite3.Error as exc:
            rollback(conn)
            self._stale = is_environmental(exc)
            raise map_error(exc, self.path) from exc
        except Exception as exc:  # a bug fails its batch but must never kill the writer
            rollback(conn)
            logger.exception("store write of %d items failed", len(ops))
            raise StoreError(
                _("the store {path} failed: {exc!r}").format(path=self.path, exc=exc)
            ) from exc

    def commit_each(self, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        """``commit(ops)``; if the batch fails, each operation again in its own transaction,
        so that one that cannot be written fails alone and the others are committed.

        Not when the failure is the store's (a full disk, a read-only or damaged file): then
        every operation fails with it, without a transaction each.
        """
        try:
            return list(self.commit(ops))
        except StoreError as error:
            if len(ops) == 1 or is_environmental(error.__cause__):
                return [error] * len(ops)
            logger.warning(
                "store write of %d items failed (%s): writing each alone", len(ops), error
            )
        outcomes: list[WriteOutcome] = []
        for index, op in enumerate(ops):
            try:
                outcomes += self.commit((op,))
            except StoreError as error:
                outcomes.append(error)
                if is_environmental(error.__cause__):
                    outcomes += [error] * (len(ops) - index - 1)
                    break
        return outcomes

    def start_indexing(self) -> None:
        """Keep the search index up to date from a thread, from now on."""
        self.search.start()

    def close(self) -> None:
        """Stop the search index's thread; delete the notes of forgotten clients it has
        taken in; close the connection."""
        self.search.close()
        if self.search.forgotten_done > self._forgotten_purged and not self._stale:
            try:
                self._purge_forgotten(self.conn)
            except sqlite3.Error as exc:  # left for the next start
                with contextlib.suppress(sqlite3.Error):
                    rollback(self.conn)
                logger.warning("store %s: closing: %s", self.path, exc)
        self.conn.close()

    def _reopen(self) -> None:
        """A new connection in place of one that failed; StoreError while the store still fails."""
        conn = connect_writer(self.path, check=False)
        try:
            self.conn.close()
        except sqlite3.Error:
            logger.debug("closing the failed store connection failed", exc_info=True)
        self.conn, self._stale = conn, False
        logger.warning("store %s: writing again on a new connection", self.path)

    def _run(self, conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> list[WriteResult]:
        conn.execute("BEGIN IMMEDIATE")
        # In order: each record's count sees every row written before it, its own included.
        records = RecordBatch(self.policy)
        results: list[WriteResult] = []
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
            else:
                results.append(admin.forget_client(conn, op.application_id, op.cmid))
        records.flush(conn)
        self._prune_events(conn, self.event_retention, max(PRUNE_STEP, len(ops)))
        noted = _newest_note(conn) if any(r is True for r in results) else None
        conn.execute("COMMIT")
        self._commits += 1
        if noted is not None:
            self._forgotten_noted = noted
        self.search.wake()
        return results

    @property
    def housekeeping_due(self) -> bool:
        """Whether ``housekeep()`` has work: a checkpoint, old events to delete ahead, or
        notes of forgotten clients the search index has taken in."""
        return not self._stale and (
            self._commits >= CHECKPOINT_COMMITS or self._over > 0 or self._forgotten_due
        )

    @property
    def _forgotten_due(self) -> bool:
        return (
            self.search.forgotten_done > self._forgotten_purged
            and time.monotonic() >= self._purge_after
        )

    @property
    def idle_timeout(self) -> float | None:
        """Seconds the writer may wait for a write before it looks at ``housekeeping_due``
        again; None: until a write comes.

        While a note of a forgotten client is written that is not deleted yet, the search
        index's thread (not a write) is what makes its deletion due: the writer looks again
        every ``FORGOTTEN_POLL`` seconds, so that the note (and the CMID in it) leaves an
        idle host as well; after a failed deletion, when it may be tried again."""
        if self._stale or self._forgotten_noted <= self._forgotten_purged:
            return None
        return max(FORGOTTEN_POLL, self._purge_after - time.monotonic())

    def housekeep(self) -> bool:
        """One bounded step of housekeeping, for the gaps between batches: a passive WAL
        checkpoint if one is due, else the deletion of the notes of forgotten clients the
        search index has taken in, else the deletion of at most ``PRUNE_STEP`` of the oldest
        events ahead of the limit, each in its own transaction.

        Returns whether more is due. A failure is logged and left to the next batch (which
        reports it to its requests, and reopens the connection if the store failed).
        """
        if not self.housekeeping_due:
            return False
        conn = self.conn
        try:
            if self._commits >= CHECKPOINT_COMMITS:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self._commits = 0
            elif self._forgotten_due:
                self._purge_forgotten(conn)
            else:
                conn.execute("BEGIN IMMEDIATE")
                self._prune_events(conn, self.event_retention - self._headroom, PRUNE_STEP)
                conn.execute("COMMIT")
                # Its deletes dirtied about a page each: checkpoint them before the next step.
                self._commits = CHECKPOINT_COMMITS
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):  # a closed connection has no transaction
                rollback(conn)
            self._stale = is_environmental(exc)
            self._over = self._commits = 0
            # Not again at once (no loop on a lock), but the notes stay owed: an idle writer
            # deletes them later, a stale one after the write that reopens the store.
            self._purge_after = time.monotonic() + FORGOTTEN_RETRY
            logger.warning("store %s: housekeeping failed: %s", self.path, exc)
            return False
        return self.housekeeping_due

    def _purge_forgotten(self, conn: sqlite3.Connection) -> None:
        """Delete the notes of forgotten clients that the search index has taken in (rare:
        one per forgotten client, so one small transaction), then empty the -wal into the
        file (``_scrub``)."""
        done = self.search.forgotten_done
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM clients_forgotten WHERE seq <= ?", (done,))
        conn.execute("COMMIT")
        self._forgotten_purged = done
        self._scrub(conn)

    def _scrub(self, conn: sqlite3.Connection) -> None:
        """Copy the -wal into the file and truncate it: the client rows and notes deleted
        since the last checkpoint (overwritten, ``secure_delete``) are then gone from both
        files, not only from the newest pages. A reader that holds an older state for more
        than ``_SCRUB_BUSY_MS`` defers it to the next passive checkpoint, which copies the
        pages but leaves older copies in the -wal until SQLite reuses it."""
        conn.execute(f"PRAGMA busy_timeout = {_SCRUB_BUSY_MS}")
        try:
            (busy, _, _) = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if busy:
            logger.debug("store %s: checkpoint deferred (a reader holds the -wal)", self.path)
            self._commits = CHECKPOINT_COMMITS
        else:
            self._commits = 0

    def _prune_events(self, conn: sqlite3.Connection, keep: int, most: int) -> None:
        """Delete the oldest events beyond ``keep``, at most ``most`` of them; note what
        housekeeping still owes."""
        (newest,) = conn.execute("SELECT max(seq) FROM events").fetchone()
        (oldest,) = conn.execute("SELECT min(seq) FROM events").fetchone()
        if newest is None:
            self._over = 0
            return
        # seq only grows and only the oldest are deleted, so the rows are (at most) this many.
        rows = newest - oldest + 1
        excess = min(rows - keep, most)
        if excess > 0:
            conn.execute("DELETE FROM events WHERE seq < ?", (oldest + excess,))
            rows -= excess
        self._over = rows - (self.event_retention - self._headroom)


def _newest_note(conn: sqlite3.Connection) -> int:
    """The ``seq`` of the newest note of a forgotten client still in the store (0: none)."""
    (seq,) = conn.execute("SELECT ifnull(max(seq), 0) FROM clients_forgotten").fetchone()
    return int(seq)
