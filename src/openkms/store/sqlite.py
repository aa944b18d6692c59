"""The embedded SQLite host store: one writer with group commit, readers apart.

Writes (``submit_record``, ``log_event``, ``forget_client``) go to a single ``StoreWriter``:
by default a child process (``writer="process"``, ``_writer_process``: it never competes
with the event loop for the GIL), or a thread of this process (``writer="thread"``, for
programs without a busy event loop). The writer takes whatever has queued up (at most
``batch_max`` items), runs the batch in one ``BEGIN IMMEDIATE ... COMMIT`` with
``synchronous=FULL`` (``_sqlite_writer.BatchWriter``) and only then settles the futures,
once per batch. One fsync thus acknowledges many requests, the event loop never touches the
disk, and nothing is acknowledged before it is durable. Reads use their own connections in
worker threads (WAL lets them run while the writer commits). ``SqliteStoreReader`` reads a
store without writing; ``SqliteReader`` offers the same reads synchronously.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar, cast

from openkms.core import settings
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store._process_writer import RESTART_BACKOFF, ProcessWriter
from openkms.store._sqlite_conn import closed_error
from openkms.store._sqlite_reader import (
    DEFAULT_POLICY,
    SqliteReader,
    SqliteReads,
    SqliteStoreReader,
)
from openkms.store._sqlite_writer import Forget, StoreWriter, WriteOp, WriteResult
from openkms.store._writer_thread import ThreadWriter
from openkms.store.base import HostStore, RequestRecord

__all__ = ["SqliteReader", "SqliteStore", "SqliteStoreReader"]

logger = logging.getLogger("openkms.store")

T = TypeVar("T")

_IDLE_READERS = 4


class SqliteStore(SqliteReads, HostStore):
    """The default host store: one SQLite file in WAL mode, one writer, group commit."""

    def __init__(
        self,
        path: Path,
        *,
        policy: CountPolicy = DEFAULT_POLICY,
        event_retention: int = settings.EVENT_RETENTION,
        batch_max: int = 256,
        writer: Literal["thread", "process"] = "process",
        restart_backoff: float = RESTART_BACKOFF,
    ) -> None:
        if event_retention < 1:
            raise ValueError(f"event_retention must be at least 1, got {event_retention}")
        if batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {batch_max}")
        self.path = Path(path)
        self.policy = policy
        self.event_retention = event_retention
        self.batch_max = batch_max
        self.writer_mode = writer
        self.writer: StoreWriter = (
            ProcessWriter(
                self.path,
                policy=policy,
                event_retention=event_retention,
                batch_max=batch_max,
                restart_backoff=restart_backoff,
            )
            if writer == "process"
            else ThreadWriter(
                self.path, policy=policy, event_retention=event_retention, batch_max=batch_max
            )
        )
        self._state = "new"
        self._readers_lock = threading.Lock()
        self._idle_readers: list[SqliteReader] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file (creating and migrating its schema) and start the writer."""
        if self._state == "closed":
            raise closed_error()
        if self._state == "open":
            return
        if self._state == "opening":
            raise StoreError(_("the store {path} is already being opened").format(path=self.path))
        self._state = "opening"
        try:
            await self.writer.start()
        except BaseException:
            if self._state == "opening":
                self._state = "new"
            raise
        if self._state == "closed":  # close() ran while the file was being opened
            await self.writer.stop()
            raise closed_error()
        self._state = "open"
        logger.info("store %s open (writer %s)", self.path, self.writer_mode)

    async def close(self) -> None:
        """Commit every queued write, stop the writer and close all connections; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        await self.writer.stop()
        self._close_idle_readers()
        logger.info("store %s closed", self.path)

    def _check_open(self) -> None:
        if self._state == "closed":
            raise closed_error()
        if self._state != "open":
            raise StoreError(
                _("the store {path} is not open").format(path=self.path),
                fix=_("Call open() before using the store."),
            )

    # -- writes ----------------------------------------------------------------------------

    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        """Queue one request's record; the future gives the count once it is durable."""
        # The writer answers a record with its count (WriteResult narrowed, no wrapping).
        return cast("asyncio.Future[int]", self._submit(request))

    async def log_event(self, event: EventRecord) -> None:
        """Durably append a host event (12293, 12294, ...)."""
        await self._submit(event)

    async def forget_client(self, application_id: str, cmid: str) -> bool:
        """Durably remove one client (through the writer); False if it was unknown."""
        return bool(await self._submit(Forget(application_id, cmid)))

    def _submit(self, op: WriteOp) -> asyncio.Future[WriteResult]:
        """Queue ``op`` for the writer; the future settles once its batch has committed."""
        self._check_open()
        return self.writer.submit(op)

    # -- reads: pooled connections in worker threads, never the writer's -----------------

    async def _read(self, read: Callable[[SqliteReader], T]) -> T:
        self._check_open()
        return await asyncio.to_thread(self._with_reader, read)

    def _with_reader(self, read: Callable[[SqliteReader], T]) -> T:
        reader = self._acquire_reader()
        try:
            return read(reader)
        finally:
            self._release_reader(reader)

    def _acquire_reader(self) -> SqliteReader:
        with self._readers_lock:
            if self._idle_readers:
                return self._idle_readers.pop()
        return SqliteReader(self.path, policy=self.policy, pooled=True)

    def _release_reader(self, reader: SqliteReader) -> None:
        with self._readers_lock:
            if self._state == "open" and len(self._idle_readers) < _IDLE_READERS:
                self._idle_readers.append(reader)
                return
        reader.close()

    def _close_idle_readers(self) -> None:
        with self._readers_lock:
            readers, self._idle_readers = self._idle_readers, []
        for reader in readers:
            reader.close()
