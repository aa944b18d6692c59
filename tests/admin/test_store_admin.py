"""The admin queries of the stores: the same answers from memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from admin.test_client_totals import undo_schema_4
from openkms.core.codes import ResultCode
from openkms.core.events import format_client_time, make_event
from openkms.store.base import ClientSearch, EventSearch, HostStore, RequestRecord
from openkms.store.memory import MemoryStore
from openkms.store.postgres import PostgresStore
from openkms.store.sqlite import SqliteStore

T = TypeVar("T")
T0 = 1_800_000_000 // 3600 * 3600
APP = "app"


def req(
    cmid: str, t: int, *, act: str = "act-a", status: int = 1, failed: bool = False
) -> RequestRecord:
    result = ResultCode.PRODUCT_NOT_COVERED if failed else ResultCode.OK
    hresult = f"0x{int(result):X}"
    event = make_event(
        12290, t, [hresult, 5, f"pc-{cmid}", cmid, format_client_time(t), 0, status, 0, act]
    )
    return RequestRecord(t, "host", APP, act, cmid, f"pc-{cmid}", status, 5, result, event)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> HostStore:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "postgres":
        return PostgresStore(request.getfixturevalue("pg_dsn"))
    return SqliteStore(tmp_path / "host.db")


def run(store: HostStore, body: Callable[[HostStore], Awaitable[T]]) -> T:
    async def main() -> T:
        await store.open()
        try:
            for i in range(10):
                await store.record(
                    req(
                        f"c{i}",
                        T0 + i * 600,
                        act="act-b" if i % 3 else "act-a",
                        status=2 if i == 4 else 1,
                    )
                )
            await store.record(req("bad", T0 + 7000, failed=True))
            await store.log_event(make_event(12294, T0 + 100, ["example.test"]))
            await store.log_event(make_event(12293, T0 + 200, ["0x8007232B", "example.test"]))
            return await body(store)
        finally:
            await store.close()

    return asyncio.run(main())


def test_search_clients_filters_sorts_and_pages(store: HostStore) -> None:
    async def body(s: HostStore) -> None:
        page = await s.search_clients(ClientSearch(limit=3))
        assert page.total == 10
        assert [c.cmid for c in page.clients] == ["c9", "c8", "c7"]
        page = await s.search_clients(
            ClientSearch(limit=3, offset=8, sort="cmid", descending=False)
        )
        assert [c.cmid for c in page.clients] == ["c8", "c9"]
        assert (await s.search_clients(ClientSearch(activation_id="act-a"))).total == 4
        assert [
            c.cmid for c in (await s.search_clients(ClientSearch(license_status=2))).clients
        ] == ["c4"]
        recent = await s.search_clients(ClientSearch(seen_since=T0 + 3000, seen_before=T0 + 4200))
        assert [c.cmid for c in recent.clients] == ["c6", "c5"]
        assert (await s.search_clients(ClientSearch(text="PC-C1"))).total == 1
        assert (await s.search_clients(ClientSearch(text="%"))).total == 0
        with pytest.raises(ValueError, match="sort"):
            await s.search_clients(ClientSearch(sort="nope"))

    run(store, body)


def test_client_totals(store: HostStore) -> None:
    async def body(s: HostStore) -> None:
        totals = {
            (t.activation_id, t.license_status): t.clients for t in await s.client_totals(APP)
        }
        assert totals == {("act-a", 1): 4, ("act-b", 1): 5, ("act-b", 2): 1}
        assert await s.client_totals("other") == []

    run(store, body)


def test_search_events_newest_first_with_cursor(store: HostStore) -> None:
    async def body(s: HostStore) -> None:
        first = await s.search_events(EventSearch(limit=4))
        assert [e.time for e in first] == sorted((e.time for e in first), reverse=True)
        assert first[0].time == T0 + 7000
        last = first[-1]
        rest = await s.search_events(EventSearch(limit=100, before=(last.time, last.seq)))
        assert len(first) + len(rest) == 13
        assert {e.seq for e in first}.isdisjoint(e.seq for e in rest)
        dns = await s.search_events(EventSearch(event_ids=(12293, 12294)))
        assert [e.event_id for e in dns] == [12293, 12294]
        failed = await s.search_events(EventSearch(failed=True))
        assert [e.fields()["cmid"] for e in failed] == ["bad"]
        by_cmid = await s.search_events(EventSearch(cmid="c3"))
        assert len(by_cmid) == 1
        window = await s.search_events(
            EventSearch(since=T0 + 600, until=T0 + 1200, event_ids=(12290,))
        )
        assert [e.time for e in window] == [T0 + 1200, T0 + 600]

    run(store, body)


def test_activity_buckets(store: HostStore) -> None:
    async def body(s: HostStore) -> None:
        hourly = await s.activity(T0, T0 + 86400, 3600)
        assert [(b.start - T0, b.succeeded, b.failed) for b in hourly] == [(0, 6, 0), (3600, 4, 1)]
        daily = await s.activity(T0 - 86400, T0 + 86400, 86400)
        assert sum(b.succeeded for b in daily) == 10
        assert sum(b.failed for b in daily) == 1
        with pytest.raises(ValueError, match="hours"):
            await s.activity(T0, T0 + 1, 60)

    run(store, body)


def test_recent_last_seen_and_forget(store: HostStore) -> None:
    async def body(s: HostStore) -> None:
        assert await s.recent_last_seen(APP, 2) == [T0 + 5400, T0 + 4800]
        assert await s.forget_client(APP, "c9") is True
        assert await s.forget_client(APP, "c9") is False
        assert await s.recent_last_seen(APP, 1) == [T0 + 4800]
        assert await s.current_count(APP, T0 + 6000) == 9

    run(store, body)


def test_migration_backfills_activity(tmp_path: Path) -> None:
    path = tmp_path / "host.db"

    async def first() -> None:
        async with SqliteStore(path) as s:
            await s.record(req("a", T0))
            await s.record(req("b", T0 + 10, failed=True))

    asyncio.run(first())
    conn = sqlite3.connect(path)
    try:
        undo_schema_4(conn)
        conn.execute("ALTER TABLE clients DROP COLUMN last_activated")  # undo version 3
        conn.execute("DELETE FROM activity_hourly")
        conn.execute("DROP TRIGGER events_activity")
        conn.execute("DROP INDEX events_failed")
        conn.execute("DROP INDEX events_other")
        conn.execute("DROP TABLE activity_hourly")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    finally:
        conn.close()

    async def again() -> list[tuple[int, int]]:
        async with SqliteStore(path) as s:
            return [(b.succeeded, b.failed) for b in await s.activity(T0, T0 + 3600, 3600)]

    assert asyncio.run(again()) == [(1, 1)]
