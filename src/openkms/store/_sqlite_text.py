"""The SQLite store's search by substring: an FTS5 trigram index in a file of its own.

The index is derived data, so it lives beside the store (``host.db-search``) and is written
by a thread of the writer's process (``_sqlite_indexer.SearchIndexer``) on its own
connection, never inside a request's transaction: a new client costs the writer nothing
for the search (it cost as much as the rest of its record when the index lived in the
store, bench/README.md), and the index's CPU runs on another core while the writer waits
on its commits.

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
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from openkms.store._sqlite_conn import read_only_uri

__all__ = [
    "ALIAS",
    "INDEX_VERSION",
    "MIN_INDEXED",
    "attached",
    "candidates",
    "index_path",
]

logger = logging.getLogger("openkms.store")

# Trigrams of a text probed at most, and queried at most (the rarest).
MAX_TRIGRAMS: Final = 16
KEEP: Final = 3
# Index entries read per trigram to tell a rare one from a common one.
PROBE: Final = 256
# Trigrams: shorter text cannot use the index and is searched by a scan.
MIN_INDEXED: Final = 3
# The index file's own schema; another version is rebuilt, never migrated. 2: it follows
# ``clients_forgotten`` (an index of version 1 may hold forgotten clients: built again).
# 3: the FTS5 table is contentless, the names are kept with the keys.
INDEX_VERSION: Final = 3
ALIAS: Final = "search"  # the index's schema name on a reader's connection

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
