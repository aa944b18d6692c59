"""The search index's writer: ``SearchIndexer``, a thread of the writer's process that keeps
``host.db-search`` up to date from the store's events (how the index works, and how a search
reads it: ``_sqlite_text``)."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Final

from openkms.errors import StoreError
from openkms.store._sqlite_conn import create_private
from openkms.store._sqlite_index_file import (
    DROP,
    SCHEMA,
    UNINDEXED,
    behind_retention,
    damaged,
    event_mark,
    has_meta,
    newest_forgotten,
    newest_seq,
    scan_position,
    sound,
    to_json,
)
from openkms.store._sqlite_text import INDEX_VERSION, index_path

__all__ = ["INDEX_DELAY", "INDEX_STEP", "SearchIndexer"]

logger = logging.getLogger("openkms.store")

# Events (or, scanning, clients) taken in per transaction of the index: each transaction
# writes a new FTS5 segment that later merges rewrite, so fewer, larger steps cost less.
INDEX_STEP: Final = 1024
# Seconds the indexer lets new events gather after a commit wakes it.
INDEX_DELAY = 0.5
# Seconds after which a checkpoint that a search deferred is tried again, with no write.
SCRUB_RETRY = 1.0
# Seconds it waits after a failure of its own before it tries again; twice as long after
# each failure in a row, at most RETRY_MOST.
RETRY_DELAY = 5.0
RETRY_MOST = 600.0
# Seconds between two checks that the index is whole and holds every client (the first
# step of each connection checks it too): a file edited by hand is built again.
VERIFY_EVERY = 3600.0


class SearchIndexer:
    """Keeps the index of the store at ``store`` up to date: ``step()`` by step, from a
    thread (``start()``, woken by ``wake()`` after each commit of the writer) or by hand.

    Its failures (a full disk, a damaged index) are logged and retried later; they never
    reach the writer, whose requests do not depend on the index.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = index_path(store)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one step at a time, whoever calls it
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures = 0  # failed steps in a row
        # The ``seq`` of the last note of ``clients_forgotten`` whose removal is on disk
        # (read by the writer's thread); a first step checkpoints and says where it is.
        self.forgotten_done = 0
        self._scrub_due = True
        self._verified_at: float | None = None  # when this connection last checked it

    def start(self) -> None:
        """Index in a thread of this process from now on.

        The index is opened first, here: while a host runs, its ``-wal`` exists, so that
        readers attach it as a live database, never as an immutable one. The thread takes
        a first step at once (a migrated or restored store's index is built from the
        start)."""
        with self._lock:
            try:
                self._connect()
            except (sqlite3.Error, OSError, StoreError) as exc:
                logger.warning("search index %s: %s (trying again later)", self.path, exc)
        self._wake.set()
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="openkms-search-index", daemon=True
            )
            self._thread.start()

    def wake(self) -> None:
        """New events were committed (cheap: the writer calls it after every batch)."""
        self._wake.set()

    def close(self) -> None:
        """Stop the thread (after its current step) and close the connection."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake.set()
            thread.join()
        with self._lock:
            self._close()

    def step(self, most: int = INDEX_STEP) -> int:
        """Take in up to ``most`` events (or scan as many clients) in one transaction; how
        many it took: less than ``most`` once the index has caught up."""
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                taken = self._step(conn, most)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            if self._scrub_due:
                self._scrub(conn)
            return taken

    def catch_up(self) -> None:
        """Step until the index holds every event committed so far."""
        while self.step() == INDEX_STEP:
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            # A checkpoint deferred by a search (``_scrub``) is tried again without waiting
            # for a write: on an idle host the writer's note of a forgotten client waits
            # for it.
            self._wake.wait(SCRUB_RETRY if self._scrub_due else None)
            # Let a few batches gather: one larger transaction of the index costs less.
            if self._stop.wait(INDEX_DELAY):
                break
            self._wake.clear()
            try:
                while self.step() == INDEX_STEP and not self._stop.is_set():
                    pass
                self._failures = 0
            except (sqlite3.Error, OSError, StoreError) as exc:
                logger.warning("search index %s: %s (trying again later)", self.path, exc)
                self._recover(remove=isinstance(exc, sqlite3.DatabaseError) and damaged(exc))
            except Exception:  # a bug, or an index file edited by hand: never the thread's end
                logger.exception("search index %s failed: building it again", self.path)
                self._recover(remove=True)

    def _recover(self, *, remove: bool) -> None:
        """After a failed step: a new connection (and index, with ``remove``) later, each
        failure in a row waiting twice as long (at most ``RETRY_MOST``): a failure that
        lasts (a full disk, a bug) never has the thread rebuild the index in a loop."""
        with self._lock:
            self._close()
            if remove:
                self._remove()
        self._wake.set()
        self._failures += 1
        self._stop.wait(min(RETRY_DELAY * 2 ** min(self._failures - 1, 16), RETRY_MOST))

    def _close(self) -> None:
        self._verified_at = None
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _remove(self) -> None:
        """Delete a damaged index: the next step builds it again."""
        logger.warning("search index %s is damaged: building it again", self.path)
        for suffix in ("", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        create_private(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA journal_mode = WAL")
            # Derived data: a crash may lose its last steps (taken in again from the
            # events), never its consistency, and no step waits on the disk.
            conn.execute("PRAGMA synchronous = NORMAL")
            # Small caches: the indexer is not in a hurry, and its memory is the host's.
            conn.execute("PRAGMA cache_size = -512")
            # A deleted entry (a forgotten client, an old name) is overwritten with zeros
            # in the pages a step writes anyway: no more I/O.
            conn.execute("PRAGMA secure_delete = FAST")
            conn.execute(
                "ATTACH DATABASE ? AS main_store",
                (self.store.resolve().as_uri() + "?mode=ro",),
            )
            conn.execute("PRAGMA main_store.cache_size = -256")
            # A first read opens the -wal, which stays while this connection is open.
            conn.execute("SELECT count(*) FROM main.sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and not damaged(exc):
                raise
            self._remove()
            return self._connect()
        self._conn = conn
        return conn

    def _step(self, conn: sqlite3.Connection, most: int) -> int:
        state = (
            dict(conn.execute("SELECT key, value FROM meta").fetchall()) if has_meta(conn) else {}
        )
        newest = newest_seq(conn)
        if (
            not self._matches(conn, state, newest)
            or not sound(state)
            or not self._whole(conn, state)
        ):
            self._restart(conn, newest, keep=False)
            state = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if most <= 0:
            return 0
        forgotten = self._take_forgotten(conn, int(state["forgotten"]), most)
        if state.get("scan") is not None:
            return max(forgotten, self._scan(conn, scan_position(state["scan"]), most))
        cursor = int(state["cursor"])
        (oldest,) = conn.execute("SELECT min(seq) FROM main_store.events").fetchone()
        if oldest is not None and oldest > cursor + 1:
            # Retention deleted events before the index took them in: scan again.
            self._restart(conn, newest, keep=True)
            return most
        events = conn.execute(
            "SELECT seq, cmid FROM main_store.events WHERE seq > ? ORDER BY seq LIMIT ?",
            (cursor, most),
        ).fetchall()
        if not events:
            return forgotten
        cmids = list(dict.fromkeys(cmid for _, cmid in events if cmid is not None))
        self._reconcile(conn, cmids)
        self._advance(conn, int(events[-1][0]))
        return max(forgotten, len(events))

    def _whole(self, conn: sqlite3.Connection, state: dict[object, object]) -> bool:
        """At the first step of a connection, then every ``VERIFY_EVERY`` seconds: whether
        the FTS5 table is sound, and every client the index should hold has its entry (a
        missing entry would drop the client from searches; other damage only adds
        candidates, which a search checks against the real rows)."""
        now = time.monotonic()
        if self._verified_at is not None and now - self._verified_at < VERIFY_EVERY:
            return True
        self._verified_at = now
        try:
            conn.execute("INSERT INTO client_text (client_text) VALUES ('integrity-check')")
            if state.get("scan") is not None or behind_retention(conn, state["cursor"]):
                return True  # the scan to come takes every client in
            return conn.execute(UNINDEXED, (state["cursor"],)).fetchone() is None
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not damaged(exc):
                raise
            logger.warning("search index %s: damaged (%s)", self.path, exc)
            return False

    def _take_forgotten(self, conn: sqlite3.Connection, after: int, most: int) -> int:
        """Drop the entries of up to ``most`` clients forgotten after note ``after`` (those
        whose CMID is back in the store are kept, as it has them now); how many notes."""
        notes = conn.execute(
            "SELECT seq, cmid FROM main_store.clients_forgotten WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, most),
        ).fetchall()
        if notes:
            self._reconcile(conn, list(dict.fromkeys(cmid for _, cmid in notes)))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('forgotten', ?)", (notes[-1][0],))
            self._scrub_due = True
        return len(notes)

    def _scrub(self, conn: sqlite3.Connection) -> None:
        """Copy the index's ``-wal`` into its file and truncate it: what the last steps
        deleted (overwritten, ``secure_delete``) is then gone from both, and on disk. Then
        tell the writer which notes of forgotten clients it may delete. A search reading
        an older state makes it wait (``busy_timeout``), or try again at the next step."""
        (busy, _, _) = conn.execute("PRAGMA main.wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            logger.debug("search index %s: checkpoint deferred (a search reads it)", self.path)
            return
        (done,) = conn.execute("SELECT value FROM meta WHERE key = 'forgotten'").fetchone()
        self._scrub_due = False
        self.forgotten_done = int(done)

    @staticmethod
    def _matches(conn: sqlite3.Connection, state: dict[object, object], newest: int) -> bool:
        """Whether the index is this version's and follows this store's events."""
        cursor, forgotten = state.get("cursor"), state.get("forgotten")
        if state.get("version") != INDEX_VERSION or not isinstance(cursor, int):
            return False
        if not isinstance(forgotten, int) or forgotten > newest_forgotten(conn):
            return False  # a store older than the index (restored) may hold clients again
        if cursor > newest:
            return False  # the store is older than the index: restored, or another one
        mark = conn.execute(
            "SELECT time, cmid FROM main_store.events WHERE seq = ?", (cursor,)
        ).fetchone()
        # The event at the cursor is the one the index saw (or was deleted since).
        return mark is None or event_mark(mark) == state.get("mark")

    def _restart(self, conn: sqlite3.Connection, newest: int, *, keep: bool) -> None:
        """Scan every client from the start; the events from ``newest`` on follow, and the
        clients forgotten from now on. With ``keep``, entries stay and the scan only
        corrects them; the clients forgotten meanwhile are still taken in."""
        if not keep:
            # What the old tables held is overwritten, not only unlinked (``_scrub``).
            conn.execute("PRAGMA secure_delete = ON")
            for statement in DROP:
                conn.execute(statement)
            conn.execute("DROP TABLE IF EXISTS meta")
            conn.execute("PRAGMA secure_delete = FAST")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES ('forgotten', ?)", (newest_forgotten(conn),))
            self._scrub_due = True
            logger.info("search index %s: building it from the store's clients", self.path)
        conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("version", INDEX_VERSION), ("scan", to_json(["", ""]))],
        )
        self._advance(conn, newest)

    def _advance(self, conn: sqlite3.Connection, cursor: int) -> None:
        mark = conn.execute(
            "SELECT time, cmid FROM main_store.events WHERE seq = ?", (cursor,)
        ).fetchone()
        conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("cursor", cursor), ("mark", event_mark(mark) if mark else None)],
        )

    def _scan(self, conn: sqlite3.Connection, after: tuple[str, str], most: int) -> int:
        rows = conn.execute(
            "SELECT application_id, cmid, machine_name FROM main_store.clients "
            "WHERE (application_id, cmid) > (?, ?) ORDER BY application_id, cmid LIMIT ?",
            (after[0], after[1], most),
        ).fetchall()
        self._write(conn, rows, [cmid for _, cmid, _ in rows], whole=False)
        done = len(rows) < most
        position = None if done else to_json(list(rows[-1][:2]))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('scan', ?)", (position,))
        if done:
            logger.info("search index %s: built", self.path)
        return len(rows)

    def _reconcile(self, conn: sqlite3.Connection, cmids: list[str]) -> None:
        """Make the index hold each of ``cmids``' clients as the store has them now."""
        rows = conn.execute(
            "SELECT c.application_id, c.cmid, c.machine_name FROM json_each(?) AS e "
            "CROSS JOIN (SELECT DISTINCT application_id FROM main_store.n_policy_seen) AS a "
            "CROSS JOIN main_store.clients AS c "
            "ON c.application_id = a.application_id AND c.cmid = e.value",
            (to_json(cmids),),
        ).fetchall()
        self._write(conn, rows, cmids, whole=True)

    @staticmethod
    def _write(
        conn: sqlite3.Connection, rows: list[tuple[str, str, str]], cmids: list[str], *, whole: bool
    ) -> None:
        """Make the index hold ``rows`` (application, CMID, name), in a few statements
        whatever their number; with ``whole`` (``rows`` are every client of ``cmids``), drop
        the entries of ``cmids`` no longer in the store."""
        held = {
            (app, cmid): (key, name)
            for key, app, cmid, name in conn.execute(
                "SELECT k.id, k.application_id, k.cmid, k.machine_name FROM json_each(?) AS e "
                "CROSS JOIN client_text_keys AS k ON k.cmid = e.value",
                (to_json(cmids),),
            ).fetchall()
        }
        (last,) = conn.execute("SELECT ifnull(max(id), 0) FROM client_text_keys").fetchone()
        new: list[tuple[int, str, str, str]] = []
        renamed: list[tuple[str, int]] = []
        stale: list[tuple[int, str, str]] = []  # (id, CMID, name) as the index took them in
        texts: list[tuple[int, str, str]] = []
        for app, cmid, name in rows:
            entry = held.pop((app, cmid), None)
            if entry is None:
                last += 1
                new.append((last, app, cmid, name))
                texts.append((last, cmid, name))
            elif entry[1] != name:
                stale.append((entry[0], cmid, entry[1]))
                renamed.append((name, entry[0]))
                texts.append((entry[0], cmid, name))
        gone = [(key, cmid, name) for (_, cmid), (key, name) in held.items()] if whole else []
        # A contentless table deletes an entry given the very values it indexed (the keys'):
        # other values would leave its trigrams behind.
        conn.executemany(
            "INSERT INTO client_text (client_text, rowid, cmid, machine_name) "
            "VALUES ('delete', ?, ?, ?)",
            stale + gone,
        )
        conn.executemany("DELETE FROM client_text_keys WHERE id = ?", [(k,) for k, _, _ in gone])
        conn.executemany("UPDATE client_text_keys SET machine_name = ? WHERE id = ?", renamed)
        conn.executemany("INSERT INTO client_text_keys VALUES (?, ?, ?, ?)", new)
        conn.executemany(
            "INSERT INTO client_text (rowid, cmid, machine_name) VALUES (?, ?, ?)", texts
        )
