"""The host stores: the same behaviour from the in-memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core import settings as core_settings
from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy, current_count, future_rows, seen_again
from openkms.core.events import EventRecord, format_client_time, make_event
from openkms.errors import StoreError
from openkms.store import (
    ClientQuery,
    EventQuery,
    HostStore,
    RequestRecord,
    _sqlite_schema,
    _sqlite_writer,
    open_reader,
    sqlite_path,
)
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import BatchWriter
from openkms.store.memory import MemoryStore
from openkms.store.postgres import PostgresStore
from openkms.store.sqlite import SqliteReader, SqliteStore

if TYPE_CHECKING:  # tests/pgserver.py: not on the path of the scripts that import this module
    from pgserver import Postgres

T = TypeVar("T")
DAY = 86400
T0 = 1_800_000_000
APP = "app-desktop"
ACT = "act-pro"
HOST = "host-1"

StoreFactory = Callable[..., HostStore]


def req(
    cmid: str,
    *,
    t: int = T0,
    app: str = APP,
    n: int = 25,
    failed: bool = False,
    status: int = 1,
    host: str = HOST,
) -> RequestRecord:
    result = ResultCode.COUNT_TOO_LOW if failed else ResultCode.OK
    hresult = f"0x{int(result):X}"
    event = make_event(
        12290,
        t,
        [hresult, n, f"pc-{cmid}", cmid, format_client_time(t), 0, status, 43200, ACT],
    )
    return RequestRecord(
        time=t,
        host_id=host,
        application_id=app,
        activation_id=ACT,
        cmid=cmid,
        machine_name=f"pc-{cmid}",
        license_status=status,
        n_policy=n,
        result=result,
        event=event,
    )


def publish_event(t: int, ok: bool = True) -> EventRecord:
    if ok:
        return make_event(12294, t, ["example.test"])
    return make_event(12293, t, ["0x8007232D", "example.test"])


def run(store: HostStore, body: Callable[[HostStore], Awaitable[T]]) -> T:
    """Open the store, run ``body`` on a fresh event loop, close the store."""

    async def main() -> T:
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


async def record_all(store: HostStore, requests: list[RequestRecord]) -> list[int]:
    return [await store.record(r) for r in requests]


@pytest.fixture(params=["memory", "sqlite", "sqlite-process", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    # A PostgreSQL server (session-wide) and a schema of its own, only for that store.
    dsn = request.getfixturevalue("pg_dsn") if request.param == "postgres" else ""

    def factory(**kwargs: Any) -> HostStore:
        if request.param == "memory":
            return MemoryStore(**kwargs)
        if request.param == "postgres":
            return PostgresStore(dsn, **kwargs)
        if request.param == "sqlite-process":
            return SqliteStore(tmp_path / "host.db", writer="process", **kwargs)
        return SqliteStore(tmp_path / "host.db", writer="thread", **kwargs)

    return factory


Writer = Literal["thread", "process"]
WRITERS = pytest.mark.parametrize("writer", ["thread", "process"])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "host.db"


# -- the count rule ----------------------------------------------------------------------------


def test_count_rises_with_distinct_cmids(make_store: StoreFactory) -> None:
    counts = run(make_store(), lambda s: record_all(s, [req("a"), req("b"), req("c")]))
    assert counts == [1, 2, 3]


def test_repeated_cmid_leaves_count_unchanged(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        assert await record_all(store, [req("a", t=T0 + i) for i in range(3)]) == [1, 1, 1]
        (client,) = await store.clients(ClientQuery())
        assert (client.requests, client.first_seen, client.last_seen) == (3, T0, T0 + 2)

    run(make_store(), body)


def test_count_is_capped_at_twice_the_largest_n_policy(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        desktop = await record_all(store, [req(f"d{i}", n=25) for i in range(60)])
        servers = await record_all(store, [req(f"s{i}", app="srv", n=5) for i in range(20)])
        assert desktop[-1] == 50
        assert servers[-1] == 10
        assert await store.current_count("srv", T0) == 10
        # A desktop-class request raises the server application's cap to 50.
        assert await store.record(req("s-big", app="srv", n=25)) == 21

    run(make_store(), body)


def test_counts_are_per_application(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await record_all(store, [req("a"), req("b"), req("a", app="other")])
        assert await store.current_count(APP, T0) == 2
        assert await store.current_count("other", T0) == 1
        assert await store.current_count("unknown", T0) == 0

    run(make_store(), body)


def test_cmid_older_than_the_window_drops_out(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await store.record(req("old", t=T0))
        assert await store.record(req("new", t=T0 + 20 * DAY)) == 2
        assert await store.current_count(APP, T0 + 30 * DAY) == 2  # the horizon is inclusive
        assert await store.current_count(APP, T0 + 30 * DAY + 1) == 1
        assert await store.record(req("newer", t=T0 + 31 * DAY)) == 2

    run(make_store(), body)


def test_cap_follows_the_n_policies_seen_in_the_window(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await record_all(store, [req(f"d{i}", n=25, t=T0) for i in range(3)])
        later = T0 + 31 * DAY
        counts = await record_all(store, [req(f"s{i}", n=5, t=later) for i in range(15)])
        assert counts[-1] == 10

    run(make_store(), body)


def test_client_dated_in_the_future_is_not_counted_and_comes_back(
    make_store: StoreFactory,
) -> None:
    # Seen while the host's clock was two hours ahead; the clock is then set right.
    async def body(store: HostStore) -> None:
        await store.record(req("ahead", t=T0 + 2 * 3600))
        assert await store.current_count(APP, T0) == 0
        assert await store.future_clients(APP, T0) == 1
        # Nothing was rewritten: with the clock forward again, the client counts again.
        assert await store.current_count(APP, T0 + 2 * 3600) == 1
        assert await store.future_clients(APP, T0 + 2 * 3600) == 0

    run(make_store(), body)


def test_future_tolerance_is_one_hour_inclusive(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await record_all(store, [req("edge", t=T0 + 3600), req("past", t=T0 + 3601)])
        assert await store.current_count(APP, T0) == 0  # nor is the N-policy they set
        assert await store.record(req("now", t=T0)) == 2  # its N-policy row takes T0
        assert await store.future_clients(APP, T0) == 1

    run(make_store(), body)


def test_client_back_from_the_future_takes_the_request_time(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await store.record(req("a", t=T0 + 31 * DAY, status=1))
        # The same client after the clock was set back a month: its row and the N-policy
        # row take this request's time, so it counts at once.
        assert await store.record(req("a", t=T0, status=2)) == 1
        (client,) = await store.clients(ClientQuery())
        assert (client.first_seen, client.last_seen, client.license_status) == (T0, T0, 2)
        assert await store.future_clients(APP, T0) == 0

    run(make_store(), body)


def test_client_slightly_ahead_keeps_its_time(make_store: StoreFactory) -> None:
    # Within the tolerance (hosts sharing a store differ by seconds) the later time stays.
    async def body(store: HostStore) -> None:
        await store.record(req("a", t=T0 + 1800, status=1))
        assert await store.record(req("a", t=T0, status=2)) == 1
        (client,) = await store.clients(ClientQuery())
        assert (client.last_seen, client.license_status) == (T0 + 1800, 1)

    run(make_store(), body)


def test_n_policy_dated_in_the_future_does_not_set_the_cap(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await record_all(store, [req(f"d{i}", n=25, t=T0 + 10 * DAY) for i in range(12)])
        # Only servers (N=5) are seen now: the desktop N-policy, in the future, caps nothing.
        counts = await record_all(store, [req(f"s{i}", n=5, t=T0) for i in range(12)])
        assert counts[-1] == 10
        assert await store.future_clients(APP, T0) == 12

    run(make_store(), body)


def test_request_not_counted_is_still_counted_in_counters_and_events(
    make_store: StoreFactory,
) -> None:
    async def body(store: HostStore) -> None:
        assert await store.record(req("a")) == 1
        assert await store.record(req("bad", failed=True, status=5)) == 1
        assert await store.current_count(APP, T0) == 1
        counters = await store.counters(HOST)
        assert (counters.total, counters.failed, counters.by_status) == (2, 1, {1: 1, 5: 1})
        assert (await store.counters("nobody")).total == 0
        events = await store.events(EventQuery(event_ids=(12290,)))
        assert [e.fields()["cmid"] for e in events] == ["a", "bad"]
        assert [c.cmid for c in await store.clients(ClientQuery())] == ["a"]

    run(make_store(), body)


def test_counters_are_per_host(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await record_all(store, [req("a", host="h1"), req("b", host="h2"), req("c", host="h2")])
        assert (await store.counters("h1")).total == 1
        assert (await store.counters("h2")).by_status == {1: 2}

    run(make_store(), body)


# -- events and clients ------------------------------------------------------------------------


def test_events_filter_by_id_time_seq_and_limit(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await store.record(req("a", t=T0))
        await store.log_event(publish_event(T0 + 10))
        await store.log_event(publish_event(T0 + 20, ok=False))
        await store.record(req("b", t=T0 + 30))
        everything = await store.events(EventQuery())
        assert [e.event_id for e in everything] == [12290, 12294, 12293, 12290]
        seqs = [e.seq for e in everything]
        assert seqs == sorted(seqs) and seqs[0] > 0
        ids = await store.events(EventQuery(event_ids=(12293, 12294)))
        assert [e.event_id for e in ids] == [12294, 12293]
        window = await store.events(EventQuery(since=T0 + 10, until=T0 + 20))
        assert [e.time for e in window] == [T0 + 10, T0 + 20]
        after = await store.events(EventQuery(after_seq=seqs[1]))
        assert [e.seq for e in after] == seqs[2:]
        assert [e.seq for e in await store.events(EventQuery(limit=2))] == seqs[:2]
        assert await store.events(EventQuery(limit=0)) == []
        assert everything[2].info == "0x8007232D,example.test"

    run(make_store(), body)


def test_event_retention_keeps_the_newest(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        for i in range(35):
            await store.log_event(publish_event(T0 + i))
        kept = await store.events(EventQuery())
        assert 1 <= len(kept) <= 10
        assert [e.time for e in kept] == list(range(T0 + 35 - len(kept), T0 + 35))

    run(make_store(event_retention=10), body)


def test_event_retention_holds_under_batches(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await asyncio.gather(*(store.log_event(publish_event(T0 + i)) for i in range(500)))
        kept = await store.events(EventQuery(limit=10_000))
        assert 90 <= len(kept) <= 100
        assert kept[-1].time == T0 + 499

    run(make_store(event_retention=100), body)


def test_clients_query(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await record_all(
            store,
            [
                req("a", t=T0),
                req("b", t=T0 + 10, status=2),
                req("c", t=T0 + 20, app="other"),
                req("a", t=T0 + 30, n=5),
            ],
        )
        everyone = await store.clients(ClientQuery())
        assert [(c.application_id, c.cmid) for c in everyone] == [
            (APP, "a"),
            ("other", "c"),
            (APP, "b"),
        ]
        a = everyone[0]
        assert (a.n_policy, a.requests, a.first_seen, a.last_seen) == (5, 2, T0, T0 + 30)
        assert a.machine_name == "pc-a" and a.activation_id == ACT
        mine = await store.clients(ClientQuery(application_id=APP))
        assert [c.cmid for c in mine] == ["a", "b"]
        recent = await store.clients(ClientQuery(seen_since=T0 + 15))
        assert [c.cmid for c in recent] == ["a", "c"]
        page = await store.clients(ClientQuery(limit=1, offset=1))
        assert [c.cmid for c in page] == ["c"]

    run(make_store(), body)


def test_out_of_order_request_does_not_move_last_seen_back(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> None:
        await store.record(req("a", t=T0 + 100, status=1))
        await store.record(req("a", t=T0, status=5))
        (client,) = await store.clients(ClientQuery())
        assert (client.first_seen, client.last_seen, client.license_status) == (T0, T0 + 100, 1)

    run(make_store(), body)


def test_the_client_row_keeps_when_the_host_last_gave_a_ticket(make_store: StoreFactory) -> None:
    """A counted request whose count reaches its N-policy is answered with a ticket."""

    async def body(store: HostStore) -> None:
        await store.record(req("a", t=T0, n=2))  # count 1 of 2: no ticket
        await store.record(req("b", t=T0 + 10, n=2))  # count 2: a ticket
        await store.record(req("a", t=T0 + 20, n=2))
        await store.record(req("a", t=T0 + 5, n=2))  # out of order: does not move it back
        await store.record(req("b", t=T0 + 30, n=2, failed=True))  # refused: not a ticket
        by_cmid = {c.cmid: c for c in await store.clients(ClientQuery())}
        assert by_cmid["a"].last_activated == T0 + 20
        assert by_cmid["b"].last_activated == T0 + 10
        # A month later b has left the count: a's renewal is accepted, without a ticket.
        await store.record(req("a", t=T0 + 31 * DAY, n=2))
        (a,) = [c for c in await store.clients(ClientQuery()) if c.cmid == "a"]
        assert (a.last_seen, a.last_activated) == (T0 + 31 * DAY, T0 + 20)
        await store.record(req("c", t=T0 + 62 * DAY, n=2))  # alone: count 1 of 2
        (c,) = [c for c in await store.clients(ClientQuery()) if c.cmid == "c"]
        assert c.last_activated is None

    run(make_store(), body)


def test_sqlite_migration_backfills_when_clients_were_last_activated(db_path: Path) -> None:
    """Version 2 never kept it: a client that reported Licensed is taken to have renewed."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    for statement in (*_sqlite_schema.MIGRATIONS[0], *_sqlite_schema.MIGRATIONS[1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    insert = "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)"
    conn.execute(insert, (APP, "lic", ACT, "pc-lic", T0, T0 + 5, 1, 25))
    conn.execute(insert, (APP, "grace", ACT, "pc-grace", T0, T0 + 7, 2, 25))
    conn.close()
    clients = run(SqliteStore(db_path, writer="thread"), lambda s: s.clients(ClientQuery()))
    assert {c.cmid: c.last_activated for c in clients} == {"lic": T0 + 5, "grace": None}


# -- concurrency and lifecycle -----------------------------------------------------------------


def test_concurrent_records_all_return_in_order(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> list[int]:
        return await asyncio.gather(*(store.record(req(f"m{i}")) for i in range(2000)))

    store = make_store()
    counts = run(store, body)
    assert counts == [min(i + 1, 50) for i in range(2000)]


def test_concurrent_records_are_all_kept(make_store: StoreFactory) -> None:
    async def body(store: HostStore) -> tuple[int, int]:
        await asyncio.gather(*(store.record(req(f"m{i % 300}", n=500)) for i in range(2000)))
        counters = await store.counters(HOST)
        return counters.total, await store.current_count(APP, T0)

    assert run(make_store(), body) == (2000, 300)


def test_use_after_close_raises_store_error(make_store: StoreFactory) -> None:
    store = make_store()

    async def main() -> None:
        await store.open()
        await store.record(req("a"))
        await store.close()
        await store.close()  # idempotent
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: store.record(req("b")),
            lambda: store.log_event(publish_event(T0)),
            lambda: store.current_count(APP, T0),
            lambda: store.counters(HOST),
            lambda: store.events(EventQuery()),
            lambda: store.clients(ClientQuery()),
            store.open,
        ]
        for call in calls:
            with pytest.raises(StoreError, match="store is closed"):
                await call()

    asyncio.run(main())


# -- SQLite only -------------------------------------------------------------------------------


@WRITERS
def test_sqlite_records_survive_reopen(db_path: Path, writer: Writer) -> None:
    run(
        SqliteStore(db_path, writer=writer),
        lambda s: record_all(s, [req("a"), req("b"), req("x", failed=True)]),
    )

    async def body(store: HostStore) -> None:
        assert await store.current_count(APP, T0) == 2
        assert (await store.counters(HOST)).failed == 1
        events = await store.events(EventQuery())
        assert [e.hresult for e in events] == [0, 0, ResultCode.COUNT_TOO_LOW]
        assert await store.record(req("c")) == 3

    run(SqliteStore(db_path, writer=writer), body)


@WRITERS
def test_sqlite_close_commits_pending_writes(db_path: Path, writer: Writer) -> None:
    store = SqliteStore(db_path, writer=writer)

    async def main() -> None:
        await store.open()
        pending = [asyncio.ensure_future(store.record(req(f"m{i}"))) for i in range(100)]
        await asyncio.sleep(0)  # let every record() queue its write
        await store.close()
        assert [await p for p in pending][-1] == 50

    asyncio.run(main())
    with SqliteReader(db_path) as reader:
        assert reader.counters(HOST).total == 100


@WRITERS
def test_sqlite_reader_reads_while_the_host_writes(db_path: Path, writer: Writer) -> None:
    async def body(store: HostStore) -> None:
        await record_all(store, [req("a"), req("b")])
        with SqliteReader(db_path) as reader:
            assert reader.current_count(APP, T0) == 2
            assert reader.counters(HOST).total == 2
            assert [c.cmid for c in reader.clients(ClientQuery())] == ["a", "b"]
            await store.record(req("c", t=T0 + 1))
            assert [e.fields()["cmid"] for e in reader.events(EventQuery())] == ["a", "b", "c"]

    run(SqliteStore(db_path, writer=writer), body)
    reader = SqliteReader(db_path)
    reader.close()
    reader.close()
    with pytest.raises(StoreError, match="store is closed"):
        reader.counters(HOST)


def test_sqlite_reader_of_a_missing_store(db_path: Path) -> None:
    with pytest.raises(StoreError, match="there is no store at") as info:
        SqliteReader(db_path)
    assert not db_path.exists()
    assert info.value.code is ResultCode.STORE_UNAVAILABLE


def test_sqlite_not_open_yet(db_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(StoreError, match="not open"):
            await SqliteStore(db_path).record(req("a"))

    asyncio.run(main())


@WRITERS
def test_sqlite_garbage_file_is_a_clear_error(db_path: Path, writer: Writer) -> None:
    db_path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with pytest.raises(StoreError) as info:
        run(SqliteStore(db_path, writer=writer), lambda s: s.current_count(APP, T0))
    assert info.value.code is ResultCode.STATE_CORRUPT
    assert str(db_path) in info.value.message
    assert "not an OpenKMS store" in info.value.message
    with pytest.raises(StoreError) as read_info:
        SqliteReader(db_path)
    assert read_info.value.code is ResultCode.STATE_CORRUPT


@WRITERS
def test_sqlite_foreign_database_is_refused(db_path: Path, writer: Writer) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.close()
    with pytest.raises(StoreError, match="not an OpenKMS store") as info:
        run(SqliteStore(db_path, writer=writer), lambda s: s.current_count(APP, T0))
    assert info.value.code is ResultCode.STATE_CORRUPT


@WRITERS
def test_sqlite_missing_directory_is_a_clear_error(tmp_path: Path, writer: Writer) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        run(
            SqliteStore(tmp_path / "nowhere" / "host.db", writer=writer), lambda s: s.counters(HOST)
        )


def set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


@WRITERS
def test_sqlite_newer_schema_is_refused(db_path: Path, writer: Writer) -> None:
    run(SqliteStore(db_path, writer=writer), lambda s: s.record(req("a")))
    set_user_version(db_path, 99)
    with pytest.raises(StoreError, match="schema version 99: it was written by a newer") as info:
        run(SqliteStore(db_path, writer=writer), lambda s: s.counters(HOST))
    assert info.value.code is ResultCode.UNSUPPORTED_VERSION
    with pytest.raises(StoreError, match="newer"):
        SqliteReader(db_path)


def test_sqlite_older_schema_is_migrated(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In process (thread writer): the added migration is a monkeypatch of this interpreter.
    run(SqliteStore(db_path, writer="thread"), lambda s: s.record(req("a")))
    old = _sqlite_schema.schema_version()
    step = ("CREATE TABLE notes (text TEXT)",)
    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", [*_sqlite_schema.MIGRATIONS, step])
    with pytest.raises(StoreError, match="older schema"):
        SqliteReader(db_path)
    assert run(SqliteStore(db_path, writer="thread"), lambda s: s.current_count(APP, T0)) == 1
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone() == (old + 1,)
    assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    conn.close()


def test_sqlite_disk_full_fails_the_batch_and_recovers(db_path: Path) -> None:
    writer = BatchWriter(connect_writer(db_path), db_path, CountPolicy(), 1000)
    try:
        (pages,) = writer.conn.execute("PRAGMA page_count").fetchone()
        writer.conn.execute(f"PRAGMA max_page_count = {pages}")
        big = EventRecord(12294, T0, "x" * 20_000)
        with pytest.raises(StoreError) as info:
            writer.commit([req("a"), big])
        assert info.value.code is ResultCode.DISK_FULL
        assert "disk is full" in info.value.message
        assert "nothing acknowledged has been lost" in info.value.fix
        writer.conn.execute("PRAGMA max_page_count = 1000000000")
        assert writer.commit([big, req("a")]) == [None, 1]  # the failed batch left nothing
    finally:
        writer.close()


def test_sqlite_writer_survives_a_failing_operation(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thread writer: the bug is a monkeypatch of this interpreter.
    def insert_event(conn: sqlite3.Connection, event: EventRecord) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr(_sqlite_writer, "insert_event", insert_event)

    async def body(store: HostStore) -> None:
        outcomes = await asyncio.gather(
            store.log_event(publish_event(T0)), store.record(req("a")), return_exceptions=True
        )
        assert isinstance(outcomes[0], StoreError)
        # "a" shares the failed batch (StoreError, never written) or came in the next one.
        written = 0 if isinstance(outcomes[1], StoreError) else 1
        assert await store.record(req("b")) == written + 1
        assert await store.record(req("c")) == written + 2

    run(SqliteStore(db_path, writer="thread"), body)


def test_sqlite_rejects_bad_settings(db_path: Path) -> None:
    with pytest.raises(ValueError, match="event_retention"):
        SqliteStore(db_path, event_retention=0)
    with pytest.raises(ValueError, match="batch_max"):
        SqliteStore(db_path, batch_max=0)


def test_sqlite_async_context_manager(db_path: Path) -> None:
    async def main() -> int:
        async with SqliteStore(db_path, batch_max=1) as store:
            return (await asyncio.gather(*(store.record(req(f"m{i}")) for i in range(5))))[-1]

    assert asyncio.run(main()) == 5


POLICY = CountPolicy(window_days=1, cap_factor=2)
TOLERANCE = core_settings.COUNT_FUTURE_TOLERANCE_SECONDS
# Requests are recorded concurrently, so in batches and out of order: one request's time is
# often in the future of the next one's, beyond the tolerance or just at its edge.
offsets = st.one_of(
    st.integers(min_value=0, max_value=3 * DAY),
    st.sampled_from([0, TOLERANCE, TOLERANCE + 1, DAY, DAY + TOLERANCE, DAY + TOLERANCE + 1]),
)
steps = st.lists(
    st.tuples(
        st.sampled_from([f"c{i}" for i in range(8)]),
        st.sampled_from([1, 2, 5]),
        offsets,
        st.booleans(),
    ),
    min_size=1,
    max_size=40,
)


# The ends at which counts are read after the steps: later, and with the clock set back.
ENDS = (T0 + 2 * DAY, T0)
Outcome = tuple[list[int], list[int], list[int]]


def expected_counts(steps: list[tuple[str, int, int, bool]]) -> Outcome:
    """The reference rule's count after each step, then the count and the number of clients
    dated in the future at each of ``ENDS``."""
    last_seen: dict[bytes, int] = {}
    n_policy_seen: dict[int, int] = {}
    expected: list[int] = []
    for cmid, n, offset, counted in steps:
        t = T0 + offset
        if counted:
            last_seen[cmid.encode()] = seen_again(last_seen.get(cmid.encode()), t)
            n_policy_seen[n] = seen_again(n_policy_seen.get(n), t)
        expected.append(current_count(last_seen, n_policy_seen, t, POLICY))
    ends = [current_count(last_seen, n_policy_seen, end, POLICY) for end in ENDS]
    return expected, ends, [future_rows(last_seen, end, POLICY) for end in ENDS]


def store_counts(
    store: HostStore, steps: list[tuple[str, int, int, bool]], app: str = APP
) -> Outcome:
    """The store's count after each step (recorded concurrently, so in batches), then its
    count and clients dated in the future at each of ``ENDS``."""
    requests = [req(c, n=n, t=T0 + o, failed=not k, app=app) for c, n, o, k in steps]

    async def body(store: HostStore) -> Outcome:
        counts = await asyncio.gather(*(store.record(r) for r in requests))
        ends = [await store.current_count(app, end) for end in ENDS]
        return counts, ends, [await store.future_clients(app, end) for end in ENDS]

    return run(store, body)


@settings(max_examples=40, deadline=None)
@given(steps=steps)
def test_sqlite_counts_equal_the_reference_rule(steps: list[tuple[str, int, int, bool]]) -> None:
    with tempfile.TemporaryDirectory() as name:
        store = SqliteStore(Path(name) / "host.db", policy=POLICY, writer="thread")
        counts = store_counts(store, steps)
    assert counts == expected_counts(steps)


@settings(max_examples=40, deadline=None)
@given(steps=steps)
def test_memory_counts_equal_the_reference_rule(steps: list[tuple[str, int, int, bool]]) -> None:
    assert store_counts(MemoryStore(policy=POLICY), steps) == expected_counts(steps)


def test_sqlite_count_queries_walk_the_index(db_path: Path) -> None:
    run(SqliteStore(db_path, writer="thread"), lambda s: s.record(req("a")))
    conn = sqlite3.connect(db_path)
    try:
        plans = [
            " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in [
                (
                    "SELECT 1 FROM clients WHERE application_id = ? "
                    "AND last_seen BETWEEN ? AND ? LIMIT ?",
                    (APP, T0 - DAY, T0 + DAY, 50),
                ),
                (
                    "SELECT count(*) FROM clients WHERE application_id = ? AND last_seen > ?",
                    (APP, T0),
                ),
            ]
        ]
    finally:
        conn.close()
    for plan in plans:
        assert "clients_recent" in plan
        assert "last_seen>?" in plan.replace(" ", "")


@pytest.fixture(scope="module")
def shared_pg_dsn(postgres: Postgres) -> str:
    """One schema for every example of a property test (each its own application)."""
    return postgres.create_schema(f"property_{os.getpid()}")


def test_postgres_counts_equal_the_reference_rule(shared_pg_dsn: str) -> None:
    examples = itertools.count()

    @settings(max_examples=40, deadline=None)
    @given(steps=steps)
    def check(steps: list[tuple[str, int, int, bool]]) -> None:
        app = f"app-{next(examples)}"  # a fresh application: a fresh count in the shared table
        counts = store_counts(PostgresStore(shared_pg_dsn, policy=POLICY), steps, app)
        assert counts == expected_counts(steps)

    check()


# -- the read-only reader (open_reader) --------------------------------------------------------


def listing(directory: Path) -> dict[str, int]:
    """Every file of ``directory`` with its modification time."""
    return {p.name: p.stat().st_mtime_ns for p in sorted(directory.iterdir())}


def read_all(store_dir: Path) -> tuple[int, int, list[int]]:
    async def main() -> tuple[int, int, list[int]]:
        async with open_reader(store_dir) as reader:
            events = [e.hresult or 0 async for e in reader.iter_events(EventQuery(), page=2)]
            return (
                await reader.current_count(APP, T0),
                (await reader.counters(HOST)).total,
                events,
            )

    return asyncio.run(main())


@WRITERS
def test_reader_sees_committed_writes_of_a_live_store(tmp_path: Path, writer: Writer) -> None:
    async def body(store: HostStore) -> None:
        await record_all(store, [req("a"), req("b"), req("bad", failed=True)])
        count, total, hresults = await asyncio.to_thread(read_all, tmp_path)
        assert (count, total) == (2, 3)
        assert hresults == [0, 0, ResultCode.COUNT_TOO_LOW]
        await store.record(req("c"))
        assert (await asyncio.to_thread(read_all, tmp_path))[:2] == (3, 4)

    run(SqliteStore(sqlite_path(tmp_path), writer=writer), body)


def test_reader_of_a_closed_store_creates_and_changes_no_file(tmp_path: Path) -> None:
    run(SqliteStore(sqlite_path(tmp_path), writer="thread"), lambda s: s.record(req("a")))
    before = listing(tmp_path)
    assert read_all(tmp_path) == (1, 1, [0])
    assert listing(tmp_path) == before


def test_reader_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="there is no store at") as info:
        read_all(tmp_path)
    assert info.value.code is ResultCode.STORE_UNAVAILABLE
    assert "openkms host serve" in info.value.fix
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("offset", "message", "fix"),
    [(-1, "older schema version", "Start the host once"), (1, "newer OpenKMS", "Upgrade")],
)
def test_reader_of_another_schema_version_is_refused_untouched(
    tmp_path: Path, offset: int, message: str, fix: str
) -> None:
    run(SqliteStore(sqlite_path(tmp_path), writer="thread"), lambda s: s.record(req("a")))
    version = _sqlite_schema.schema_version() + offset
    set_user_version(sqlite_path(tmp_path), version)
    before = listing(tmp_path)
    with pytest.raises(StoreError, match=message) as info:
        read_all(tmp_path)
    assert info.value.code is ResultCode.UNSUPPORTED_VERSION
    assert fix in info.value.fix
    assert listing(tmp_path) == before  # not migrated, nothing created
    conn = sqlite3.connect(sqlite_path(tmp_path))
    assert conn.execute("PRAGMA user_version").fetchone() == (version,)
    conn.close()


def test_reader_calls_after_close_fail(tmp_path: Path) -> None:
    run(SqliteStore(sqlite_path(tmp_path), writer="thread"), lambda s: s.record(req("a")))

    async def main() -> None:
        reader = open_reader(tmp_path)
        await reader.open()
        await reader.close()
        await reader.close()
        with pytest.raises(StoreError, match="store is closed"):
            await reader.counters(HOST)
        with pytest.raises(StoreError, match="store is closed"):
            await reader.open()

    asyncio.run(main())
