"""The SQLite store's search by substring: an FTS5 trigram index in a file of its own.

The index is derived data, so it lives beside the store (``host.db-search``) and is written
by a thread of the writer's process (``SearchIndexer``) on its own connection, never inside
a request's transaction: a new client costs the writer nothing for the search (it cost as
much as the rest of its record when the index lived in the store, bench/README.md), and the
index's CPU runs on another core while the writer waits on its commits.

The indexer follows the store's events: every request writes an event naming its CMID in
the transaction that changes the client's row, so the events after the index's *cursor*
(the ``seq`` of the last event it has taken in) name every client the index may not hold
yet. A search takes the index's candidates plus every client named by an event after the
cursor (the same SQL statement, the index attached to the reader's connection for that
search: ``attached``) and checks each against the real row, so it is complete and exact
however far behind the index is.

The index starts over (a scan of the clients in steps, then the events again) when it is
new, damaged, of another version, or does not match the store (restored from a backup: the
event at its cursor is not the one it saw), and scans again when retention deleted events
it had not taken in. Until a scan is done a search scans the clients instead (``candidates``
gives None). An index whose own state does not read as this code writes it (edited by hand)
is rebuilt, never trusted.

A forgotten client leaves the index as well: whatever deletes a client row notes its CMID
in the store's ``clients_forgotten`` (a trigger, store schema 7), which the index follows
with a second cursor (``forgotten``) and takes in like an event's CMID: the entries of a
CMID no longer in the store are deleted. The index's connection has ``secure_delete``
(FAST: without more I/O) and a step that removed a client's text checkpoints the index's
``-wal`` and truncates it, so the CMID and the name are overwritten in both files, not only
unlinked. Only then does ``forgotten_done`` tell the writer that its notes up to there may
go (``BatchWriter.housekeep``): a host killed in between takes them in again at its start.
Until the index has caught up, the check against the real row keeps a forgotten client out
of every answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import msgspec

from openkms.errors import StoreError
from openkms.store._sqlite_conn import create_private, read_only_uri

__all__ = [
    "INDEX_DELAY",
    "INDEX_STEP",
    "MIN_INDEXED",
    "SearchIndexer",
    "attached",
    "candidates",
    "index_path",
]

logger = logging.getLogger("openkms.store")

# Events (or, scanning, clients) taken in per transaction of the index: each transaction
# writes a new FTS5 segment that later merges rewrite, so fewer, larger steps cost less.
INDEX_STEP: Final = 1024
# Seconds the indexer lets new events gather after a commit wakes it.
INDEX_DELAY = 0.5
# Seconds it waits after a failure of its own before it tries again; twice as long after
# each failure in a row, at most RETRY_MOST.
RETRY_DELAY = 5.0
RETRY_MOST = 600.0
# Trigrams of a text probed at most, and queried at most (the rarest).
MAX_TRIGRAMS: Final = 16
KEEP: Final = 3
# Index entries read per trigram to tell a rare one from a common one.
PROBE: Final = 256
# Trigrams: shorter text cannot use the index and is searched by a scan.
MIN_INDEXED: Final = 3
# The index file's own schema; another version is rebuilt, never migrated. 2: it follows
# ``clients_forgotten`` (an index of version 1 may hold forgotten clients: built again).
INDEX_VERSION: Final = 2
ALIAS: Final = "search"  # the index's schema name on a reader's connection

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    # By CMID first: the indexer looks a CMID's entries up whatever the application.
    """CREATE TABLE IF NOT EXISTS client_text_keys (
        id INTEGER PRIMARY KEY,
        application_id TEXT NOT NULL,
        cmid TEXT NOT NULL,
        UNIQUE (cmid, application_id)
    )""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS client_text USING fts5 (
        cmid, machine_name, tokenize = 'trigram', detail = 'none'
    )""",
)
_DROP: Final = ("DROP TABLE IF EXISTS client_text", "DROP TABLE IF EXISTS client_text_keys")

# The clients named by events after the cursor, in every application that has clients.
_NAMED_SINCE: Final = (
    "SELECT a.application_id, e.cmid FROM "
    "(SELECT DISTINCT cmid FROM main.events WHERE seq > ? AND cmid IS NOT NULL) AS e "
    "CROSS JOIN (SELECT DISTINCT application_id FROM main.n_policy_seen) AS a"
)
# (application ID, CMID) of the clients whose indexed text contains every trigram of the
# match expression, and of every client an event after the cursor names: a superset.
CANDIDATES: Final = (
    "SELECT k.application_id AS m_app, k.cmid AS m_cmid FROM search.client_text AS t "  # noqa: S608 (constants only)
    "JOIN search.client_text_keys AS k ON k.id = t.rowid WHERE t.client_text MATCH ? "
    "UNION " + _NAMED_SINCE
)


def index_path(store: Path) -> Path:
    """The search index's file of the store at ``store``."""
    return store.with_name(store.name + "-search")


# -- reading ---------------------------------------------------------------------------


@contextlib.contextmanager
def attached(conn: sqlite3.Connection, *, wanted: bool = True) -> Iterator[None]:
    """The index of the store ``conn`` reads attached read-only as ``search`` for one
    search (when ``wanted`` and it can be), detached after it.

    Attached anew each time, because how depends on the moment: with the index's ``-wal``
    (a host's indexer has it open) ``mode=ro``; without (no host runs) ``immutable``, as
    ``connect_read_only`` opens the store, so that reading never creates a file. Not inside
    a transaction (SQLite refuses), nor when there is no index: the search then scans.
    """
    done = wanted and _attach(conn)
    try:
        yield
    finally:
        if done:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("DETACH DATABASE search")


def _attach(conn: sqlite3.Connection) -> bool:
    attached = {row[1]: row[2] for row in conn.execute("PRAGMA database_list").fetchall()}
    if ALIAS in attached or conn.in_transaction or not attached.get("main"):
        return False
    path = index_path(Path(attached["main"]))
    if not path.is_file():
        return False
    try:
        conn.execute("ATTACH DATABASE ? AS search", (read_only_uri(path),))
    except sqlite3.Error as exc:
        logger.debug("cannot attach the search index %s: %s", path, exc)
        return False
    return True


def _is_attached(conn: sqlite3.Connection) -> bool:
    return any(row[1] == ALIAS for row in conn.execute("PRAGMA database_list").fetchall())


def _quoted(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'


def _share(conn: sqlite3.Connection, gram: str, rows: int) -> float:
    """About which share of the indexed clients hold ``gram``: exact when fewer than
    ``PROBE`` do, else estimated from how close together the first ``PROBE`` rowids are."""
    found = conn.execute(
        "SELECT rowid FROM search.client_text WHERE client_text MATCH ? LIMIT ?",
        (_quoted(gram), PROBE),
    ).fetchall()
    if len(found) < PROBE:
        return len(found) / rows
    return PROBE / (int(found[-1][0]) - int(found[0][0]) + 1)


def match_expression(conn: sqlite3.Connection, text: str) -> str:
    """An FTS5 query for the rows holding the rarest trigrams of ``text`` (3 characters
    or more), rarest first.

    The index keeps no positions (``detail=none``), so the query is trigrams ANDed, each a
    quoted string; the real rows are checked afterwards, so leaving trigrams out only widens
    the candidates. A trigram most names share (``pc-``) would cost a read of a million
    entries: a probe of ``PROBE`` rows per trigram (a fraction of a millisecond) tells the
    rare ones from the common ones, and only the ``KEEP`` rarest are queried.
    """
    grams = list(dict.fromkeys(text[i : i + 3] for i in range(len(text) - 2)))[:MAX_TRIGRAMS]
    (rows,) = conn.execute("SELECT ifnull(max(id), 0) + 1 FROM search.client_text_keys").fetchone()
    grams.sort(key=lambda gram: _share(conn, gram, int(rows)))
    return " AND ".join(_quoted(gram) for gram in grams[:KEEP])


def _cursor(conn: sqlite3.Connection) -> int | None:
    """The index's cursor, or None while it is not usable (scanning, or of another
    version)."""
    state = dict(conn.execute("SELECT key, value FROM search.meta").fetchall())
    if state.get("version") != INDEX_VERSION or state.get("scan") is not None:
        return None
    cursor = state.get("cursor")
    if not isinstance(cursor, int):
        return None
    # Retention may have deleted events after the cursor: their clients are unknown then.
    (oldest,) = conn.execute("SELECT min(seq) FROM main.events").fetchone()
    if oldest is None:
        row = conn.execute("SELECT seq FROM main.sqlite_sequence WHERE name = 'events'").fetchone()
        return cursor if row is None or row[0] <= cursor else None
    return cursor if oldest <= cursor + 1 else None


def candidates(conn: sqlite3.Connection, text: str) -> tuple[str, list[object]] | None:
    """The subquery of possible matches of ``text`` and its parameters; None when the
    index cannot answer (``text`` too short, no index ``attached``, or one still being
    built): the caller scans."""
    if len(text) < MIN_INDEXED or not _is_attached(conn):
        return None
    try:
        cursor = _cursor(conn)
        if cursor is None:
            return None
        return CANDIDATES, [match_expression(conn, text), cursor]
    except sqlite3.DatabaseError as exc:
        logger.warning("the search index failed (%s): searching without it", exc)
        return None


# -- writing ---------------------------------------------------------------------------


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
            self._wake.wait()
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
                self._recover(remove=isinstance(exc, sqlite3.DatabaseError) and _damaged(exc))
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
            if isinstance(exc, sqlite3.OperationalError) and not _damaged(exc):
                raise
            self._remove()
            return self._connect()
        self._conn = conn
        return conn

    def _step(self, conn: sqlite3.Connection, most: int) -> int:
        state = (
            dict(conn.execute("SELECT key, value FROM meta").fetchall()) if _has_meta(conn) else {}
        )
        newest = _newest_seq(conn)
        if not self._matches(conn, state, newest) or not _sound(state):
            self._restart(conn, newest, keep=False)
            state = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if most <= 0:
            return 0
        forgotten = self._take_forgotten(conn, int(state["forgotten"]), most)
        if state.get("scan") is not None:
            return max(forgotten, self._scan(conn, _position(state["scan"]), most))
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
        if not isinstance(forgotten, int) or forgotten > _newest_forgotten(conn):
            return False  # a store older than the index (restored) may hold clients again
        if cursor > newest:
            return False  # the store is older than the index: restored, or another one
        mark = conn.execute(
            "SELECT time, cmid FROM main_store.events WHERE seq = ?", (cursor,)
        ).fetchone()
        # The event at the cursor is the one the index saw (or was deleted since).
        return mark is None or _mark(mark) == state.get("mark")

    def _restart(self, conn: sqlite3.Connection, newest: int, *, keep: bool) -> None:
        """Scan every client from the start; the events from ``newest`` on follow, and the
        clients forgotten from now on. With ``keep``, entries stay and the scan only
        corrects them; the clients forgotten meanwhile are still taken in."""
        if not keep:
            # What the old tables held is overwritten, not only unlinked (``_scrub``).
            conn.execute("PRAGMA secure_delete = ON")
            for statement in _DROP:
                conn.execute(statement)
            conn.execute("DROP TABLE IF EXISTS meta")
            conn.execute("PRAGMA secure_delete = FAST")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT INTO meta VALUES ('forgotten', ?)", (_newest_forgotten(conn),))
            self._scrub_due = True
            logger.info("search index %s: building it from the store's clients", self.path)
        conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("version", INDEX_VERSION), ("scan", _json(["", ""]))],
        )
        self._advance(conn, newest)

    def _advance(self, conn: sqlite3.Connection, cursor: int) -> None:
        mark = conn.execute(
            "SELECT time, cmid FROM main_store.events WHERE seq = ?", (cursor,)
        ).fetchone()
        conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [("cursor", cursor), ("mark", _mark(mark) if mark else None)],
        )

    def _scan(self, conn: sqlite3.Connection, after: tuple[str, str], most: int) -> int:
        rows = conn.execute(
            "SELECT application_id, cmid, machine_name FROM main_store.clients "
            "WHERE (application_id, cmid) > (?, ?) ORDER BY application_id, cmid LIMIT ?",
            (after[0], after[1], most),
        ).fetchall()
        self._write(conn, rows, [cmid for _, cmid, _ in rows], whole=False)
        done = len(rows) < most
        position = None if done else _json(list(rows[-1][:2]))
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
            (_json(cmids),),
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
                "SELECT k.id, k.application_id, k.cmid, t.machine_name FROM json_each(?) AS e "
                "CROSS JOIN client_text_keys AS k ON k.cmid = e.value "
                "LEFT JOIN client_text AS t ON t.rowid = k.id",
                (_json(cmids),),
            ).fetchall()
        }
        (last,) = conn.execute("SELECT ifnull(max(id), 0) FROM client_text_keys").fetchone()
        new: list[tuple[int, str, str]] = []
        stale: list[tuple[int]] = []
        texts: list[tuple[int, str, str]] = []
        for app, cmid, name in rows:
            entry = held.pop((app, cmid), None)
            if entry is None:
                last += 1
                new.append((last, app, cmid))
                texts.append((last, cmid, name))
            elif entry[1] != name:
                stale.append((entry[0],))
                texts.append((entry[0], cmid, name))
        gone = [(key,) for key, _ in held.values()] if whole else []
        conn.executemany("DELETE FROM client_text WHERE rowid = ?", stale + gone)
        conn.executemany("DELETE FROM client_text_keys WHERE id = ?", gone)
        conn.executemany("INSERT INTO client_text_keys VALUES (?, ?, ?)", new)
        conn.executemany(
            "INSERT INTO client_text (rowid, cmid, machine_name) VALUES (?, ?, ?)", texts
        )


def _has_meta(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    return row is not None


def _newest_seq(conn: sqlite3.Connection) -> int:
    """The last event ``seq`` the store gave (deleted or not)."""
    row = conn.execute(
        "SELECT seq FROM main_store.sqlite_sequence WHERE name = 'events'"
    ).fetchone()
    return int(row[0]) if row else 0


def _newest_forgotten(conn: sqlite3.Connection) -> int:
    """The last note ``seq`` of a forgotten client the store gave (deleted or not)."""
    row = conn.execute(
        "SELECT seq FROM main_store.sqlite_sequence WHERE name = 'clients_forgotten'"
    ).fetchone()
    return int(row[0]) if row else 0


def _damaged(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the index file is not a database or is damaged."""
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _position(value: object) -> tuple[str, str]:
    """A scan position as the index stores it: the (application, CMID) last scanned."""
    app, cmid = msgspec.json.decode(str(value), type=tuple[str, str])
    return app, cmid


def _sound(state: dict[object, object]) -> bool:
    """Whether the index's own state reads as this code writes it (a hand-edited or damaged
    index is built again, never trusted)."""
    try:
        if state.get("scan") is not None:
            _position(state["scan"])
    except msgspec.MsgspecError:
        return False
    return isinstance(state.get("forgotten"), int)


def _mark(event: tuple[object, ...]) -> str:
    """What the index keeps of the event at its cursor, to know it again: a digest of its
    time and CMID, not the CMID (which may be a client forgotten since)."""
    return hashlib.blake2b(_json(list(event)).encode(), digest_size=16).hexdigest()


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()
