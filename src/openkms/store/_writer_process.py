"""The SQLite store's writer process (the child; its parent side is ``_process_writer``).

Run as ``python -m openkms.store._writer_process``; the package never imports this module,
so that running it does not import it twice.

In one process, the writer thread must take the GIL back after every SQLite call, and an
event loop busy with thousands of connections holds it for up to the interpreter's switch
interval (5 ms) each time: under load a commit that needs 0.5 ms of work took 3 to 30 ms
(``bench/README.md``). A child process has its own interpreter, so the two run in parallel.

The parent (``ProcessWriter``, on the event loop) sends operations over a Unix socket
pair as typed messages (``_writer_messages``), at most one write per loop iteration. The child
(``main``) reads whatever has arrived, commits it as one batch (``BatchWriter``) and answers
with one frame holding the batch's results in order, only after COMMIT returned. Since both
keep the order, replies carry no identifiers. The child ignores SIGINT and SIGTERM (a Ctrl-C
or a service manager signals the whole process group; the host stops it in order) and exits
after committing what it has when the parent says stop or goes away. Between batches, when
nothing is waiting, it runs the store's housekeeping in small bounded steps
(``BatchWriter.housekeep``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Final

from openkms.core.counting import CountPolicy
from openkms.errors import StoreError
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_writer import BatchWriter, WriteOp, WriteOutcome, WriteResult
from openkms.store._writer_messages import (
    TO_WRITER,
    Done,
    Failed,
    FromWriter,
    Ready,
    Stop,
    WriteRecords,
    frame,
    op_of,
    split_frames,
)

__all__ = ["main"]

_READ_SIZE: Final = 1 << 18


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
        for payload in split_frames(buffer):
            message = TO_WRITER.decode(payload)
            if isinstance(message, WriteRecords):
                ops.extend(message.records)
                continue
            if isinstance(message, Stop):
                running = False
                break
            ops.append(op_of(message))
        for start in range(0, len(ops), batch_max):
            replies = _replies(writer.commit_each(ops[start : start + batch_max]))
            try:
                sock.sendall(b"".join(frame(reply) for reply in replies))
            except OSError:  # the parent is gone; what is committed stays committed
                running = False
        if running:
            _housekeep_while_idle(sock, writer)


def _housekeep_while_idle(sock: socket.socket, writer: BatchWriter) -> None:
    """Bounded housekeeping steps while no write waits: one that arrives waits one step."""
    while writer.housekeeping_due and not _write_waiting(sock):
        writer.housekeep()


def _write_waiting(sock: socket.socket) -> bool:
    """Whether the parent has sent something (or closed its end) not yet read."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def _replies(outcomes: list[WriteOutcome]) -> list[FromWriter]:
    """The replies for one batch's outcomes, in order: a Done per run of results, a Failed
    per run of the same error (the parent settles its oldest writes with each)."""
    replies: list[FromWriter] = []
    results: list[WriteResult] = []
    for outcome in outcomes:
        if not isinstance(outcome, StoreError):
            results.append(outcome)
            continue
        if results:
            replies.append(Done(results))
            results = []
        last = replies[-1] if replies else None
        if isinstance(last, Failed) and last.message == outcome.message:
            replies[-1] = Failed.of(last.count + 1, outcome)
        else:
            replies.append(Failed.of(1, outcome))
    if results:
        replies.append(Done(results))
    return replies


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
        conn = connect_writer(args.path)
    except StoreError as exc:
        sock.sendall(frame(Failed.of(0, exc)))
        return 1
    writer = BatchWriter(conn, args.path, policy, args.retention)
    try:
        sock.sendall(frame(Ready()))
        _serve(sock, writer, args.batch_max)
    except OSError:
        pass  # the parent went away before the first frame
    finally:
        writer.close()
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
