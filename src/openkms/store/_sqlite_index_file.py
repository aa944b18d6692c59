"""The search index file's own schema and the small reads and checks its writer
(``_sqlite_indexer.SearchIndexer``) makes of it and of the store it follows."""

from __future__ import annotations

import sqlite3

# hashlib's own blake2b, without importing hashlib: that imports OpenSSL (3.5 MiB resident in
# the writer process for as long as the host serves; tests/unit/test_import_weight.py).
from _blake2 import blake2b
from typing import Final

import msgspec

__all__ = [
    "DROP",
    "SCHEMA",
    "UNINDEXED",
    "behind_retention",
    "damaged",
    "has_meta",
    "event_mark",
    "newest_forgotten",
    "newest_seq",
    "scan_position",
    "sound",
    "to_json",
]

SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID",
    # Each indexed client's text, as the index took it in: the FTS5 table below keeps none
    # (contentless), and deleting an entry gives it back the values it indexed. By CMID
    # first: the indexer looks a CMID's entries up whatever the application.
    """CREATE TABLE IF NOT EXISTS client_text_keys (
        id INTEGER PRIMARY KEY,
        application_id TEXT NOT NULL,
        cmid TEXT NOT NULL,
        machine_name TEXT NOT NULL,
        UNIQUE (cmid, application_id)
    )""",
    # Trigrams only: no copy of the text (``content = ''``), no positions (``detail``), no
    # lengths (``columnsize``; nothing is ranked). A third less CPU per new client and a
    # quarter less file than with them (bench/README.md, "The search index, contentless").
    """CREATE VIRTUAL TABLE IF NOT EXISTS client_text USING fts5 (
        cmid, machine_name, tokenize = 'trigram', detail = 'none', content = '',
        columnsize = 0
    )""",
)
# A client of the store the index should hold, as the store has it, and does not: any, among
# the clients no event after the cursor names (those a search takes from the events).
UNINDEXED: Final = """SELECT 1 FROM main_store.clients AS c
    WHERE NOT EXISTS (
        SELECT 1 FROM client_text_keys AS k WHERE k.cmid = c.cmid
        AND k.application_id = c.application_id AND k.machine_name = c.machine_name
    ) AND c.cmid NOT IN (
        SELECT cmid FROM main_store.events WHERE seq > ? AND cmid IS NOT NULL
    ) LIMIT 1"""
DROP: Final = ("DROP TABLE IF EXISTS client_text", "DROP TABLE IF EXISTS client_text_keys")


def has_meta(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    return row is not None


def newest_seq(conn: sqlite3.Connection) -> int:
    """The last event ``seq`` the store gave (deleted or not)."""
    row = conn.execute(
        "SELECT seq FROM main_store.sqlite_sequence WHERE name = 'events'"
    ).fetchone()
    return int(row[0]) if row else 0


def newest_forgotten(conn: sqlite3.Connection) -> int:
    """The last note ``seq`` of a forgotten client the store gave (deleted or not)."""
    row = conn.execute(
        "SELECT seq FROM main_store.sqlite_sequence WHERE name = 'clients_forgotten'"
    ).fetchone()
    return int(row[0]) if row else 0


def damaged(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the index file is not a database, is damaged, or lacks a table
    or a column of this code's (edited by hand)."""
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.InternalError)):
        return True
    text = str(exc).lower()
    return any(sign in text for sign in ("malformed", "not a database", "no such "))


def behind_retention(conn: sqlite3.Connection, cursor: object) -> bool:
    """Whether retention deleted events the index had not taken in (``_step`` scans)."""
    (oldest,) = conn.execute("SELECT min(seq) FROM main_store.events").fetchone()
    return oldest is not None and isinstance(cursor, int) and oldest > cursor + 1


def scan_position(value: object) -> tuple[str, str]:
    """A scan position as the index stores it: the (application, CMID) last scanned."""
    app, cmid = msgspec.json.decode(str(value), type=tuple[str, str])
    return app, cmid


def sound(state: dict[object, object]) -> bool:
    """Whether the index's own state reads as this code writes it (a hand-edited or damaged
    index is built again, never trusted)."""
    try:
        if state.get("scan") is not None:
            scan_position(state["scan"])
    except msgspec.MsgspecError:
        return False
    return isinstance(state.get("forgotten"), int)


def event_mark(event: tuple[object, ...]) -> str:
    """What the index keeps of the event at its cursor, to know it again: a digest of its
    time and CMID, not the CMID (which may be a client forgotten since)."""
    return blake2b(to_json(list(event)).encode(), digest_size=16).hexdigest()


def to_json(value: object) -> str:
    return msgspec.json.encode(value).decode()
