"""Kept client totals and keyset pages: the same answers as counting and offset paging.

The SQLite and PostgreSQL stores keep clients by product, status and hour of last_seen in
a table their triggers update (schema 4 / 3); the memory store counts. After any sequence of
new clients, renewals (a later or an earlier time, another status or product), clients
forgotten and time ranges (the 30-day window, ``seen_before``), the totals each store gives
must equal the memory store's count.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.events import format_client_time, make_event
from openkms.store.base import CLIENT_SORTS, ClientSearch, HostStore, RequestRecord
from openkms.store.memory import MemoryStore
from openkms.store.postgres import PostgresStore
from openkms.store.sqlite import SqliteStore
from pgserver import Postgres

T0 = 1_800_000_000
HOUR = 3600
DAY = 86400


def req(app: str, cmid: str, t: int, act: str, status: int, name: str) -> RequestRecord:
    event = make_event(12290, t, ["0x0", 5, name, cmid, format_client_time(t), 0, status, 0, act])
    return RequestRecord(t, "host", app, act, cmid, name, status, 5, ResultCode.OK, event)


class Stores:
    """The store under test and the memory reference, open on one event loop."""

    def __init__(self, store: HostStore) -> None:
        self.loop = asyncio.new_event_loop()
        self.store, self.reference = store, MemoryStore()
        self.loop.run_until_complete(self.store.open())
        self.loop.run_until_complete(self.reference.open())

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())
        self.loop.run_until_complete(self.reference.close())
        self.loop.close()


def undo_schema_4(conn: sqlite3.Connection) -> None:
    """Take an SQLite store back to schema version 3 (its clients kept)."""
    conn.execute("DROP TRIGGER clients_forget")  # version 7
    conn.execute("DROP TABLE clients_forgotten")
    conn.execute("DROP INDEX events_cmid_run")  # version 5
    conn.execute("CREATE INDEX events_cmid ON events (cmid) WHERE cmid IS NOT NULL")
    for trigger in ("totals_insert", "totals_delete", "totals_update"):
        conn.execute(f"DROP TRIGGER clients_{trigger}")
    conn.execute("DROP TABLE client_totals")  # version 4's search tables left at version 6
    conn.execute("DROP INDEX clients_name")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()


@pytest.fixture(scope="module")
def pg_dsn_module(postgres: Postgres) -> str:
    """A schema of the session's server for this module's tests (each example its own
    application in it)."""
    return postgres.create_schema(f"totals_{os.getpid()}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stores]:
    if request.param == "postgres":
        store: HostStore = PostgresStore(request.getfixturevalue("pg_dsn_module"))
    else:
        store = SqliteStore(tmp_path_factory.mktemp("totals") / "host.db")
    pair = Stores(store)
    yield pair
    pair.close()


# Times around a few hours (partial hours at both ends of a range) or over weeks.
NEAR = st.one_of(st.integers(-HOUR, 4 * HOUR), st.integers(-3 * DAY, 40 * DAY))
# One operation: (client number, time offset in seconds, product, status, name, forget?)
OPS = st.lists(
    st.tuples(
        st.integers(0, 7),
        NEAR,
        st.sampled_from(["act-a", "act-b"]),
        st.sampled_from([1, 2, 5]),
        st.sampled_from(["pc-one", "PC-TWO", "laptop"]),
        st.sampled_from([False, False, False, True]),
    ),
    min_size=3,
    max_size=25,
)
TIMES = st.one_of(st.none(), NEAR.map(lambda s: T0 + s))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS, since=TIMES, before=TIMES, act=st.sampled_from([None, "act-a"]))
def test_kept_totals_equal_a_count(
    stores: Stores, ops: list[tuple[int, int, str, int, str, bool]],
    since: int | None, before: int | None, act: str | None,
) -> None:  # fmt: skip
    app = f"app-{uuid.uuid4()}"  # each example its own application, in the same store
    run = stores.loop.run_until_complete
    for number, offset, product, status, name, forget in ops:
        cmid = f"cmid-{number}"
        for store in (stores.store, stores.reference):
            if forget:
                run(store.forget_client(app, cmid))
            else:
                run(store.record(req(app, cmid, T0 + offset, product, status, name)))
    for status in (None, 1):
        search = ClientSearch(
            application_id=app, activation_id=act, license_status=status,
            seen_since=since, seen_before=before, limit=0,
        )  # fmt: skip
        expected = run(stores.reference.search_clients(search)).total
        assert run(stores.store.search_clients(search)).total == expected
    assert run(stores.store.client_totals(app)) == run(stores.reference.client_totals(app))


@given(
    ops=OPS,
    sort=st.sampled_from(CLIENT_SORTS),
    descending=st.booleans(),
    size=st.integers(1, 4),
    text=st.sampled_from([None, "pc", "PC-T", "top", "cmid-3"]),
)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_keyset_pages_walk_the_same_order_as_offsets(
    stores: Stores, ops: list[tuple[int, int, str, int, str, bool]],
    sort: str, descending: bool, size: int, text: str | None,
) -> None:  # fmt: skip
    app = f"app-{uuid.uuid4()}"
    run = stores.loop.run_until_complete
    for number, offset, product, status, name, forget in ops:
        for store in (stores.store, stores.reference):
            if forget:
                run(store.forget_client(app, f"cmid-{number}"))
            else:
                run(store.record(req(app, f"cmid-{number}", T0 + offset, product, status, name)))
    search = ClientSearch(
        application_id=app, text=text, sort=sort, descending=descending, limit=100
    )
    whole = run(stores.reference.search_clients(search))
    assert run(stores.store.search_clients(search)) == whole
    walked, after = [], None
    for _ in itertools.count():
        page = run(stores.store.search_clients(
            ClientSearch(application_id=app, text=text, sort=sort, descending=descending,
                         limit=size, after=after)
        ))  # fmt: skip
        assert page.total == whole.total
        walked += page.clients
        if len(page.clients) < size:
            break
        last = page.clients[-1]
        after = (getattr(last, sort), last.application_id, last.cmid)
    assert walked == whole.clients


def test_a_migrated_store_keeps_totals_of_its_clients(tmp_path: Path) -> None:
    """Schema 4 builds the totals and queues every client for the search index."""
    path = tmp_path / "host.db"
    app = "app"

    async def first() -> None:
        async with SqliteStore(path) as s:
            for i in range(30):
                await s.record(req(app, f"c{i}", T0 + i * HOUR, "act-a", 1 + i % 2, f"pc-{i}"))

    asyncio.run(first())
    conn = sqlite3.connect(path)
    undo_schema_4(conn)
    conn.close()

    async def again() -> None:
        async with SqliteStore(path) as s:
            page = await s.search_clients(
                ClientSearch(application_id=app, seen_since=T0 + 5 * HOUR + 1, limit=0)
            )
            assert page.total == 24
            assert [(t.license_status, t.clients) for t in await s.client_totals(app)] == [
                (1, 15),
                (2, 15),
            ]
            found = await s.search_clients(ClientSearch(application_id=app, text="pc-2"))
            assert sorted(c.cmid for c in found.clients) == ["c2"] + [f"c2{i}" for i in range(10)]

    asyncio.run(again())
