"""A search index file edited by a local user: a search still answers what a scan of the
clients answers (its candidates are checked against the real rows, so the danger is a
client *missing* from the index), and the index is built again; the writer goes on
committing requests whatever the file holds.

Each edit is made while the host is stopped; the next host (a new ``BatchWriter`` indexing
from its thread) must notice it at its first step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from admin.test_client_search import eventually, found, req, uses_index
from openkms.core.counting import CountPolicy
from openkms.store import _sqlite_indexer as indexer
from openkms.store import _sqlite_text as text
from openkms.store._sqlite_conn import connect_reader, connect_writer
from openkms.store._sqlite_writer import BatchWriter

CLIENTS = 60
EXPECTED = [f"c{i:03d}" for i in range(CLIENTS)]


def _sql(*statements: str) -> Callable[[Path], None]:
    def edit(index: Path) -> None:
        conn = sqlite3.connect(index, isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement)
        finally:
            conn.close()

    return edit


def _bytes(make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(index: Path) -> None:
        index.write_bytes(make(index.read_bytes()))

    return edit


EDITS = {
    "a key deleted": _sql("DELETE FROM client_text_keys WHERE id = 7"),
    "keys deleted": _sql("DELETE FROM client_text_keys WHERE id % 3 = 0"),
    "a key's CMID changed": _sql("UPDATE client_text_keys SET cmid = 'zz' WHERE id = 7"),
    "a key's application changed": _sql(
        "UPDATE client_text_keys SET application_id = 'x' WHERE id = 7"
    ),
    "a key's name changed": _sql("UPDATE client_text_keys SET machine_name = 'x' WHERE id = 7"),
    "a key duplicated elsewhere": _sql(
        "INSERT INTO client_text_keys SELECT 1000, 'other', cmid, machine_name "
        "FROM client_text_keys WHERE id = 7",
        "DELETE FROM client_text_keys WHERE id = 7",
    ),
    "meta of the wrong types": _sql(
        "UPDATE meta SET value = x'00' WHERE key = 'forgotten'",
        "UPDATE meta SET value = '3' WHERE key = 'version'",
    ),
    "meta's scan position garbage": _sql("INSERT OR REPLACE INTO meta VALUES ('scan', '[1')"),
    "meta dropped": _sql("DROP TABLE meta"),
    "the FTS5 table dropped": _sql("DROP TABLE client_text"),
    "the keys dropped": _sql("DROP TABLE client_text_keys"),
    "client_text_data zeroed": _sql("UPDATE client_text_data SET block = x'00000000' WHERE id > 1"),
    "client_text_data rows deleted": _sql("DELETE FROM client_text_data WHERE id > 10"),
    "client_text_idx emptied": _sql("DELETE FROM client_text_idx"),
    "the file truncated": _bytes(lambda data: data[: len(data) // 2]),
    "the file garbage": _bytes(lambda data: b"\x5a" * len(data)),
}


def _writer(path: Path) -> BatchWriter:
    writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    writer.start_indexing()
    return writer


@pytest.mark.parametrize("edit", list(EDITS.values()), ids=list(EDITS))
def test_an_edited_index_never_hides_a_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Callable[[Path], None]
) -> None:
    monkeypatch.setattr(indexer, "INDEX_DELAY", 0.01)
    monkeypatch.setattr(indexer, "RETRY_DELAY", 0.01)
    path = tmp_path / "host.db"
    writer = _writer(path)
    writer.commit([req(f"c{i:03d}", f"pc-{i:03d}") for i in range(CLIENTS)])
    writer.search.catch_up()
    writer.close()
    index = text.index_path(path)
    for suffix in ("-wal", "-shm"):
        index.with_name(index.name + suffix).unlink(missing_ok=True)
    edit(index)
    writer = _writer(path)
    reader = connect_reader(path)
    try:
        # The writer serves whatever the index file holds.
        assert len(writer.commit([req("c900", "laptop-900")])) == 1
        eventually(lambda: uses_index(reader) and found(reader, "pc-0") == EXPECTED)
        assert uses_index(reader)
        assert found(reader, "pc-0") == EXPECTED
        assert found(reader, "ptop-9") == ["c900"]
    finally:
        reader.close()
        writer.close()


def test_an_index_edited_while_the_host_serves_is_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer, "INDEX_DELAY", 0.01)
    monkeypatch.setattr(indexer, "VERIFY_EVERY", 0.0)  # every step checks
    path = tmp_path / "host.db"
    writer = _writer(path)
    reader = connect_reader(path)
    try:
        writer.commit([req(f"c{i:03d}", f"pc-{i:03d}") for i in range(CLIENTS)])
        eventually(lambda: uses_index(reader) and found(reader, "pc-0") == EXPECTED)
        _sql("DELETE FROM client_text_keys WHERE id < 20")(text.index_path(path))
        assert found(reader, "pc-0") != EXPECTED  # what the edit did, until a step
        writer.commit([req("c900", "laptop-900")])
        eventually(lambda: found(reader, "pc-0") == EXPECTED)
        assert found(reader, "pc-0") == EXPECTED and uses_index(reader)
    finally:
        reader.close()
        writer.close()
