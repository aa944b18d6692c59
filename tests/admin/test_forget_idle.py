"""A forgotten client leaves ``host.db`` too, on an idle store, within a bounded time.

The store notes a forgotten CMID (``clients_forgotten``) until its search index has taken
the removal in; the index's thread, not a write, is what makes the note's deletion due, so
an idle writer must look again by itself (``BatchWriter.idle_timeout``). The writer's
connection has ``secure_delete = FAST``: the deleted row and note are overwritten, and the
``-wal`` is emptied into the file after the note's deletion, so neither file keeps the CMID.
Both writers (a thread, the host's child process) are held to it; nothing is written after
the forget.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest

from admin.test_client_search import APP, T0, req
from openkms.core.counting import CountPolicy
from openkms.store import _sqlite_text as text
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import FORGOTTEN_POLL, BatchWriter, Forget
from openkms.store.sqlite import SqliteStore

from helpers import forgotten_notes, store_bytes

GONE = "cmid-idle-0042-gone"
GONE_NAME = "desk-idle-0042-private"
KEPT = 8  # other clients, whose requests push the forgotten one's event out (retention)


def traces(path: Path) -> int:
    """How often the forgotten client's CMID and machine name are in those bytes."""
    raw = store_bytes(path)
    return raw.count(GONE.encode()) + raw.count(GONE_NAME.encode())


async def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Whether ``condition`` (made true by the writer's threads) holds within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_an_idle_store_drops_the_note_and_every_trace_of_a_forgotten_client(
    tmp_path: Path, mode: Literal["thread", "process"]
) -> None:
    path = tmp_path / "host.db"

    async def body() -> tuple[bool, int, int]:
        # A retention of a few events: the forgotten client's own event is deleted (and
        # overwritten) by the next requests, as retention does on a long-running host.
        store = SqliteStore(path, event_retention=4, writer=mode)
        await store.open()
        try:
            await store.record(req(GONE, GONE_NAME))
            for i in range(KEPT):
                await store.record(req(f"cmid-idle-{i:04d}-kept", f"desk-{i:04d}", T0 + 1 + i))
            assert await store.forget_client(APP, GONE)
            # Nothing is written from now on: only the writer's idle wait can delete the note.
            gone = await wait_for(lambda: forgotten_notes(path) == 0 and traces(path) == 0, 10)
            return gone, forgotten_notes(path), traces(path)
        finally:
            await store.close()

    gone, left, seen = asyncio.run(body())
    assert gone, f"{left} notes and {seen} traces left while the store was idle"
    assert forgotten_notes(path) == 0 and traces(path) == 0
    # The other clients are still there, by the same bytes check.
    assert b"cmid-idle-0007-kept" in store_bytes(path)


def test_the_writer_waits_without_a_timeout_unless_a_note_is_left(tmp_path: Path) -> None:
    path = tmp_path / "host.db"
    writer = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    try:
        writer.commit([req(GONE, GONE_NAME), req("cmid-kept", "desk-kept", T0 + 1)])
        assert writer.idle_timeout is None
        assert writer.commit([Forget(APP, "cmid-never-seen")]) == [False]
        assert writer.idle_timeout is None
        assert writer.commit([Forget(APP, GONE)]) == [True]
        assert writer.idle_timeout == FORGOTTEN_POLL
        assert not writer.housekeeping_due  # the index has not taken the note in yet
        writer.search.catch_up()
        assert writer.housekeeping_due
        writer.housekeep()
        assert writer.idle_timeout is None and forgotten_notes(path) == 0
    finally:
        writer.close()


def test_a_note_left_by_a_stopped_writer_is_looked_after_at_the_next_start(
    tmp_path: Path,
) -> None:
    """A host killed after a forget leaves its note: the next writer polls for it too."""
    path = tmp_path / "host.db"
    conn = connect_writer(path)
    first = BatchWriter(conn, path, CountPolicy(), 10_000)
    first.commit([req(GONE, GONE_NAME), Forget(APP, GONE)])
    conn.close()  # not ``close()``: as a kill, the index never took the note in
    again = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    try:
        assert forgotten_notes(path) == 1 and again.idle_timeout == FORGOTTEN_POLL
        again.search.catch_up()
        while again.housekeep():
            pass
        assert forgotten_notes(path) == 0 and again.idle_timeout is None
    finally:
        again.close()


def test_the_writer_connection_overwrites_what_it_deletes(tmp_path: Path) -> None:
    conn = connect_writer(tmp_path / "host.db")
    try:
        (mode,) = conn.execute("PRAGMA secure_delete").fetchone()
    finally:
        conn.close()
    assert mode == 2  # FAST


def test_a_checkpoint_a_search_deferred_is_tried_again_on_an_idle_store(tmp_path: Path) -> None:
    """A search reading the index when it takes the forget in defers the index's checkpoint
    (its ``busy_timeout``, 5 s, runs out): once the search is over, the index tries again by
    itself, and the writer's note goes, with nothing written meanwhile."""
    path = tmp_path / "host.db"

    async def body() -> tuple[bool, bool]:
        store = SqliteStore(path, writer="thread")
        await store.open()
        search = None
        try:
            await store.record(req(GONE, GONE_NAME))
            await store.record(req("cmid-idle-kept", "desk-kept", T0 + 1))
            index = text.index_path(path)
            assert await wait_for(lambda: index_cursor(index) >= 2, 10)
            # A search's snapshot of the index, held across the index's next checkpoint.
            search = sqlite3.connect(f"{index.as_uri()}?mode=ro", uri=True)
            search.execute("BEGIN")
            search.execute("SELECT count(*) FROM meta").fetchone()
            assert await store.forget_client(APP, GONE)
            held = not await wait_for(lambda: forgotten_notes(path) == 0, 7)  # the deferral: 5 s
            search.rollback()
            search.close()
            search = None
            return held, await wait_for(lambda: forgotten_notes(path) == 0, 10)
        finally:
            if search is not None:
                search.close()
            await store.close()

    held, gone = asyncio.run(body())
    assert held, "the note went while a search held the index (nothing was deferred)"
    assert gone, "the note stayed once the search was over, the store idle"


def index_cursor(index: Path) -> int:
    """The index's cursor (0 while it has none)."""
    try:
        conn = sqlite3.connect(f"{index.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'cursor'").fetchone()
    except sqlite3.Error:
        return 0
    finally:
        conn.close()
    return int(row[0]) if row and isinstance(row[0], int) else 0
