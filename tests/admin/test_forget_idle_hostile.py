"""The idle writer's deletion of forgotten clients' notes when the store does not let it:
read-only, failing, killed midway. The note is never given up (it leaves the store once the
store writes again, with no forget after it), the writer serves requests meanwhile, and it
does not spin while it waits.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from admin.test_client_search import APP, T0, req
from admin.test_forget_idle import GONE, GONE_NAME, wait_for
from openkms.core.counting import CountPolicy
from openkms.store import _sqlite_writer
from openkms.store._sqlite_conn import connect_read_only, connect_writer
from openkms.store._sqlite_writer import FORGOTTEN_POLL, BatchWriter, Forget
from openkms.store.sqlite import SqliteStore

from helpers import forgotten_notes


def test_a_note_whose_deletion_failed_on_a_read_only_store_goes_once_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_writer, "FORGOTTEN_RETRY", 0.0, raising=False)
    path = tmp_path / "host.db"
    writable = connect_writer(path)
    writer = BatchWriter(writable, path, CountPolicy(), 10_000)
    try:
        writer.commit([req(GONE, GONE_NAME), Forget(APP, GONE)])
        writer.search.catch_up()
        assert writer.housekeeping_due
        writer.conn = connect_read_only(path)  # the store turned read-only under the writer
        assert not writer.housekeep()
        assert forgotten_notes(path) == 1
        assert writer.idle_timeout is None  # stale: no poll until a write reopens the store
        # Writable again: a request is served, and the note is still owed.
        assert len(writer.commit([req("cmid-kept", "desk-kept", T0 + 1)])) == 1
        assert writer.idle_timeout == FORGOTTEN_POLL
        while writer.housekeep():
            pass
        assert forgotten_notes(path) == 0 and writer.idle_timeout is None
    finally:
        writable.close()
        writer.close()


def test_a_failing_deletion_is_retried_later_without_spinning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deletion fails (a lock that is no store failure) for a while: the thread writer
    serves requests, tries again every ``FORGOTTEN_RETRY`` seconds only (its CPU while idle
    stays near nothing), and deletes the note once it can, with nothing written."""
    monkeypatch.setattr(_sqlite_writer, "FORGOTTEN_RETRY", 0.3, raising=False)
    real = BatchWriter._purge_forgotten
    attempts: list[float] = []
    failing = [True]

    def purge(self: BatchWriter, conn: sqlite3.Connection) -> None:
        attempts.append(time.monotonic())
        if failing[0]:
            raise sqlite3.OperationalError("a lock held elsewhere")
        real(self, conn)

    monkeypatch.setattr(BatchWriter, "_purge_forgotten", purge)
    path = tmp_path / "host.db"

    async def body() -> tuple[float, int, bool]:
        store = SqliteStore(path, writer="thread")
        await store.open()
        try:
            await store.record(req(GONE, GONE_NAME))
            assert await store.forget_client(APP, GONE)
            assert await wait_for(lambda: len(attempts) >= 1, 10)
            cpu = time.process_time()
            await asyncio.sleep(2.0)  # idle: what the writer burns while it waits to retry
            cpu = time.process_time() - cpu
            tried = len(attempts)
            await store.record(req("cmid-kept", "desk-kept", T0 + 1))  # still served
            failing[0] = False
            return cpu, tried, await wait_for(lambda: forgotten_notes(path) == 0, 10)
        finally:
            await store.close()

    cpu, tried, gone = asyncio.run(body())
    assert gone, "the note stayed after its deletion failed once"
    assert 2 <= tried <= 12, f"{tried} attempts in 2 s"  # every 0.3 s, not in a loop
    assert cpu < 0.5, f"{cpu:.2f} s of CPU in 2 s idle"


def test_a_host_killed_between_the_forget_and_the_deletion_loses_no_note(
    tmp_path: Path,
) -> None:
    """Killed after the index took the forget in, before the writer deleted the note: the
    next writer deletes it by itself, and the forgotten client stays out."""
    path = tmp_path / "host.db"
    conn = connect_writer(path)
    first = BatchWriter(conn, path, CountPolicy(), 10_000)
    first.commit([req(GONE, GONE_NAME), req("cmid-kept", "desk-kept", T0 + 1)])
    first.commit([Forget(APP, GONE)])
    first.search.catch_up()  # the index has the removal; the writer never deletes the note
    first.search.close()
    conn.close()  # as a kill
    assert forgotten_notes(path) == 1
    again = BatchWriter(connect_writer(path), path, CountPolicy(), 10_000)
    try:
        assert again.idle_timeout == FORGOTTEN_POLL
        again.search.catch_up()
        while again.housekeep():
            pass
        assert forgotten_notes(path) == 0 and again.idle_timeout is None
        (clients,) = again.conn.execute("SELECT count(*) FROM clients").fetchone()
        assert clients == 1
    finally:
        again.close()
