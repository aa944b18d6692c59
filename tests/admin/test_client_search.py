"""The SQLite store's search by substring: an FTS5 trigram index fed from a queue.

A search must be complete and exact whatever the queue holds: clients not yet indexed, new,
renamed or forgotten ones, text too short for trigrams, and text holding the index's or
LIKE's special characters.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import format_client_time, make_event
from openkms.store import _sqlite_admin as admin
from openkms.store import _sqlite_text as text
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import BatchWriter, Forget
from openkms.store.base import ClientSearch, RequestRecord

T0 = 1_800_000_000
APP = "app"


def req(cmid: str, name: str, t: int = T0) -> RequestRecord:
    event = make_event(12290, t, ["0x0", 5, name, cmid, format_client_time(t), 0, 1, 0, "act"])
    return RequestRecord(t, "host", APP, "act", cmid, name, 1, 5, ResultCode.OK, event)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[BatchWriter]:
    path = tmp_path / "host.db"
    batch_writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    yield batch_writer
    batch_writer.close()


def found(conn: sqlite3.Connection, query: str) -> list[str]:
    page = admin.search_clients(
        conn, ClientSearch(text=query, sort="cmid", descending=False, limit=1000)
    )
    assert page.total == len(page.clients)
    return [c.cmid for c in page.clients]


def queued(conn: sqlite3.Connection) -> int:
    (rows,) = conn.execute("SELECT count(*) FROM client_text_queue").fetchone()
    return int(rows)


def drain(writer: BatchWriter) -> None:
    while writer.housekeep():
        pass


def test_searches_are_complete_before_and_after_indexing(
    writer: BatchWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text, "INDEX_DELAY", 0.0)  # index whatever is queued at once
    conn = writer.conn
    writer.commit([req(f"c{i:03d}", f"PC-{i:03d}") for i in range(300)])
    assert queued(conn) == 300 and writer.housekeeping_due
    before = found(conn, "pc-01"), found(conn, "C01"), found(conn, "c2"), found(conn, "zz")
    drain(writer)
    assert queued(conn) == 0 and not writer.housekeeping_due
    assert (
        found(conn, "pc-01"),
        found(conn, "C01"),
        found(conn, "c2"),
        found(conn, "zz"),
    ) == before
    assert before[0] == [f"c{i:03d}" for i in range(10, 20)]
    assert before[3] == []
    # A renamed client: found by its new name only, queued or indexed.
    writer.commit([req("c010", "laptop-9", T0 + 60)])
    assert queued(conn) == 1
    assert "c010" not in found(conn, "pc-010") and found(conn, "ptop-") == ["c010"]
    drain(writer)
    assert "c010" not in found(conn, "pc-010") and found(conn, "ptop-") == ["c010"]
    # A forgotten client: gone from the search, and from the index once its turn comes.
    writer.commit([Forget(APP, "c011")])
    assert found(conn, "PC-011") == []
    drain(writer)
    assert found(conn, "PC-011") == []
    (indexed,) = conn.execute("SELECT count(*) FROM client_text_keys").fetchone()
    assert indexed == 299


def test_indexing_runs_in_bounded_steps(writer: BatchWriter) -> None:
    writer.commit([req(f"c{i}", f"pc-{i}") for i in range(text.INDEX_STEP * 2 + 5)])
    assert writer.housekeep()  # the first step: more is due
    assert queued(writer.conn) == text.INDEX_STEP + 5
    drain(writer)
    assert queued(writer.conn) == 0


def test_indexing_waits_for_a_whole_step_or_the_delay(
    writer: BatchWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(text, "INDEX_DELAY", 3600.0)
    writer.commit([req(f"c{i}", f"pc-{i}") for i in range(text.INDEX_STEP + 5)])
    drain(writer)
    assert queued(writer.conn) == 0
    # A few new clients right after a step: left queued, and found there.
    writer.commit([req(f"n{i}", f"new-{i}") for i in range(5)])
    assert not writer.housekeeping_due and queued(writer.conn) == 5
    assert found(writer.conn, "new-") == [f"n{i}" for i in range(5)]
    # A whole step queued: indexed at once.
    writer.commit([req(f"m{i}", f"more-{i}") for i in range(text.INDEX_STEP - 5)])
    assert writer.housekeeping_due
    drain(writer)
    assert queued(writer.conn) == 0
    # Once the delay has passed since the last step, a few are indexed too.
    writer.commit([req("late", "late-1")])
    assert not writer.housekeeping_due
    monkeypatch.setattr(text, "INDEX_DELAY", 0.0)
    writer.commit([req("late", "late-2", T0 + 60)])
    assert writer.housekeeping_due
    drain(writer)
    assert queued(writer.conn) == 0 and found(writer.conn, "late-") == ["late"]


NAMES = st.text(st.sampled_from('ab"%_\\*-: éÉ'), min_size=1, max_size=24)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(NAMES, min_size=1, max_size=12), query=NAMES, indexed=st.integers(0, 12))
def test_search_finds_exactly_the_substrings(
    tmp_path: Path, names: list[str], query: str, indexed: int
) -> None:
    """Whatever the characters and however much is indexed: exactly LIKE's answer (ASCII
    case folded, other letters as they are)."""
    path = tmp_path / "host.db"
    path.unlink(missing_ok=True)
    writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    try:
        writer.commit([req(f"cmid-{i:02d}", name) for i, name in enumerate(names)])
        text.index_step(writer.conn, indexed)
        writer.conn.commit()

        def fold(s: str) -> str:
            return "".join(c.lower() if c.isascii() else c for c in s)

        expected = [
            f"cmid-{i:02d}"
            for i, name in enumerate(names)
            if fold(query) in fold(name) or fold(query) in f"cmid-{i:02d}"
        ]
        assert found(writer.conn, query) == expected
    finally:
        writer.close()
