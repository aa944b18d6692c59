"""A forgotten client leaves the search index file too, not only the answers.

Whatever deletes a client row notes its CMID in the store (``clients_forgotten``, schema
7); the index's thread drops the CMID's entries, overwrites them on disk and truncates its
``-wal``; then the writer deletes the note. These tests read the index file itself: its
FTS5 and key tables by SQL, and its bytes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from admin.test_client_search import APP, T0, found, req
from openkms.core.counting import CountPolicy
from openkms.store import _sqlite_index_file as index_file
from openkms.store import _sqlite_indexer as indexer
from openkms.store import _sqlite_text as text
from openkms.store._sqlite_conn import connect_reader, connect_writer
from openkms.store._sqlite_schema import MIGRATIONS
from openkms.store._sqlite_writer import BatchWriter, Forget

GONE = "cmid-0042-gone"
GONE_NAME = "desk-0042-private"


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[BatchWriter]:
    path = tmp_path / "host.db"
    batch_writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    yield batch_writer
    batch_writer.close()


def fill(writer: BatchWriter, clients: int = 300) -> None:
    writer.commit([req(f"cmid-{i:04d}-gone", f"desk-{i:04d}-private") for i in range(clients)])


def index_rows(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` on the index file of the store at ``path``, opened directly."""
    conn = sqlite3.connect(f"{text.index_path(path).as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def held(path: Path, cmid: str, name: str) -> dict[str, int]:
    """How often the index file holds ``cmid`` and ``name``: by key, by FTS5 match of a
    substring, by the name kept with the keys, and in the bytes of the file and its -wal."""
    index = text.index_path(path)
    raw = b"".join(
        f.read_bytes() for f in (index, index.with_name(index.name + "-wal")) if f.exists()
    )
    return {
        "keys": len(index_rows(path, "SELECT id FROM client_text_keys WHERE cmid = ?", cmid)),
        "match": len(
            index_rows(
                path,
                "SELECT rowid FROM client_text WHERE client_text MATCH ?",
                trigrams(cmid[2:-2]) + " AND " + trigrams(name[2:-2]),
            )
        ),
        "names": len(
            index_rows(path, "SELECT id FROM client_text_keys WHERE machine_name = ?", name)
        ),
        "bytes": raw.count(cmid.encode()) + raw.count(name.encode()),
    }


def trigrams(part: str) -> str:
    """An FTS5 query for the rows holding every trigram of ``part`` (no phrases with
    ``detail=none``)."""
    return " AND ".join(f'"{part[i : i + 3]}"' for i in range(len(part) - 2))


NOTHING = {"keys": 0, "match": 0, "names": 0, "bytes": 0}


def notes(writer: BatchWriter) -> list[str]:
    return [cmid for (cmid,) in writer.conn.execute("SELECT cmid FROM clients_forgotten")]


def housekeep(writer: BatchWriter) -> None:
    while writer.housekeeping_due:
        writer.housekeep()


def search(path: Path, query: str) -> list[str]:
    """The CMIDs the admin search finds in the store at ``path``."""
    conn = connect_reader(path)
    try:
        return found(conn, query)
    finally:
        conn.close()


def candidates_of(path: Path, query: str) -> list[str]:
    """The CMIDs a search reads from the index (before checking each against its row)."""
    conn = connect_reader(path)
    try:
        with text.attached(conn):
            found_sql = text.candidates(conn, query)
            assert found_sql is not None
            sql, params = found_sql
            return [cmid for _, cmid in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def test_a_forgotten_client_is_gone_from_the_index_file_once_it_caught_up(
    writer: BatchWriter,
) -> None:
    fill(writer)
    # Its request is the last event the index takes in: the index's mark of the event at
    # its cursor must not keep its CMID either.
    writer.commit([req(GONE, GONE_NAME, T0 + 60)])
    writer.search.catch_up()
    before = held(writer.path, GONE, GONE_NAME)
    assert before.pop("bytes") > 0 and before == {"keys": 1, "match": 1, "names": 1}
    assert writer.commit([Forget(APP, GONE)]) == [True]
    assert notes(writer) == [GONE]
    assert search(writer.path, "0042") == []  # at once, by the row check
    writer.search.catch_up()
    assert held(writer.path, GONE, GONE_NAME) == NOTHING
    # A search neither shows it nor reads an entry of it.
    assert GONE not in candidates_of(writer.path, "0042-gone")
    assert candidates_of(writer.path, "sk-0042") == []
    # The other clients are all still there, on disk too.
    assert held(writer.path, "cmid-0043-gone", "desk-0043-private")["keys"] == 1
    assert len(index_rows(writer.path, "SELECT id FROM client_text_keys")) == 299
    # The writer deletes its note once the index holds the removal on disk.
    assert writer.search.forgotten_done == 1 and writer.housekeeping_due
    housekeep(writer)
    assert notes(writer) == []


def test_every_delete_of_a_client_row_is_noted(writer: BatchWriter) -> None:
    fill(writer, 3)
    writer.search.catch_up()
    writer.conn.execute("DELETE FROM clients WHERE cmid <> 'cmid-0001-gone'")
    assert sorted(notes(writer)) == ["cmid-0000-gone", "cmid-0002-gone"]
    writer.search.catch_up()
    assert held(writer.path, "cmid-0000-gone", "desk-0000-private") == NOTHING
    assert held(writer.path, "cmid-0001-gone", "desk-0001-private")["keys"] == 1
    # A request (an upsert) notes nothing.
    writer.commit([req("cmid-0001-gone", "desk-0001-private", T0 + 60)])
    housekeep(writer)
    assert notes(writer) == []


def test_a_client_forgotten_then_seen_again_is_indexed_as_it_is_now(
    writer: BatchWriter,
) -> None:
    fill(writer, 3)
    writer.search.catch_up()
    writer.commit([Forget(APP, "cmid-0001-gone"), req("cmid-0001-gone", "laptop-new", T0 + 60)])
    writer.search.catch_up()
    old_name = "SELECT id FROM client_text_keys WHERE machine_name = 'desk-0001-private'"
    assert index_rows(writer.path, old_name) == []
    ((key, name),) = index_rows(
        writer.path,
        "SELECT id, machine_name FROM client_text_keys WHERE cmid = ?",
        "cmid-0001-gone",
    )
    assert name == "laptop-new"
    match = "SELECT rowid FROM client_text WHERE client_text MATCH ?"
    assert index_rows(writer.path, match, trigrams("laptop-new")) == [(key,)]
    assert index_rows(writer.path, match, trigrams("0001-private")) == []
    assert b"desk-0001-private" not in text.index_path(writer.path).read_bytes()


_FORGET_AND_DIE = """
import os, sys
from pathlib import Path
from openkms.core.counting import CountPolicy
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import BatchWriter, Forget
path = Path(sys.argv[1])
writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
if sys.argv[2] == "after-index":
    writer.commit([Forget("app", "cmid-0042-gone")])
    writer.search.catch_up()
else:
    writer.search.catch_up()
    writer.commit([Forget("app", "cmid-0042-gone")])
os._exit(9)  # killed: no close, no housekeeping
"""


@pytest.mark.parametrize("killed", ["before-index", "after-index"])
def test_a_host_killed_after_the_forget_loses_no_removal(tmp_path: Path, killed: str) -> None:
    path = tmp_path / "host.db"
    first = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    fill(first)
    first.search.catch_up()
    first.close()
    died = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FORGET_AND_DIE), str(path), killed],
        env={**os.environ},
        check=False,
    )
    assert died.returncode == 9
    again = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    try:
        assert notes(again) == [GONE]  # the note survived the kill
        # Killed before its step, the index still holds the client; after, it does not.
        assert held(path, GONE, GONE_NAME)["keys"] == (killed == "before-index")
        again.search.catch_up()
        assert held(path, GONE, GONE_NAME) == NOTHING
        housekeep(again)
        assert notes(again) == []
    finally:
        again.close()


def test_a_note_is_kept_until_the_index_took_it_in(writer: BatchWriter) -> None:
    fill(writer, 3)
    writer.search.catch_up()
    housekeep(writer)
    writer.commit([Forget(APP, "cmid-0002-gone")])
    housekeep(writer)  # the index has not taken it in: the note stays
    assert notes(writer) == ["cmid-0002-gone"]
    writer.close()  # closing deletes only what the index has taken in
    again = BatchWriter(connect_writer(writer.path), writer.path, CountPolicy(), 10_000)
    try:
        assert notes(again) == ["cmid-0002-gone"]
        again.search.catch_up()
        again.close()
        conn = connect_reader(writer.path)
        assert conn.execute("SELECT count(*) FROM clients_forgotten").fetchone() == (0,)
        conn.close()
    finally:
        writer.conn = connect_writer(writer.path)  # for the fixture's close
        writer.search = indexer.SearchIndexer(writer.path)


def test_clients_forgotten_while_the_index_is_built_from_scratch(writer: BatchWriter) -> None:
    fill(writer, 3000)
    assert writer.search.step(1000) == 1000  # scanned up to cmid-0999
    writer.commit([Forget(APP, "cmid-0500-gone"), Forget(APP, "cmid-2500-gone")])
    writer.search.catch_up()
    assert held(writer.path, "cmid-0500-gone", "desk-0500-private") == NOTHING
    assert held(writer.path, "cmid-2500-gone", "desk-2500-private") == NOTHING
    assert len(index_rows(writer.path, "SELECT id FROM client_text_keys")) == 2998
    # Rebuilt from nothing: the forgotten clients never come back.
    writer.search.close()
    text.index_path(writer.path).unlink()
    writer.search = indexer.SearchIndexer(writer.path)
    writer.search.catch_up()
    assert len(index_rows(writer.path, "SELECT id FROM client_text_keys")) == 2998
    housekeep(writer)
    assert notes(writer) == []


def test_events_deleted_before_the_index_took_them_in_keep_the_forget(tmp_path: Path) -> None:
    path = tmp_path / "host.db"
    small = BatchWriter(connect_writer(path), path, CountPolicy(), 50)
    try:
        fill(small, 40)
        small.search.catch_up()
        small.commit([Forget(APP, "cmid-0007-gone")])
        small.commit([req(f"new-{i}", f"new-{i}") for i in range(60)])  # retention deletes
        small.search.catch_up()
        assert held(path, "cmid-0007-gone", "desk-0007-private") == NOTHING
        assert len(index_rows(path, "SELECT id FROM client_text_keys")) == 99
    finally:
        small.close()


def test_a_store_restored_from_before_a_forget_is_indexed_again(writer: BatchWriter) -> None:
    fill(writer, 3)
    writer.search.catch_up()
    backup = writer.path.with_name("backup.db")
    writer.conn.execute("VACUUM INTO ?", (str(backup),))
    writer.commit([Forget(APP, "cmid-0001-gone")])
    writer.search.catch_up()
    housekeep(writer)
    writer.close()
    for suffix in ("-wal", "-shm"):
        writer.path.with_name(writer.path.name + suffix).unlink(missing_ok=True)
    backup.replace(writer.path)
    restored = BatchWriter(connect_writer(writer.path), writer.path, CountPolicy(), 10_000)
    try:
        restored.search.catch_up()
        assert held(writer.path, "cmid-0001-gone", "desk-0001-private")["keys"] == 1
        assert search(writer.path, "0001-gone") == ["cmid-0001-gone"]
    finally:
        restored.close()
        writer.conn = connect_writer(writer.path)
        writer.search = indexer.SearchIndexer(writer.path)


def test_an_index_of_a_store_of_schema_6_loses_its_forgotten_clients(tmp_path: Path) -> None:
    """An index kept by an older version still holds the clients forgotten then: it is
    of index version 1, so it is built again, without them, once the store is migrated."""
    path = tmp_path / "host.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for version, statements in enumerate(MIGRATIONS[:6], start=1):
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO clients VALUES (?, 'kept-1', 'act', 'desk-kept', ?, ?, 1, 5, 1, NULL)",
        (APP, T0, T0),
    )
    conn.execute(f"INSERT INTO n_policy_seen VALUES ('{APP}', 5, {T0})")
    conn.close()
    index = sqlite3.connect(text.index_path(path), isolation_level=None)
    for statement in index_file.SCHEMA:
        index.execute(statement)
    index.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("version", 1), ("cursor", 0), ("mark", None)]
    )
    index.execute(f"INSERT INTO client_text_keys VALUES (1, '{APP}', '{GONE}', '{GONE_NAME}')")
    index.execute(
        f"INSERT INTO client_text (rowid, cmid, machine_name) VALUES (1, '{GONE}', '{GONE_NAME}')"
    )
    index.close()
    assert held(path, GONE, GONE_NAME)["keys"] == 1
    migrated = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    try:
        migrated.search.catch_up()
        assert held(path, GONE, GONE_NAME) == NOTHING
        assert index_rows(path, "SELECT cmid FROM client_text_keys") == [("kept-1",)]
    finally:
        migrated.close()
