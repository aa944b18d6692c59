"""A client's events in the SQLite store (schema 5): found through the index of runs by the
CMID's first character, exactly the events a plain filter finds, and never by a scan."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import format_client_time, make_event
from openkms.store import _sqlite_admin as admin
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_schema import EVENTS_BY_CMID
from openkms.store._sqlite_writer import BatchWriter
from openkms.store.base import EventSearch, RequestRecord

T0 = 1_800_000_000
# First characters shared, an empty CMID, non-ASCII and LIKE/GLOB characters.
CMIDS = st.sampled_from(["a1", "a2", "ab", "b1", "", "é", "%", "_x", "A1"])


def req(cmid: str, t: int, ok: bool) -> RequestRecord:
    result = ResultCode.OK if ok else ResultCode.PRODUCT_NOT_COVERED
    event = make_event(12290, t, [hex(result), 5, "pc", cmid, format_client_time(t), 0, 1, 0, "a"])
    return RequestRecord(t, "host", "app", "act", cmid, "pc", 1, 5, result, event)


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchWriter]:
    path = tmp_path_factory.mktemp("events") / "host.db"
    batch_writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    yield batch_writer
    batch_writer.close()


def everything(conn: sqlite3.Connection) -> list[tuple[int, int, str, int]]:
    rows = conn.execute("SELECT seq, time, cmid, hresult FROM events").fetchall()
    return [(int(seq), int(t), str(cmid), int(hresult)) for seq, t, cmid, hresult in rows]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    requests=st.lists(st.tuples(CMIDS, st.integers(0, 50), st.booleans()), max_size=30),
    cmid=CMIDS,
    failed=st.booleans(),
    before=st.none() | st.tuples(st.integers(0, 50), st.integers(0, 10_000)),
)
def test_a_clients_events_are_exactly_those_with_its_cmid(
    writer: BatchWriter,
    requests: list[tuple[str, int, bool]],
    cmid: str,
    failed: bool,
    before: tuple[int, int] | None,
) -> None:
    if requests:
        writer.commit([req(c, T0 + dt, ok) for c, dt, ok in requests])
    cursor = None if before is None else (T0 + before[0], before[1])
    search = EventSearch(cmid=cmid, failed=failed, before=cursor, limit=1000)
    expected = sorted(
        (
            (t, seq)
            for seq, t, c, hresult in everything(writer.conn)
            if c == cmid and (not failed or hresult != 0) and (cursor is None or (t, seq) < cursor)
        ),
        reverse=True,
    )
    found = [e.seq for e in admin.search_events(writer.conn, search)]
    assert found == [seq for _, seq in expected]  # newest first


def test_a_clients_events_use_the_index_of_runs(writer: BatchWriter) -> None:
    where, params = admin._event_where(EventSearch(cmid="a1"))
    plan = writer.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT seq FROM events WHERE {' AND '.join(where)}",
        params,
    ).fetchall()
    assert any(f"SEARCH events USING COVERING INDEX {EVENTS_BY_CMID}" in str(row) for row in plan)
