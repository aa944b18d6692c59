"""What only the PostgreSQL store has: schema versions, a database shared by hosts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
from test_store import ACT, APP, T0, publish_event, req, run

from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.host.app import open_store
from openkms.store import _pg_schema
from openkms.store.base import ClientQuery, EventQuery, HostStore
from openkms.store.database import DATABASE_ENV, resolve_database
from openkms.store.postgres import PostgresReader, PostgresStore
from pgserver import Postgres

T = TypeVar("T")


def sql(dsn: str, statement: str) -> object:
    async def main() -> object:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(statement)
        finally:
            await conn.close()

    return asyncio.run(main())


def read(dsn: str, body: Callable[[PostgresReader], Awaitable[T]]) -> T:
    async def main() -> T:
        async with PostgresReader(dsn) as reader:
            return await body(reader)

    return asyncio.run(main())


# -- schema versions ---------------------------------------------------------------------------


def test_schema_is_created_once_and_versioned(pg_dsn: str) -> None:
    run(PostgresStore(pg_dsn), lambda s: s.record(req("a")))
    assert sql(pg_dsn, "SELECT version FROM openkms_schema") == _pg_schema.schema_version()
    assert run(PostgresStore(pg_dsn), lambda s: s.record(req("b"))) == 2
    assert sql(pg_dsn, "SELECT count(*) FROM openkms_schema") == 1


def test_hosts_starting_together_migrate_once(pg_dsn: str) -> None:
    async def main() -> None:
        stores = [PostgresStore(pg_dsn, host_id=f"h{i}") for i in range(4)]
        await asyncio.gather(*(s.open() for s in stores))
        await asyncio.gather(*(s.close() for s in stores))

    asyncio.run(main())
    assert sql(pg_dsn, "SELECT version FROM openkms_schema") == _pg_schema.schema_version()


def test_reader_of_an_empty_database_is_a_clear_error(pg_dsn: str) -> None:
    with pytest.raises(StoreError, match="has no OpenKMS store yet") as info:
        read(pg_dsn, lambda r: r.counters("h"))
    assert info.value.code is ResultCode.STORE_UNAVAILABLE
    assert sql(pg_dsn, "SELECT to_regclass('openkms_schema')") is None  # nothing created


def test_newer_schema_is_refused_by_writer_and_reader(pg_dsn: str) -> None:
    run(PostgresStore(pg_dsn), lambda s: s.record(req("a")))
    sql(pg_dsn, "UPDATE openkms_schema SET version = 99")
    with pytest.raises(StoreError, match="schema version 99, newer") as info:
        run(PostgresStore(pg_dsn), lambda s: s.counters("h"))
    assert info.value.code is ResultCode.UNSUPPORTED_VERSION
    with pytest.raises(StoreError, match="newer") as read_info:
        read(pg_dsn, lambda r: r.counters("h"))
    assert read_info.value.code is ResultCode.UNSUPPORTED_VERSION


def test_foreign_tables_are_refused(pg_dsn: str) -> None:
    sql(pg_dsn, "CREATE TABLE recipes (name text)")
    with pytest.raises(StoreError, match="no OpenKMS store") as info:
        run(PostgresStore(pg_dsn), lambda s: s.counters("h"))
    assert info.value.code is ResultCode.STATE_CORRUPT


def test_older_schema_is_migrated(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run(PostgresStore(pg_dsn), lambda s: s.record(req("a")))
    old = _pg_schema.schema_version()
    monkeypatch.setattr(
        _pg_schema, "MIGRATIONS", [*_pg_schema.MIGRATIONS, ("CREATE TABLE notes (t text)",)]
    )
    with pytest.raises(StoreError, match="older schema version"):
        read(pg_dsn, lambda r: r.counters("h"))
    assert run(PostgresStore(pg_dsn), lambda s: s.current_count(APP, T0)) == 1
    assert sql(pg_dsn, "SELECT version FROM openkms_schema") == old + 1
    assert sql(pg_dsn, "SELECT count(*) FROM notes") == 0


def test_migration_backfills_when_clients_were_last_activated(pg_dsn: str) -> None:
    """Version 1 never kept it: a client that reported Licensed is taken to have renewed."""

    async def version_one() -> None:
        conn = await asyncpg.connect(pg_dsn)
        try:
            for statement in _pg_schema.MIGRATIONS[0]:
                await conn.execute(statement)
            await conn.execute("UPDATE openkms_schema SET version = 1")
            insert = "INSERT INTO clients VALUES ($1, $2, $3, $4, $5, $6, $7, 25, 1, 'h')"
            await conn.execute(insert, APP, "lic", ACT, "pc-lic", T0, T0 + 5, 1)
            await conn.execute(insert, APP, "grace", ACT, "pc-grace", T0, T0 + 7, 2)
        finally:
            await conn.close()

    asyncio.run(version_one())
    clients = run(PostgresStore(pg_dsn), lambda s: s.clients(ClientQuery()))
    assert {c.cmid: c.last_activated for c in clients} == {"lic": T0 + 5, "grace": None}
    assert sql(pg_dsn, "SELECT version FROM openkms_schema") == _pg_schema.schema_version()


def test_unreachable_database_fails_open_clearly(postgres: Postgres) -> None:
    dsn = f"postgresql://openkms:secret@127.0.0.1:{postgres.port}/no_such_database"
    with pytest.raises(StoreError) as info:
        run(PostgresStore(dsn), lambda s: s.counters("h"))
    assert "secret" not in info.value.message and "***" in info.value.message
    assert info.value.code is ResultCode.STORE_UNAVAILABLE


# -- one database, several hosts ---------------------------------------------------------------


def test_hosts_on_one_database_share_one_count(pg_dsn: str) -> None:
    """Two writers (two hosts) on overlapping CMIDs: no double count, no lost update."""
    cmids = [f"m{i}" for i in range(120)]

    async def main() -> tuple[list[int], list[int]]:
        one, two = PostgresStore(pg_dsn, host_id="h1"), PostgresStore(pg_dsn, host_id="h2")
        await asyncio.gather(one.open(), two.open())
        try:
            # Host 1 sees m0..m79 three times, host 2 m119..m40 (the other way round, which
            # deadlocks writers that lock client rows in the order they come) three times.
            first = [
                one.record(req(c, t=T0 + k, n=500, host="h1")) for k in range(3) for c in cmids[:80]
            ]
            second = [
                two.record(req(c, t=T0 + k, n=500, host="h2"))
                for k in range(3)
                for c in reversed(cmids[40:])
            ]
            return await asyncio.gather(*first), await asyncio.gather(*second)
        finally:
            await asyncio.gather(one.close(), two.close())

    first, second = asyncio.run(main())
    assert max(first + second) == 120
    assert all(count <= 120 for count in first + second)

    async def check(reader: PostgresReader) -> None:
        assert await reader.current_count(APP, T0 + 3) == 120
        clients = await reader.clients(ClientQuery(limit=1000))
        assert len(clients) == 120
        by_cmid = {c.cmid: c for c in clients}
        # m40..m79 were seen by both hosts: every one of the 6 requests counted, none lost.
        assert [by_cmid[f"m{i}"].requests for i in (0, 40, 79, 80, 119)] == [3, 6, 6, 3, 3]
        assert sum(c.requests for c in clients) == 480
        assert (await reader.counters("h1")).total == 240
        assert (await reader.counters("h2")).total == 240
        events = await reader.events(EventQuery(limit=10_000))
        assert len(events) == 480
        paged = [e.seq async for e in reader.iter_events(EventQuery(), page=100)]
        assert paged == [e.seq for e in events]

    read(pg_dsn, check)
    peers = read(pg_dsn, lambda r: r.peer_hosts())
    assert {(p.host_id, p.first_request, p.last_request) for p in peers} == {
        ("h1", T0, T0 + 2),
        ("h2", T0, T0 + 2),
    }
    hosts = sql(pg_dsn, "SELECT string_agg(DISTINCT host_id, ',' ORDER BY host_id) FROM events")
    assert hosts == "h1,h2"  # each 12290 names the host that answered


def test_counts_of_two_hosts_follow_one_order(pg_dsn: str) -> None:
    """New clients through two hosts at once: each count is given once, 1 to 200, as if the
    requests had come one by one (no host counts without the other's committed clients)."""

    async def main() -> list[int]:
        one, two = PostgresStore(pg_dsn, host_id="h1"), PostgresStore(pg_dsn, host_id="h2")
        await asyncio.gather(one.open(), two.open())
        try:
            return list(
                await asyncio.gather(
                    *(one.record(req(f"a{i}", n=500, host="h1")) for i in range(100)),
                    # Another N-policy: the hosts share no N-policy row to wait on.
                    *(two.record(req(f"b{i}", n=400, host="h2")) for i in range(100)),
                )
            )
        finally:
            await asyncio.gather(one.close(), two.close())

    assert sorted(asyncio.run(main())) == list(range(1, 201))


def test_a_client_counted_through_one_host_counts_for_another(pg_dsn: str) -> None:
    async def body(one: HostStore) -> None:
        await one.record(req("a", host="h1"))
        async with PostgresStore(pg_dsn, host_id="h2") as two:
            assert await two.current_count(APP, T0) == 1
            assert await two.record(req("b", host="h2")) == 2
            assert await two.record(req("a", host="h2", t=T0 + 5)) == 2
        (a,) = [c for c in await one.clients(ClientQuery()) if c.cmid == "a"]
        assert (a.requests, a.last_seen, a.activation_id) == (2, T0 + 5, ACT)

    run(PostgresStore(pg_dsn, host_id="h1"), body)


def test_host_events_name_their_host(pg_dsn: str) -> None:
    run(PostgresStore(pg_dsn, host_id="h7"), lambda s: s.log_event(publish_event(T0)))
    assert sql(pg_dsn, "SELECT host_id FROM events WHERE event_id = 12294") == "h7"


def test_a_failing_batch_is_logged_and_the_writer_goes_on(
    pg_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def body(store: HostStore) -> None:
        bad = req("x" * 10, app="\x00bad")  # PostgreSQL refuses NUL in text
        with pytest.raises(StoreError, match="failed"):
            await store.record(bad)
        assert await store.record(req("a")) == 1

    with caplog.at_level(logging.ERROR, "openkms.store"):
        run(PostgresStore(pg_dsn), body)
    assert any("store write of 1 items failed" in r.getMessage() for r in caplog.records)


# -- choosing the database ---------------------------------------------------------------------


def test_database_from_option_else_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    assert resolve_database(None) is None  # the host's SQLite file
    monkeypatch.setenv(DATABASE_ENV, "postgresql://db/site")
    assert resolve_database(None) == "postgresql://db/site"
    assert resolve_database("postgres://other/x") == "postgres://other/x"
    assert isinstance(open_store(Path("/nonexistent")), PostgresStore)
    with pytest.raises(StoreError, match="only PostgreSQL") as info:
        resolve_database("mysql://db/site")
    assert info.value.code is ResultCode.INVALID_ARGUMENT
