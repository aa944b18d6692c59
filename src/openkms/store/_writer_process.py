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
after committing what it has when the parent says stop or goes away.
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
from openkms.store._sqlite_writer import BatchWriter, WriteOp
from openkms.store._writer_messages import (
    TO_WRITER,
    Done,
    Failed,
    FromWriter,
    Ready,
    Stop,
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
            if isinstance(message, Stop):
                running = False
                break
            ops.append(op_of(message))
        for start in range(0, len(ops), batch_max):
            batch = ops[start : start + batch_max]
            reply: FromWriter
            try:
                reply = Done(writer.commit(batch))
            except StoreError as exc:
                reply = Failed.of(len(batch), exc)
            try:
                sock.sendall(frame(reply))
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
