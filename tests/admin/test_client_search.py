"""The SQLite store's search by substring: an FTS5 trigram index in its own file, kept from
the store's events by a thread of the writer's process.

A search must be complete and exact whatever the index holds: nothing yet, part of the
events, a store it does not match, new, renamed or forgotten clients, text too short for
trigrams, and text holding the index's or LIKE's special characters.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import format_client_time, make_event
from openkms.store import _sqlite_admin as admin
from openkms.store import _sqlite_indexer as indexer
from openkms.store import _sqlite_text as text
from openkms.store._sqlite_conn import connect_read_only, connect_reader, connect_writer
from openkms.store._sqlite_writer import BatchWriter, Forget
from openkms.store.base import ClientSearch, RequestRecord

T0 = 1_800_000_000
APP = "app"


def req(cmid: str, name: str, t: int = T0, app: str = APP) -> RequestRecord:
    event = make_event(12290, t, ["0x0", 5, name, cmid, format_client_time(t), 0, 1, 0, "act"])
    return RequestRecord(t, "host", app, "act", cmid, name, 1, 5, ResultCode.OK, event)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[BatchWriter]:
    path = tmp_path / "host.db"
    batch_writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    yield batch_writer
    batch_writer.close()


@pytest.fixture
def reader(writer: BatchWriter) -> Iterator[sqlite3.Connection]:
    conn = connect_reader(writer.path)
    yield conn
    conn.close()


def found(conn: sqlite3.Connection, query: str) -> list[str]:
    page = admin.search_clients(
        conn, ClientSearch(text=query, sort="cmid", descending=False, limit=1000)
    )
    assert page.total == len(page.clients)
    return [c.cmid for c in page.clients]


def eventually(condition: Callable[[], bool]) -> None:
    """Wait (10 s at most) for ``condition``, which a thread makes true."""
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def uses_index(conn: sqlite3.Connection) -> bool:
    """Whether a search on ``conn`` would take the index's candidates now."""
    with text.attached(conn):
        return text.candidates(conn, "abc") is not None


def indexed(writer: BatchWriter) -> int:
    conn = sqlite3.connect(text.index_path(writer.path))
    try:
        (rows,) = conn.execute("SELECT count(*) FROM client_text_keys").fetchone()
    except sqlite3.OperationalError:  # opened, its tables not made yet
        return 0
    finally:
        conn.close()
    return int(rows)


def test_searches_are_complete_before_and_after_indexing(
    writer: BatchWriter, reader: sqlite3.Connection
) -> None:
    writer.commit([req(f"c{i:03d}", f"PC-{i:03d}") for i in range(300)])
    queries = ("pc-01", "C01", "c2", "zz", "-29")
    # No index yet: the search scans, and says the same as it will with the index.
    assert not text.index_path(writer.path).exists() and not uses_index(reader)
    before = [found(reader, q) for q in queries]
    writer.search.catch_up()
    assert uses_index(reader) and indexed(writer) == 300
    assert stat.S_IMODE(text.index_path(writer.path).stat().st_mode) == 0o600  # names, CMIDs
    assert [found(reader, q) for q in queries] == before
    assert before[0] == [f"c{i:03d}" for i in range(10, 20)]
    assert before[3] == []
    # A renamed client: found by its new name only, before and after the index sees it.
    writer.commit([req("c010", "laptop-9", T0 + 60)])
    assert "c010" not in found(reader, "pc-010") and found(reader, "ptop-") == ["c010"]
    writer.search.catch_up()
    assert "c010" not in found(reader, "pc-010") and found(reader, "ptop-") == ["c010"]
    # A forgotten client: gone from every answer at once, from the index once it caught
    # up (tests/admin/test_forget_search_index.py); back under another application later.
    writer.commit([Forget(APP, "c011")])
    assert found(reader, "PC-011") == []
    writer.search.catch_up()
    assert found(reader, "PC-011") == [] and indexed(writer) == 299
    writer.commit([req("c011", "back-1", T0 + 60, app="other")])
    assert found(reader, "PC-011") == [] and found(reader, "back-") == ["c011"]
    writer.search.catch_up()
    assert indexed(writer) == 300 and found(reader, "back-") == ["c011"]


def test_the_index_is_built_from_the_clients_in_steps(
    writer: BatchWriter, reader: sqlite3.Connection
) -> None:
    writer.commit([req(f"c{i}", f"pc-{i}") for i in range(250)])
    assert writer.search.step(100) == 100  # a scan: no index to use until it is done
    assert not uses_index(reader) and len(found(reader, "pc-1")) == 111
    assert writer.search.step(100) == 100
    assert writer.search.step(100) == 50  # the scan's end
    assert uses_index(reader)
    assert writer.search.step(100) == 0  # and no event after it
    assert indexed(writer) == 250 and len(found(reader, "pc-1")) == 111


def test_a_cmid_of_two_applications_is_indexed_under_both(
    writer: BatchWriter, reader: sqlite3.Connection
) -> None:
    writer.commit([req("shared", "one-1", app="a"), req("shared", "two-2", app="b")])
    while writer.search.step(1):  # a scan, one client per step, then the events
        pass
    assert indexed(writer) == 2
    assert found(reader, "one-") == ["shared"] and found(reader, "two-") == ["shared"]
    writer.commit([req("shared", "three-3", T0 + 60, app="b")])
    writer.search.catch_up()
    assert indexed(writer) == 2 and found(reader, "one-") == ["shared"]
    assert found(reader, "two-") == [] and found(reader, "three") == ["shared"]


def test_an_index_of_another_store_is_built_again(
    tmp_path: Path, writer: BatchWriter, reader: sqlite3.Connection
) -> None:
    writer.commit([req(f"a{i}", f"alpha-{i}") for i in range(20)])
    writer.search.catch_up()
    assert indexed(writer) == 20
    # The store is replaced by another (a restored backup) while the index stays.
    other = tmp_path / "other.db"
    other_writer = BatchWriter(connect_writer(other), other, CountPolicy(), 10_000)
    other_writer.commit([req(f"b{i}", f"beta-{i}") for i in range(30)])
    other_writer.close()
    writer.search.close()
    text.index_path(other).unlink(missing_ok=True)
    text.index_path(writer.path).rename(text.index_path(other))
    restored = indexer.SearchIndexer(other)
    try:
        restored.catch_up()
    finally:
        restored.close()
    conn = connect_reader(other)
    try:
        assert uses_index(conn)
        assert found(conn, "alpha") == [] and len(found(conn, "beta-")) == 30
        with text.attached(conn):
            (rows,) = conn.execute("SELECT count(*) FROM search.client_text_keys").fetchone()
        assert rows == 30
    finally:
        conn.close()


def test_events_deleted_before_the_index_took_them_in_mean_a_scan(tmp_path: Path) -> None:
    path = tmp_path / "host.db"
    writer = BatchWriter(connect_writer(path), path, CountPolicy(), 50)  # keeps 50 events
    reader = connect_reader(path)
    try:
        writer.search.catch_up()
        for i in range(4):
            writer.commit([req(f"c{i}-{j}", f"pc-{i}-{j}") for j in range(40)])
        assert len(found(reader, "pc-0-")) == 40  # its events are gone: found by the scan
        writer.search.catch_up()
        assert uses_index(reader) and indexed(writer) == 160
        assert len(found(reader, "pc-0-")) == 40
    finally:
        reader.close()
        writer.close()


def test_a_damaged_index_is_built_again(
    writer: BatchWriter, reader: sqlite3.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    writer.commit([req(f"c{i}", f"pc-{i}") for i in range(10)])
    writer.search.catch_up()
    writer.search.close()
    reader.close()
    text.index_path(writer.path).write_bytes(b"not a database at all" * 100)
    conn = connect_reader(writer.path)
    try:
        assert len(found(conn, "pc-")) == 10  # a garbage index: the search scans
        assert not uses_index(conn)
        with caplog.at_level(logging.WARNING, logger="openkms.store"):
            writer.search.catch_up()
        assert "damaged" in caplog.text
        assert indexed(writer) == 10
        assert uses_index(conn) and len(found(conn, "pc-")) == 10
    finally:
        conn.close()


def test_a_failing_index_never_fails_a_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer, "INDEX_DELAY", 0.0)
    monkeypatch.setattr(indexer, "RETRY_DELAY", 0.05)
    path = tmp_path / "host.db"
    text.index_path(path).mkdir()  # the index cannot be opened
    writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    writer.start_indexing()
    try:
        with caplog.at_level(logging.WARNING, logger="openkms.store"):
            for i in range(5):
                assert writer.commit([req(f"c{i}", f"pc-{i}")]) == [i + 1]
            eventually(lambda: "search index" in caplog.text)
        assert "trying again later" in caplog.text
        reader = connect_reader(path)
        try:
            assert found(reader, "pc-") == [f"c{i}" for i in range(5)]
        finally:
            reader.close()
    finally:
        writer.close()


def test_the_thread_keeps_the_index_up_to_date(
    writer: BatchWriter, reader: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer, "INDEX_DELAY", 0.01)
    writer.start_indexing()
    # Open from the start: readers attach a live index, never an immutable snapshot.
    assert text.index_path(writer.path).with_name("host.db-search-wal").exists()
    writer.commit([req(f"c{i}", f"pc-{i}") for i in range(50)])
    eventually(
        lambda: (
            text.index_path(writer.path).exists() and uses_index(reader) and indexed(writer) == 50
        )
    )
    assert indexed(writer) == 50 and len(found(reader, "pc-")) == 50


def test_a_read_only_search_creates_no_file(writer: BatchWriter) -> None:
    writer.commit([req(f"c{i}", f"pc-{i}") for i in range(10)])
    writer.search.catch_up()
    writer.close()
    files = sorted(p.name for p in writer.path.parent.iterdir())
    conn = connect_read_only(writer.path)
    try:
        assert uses_index(conn) and len(found(conn, "pc-")) == 10
    finally:
        conn.close()
    assert sorted(p.name for p in writer.path.parent.iterdir()) == files


NAMES = st.text(st.sampled_from('ab"%_\\*-: éÉ'), min_size=1, max_size=24)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    names=st.lists(NAMES, min_size=1, max_size=12),
    query=NAMES,
    indexed_events=st.integers(0, 12),
)
def test_search_finds_exactly_the_substrings(
    tmp_path: Path, names: list[str], query: str, indexed_events: int
) -> None:
    """Whatever the characters and however much is indexed: exactly LIKE's answer (ASCII
    case folded, other letters as they are)."""
    path = tmp_path / "host.db"
    for suffix in ("", "-search"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    writer.search.catch_up()  # the index of the empty store, then part of the events
    writer.commit([req(f"cmid-{i:02d}", name) for i, name in enumerate(names)])
    writer.search.step(indexed_events)
    reader = connect_reader(path)
    try:

        def fold(s: str) -> str:
            return "".join(c.lower() if c.isascii() else c for c in s)

        expected = [
            f"cmid-{i:02d}"
            for i, name in enumerate(names)
            if fold(query) in fold(name) or fold(query) in f"cmid-{i:02d}"
        ]
        assert found(reader, query) == expected
    finally:
        reader.close()
        writer.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [("scan", "garbage"), ("scan", '["only-one"]'), ("cursor", "x"), ("version", 99)],
)
def test_an_index_edited_by_hand_is_built_again(
    writer: BatchWriter, reader: sqlite3.Connection, key: str, value: object
) -> None:
    writer.commit([req(f"c{i}", f"pc-{i}") for i in range(20)])
    writer.search.catch_up()
    writer.search.close()
    edit = sqlite3.connect(text.index_path(writer.path), isolation_level=None)
    try:
        edit.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        edit.execute("DELETE FROM client_text_keys WHERE id <= 5")  # and entries lost
    finally:
        edit.close()
    assert len(found(reader, "pc-")) == 20  # never trusted: the search scans meanwhile
    writer.search.catch_up()
    assert uses_index(reader) and indexed(writer) == 20 and len(found(reader, "pc-")) == 20


def test_the_thread_survives_a_failing_step(
    writer: BatchWriter,
    reader: sqlite3.Connection,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(indexer, "INDEX_DELAY", 0.01)
    monkeypatch.setattr(indexer, "RETRY_DELAY", 0.01)
    real_step = indexer.SearchIndexer._step
    failures = [RuntimeError("a bug")]

    def step(self: indexer.SearchIndexer, conn: sqlite3.Connection, most: int) -> int:
        if failures:
            raise failures.pop()
        return real_step(self, conn, most)

    monkeypatch.setattr(indexer.SearchIndexer, "_step", step)
    with caplog.at_level(logging.WARNING, logger="openkms.store"):
        writer.start_indexing()
        writer.commit([req(f"c{i}", f"pc-{i}") for i in range(30)])
        eventually(lambda: text.index_path(writer.path).exists() and indexed(writer) == 30)
    assert "building it again" in caplog.text and indexed(writer) == 30
    assert len(found(reader, "pc-")) == 30


def test_a_lasting_failure_is_retried_less_and_less_often(
    writer: BatchWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that always fails (a bug, a disk that stays full): retried after 1, 2, 4 ...
    delays, never in a loop that would rebuild the index over and over."""
    monkeypatch.setattr(indexer, "INDEX_DELAY", 0.0)
    monkeypatch.setattr(indexer, "RETRY_DELAY", 0.01)
    monkeypatch.setattr(indexer, "RETRY_MOST", 0.16)
    attempts: list[float] = []

    def step(self: indexer.SearchIndexer, conn: sqlite3.Connection, most: int) -> int:
        attempts.append(time.monotonic())
        raise RuntimeError("a lasting bug")

    monkeypatch.setattr(indexer.SearchIndexer, "_step", step)
    writer.start_indexing()
    eventually(lambda: len(attempts) >= 6)
    writer.search.close()
    assert len(attempts) >= 6
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[4] >= 0.16  # after waits of 0.01, 0.02, 0.04 and 0.08 s, RETRY_MOST
    assert gaps[0] < gaps[4]
