"""The SQLite store's search by substring: an FTS5 trigram index fed from a queue.

Triggers (schema 4) queue every client whose CMID or machine name may have changed in
``client_text_queue``, inside the request's transaction, which costs a row; the writer
indexes the queue between batches, ``INDEX_STEP`` clients per transaction
(``index_step``), so the index's CPU (as much as an activation per client) never delays a
request's commit. It waits until a whole step is queued (``backlog``), or ``INDEX_DELAY``
has passed since its last step: each step's transaction writes a new FTS5 segment that
later merges rewrite, so indexing a few clients at a time costs twice as much per client.
A search takes the index's candidates plus every queued client and checks
each against the real row, so it is complete and exact whatever the queue holds.
"""

from __future__ import annotations

import sqlite3
from typing import Final

__all__ = [
    "INDEX_DELAY",
    "INDEX_STEP",
    "MIN_INDEXED",
    "backlog",
    "candidates",
    "index_step",
    "match_expression",
    "pending",
]

# Clients indexed per housekeeping transaction: a few milliseconds of the writer's time.
INDEX_STEP: Final = 128
# Seconds after its last step the writer indexes a queue shorter than a step (a quiet
# host's few new clients); until then a search scans them in the queue.
INDEX_DELAY = 1.0
# Trigrams of a text probed at most, and queried at most (the rarest).
MAX_TRIGRAMS: Final = 16
KEEP: Final = 3
# Index entries read per trigram to tell a rare one from a common one.
PROBE: Final = 256
# Trigrams: shorter text cannot use the index and is searched by a scan.
MIN_INDEXED: Final = 3

# (application ID, CMID) of the clients whose indexed text contains every trigram of the
# match expression, and of every queued client: a superset of the matches.
CANDIDATES: Final = (
    "SELECT k.application_id AS m_app, k.cmid AS m_cmid FROM client_text AS t "
    "JOIN client_text_keys AS k ON k.id = t.rowid WHERE client_text MATCH ? "
    "UNION SELECT application_id, cmid FROM client_text_queue"
)


def _quoted(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'


def _share(conn: sqlite3.Connection, gram: str, rows: int) -> float:
    """About which share of the indexed clients hold ``gram``: exact when fewer than
    ``PROBE`` do, else estimated from how close together the first ``PROBE`` rowids are."""
    found = conn.execute(
        "SELECT rowid FROM client_text WHERE client_text MATCH ? LIMIT ?", (_quoted(gram), PROBE)
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
    (rows,) = conn.execute("SELECT ifnull(max(id), 0) + 1 FROM client_text_keys").fetchone()
    grams.sort(key=lambda gram: _share(conn, gram, int(rows)))
    return " AND ".join(_quoted(gram) for gram in grams[:KEEP])


def candidates(conn: sqlite3.Connection, text: str) -> tuple[str, list[object]] | None:
    """The subquery of possible matches of ``text`` and its parameters; None when ``text``
    is too short for the index (the caller scans)."""
    if len(text) < MIN_INDEXED:
        return None
    return CANDIDATES, [match_expression(conn, text)]


def pending(conn: sqlite3.Connection) -> bool:
    """Whether clients wait in the queue."""
    return conn.execute("SELECT 1 FROM client_text_queue LIMIT 1").fetchone() is not None


def backlog(conn: sqlite3.Connection) -> bool:
    """Whether a whole step (``INDEX_STEP`` clients) waits in the queue."""
    (queued,) = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM client_text_queue LIMIT ?)", (INDEX_STEP,)
    ).fetchone()
    return int(queued) >= INDEX_STEP


def index_step(conn: sqlite3.Connection, most: int = INDEX_STEP) -> int:
    """Index up to ``most`` queued clients in the open transaction; how many it took."""
    queued = conn.execute(
        "SELECT q.application_id, q.cmid, c.machine_name FROM client_text_queue AS q "
        "LEFT JOIN clients AS c USING (application_id, cmid) LIMIT ?",
        (most,),
    ).fetchall()
    for application_id, cmid, name in queued:
        _reindex(conn, application_id, cmid, name)
    conn.executemany(
        "DELETE FROM client_text_queue WHERE application_id = ? AND cmid = ?",
        [(application_id, cmid) for application_id, cmid, _ in queued],
    )
    return len(queued)


def _reindex(conn: sqlite3.Connection, application_id: str, cmid: str, name: str | None) -> None:
    """Make the index hold ``name`` for the client (or nothing when it is gone)."""
    row = conn.execute(
        "SELECT id FROM client_text_keys WHERE application_id = ? AND cmid = ?",
        (application_id, cmid),
    ).fetchone()
    if row is not None:
        (key,) = row
        conn.execute("DELETE FROM client_text WHERE rowid = ?", (key,))
        if name is None:
            conn.execute("DELETE FROM client_text_keys WHERE id = ?", (key,))
            return
    elif name is None:
        return
    else:
        key = conn.execute(
            "INSERT INTO client_text_keys (application_id, cmid) VALUES (?, ?)",
            (application_id, cmid),
        ).lastrowid
    conn.execute(
        "INSERT INTO client_text (rowid, cmid, machine_name) VALUES (?, ?, ?)", (key, cmid, name)
    )
