"""``ProcessWriter``: the store's writes go to a child process, off the event loop's GIL.

The parent side of ``_writer_process`` (see there, and ``docs/architecture.md``, for why a
process): it starts the child, sends each write as a typed message (``_writer_messages``),
at most one socket write per loop iteration, settles the futures in order as the child's
replies come, and replaces a child that died.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Final

from openkms.core.counting import CountPolicy
from openkms.errors import StoreError
from openkms.i18n import _
from openkms.store._sqlite_writer import StoreWriter, WriteOp, WriteResult
from openkms.store._writer_messages import (
    FROM_WRITER,
    Done,
    Ready,
    Stop,
    frame,
    frames_of,
    message_of,
    split_frames,
)

__all__ = ["CHILD_MODULE", "RESTART_BACKOFF", "ProcessWriter"]

logger = logging.getLogger("openkms.store")

CHILD_MODULE: Final = "openkms.store._writer_process"
_STOP_TIMEOUT: Final = 30.0
# After a failed restart, writes fail at once for this long instead of each spawning a child.
RESTART_BACKOFF: Final = 1.0


class ProcessWriter(StoreWriter):
    """Runs the store's writes in a child process; ``submit`` from the event loop only.

    A child that dies is replaced when the next write comes; one that dies within
    ``restart_backoff`` seconds of starting (or cannot start) fails the writes of the
    following ``restart_backoff`` seconds at once instead of spawning a child for each.
    """

    def __init__(
        self,
        path: Path,
        *,
        policy: CountPolicy,
        event_retention: int,
        batch_max: int,
        restart_backoff: float = RESTART_BACKOFF,
    ) -> None:
        self.path = path
        self.policy = policy
        self.event_retention = event_retention
        self.batch_max = batch_max
        self.restart_backoff = restart_backoff
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._ready: asyncio.Future[None] | None = None
        self._gone: asyncio.Future[None] | None = None
        self._buffer = bytearray()
        self._pending: collections.deque[asyncio.Future[WriteResult]] = collections.deque()
        self._outbox: list[WriteOp] = []  # submitted, sent at the end of the loop iteration
        self._restart: asyncio.Task[None] | None = None
        self._stopping = False
        self._restart_failed: tuple[float, StoreError] | None = None
        self._started_at = 0.0
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop start() ran on

    @property
    def pid(self) -> int | None:
        """The child's process ID; None while no child runs."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the child and wait until it has opened (and migrated) the store."""
        self._loop = loop = asyncio.get_running_loop()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    CHILD_MODULE,
                    "--fd",
                    str(child.fileno()),
                    "--retention",
                    str(self.event_retention),
                    "--batch-max",
                    str(self.batch_max),
                    "--window-days",
                    str(self.policy.window_days),
                    "--cap-factor",
                    str(self.policy.cap_factor),
                    str(self.path),
                ],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        except OSError as exc:
            parent.close()
            raise StoreError(
                _("cannot start the store writer process: {exc}").format(exc=exc)
            ) from exc
        finally:
            child.close()
        self._buffer.clear()
        self._ready = loop.create_future()
        self._gone = loop.create_future()
        self._transport, _protocol = await loop.create_connection(
            lambda: _Replies(self), sock=parent
        )
        try:
            await self._ready
        except BaseException:
            await self._reap(kill=True)
            raise
        self._started_at = loop.time()
        self._running = True

    def submit(self, op: WriteOp) -> asyncio.Future[WriteResult]:
        """Queue ``op``; the future settles once the batch holding it is durable."""
        # The loop start() ran on, without asking for it per write (that costs a getpid()).
        loop = self._loop if self._loop is not None else asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        failed = self._restart_failed
        if self._transport is None and failed is not None:
            if loop.time() - failed[0] < self.restart_backoff:
                future.set_exception(failed[1].copy())
                return future
            self._restart_failed = None
        self._pending.append(future)
        self._outbox.append(op)
        if len(self._outbox) == 1:
            if self._transport is not None:
                loop.call_soon(self._flush)
            elif self._restart is None and not self._stopping:
                self._restart = loop.create_task(self._restart_writer())
        return future

    def _flush(self) -> None:
        """Send what was submitted since the last flush: one write, usually one frame."""
        if self._outbox and self._transport is not None:
            try:
                data = frames_of(self._outbox)
            except Exception:  # a value msgspec cannot encode: that write fails, not all
                data = self._frames_failing_unencodable()
            self._transport.write(data)
            self._outbox.clear()

    def _frames_failing_unencodable(self) -> bytes:
        """The outbox's frames one by one; a write that cannot be encoded fails at once."""
        pending, outbox = self._pending, self._outbox
        futures = list(itertools.islice(pending, len(pending) - len(outbox), None))
        frames = []
        for op, future in zip(outbox, futures, strict=True):
            try:
                frames.append(frame(message_of(op)))
            except Exception as exc:
                logger.error("a store write could not be encoded: %s", exc)
                pending.remove(future)
                future.set_exception(StoreError(str(exc)))  # a bug upstream: logged above
        return b"".join(frames)

    async def _restart_writer(self) -> None:
        """Start a new child after one died; what was submitted meanwhile goes to it."""
        try:
            logger.warning("restarting the store writer process")
            await self._reap()  # the old child, dead or dying
            await self.start()
        except Exception as exc:
            error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
            logger.error("the store writer process cannot restart: %s", error)
            self._restart_failed = (asyncio.get_running_loop().time(), error)
            self._fail_all(error)
        finally:
            self._restart = None
        self._flush()

    async def stop(self) -> None:
        """Commit everything submitted, stop the child and wait for it."""
        self._stopping = True
        if self._restart is not None:
            await asyncio.wait([self._restart])
        stopped = True
        if self._transport is not None and self._gone is not None:
            self._flush()
            self._transport.write(frame(Stop()))
            try:
                await asyncio.wait_for(asyncio.shield(self._gone), _STOP_TIMEOUT)
            except TimeoutError:
                logger.error("the store writer process did not stop; killing it")
                stopped = False
        await self._reap(kill=not stopped)

    async def _reap(self, *, kill: bool = False) -> None:
        """Close our end and wait for the child (which exits once it sees our end closed)."""
        process, self._process = self._process, None
        if self._transport is not None:
            self._transport.close()
        if process is None:
            return
        if kill:
            process.kill()
        # A plain blocking wait: Popen.wait(timeout) polls with sleeps that misbehave when
        # the host's clock is faked (libfaketime); the child has closed its end, or is killed.
        await asyncio.to_thread(process.wait)

    # -- replies ---------------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        self._buffer += data
        for payload in split_frames(self._buffer):
            reply = FROM_WRITER.decode(payload)
            if isinstance(reply, Done):
                self._settle(reply.results)
            elif isinstance(reply, Ready):
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
            elif reply.count == 0 and self._ready is not None and not self._ready.done():
                self._ready.set_exception(reply.error())
            else:
                logger.error("store write of %d items failed: %s", reply.count, reply.message)
                self._fail(reply.count, reply.error())

    def _settle(self, results: list[WriteResult]) -> None:
        pending = self._pending
        for result in results:
            future = pending.popleft()
            if not future.done():
                future.set_result(result)

    def _lost(self) -> None:
        """The child closed its end: it stopped, crashed or was killed."""
        self._transport = None
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        error = StoreError(
            _("the store writer process for {path} stopped before answering").format(
                path=self.path
            ),
            fix=_(
                "The host starts a new writer for the next requests; if this repeats, look "
                "for a killed process or a full disk in the host's log and run "
                "'openkms doctor host'."
            ),
        )
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
        if not self._running:  # it never became ready: start() fails and says why
            return
        self._running = False
        # Only frames already sent were lost with the child; the outbox waits for a new one.
        sent = len(self._pending) - len(self._outbox)
        if sent and not self._stopping:
            logger.error("%s; %d writes failed", error.message, sent)
        self._fail(sent, error)
        if self._stopping:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._started_at < self.restart_backoff:
            # It died right after starting: one restart per back-off, failing fast between.
            self._restart_failed = (loop.time(), error)
            self._fail_all(error)
        elif self._outbox and self._restart is None:
            self._restart = loop.create_task(self._restart_writer())

    def _fail(self, count: int, error: StoreError) -> None:
        """Fail the ``count`` oldest pending writes, each with its own copy of ``error``."""
        for _index in range(count):
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(error.copy())

    def _fail_all(self, error: StoreError) -> None:
        self._outbox.clear()
        self._fail(len(self._pending), error)


class _Replies(asyncio.Protocol):
    def __init__(self, writer: ProcessWriter) -> None:
        self._writer = writer

    def data_received(self, data: bytes) -> None:
        self._writer._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._writer._lost()
