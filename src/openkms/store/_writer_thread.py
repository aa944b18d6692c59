"""The SQLite store's writer as a thread of this process.

For programs that embed a store without a busy event loop (tests, the store benchmark):
next to a loop under load, every SQLite call here would wait for the GIL, which is why a
host writes through ``_writer_process`` instead (``docs/architecture.md``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from openkms.core.counting import CountPolicy
from openkms.errors import StoreError
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import (
    BatchWriter,
    StoreWriter,
    WriteOp,
    WriteOutcome,
    WriteResult,
)

__all__ = ["ThreadWriter"]

logger = logging.getLogger("openkms.store")

# (an operation, the future to settle, the loop owning the future)
_Item = tuple[WriteOp, "asyncio.Future[WriteResult]", asyncio.AbstractEventLoop]


class ThreadWriter(StoreWriter):
    """One writer thread fed by a queue; ``submit`` from any event loop."""

    def __init__(
        self, path: Path, *, policy: CountPolicy, event_retention: int, batch_max: int
    ) -> None:
        self.path = path
        self.policy = policy
        self.event_retention = event_retention
        self.batch_max = batch_max
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Open and migrate the store off the event loop, then start the thread."""
        conn = await asyncio.to_thread(connect_writer, self.path)
        writer = BatchWriter(conn, self.path, self.policy, self.event_retention)
        writer.start_indexing()
        self._thread = threading.Thread(
            target=self._write_loop, args=(writer,), name="openkms-store-writer", daemon=True
        )
        self._thread.start()

    def submit(self, op: WriteOp) -> asyncio.Future[WriteResult]:
        """Queue ``op``; the future settles once the batch holding it has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        self._queue.put((op, future, loop))
        return future

    async def stop(self) -> None:
        """Commit everything queued, then stop the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            # FIFO: the writer commits everything queued before this sentinel, then stops.
            self._queue.put(None)
            await asyncio.to_thread(thread.join)

    def _write_loop(self, writer: BatchWriter) -> None:
        try:
            more = True
            while more:
                while writer.housekeeping_due and self._queue.empty():
                    writer.housekeep()  # bounded steps, only while no write waits
                batch, more = self._take_batch(writer.idle_timeout)
                try:
                    _commit(writer, batch)
                except Exception:  # last resort: later writes must still find a writer
                    logger.critical("store writer error; continuing", exc_info=True)
        finally:
            writer.close()

    def _take_batch(self, timeout: float | None) -> tuple[list[_Item], bool]:
        """Block for one item (``timeout`` seconds at most: then no item), then drain what
        is queued; False once the stop sentinel is seen."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return [], True
        batch: list[_Item] = []
        while item is not None:
            batch.append(item)
            if len(batch) >= self.batch_max:
                return batch, True
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, True
        return batch, False


def _commit(writer: BatchWriter, batch: list[_Item]) -> None:
    """Run one batch in one transaction, then settle its futures (results or errors)."""
    if not batch:
        return
    started = time.perf_counter()
    outcomes = writer.commit_each([op for op, _, _ in batch])
    failed = sum(isinstance(outcome, StoreError) for outcome in outcomes)
    if failed:
        error = next(o for o in outcomes if isinstance(o, StoreError))
        logger.error("store write of %d of %d items failed: %s", failed, len(batch), error)
    elif logger.isEnabledFor(logging.DEBUG):
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.debug("store committed a batch of %d in %.2f ms", len(batch), elapsed_ms)
    _settle_all(batch, outcomes)


def _settle_all(batch: list[_Item], outcomes: list[WriteOutcome]) -> None:
    """Wake the batch's waiters: one call_soon_threadsafe per event loop, not per item."""
    groups: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], WriteOutcome]]] = {}
    for (_, future, loop), outcome in zip(batch, outcomes, strict=True):
        groups.setdefault(loop, []).append((future, outcome))
    for loop, settled in groups.items():
        try:
            loop.call_soon_threadsafe(_settle, settled)
        except RuntimeError:  # the loop closed while its writes were in flight
            logger.warning("%d store writes finished after their event loop closed", len(settled))


def _settle(outcomes: list[tuple[asyncio.Future[Any], WriteOutcome]]) -> None:
    """Runs on the event loop: set each future's result, or a fresh copy of its error."""
    for future, outcome in outcomes:
        if future.cancelled():
            continue
        if isinstance(outcome, StoreError):
            future.set_exception(outcome.copy())
        else:
            future.set_result(outcome)
