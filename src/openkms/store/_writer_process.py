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
(``BatchWriter.housekeep``), and, while a forgotten client's note waits for the search index,
it wakes every ``FORGOTTEN_POLL`` seconds to delete it even if no write comes
(``BatchWriter.idle_timeout``).

What it imports is resident for as long as the host serves, so it imports the store's writer
(``sqlite3``, ``msgspec``, ``logging``) and nothing else: no asyncio, no OpenSSL, no
``argparse``, none of the package's other modules (``openkms`` and ``openkms.store`` load
their names on first use); ``tests/unit/test_import_weight.py`` keeps it so.
"""

from __future__ import annotations

import gc
import getopt
import logging
import select
import signal
import socket
import sys
from pathlib import Path
from typing import Final, NamedTuple

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
        if not _readable(sock, writer.idle_timeout):
            _housekeep_while_idle(sock, writer)
            continue
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


def _readable(sock: socket.socket, timeout: float | None) -> bool:
    """Whether something arrives from the parent within ``timeout`` seconds (None: True,
    once something does; ``recv`` then waits for it)."""
    if timeout is None:
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


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


class _Arguments(NamedTuple):
    fd: int
    retention: int
    batch_max: int
    window_days: int
    cap_factor: int
    path: Path


_OPTIONS: Final = ("fd", "retention", "batch-max", "window-days", "cap-factor")


def _arguments(argv: list[str]) -> _Arguments:
    """The child's command line, as ``ProcessWriter`` writes it: every option, then the path.

    ``getopt`` rather than ``argparse``, the largest module the child would load for no use
    (bench/README.md, "Memory (this wave)"); anything else exits with the usage.
    """
    usage = "usage: openkms-store-writer " + " ".join(f"--{o} N" for o in _OPTIONS) + " STORE"
    try:
        options, rest = getopt.getopt(argv, "", [f"{option}=" for option in _OPTIONS])
        given = {name.removeprefix("--"): int(value) for name, value in options}
    except (getopt.GetoptError, ValueError) as exc:
        raise SystemExit(f"{usage}\n{exc}") from None
    if len(rest) != 1 or sorted(given) != sorted(_OPTIONS):
        raise SystemExit(usage)
    return _Arguments(
        fd=given["fd"],
        retention=given["retention"],
        batch_max=given["batch-max"],
        window_days=given["window-days"],
        cap_factor=given["cap-factor"],
        path=Path(rest[0]),
    )


def main(argv: list[str] | None = None) -> int:
    """The child: ``python -m openkms.store._writer_process --fd N ... STORE``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    args = _arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s store writer: %(message)s")
    sock = socket.socket(fileno=args.fd)
    policy = CountPolicy(window_days=args.window_days, cap_factor=args.cap_factor)
    try:
        conn = connect_writer(args.path)
    except StoreError as exc:
        sock.sendall(frame(Failed.of(0, exc)))
        return 1
    writer = BatchWriter(conn, args.path, policy, args.retention)
    writer.start_indexing()
    # What the process holds by now lives as long as it does: out of the collector's reach,
    # a full collection no longer walks its ~16,000 start-up objects between two batches
    # (8 ms each on a loaded 2-core machine, against 0.003 ms once frozen; as host/runner.py).
    gc.collect()
    gc.freeze()
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
