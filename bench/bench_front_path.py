"""The host front's own CPU per activation, in process: no sockets, no kernel, no writer.

    .venv/bin/python bench/bench_front_path.py [--requests 40000] [--batch 64] [--runs 5]

Drives the real listener protocol (``host/server.py``) and service (``host/service.py``,
ticket batching included) with fake transports: each activation is a new connection that
is made, receives one request frame (each its own CMID), gets its response written and is
closed by its peer, as with ``bench_front.py --mode new``. The store is a stand-in that
settles each loop iteration's records at once with a count at the N-policy, so every
answer carries a signed ticket (one signature per ``--batch`` requests, as a group commit
of that size would give). Prints the process CPU time per activation (median of
``--runs``): the Python and uvloop work of the front alone, which the end-to-end benches
cannot separate from the kernel's and the machine's noise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from _prefill import Site, make_site
from openkms.core.events import EventRecord
from openkms.host.config import HostConfig
from openkms.host.runner import run
from openkms.host.server import HostServer, _ActivationProtocol, _Listener
from openkms.host.service import HostService
from openkms.host.state import HostState
from openkms.protocol.connection import encode
from openkms.protocol.messages import ActivationRequest
from openkms.store.base import RequestRecord


class _GcClock:
    """CPU seconds spent in the garbage collector, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


class _Store:
    """Settles every record submitted in one loop iteration at once, with ``count``."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pending: list[asyncio.Future[int]] = []

    def submit_record(self, request: RequestRecord) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._pending.append(future)
        if len(self._pending) == 1:
            loop.call_soon(self._settle)
        return future

    async def log_event(self, event: EventRecord) -> None:
        return None

    def _settle(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.set_result(self.count)


class _Transport:
    """What the protocol needs of a transport; counts the bytes written."""

    def __init__(self, peer: str) -> None:
        self._peer = (peer, 40000)
        self._closing = False
        self.written = 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._peer if name == "peername" else default

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def close(self) -> None:
        self._closing = True

    def abort(self) -> None:
        self._closing = True

    def is_closing(self) -> bool:
        return self._closing

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def _drive(server: HostServer, frames: list[bytes], batch: int) -> float:
    """CPU seconds to answer every frame, ``batch`` connections at a time."""
    listener = _Listener()
    listener.port = 1688
    started = time.process_time()
    for start in range(0, len(frames), batch):
        group = []
        for index, frame in enumerate(frames[start : start + batch]):
            protocol = _ActivationProtocol(server, listener)
            transport = _Transport(f"10.0.{index % 250}.{index // 250 + 1}")
            protocol.connection_made(transport)  # type: ignore[arg-type]
            protocol.data_received(frame)
            group.append((protocol, transport))
        while server.inflight:
            await asyncio.sleep(0)
        for protocol, transport in group:
            if not transport.written:
                raise RuntimeError("a request was not answered")
            protocol.eof_received()
            protocol.connection_lost(None)
    return time.process_time() - started


def _frames(target: Site, count: int) -> list[bytes]:
    """``count`` request frames, each with its own CMID."""
    return [
        encode(
            ActivationRequest(
                os.urandom(16),
                target.application_id,
                target.activation_id,
                os.urandom(16),
                f"bench-{serial}",
                int(time.time()),
                2,
                43200,
                target.n_policy,
            )
        )
        for serial in range(count)
    ]


def _calls(server: HostServer, target: Site, args: argparse.Namespace) -> float:
    """Python function calls per activation (cProfile's count, the bench's own included)."""
    counts = []
    for requests in (args.requests // 2, args.requests):
        frames = _frames(target, requests)
        profile = cProfile.Profile()
        profile.enable()
        run(_drive(server, frames, args.batch))
        profile.disable()
        counts.append(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]
    return (counts[1] - counts[0]) / (args.requests - args.requests // 2)


def main() -> None:
    """Build a site, then time the front on ``--runs`` fresh sets of frames."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--calls", action="store_true", help="also count the Python calls per activation"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="openkms-path-") as scratch:
        target = make_site(Path(scratch))
        store_dir = Path(target.store)
        snapshot = HostState(store_dir).snapshot(int(time.time()))
        store = _Store(target.n_policy)
        service = HostService(
            store=store,  # type: ignore[arg-type]
            activation=snapshot.activation,
            private_key=snapshot.signing_key(),
            host_settings=snapshot.settings,
            host_id=snapshot.identity(),
            clock=time.time,
        )
        server = HostServer(HostConfig(store_dir), service)
        per_run = []
        collector = _GcClock()
        for _ in range(args.runs):
            frames = _frames(target, args.requests)
            in_gc = collector.seconds
            # The host's own runner: uvloop, and whatever it does to the process first.
            cpu = run(_drive(server, frames, args.batch))
            per_run.append(cpu / args.requests * 1e6)
            gc_us = (collector.seconds - in_gc) / args.requests * 1e6
            print(f"  {per_run[-1]:.1f} us of CPU per activation, {gc_us:.2f} us of it in gc")
        if args.calls:
            print(f"{_calls(server, target, args):.1f} Python calls per activation")
    print(f"median {statistics.median(per_run):.1f} us per activation ({args.runs} runs)")


if __name__ == "__main__":
    main()
