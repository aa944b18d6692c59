"""The SQLite writer's housekeeping: retention and checkpoints in small steps, between batches.

A full store must not stall its requests: no commit deletes more than a bounded number of
old events, the deletes ahead of the limit run in their own small transactions when the
writer is idle, and WAL checkpoints run there too instead of inside a request's COMMIT.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord, make_event
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import CHECKPOINT_COMMITS, PRUNE_STEP, BatchWriter
from openkms.store.base import EventQuery
from openkms.store.sqlite import SqliteStore

T0 = 1_800_000_000


def event(i: int) -> EventRecord:
    return make_event(12294, T0 + i, ["example.test"])


def stored(path: Path) -> tuple[int, int, int]:
    """(rows, oldest seq, newest seq) of the events table."""
    conn = sqlite3.connect(path)
    try:
        rows, oldest, newest = conn.execute(
            "SELECT count(*), min(seq), max(seq) FROM events"
        ).fetchone()
    finally:
        conn.close()
    return int(rows), int(oldest or 0), int(newest or 0)


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[BatchWriter]:
    path = tmp_path / "host.db"
    batch_writer = BatchWriter(connect_writer(path), path, CountPolicy(), 2000)
    yield batch_writer
    batch_writer.close()


def test_a_commit_at_the_limit_deletes_only_what_takes_it_over(writer: BatchWriter) -> None:
    for start in range(0, 2000, 500):
        writer.commit([event(i) for i in range(start, start + 500)])
    assert stored(writer.path)[0] == 2000
    for i in range(2000, 2100):
        writer.commit([event(i)])
        rows, oldest, newest = stored(writer.path)
        # Never over the limit, and never a big delete: exactly the one row over it.
        assert rows == 2000
        assert (oldest, newest) == (i - 1998, i + 1)


def test_a_big_excess_is_deleted_in_bounded_steps(tmp_path: Path) -> None:
    path = tmp_path / "host.db"
    big = BatchWriter(connect_writer(path), path, CountPolicy(), 100_000)
    big.commit([event(i) for i in range(3000)])
    big.close()
    # Reopened with a much smaller allowance: each commit deletes a bounded number of rows.
    small = BatchWriter(connect_writer(path), path, CountPolicy(), 100)
    try:
        before = stored(path)[0]
        small.commit([event(3000)])
        assert stored(path)[0] == before + 1 - PRUNE_STEP
        while small.housekeep():
            rows = stored(path)[0]
            assert rows >= 90  # steps stop at the headroom below the limit
        assert stored(path)[0] <= 100
    finally:
        small.close()


def test_housekeeping_deletes_ahead_of_the_limit_in_steps(writer: BatchWriter) -> None:
    writer.commit([event(i) for i in range(2000)])
    assert stored(writer.path)[0] == 2000
    writer.commit([event(2000)])  # at the limit: deletes one, and housekeeping is owed
    assert writer.housekeeping_due
    steps = []
    while writer.housekeeping_due:
        before = stored(writer.path)[0]
        writer.housekeep()
        steps.append(before - stored(writer.path)[0])
    assert max(steps) <= PRUNE_STEP
    rows, _, newest = stored(writer.path)
    assert rows == 2000 - 2000 // 10  # the headroom: a tenth of the allowance
    assert newest == 2001
    # The next commits find room and delete nothing.
    writer.commit([event(i) for i in range(2001, 2101)])
    assert stored(writer.path)[0] == rows + 100


def test_checkpoints_run_between_batches(writer: BatchWriter) -> None:
    for i in range(CHECKPOINT_COMMITS - 1):
        writer.commit([event(i)])
    assert not writer.housekeeping_due
    writer.commit([event(CHECKPOINT_COMMITS)])
    assert writer.housekeeping_due
    assert not writer.housekeep()
    # Everything in the WAL was copied back: nothing is left for another checkpoint.
    busy, frames, copied = writer.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames == copied


def test_housekeeping_failure_is_left_to_the_next_batch(writer: BatchWriter) -> None:
    for i in range(CHECKPOINT_COMMITS):
        writer.commit([event(i)])
    writer.conn.close()
    assert not writer.housekeep()  # logged, not raised
    assert not writer.housekeeping_due
    writer.conn = connect_writer(writer.path)
    assert writer.commit([event(99)]) == [None]


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_an_idle_writer_catches_up_on_retention(tmp_path: Path, kind: str) -> None:
    async def body() -> int:
        store = SqliteStore(tmp_path / "host.db", writer=kind, event_retention=200)  # type: ignore[arg-type]
        await store.open()
        try:
            for start in range(0, 1100, 100):
                await asyncio.gather(
                    *(store.log_event(event(i)) for i in range(start, start + 100))
                )
            # A last write, answered only after the batches before it and the housekeeping
            # the writer did while it waited: both writers run the steps between batches.
            for i in range(250, 280):
                await store.log_event(event(i))
            kept = await store.events(EventQuery(limit=10_000))
        finally:
            await store.close()
        return len(kept)

    kept = asyncio.run(body())
    # Deletes at commit alone would keep exactly 200; the steps between batches went ahead.
    assert kept < 195
