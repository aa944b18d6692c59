"""The SQLite store's writer in a child process, so it never waits for the event loop's GIL.

In one process, the writer thread must take the GIL back after every SQLite call, and an
event loop busy with thousands of connections holds it for up to the interpreter's switch
interval (5 ms) each time: under load a commit that needs 0.5 ms of work took 3 to 30 ms
(``bench/README.md``). A child process has its own interpreter, so the two run in parallel.

The parent (``ProcessWriter``, on the event loop) sends operations over a Unix socket
pair as length-prefixed MessagePack frames, at most one write per loop iteration. The child
(``main``) reads whatever has arrived, commits it as one batch (``BatchWriter``) and answers
with one frame holding the batch's results in order, only after COMMIT returned. Since both
keep the order, replies carry no identifiers. The child ignores SIGINT and SIGTERM (a Ctrl-C
or a service manager signals the whole process group; the host stops it in order) and exits
after committing what it has when the parent says stop or goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.counting import CountPolicy
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.store import _sqlite_db as db
from openkms.store._sqlite_writer import BatchWriter, Forget, WriteOp
from openkms.store.base import RequestRecord

__all__ = ["ProcessWriter", "main"]

logger = logging.getLogger("openkms.store")

_HEADER: Final = 4
_READ_SIZE: Final = 1 << 18
_STOP_TIMEOUT: Final = 30.0
# After a failed restart, writes fail at once for this long instead of each spawning a child.
_RESTART_BACKOFF: Final = 1.0

# Parent -> child: [kind, payload]
_RECORD: Final = 0
_EVENT: Final = 1
_FORGET: Final = 2
_STOP: Final = 3
# Child -> parent: [DONE, [results...]] | [FAILED, n, message, code, fix] | [READY]
_DONE: Final = 0
_FAILED: Final = 1
_READY: Final = 2

_encoder = msgspec.msgpack.Encoder()
_frame_decoder = msgspec.msgpack.Decoder(tuple[int, msgspec.Raw])
_reply_decoder = msgspec.msgpack.Decoder(list[Any])
_payload_decoders: Final[dict[int, msgspec.msgpack.Decoder[Any]]] = {
    _RECORD: msgspec.msgpack.Decoder(RequestRecord),
    _EVENT: msgspec.msgpack.Decoder(EventRecord),
    _FORGET: msgspec.msgpack.Decoder(Forget),
}


def _frame(message: object) -> bytes:
    payload = _encoder.encode(message)
    return len(payload).to_bytes(_HEADER, "big") + payload


def _split_frames(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buffer``."""
    frames: list[bytes] = []
    start = 0
    while len(buffer) - start >= _HEADER:
        size = int.from_bytes(buffer[start : start + _HEADER], "big")
        end = start + _HEADER + size
        if end > len(buffer):
            break
        frames.append(bytes(buffer[start + _HEADER : end]))
        start = end
    del buffer[:start]
    return frames


def _failed(count: int, error: StoreError) -> bytes:
    return _frame([_FAILED, count, error.message, int(error.code), error.fix])


def _error(message: str, code: int, fix: str) -> StoreError:
    try:
        result = ResultCode(code)
    except ValueError:
        result = ResultCode.INTERNAL_ERROR
    return StoreError(message, code=result, fix=fix)


# -- the parent side -------------------------------------------------------------------------


class ProcessWriter:
    """Runs the store's writes in a child process; ``submit`` from the event loop only."""

    def __init__(
        self, path: Path, *, policy: CountPolicy, event_retention: int, batch_max: int
    ) -> None:
        self.path = path
        self.policy = policy
        self.event_retention = event_retention
        self.batch_max = batch_max
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._ready: asyncio.Future[None] | None = None
        self._gone: asyncio.Future[None] | None = None
        self._buffer = bytearray()
        self._pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._outbox: list[bytes] = []
        self._restart: asyncio.Task[None] | None = None
        self._stopping = False
        self._restart_failed: tuple[float, StoreError] | None = None
        self._started_at = 0.0

    async def start(self) -> None:
        """Start the child and wait until it has opened (and migrated) the store."""
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "openkms.store._writer_process",
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
            raise StoreError(f"cannot start the store writer process: {exc}") from exc
        finally:
            child.close()
        self._buffer.clear()
        self._ready = loop.create_future()
        self._gone = loop.create_future()
        self._transport, _ = await loop.create_connection(lambda: _Replies(self), sock=parent)
        try:
            await self._ready
        except BaseException:
            await self._reap(kill=True)
            raise
        self._started_at = loop.time()

    def submit(self, op: WriteOp) -> asyncio.Future[Any]:
        """Queue ``op``; the future settles once the batch holding it is durable."""
        if isinstance(op, RequestRecord):
            frame = _frame((_RECORD, op))
        elif isinstance(op, EventRecord):
            frame = _frame((_EVENT, op))
        elif isinstance(op, Forget):
            frame = _frame((_FORGET, op))
        else:
            raise TypeError(f"the writer process cannot run {op!r}")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        failed = self._restart_failed
        if self._transport is None and failed is not None:
            if loop.time() - failed[0] < _RESTART_BACKOFF:
                future.set_exception(failed[1].copy())
                return future
            self._restart_failed = None
        self._pending.append(future)
        self._outbox.append(frame)
        if len(self._outbox) == 1:
            if self._transport is not None:
                loop.call_soon(self._flush)
            elif self._restart is None and not self._stopping:
                self._restart = loop.create_task(self._restart_writer())
        return future

    def _flush(self) -> None:
        if self._outbox and self._transport is not None:
            self._transport.write(b"".join(self._outbox))
            self._outbox.clear()

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
            self._outbox.append(_frame((_STOP, None)))
            self._flush()
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
        for frame in _split_frames(self._buffer):
            reply = _reply_decoder.decode(frame)
            kind = reply[0]
            if kind == _DONE:
                self._settle(reply[1])
            elif kind == _READY:
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(None)
            else:
                _, count, message, code, fix = reply
                error = _error(message, code, fix)
                if count == 0 and self._ready is not None and not self._ready.done():
                    self._ready.set_exception(error)
                    continue
                logger.error("store write of %d items failed: %s", count, message)
                self._fail(count, error)

    def _settle(self, results: list[Any]) -> None:
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
            f"the store writer process for {self.path} stopped before answering",
            fix="The host starts a new writer for the next requests; if this repeats, look "
            "for a killed process or a full disk in the host's log and run "
            "'openkms doctor host'.",
        )
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
        # Only frames already sent were lost with the child; the outbox waits for a new one.
        sent = len(self._pending) - len(self._outbox)
        if sent and not self._stopping:
            logger.error("%s; %d writes failed", error.message, sent)
        self._fail(sent, error)
        if self._stopping:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._started_at < _RESTART_BACKOFF:
            # It died right after starting: at most one restart a second, failing fast between.
            self._restart_failed = (loop.time(), error)
            self._fail_all(error)
        elif self._outbox and self._restart is None:
            self._restart = loop.create_task(self._restart_writer())

    def _fail(self, count: int, error: StoreError) -> None:
        """Fail the ``count`` oldest pending writes, each with its own copy of ``error``."""
        for _ in range(count):
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


# -- the child side --------------------------------------------------------------------------


def _serve(sock: socket.socket, writer: BatchWriter, batch_max: int) -> None:
    """Commit what arrives, batch by batch, until told to stop or the parent goes away."""
    buffer = bytearray()
    running = True
    while running:
        data = sock.recv(_READ_SIZE)
        if not data:
            running = False
        buffer += data
        while running:  # take everything that has arrived: one commit for all of it
            try:
                more = sock.recv(_READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not more:
                running = False
            buffer += more
        ops: list[WriteOp] = []
        for frame in _split_frames(buffer):
            kind, payload = _frame_decoder.decode(frame)
            if kind == _STOP:
                running = False
                break
            ops.append(_payload_decoders[kind].decode(payload))
        for start in range(0, len(ops), batch_max):
            batch = ops[start : start + batch_max]
            try:
                reply = _frame([_DONE, writer.commit(batch)])
            except StoreError as exc:
                reply = _failed(len(batch), exc)
            try:
                sock.sendall(reply)
            except OSError:  # the parent is gone; what is committed stays committed
                running = False


def main(argv: list[str] | None = None) -> int:
    """The child: ``python -m openkms.store._writer_process --fd N ... STORE``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parser = argparse.ArgumentParser(prog="openkms-store-writer")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--retention", type=int, required=True)
    parser.add_argument("--batch-max", type=int, required=True)
    parser.add_argument("--window-days", type=int, required=True)
    parser.add_argument("--cap-factor", type=int, required=True)
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s store writer: %(message)s")
    sock = socket.socket(fileno=args.fd)
    policy = CountPolicy(window_days=args.window_days, cap_factor=args.cap_factor)
    try:
        conn = db.connect_writer(args.path)
    except StoreError as exc:
        sock.sendall(_failed(0, exc))
        return 1
    writer = BatchWriter(conn, args.path, policy, args.retention)
    try:
        sock.sendall(_frame([_READY]))
        _serve(sock, writer, args.batch_max)
    except OSError:
        pass  # the parent went away before the first frame
    finally:
        writer.close()
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
