"""Activations per second and latency of the real host process over loopback.

    .venv/bin/python bench/bench_host.py [--mode new-connection|persistent] [--requests 50000]
        [--seconds S] [--clients 64] [--generators 1] [--rate R] [--repeat 3] [--host-arg=ARG]

Each run makes a fresh site (publisher + activated host store) in a temporary directory,
starts ``python -m openkms host --store DIR serve --listen 127.0.0.1:0`` as a separate
process, and drives it with ``--clients`` concurrent clients spread over ``--generators``
load-generator processes (uvloop + asyncio protocols). Every request is a valid
ActivationRequest for a catalog product with a random 16-byte CMID, so the host counts it,
writes its 12290 event and counters durably and, once the count reaches the N-policy, signs a
ticket. ``new-connection`` opens a TCP connection per activation (connect, send, read one
response, close), the way KMS clients do; ``persistent`` keeps one connection per client.

By default the load is a closed loop: each client sends its next request as soon as it has
its answer, which measures the most the host can do (and, by Little's law, makes the mean
latency clients/throughput). ``--rate R`` offers R activations/s instead (open loop, still at
most ``--clients`` in flight), which measures latency at a given load; latency then counts
from when a request was due, so a host that falls behind is charged for it.

Printed per run and as medians over ``--repeat`` runs: activations/s, latency p50/p90/p99/max
(ms, measured by the client from connect to response), the host's peak RSS (VmHWM, summed
over its process tree) and host CPU seconds per 1,000 activations, errors, the share of
results that were OK and how many carried a ticket. After each run the host is stopped
gracefully and its store is checked: the counters and 12290 events must match the responses
acknowledged.

``--prefill N`` compares an empty store with a full one: it builds (once, cached under
``--cache-dir``) a store holding N clients and N events (``_prefill.py``; with N = 1,000,000
the events are at the retention limit, so every new event makes the host delete an old one),
then alternates runs on a fresh empty store and on a copy of the full one, and prints both
sets of medians and their ratio. "stall" is the longest time in a run during which no
response at all arrived (housekeeping that blocks the writer shows up there).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import multiprocessing as mp
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

import msgspec
import uvloop

from _prefill import Site, copy_store, make_site, prefilled_site
from openkms.protocol.connection import HEADER, encode
from openkms.protocol.messages import ActivationRequest, ActivationResponse, ErrorResponse
from openkms.store.sqlite import SqliteReader

_RESPONSE = msgspec.msgpack.Decoder(ActivationResponse)
_ERROR = msgspec.msgpack.Decoder(ErrorResponse)


@dataclass(frozen=True)
class Target:
    """Where and what to activate."""

    host: str
    port: int
    application_id: str
    activation_id: str
    n_policy: int


@dataclass
class Tally:
    """What one generator saw."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    done_at: array[float] = field(default_factory=lambda: array("d"))
    ok: int = 0
    answered: int = 0  # ActivationResponse received, whatever its result
    tickets: int = 0
    errors: int = 0
    first_error: str = ""
    started: float = 0.0
    finished: float = 0.0
    cpu: float = 0.0  # CPU seconds of the generator processes

    def merge(self, other: Tally) -> None:
        self.latencies.extend(other.latencies)
        self.done_at.extend(other.done_at)
        self.ok += other.ok
        self.answered += other.answered
        self.tickets += other.tickets
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.started = min(self.started or other.started, other.started)
        self.finished = max(self.finished, other.finished)
        self.cpu += other.cpu


# -- the load generator --------------------------------------------------------------------


def request_frame(target: Target, serial: int) -> tuple[bytes, bytes]:
    """A fresh request frame (random CMID) and its request ID."""
    request_id = os.urandom(16)
    message = ActivationRequest(
        request_id,
        target.application_id,
        target.activation_id,
        os.urandom(16),
        f"bench-{serial % 100_000}",
        int(time.time()),
        2,
        43200,
        target.n_policy,
    )
    return encode(message), request_id


class _Exchange(asyncio.Protocol):
    """One TCP connection; each ``send`` resolves with one response frame."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._buffer = bytearray()
        self._waiter: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.connected.set_result(None)

    def send(self, frame: bytes) -> asyncio.Future[bytes]:
        assert self.transport is not None
        self._waiter = self._loop.create_future()
        self.transport.write(frame)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) < HEADER.size:
            return
        _, _, _, length = HEADER.unpack_from(self._buffer)
        end = HEADER.size + length
        if len(self._buffer) >= end and self._waiter is not None:
            frame = bytes(self._buffer[:end])
            del self._buffer[:end]
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_result(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))


def judge(frame: bytes, request_id: bytes, tally: Tally) -> None:
    """Count one response frame."""
    type_id = frame[3]
    if type_id != ActivationResponse.type_id:
        error = _ERROR.decode(frame[HEADER.size :])
        raise RuntimeError(f"error response 0x{error.result:X}: {error.message}")
    response = _RESPONSE.decode(frame[HEADER.size :])
    if response.request_id != request_id:
        raise RuntimeError("response for another request")
    tally.answered += 1
    if response.result == 0:
        tally.ok += 1
    if response.ticket is not None:
        tally.tickets += 1


async def _connect(loop: asyncio.AbstractEventLoop, target: Target) -> _Exchange:
    _, protocol = await loop.create_connection(lambda: _Exchange(loop), target.host, target.port)
    return protocol


@dataclass
class Pace:
    """Open-loop pacing: request ``n`` is due at ``start + n / rate`` (0: as fast as possible)."""

    rate: float
    start: float = 0.0
    issued: int = 0

    async def wait(self) -> float:
        """Wait for the next request's slot; return the time it was due."""
        now = time.perf_counter()
        if self.rate <= 0:
            return now
        due = self.start + self.issued / self.rate
        self.issued += 1
        if due > now:
            await asyncio.sleep(due - now)
        # Latency counts from when the request was due, so a host that falls behind is
        # charged for the wait (no coordinated omission).
        return due


@dataclass(frozen=True)
class Load:
    """What one generator process does."""

    target: Target
    mode: str
    clients: int
    requests: int
    seconds: float
    rate: float  # requests/s for this generator; 0: closed loop, as fast as answers come


async def _client(load: Load, budget: list[int], deadline: float, tally: Tally, pace: Pace) -> None:
    loop = asyncio.get_running_loop()
    exchange: _Exchange | None = None
    while budget[0] > 0 and time.perf_counter() < deadline:
        budget[0] -= 1
        started = await pace.wait()
        frame, request_id = request_frame(load.target, budget[0])
        try:
            if exchange is None:
                exchange = await _connect(loop, load.target)
            response = await exchange.send(frame)
            judge(response, request_id, tally)
        except (OSError, RuntimeError, msgspec.DecodeError) as exc:
            tally.errors += 1
            tally.first_error = tally.first_error or repr(exc)
            if exchange is not None and exchange.transport is not None:
                exchange.transport.close()
            exchange = None
            continue
        finished = time.perf_counter()
        tally.latencies.append(finished - started)
        tally.done_at.append(finished)
        if load.mode == "new-connection":
            assert exchange.transport is not None
            exchange.transport.close()
            exchange = None
    if exchange is not None and exchange.transport is not None:
        exchange.transport.close()


async def _generate(load: Load) -> Tally:
    tally = Tally()
    budget = [load.requests]
    tally.started = time.perf_counter()
    deadline = tally.started + load.seconds
    pace = Pace(load.rate, tally.started)
    await asyncio.gather(
        *(_client(load, budget, deadline, tally, pace) for _ in range(load.clients))
    )
    tally.finished = time.perf_counter()
    return tally


def generator_main(load: Load, pipe: Pipe) -> None:
    """Entry point of one generator process: wait for 'go', run, send the tally back."""

    pipe.recv()
    before = time.process_time()
    tally = uvloop.run(_generate(load))
    tally.cpu = time.process_time() - before
    pipe.send(tally)


def run_load(target: Target, args: argparse.Namespace) -> Tally:
    """Drive the host from ``args.generators`` processes; return the merged tally."""
    ctx = mp.get_context("fork")
    pipes, processes = [], []
    k = args.generators
    for g in range(k):
        parent, child = ctx.Pipe()
        load = Load(
            target,
            args.mode,
            clients=args.clients // k + (g < args.clients % k),
            requests=args.requests // k + (g < args.requests % k),
            seconds=args.seconds,
            rate=args.rate / k,
        )
        process = ctx.Process(target=generator_main, args=(load, child))
        process.start()
        pipes.append(parent)
        processes.append(process)
    time.sleep(0.2)  # let every generator reach recv()
    for pipe in pipes:
        pipe.send("go")
    merged = Tally()
    for pipe in pipes:
        merged.merge(pipe.recv())
    for process in processes:
        process.join()
    return merged


# -- the host under test -------------------------------------------------------------------


def target_of(site: Site) -> Target:
    """What the generators activate at ``site`` (host and port filled in later)."""
    return Target("", 0, site.application_id, site.activation_id, site.n_policy)


def python_build() -> str:
    """The interpreter the benchmark (and the host it starts) runs on, for the header line.

    The build matters as much as the machine: CPython compiled from source without
    ``--enable-optimizations`` and with a shared libpython (pyenv's default) spends about
    1.5 times the CPU of a distribution's build on the front's Python path (bench/README.md,
    "The interpreter")."""
    with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
        shared = "libpython" in maps.read()
    configured = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    pgo = "--enable-optimizations" in configured
    return (
        f"python {sys.executable} {sys.version.split()[0]} "
        f"(libpython {'shared' if shared else 'static'}"
        f"{', --enable-optimizations' if pgo else ''})"
    )


def quiet_options() -> list[str]:
    """Options that keep the host to its listener (no DNS updates, no admin server)."""
    usage = subprocess.run(
        [sys.executable, "-m", "openkms", "host", "--store", ".", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [option for option in ("--no-dns", "--no-admin") if option in usage]


def start_host(
    store: Path, extra: list[str], port: int = 0, name: str = "host"
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the real host and wait for its ready file; return the process and its port."""
    ready = store / f"ready-{name}.json"
    command = [
        sys.executable,
        "-m",
        "openkms",
        "host",
        "--store",
        str(store),
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
        "--ready-file",
        str(ready),
        "--log-level",
        "WARNING",
        *extra,
    ]
    log_path = store / f"{name}.log"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log_path.open("wb"))
    deadline = time.monotonic() + 30
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"host did not start: {log_path.read_text()}")
        time.sleep(0.02)
    address = json.loads(ready.read_text())["listen"][0]
    return process, int(address.rsplit(":", 1)[1])


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (worker processes of the host)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return tree


def peak_rss_mib(pids: list[int]) -> float:
    """Summed VmHWM of ``pids`` in MiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds of ``pids``."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])
        system += int(fields[12])
    return user / ticks, system / ticks


@dataclass(frozen=True)
class Baseline:
    """What the store held before a run: its newest event and its clients."""

    max_seq: int = 0
    clients: int = 0

    @classmethod
    def of(cls, store: Path) -> Baseline:
        conn = sqlite3.connect(store / "host.db")
        try:
            (seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
            (clients,) = conn.execute("SELECT count(*) FROM clients").fetchone()
        finally:
            conn.close()
        return cls(int(seq), int(clients))


def verify_store(store: Path, host_id: str, tally: Tally, base: Baseline) -> str:
    """Check the store against what the clients were told; return a one-line verdict."""
    with SqliteReader(store / "host.db") as reader:
        counters = reader.counters(host_id)
    conn = sqlite3.connect(store / "host.db")
    try:
        (events,) = conn.execute(
            "SELECT count(*) FROM events WHERE event_id = 12290 AND seq > ?", (base.max_seq,)
        ).fetchone()
        (clients,) = conn.execute("SELECT count(*) FROM clients").fetchone()
        (kept,) = conn.execute("SELECT count(*) FROM events").fetchone()
    finally:
        conn.close()
    clients -= base.clients
    # Every acknowledged response was durable first; a request whose response was lost may
    # also be recorded, so with errors the store may hold more, never less.
    exact = tally.errors == 0
    good = (
        (counters.total == tally.answered and events == tally.answered and clients == tally.ok)
        if exact
        else (counters.total >= tally.answered and events >= tally.answered)
    )
    verdict = "OK" if good else "MISMATCH"
    return (
        f"store {verdict}: counters.total={counters.total} new events12290={events} "
        f"new clients={clients} (acknowledged {tally.answered}, ok {tally.ok}); "
        f"events kept {kept}"
    )


# -- one run, many runs --------------------------------------------------------------------


@dataclass
class Result:
    """The figures of one run."""

    rate: float
    p50: float
    p90: float
    p99: float
    worst: float
    stall: float
    rss: float
    cpu_per_k: float
    errors: int
    ok_ratio: float
    tickets: int
    verified: bool

    def line(self) -> str:
        return (
            f"{self.rate:8,.0f} act/s  p50 {self.p50:6.2f}  p90 {self.p90:6.2f}  "
            f"p99 {self.p99:6.2f}  max {self.worst:7.2f}  stall {self.stall:7.2f} ms  "
            f"RSS {self.rss:6.1f} MiB  CPU {self.cpu_per_k:5.3f} s/1k  errors {self.errors}  "
            f"ok {self.ok_ratio:.4f}  tickets {self.tickets}"
        )


FIGURES = ("rate", "p50", "p90", "p99", "worst", "stall", "rss", "cpu_per_k")


def median_of(results: list[Result]) -> Result:
    """The median of every figure over ``results``."""
    return Result(
        *(statistics.median(getattr(r, name) for r in results) for name in FIGURES),
        errors=sum(r.errors for r in results),
        ok_ratio=statistics.median(r.ok_ratio for r in results),
        tickets=int(statistics.median(r.tickets for r in results)),
        verified=all(r.verified for r in results),
    )


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


def longest_stall(tally: Tally) -> float:
    """The longest time (ms) without any response, from the start to the last response."""
    times = sorted(tally.done_at)
    gaps = (b - a for a, b in zip([tally.started, *times], times, strict=False))
    return max(gaps, default=0.0) * 1000


def stop_hosts(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (graceful stop), then wait; kill what does not stop in 30 s."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def one_run(args: argparse.Namespace, full: Site | None = None) -> Result:
    """One run on a fresh empty store, or on a copy of the ``full`` one."""
    with tempfile.TemporaryDirectory(prefix="openkms-bench-") as scratch:
        site = make_site(Path(scratch)) if full is None else copy_store(full, Path(scratch))
        store = Path(site.store)
        base = Baseline.of(store) if full is not None else Baseline()
        process, port = start_host(store, args.host_arg)
        processes = [process]
        try:
            # Experiments with several host processes on one port (SO_REUSEPORT) start the
            # others here with start_host(store, args.host_arg, port, "host2").
            target = dataclasses.replace(target_of(site), host="127.0.0.1", port=port)
            pids = [pid for p in processes for pid in process_tree(p.pid)]
            cpu_before = cpu_seconds(pids)
            tally = run_load(target, args)
            pids = [pid for p in processes for pid in process_tree(p.pid)]
            user, system = (a - b for a, b in zip(cpu_seconds(pids), cpu_before, strict=True))
            cpu = user + system
            rss = peak_rss_mib(pids)
        finally:
            stop_hosts(processes)
        verdict = verify_store(store, site.host_id, tally, base)
        for p in processes:
            if p.returncode != 0:
                verdict += f"; a host exited {p.returncode}: {(store / 'host.log').read_text()}"
    ordered = sorted(tally.latencies)
    elapsed = tally.finished - tally.started
    done = len(ordered)
    result = Result(
        rate=done / elapsed if elapsed > 0 else 0.0,
        p50=percentile(ordered, 0.50),
        p90=percentile(ordered, 0.90),
        p99=percentile(ordered, 0.99),
        worst=ordered[-1] * 1000 if ordered else float("nan"),
        stall=longest_stall(tally),
        rss=rss,
        cpu_per_k=cpu / done * 1000 if done else float("nan"),
        errors=tally.errors,
        ok_ratio=tally.ok / done if done else 0.0,
        tickets=tally.tickets,
        verified=verdict.startswith("store OK"),
    )
    print(f"  {'full ' if full else 'empty' if args.prefill else ''}{result.line()}")
    busy = (
        f"host {user / elapsed:.2f}+{system / elapsed:.2f} user+sys cores, "
        f"generators {tally.cpu / elapsed:.2f} cores"
    )
    print(f"    {done} activations in {elapsed:.2f} s ({busy}); {verdict}")
    if tally.first_error:
        print(f"    first error: {tally.first_error}")
    return result


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--mode", choices=["new-connection", "persistent"], default="new-connection"
    )
    parser.add_argument("--requests", type=int, default=50_000, help="activations per run")
    parser.add_argument("--seconds", type=float, default=120.0, help="time limit per run")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients")
    parser.add_argument("--generators", type=int, default=1, help="load-generator processes")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: offer this many activations/s in total (default: closed loop, each "
        "client sends its next request as soon as it has the answer)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are printed")
    parser.add_argument(
        "--host-arg",
        action="append",
        default=[],
        help="extra argument for 'host serve' (repeatable), e.g. --host-arg=--workers=2",
    )
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        metavar="N",
        help="also run on a store already holding N clients and N events (built once, "
        "cached), alternating with the empty store, and print both and their ratio",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "openkms-bench",
        help="where the prefilled store is kept between runs",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.host_arg = quiet_options() + args.host_arg
    full = prefilled_site(args.prefill, args.cache_dir) if args.prefill else None
    print(
        f"mode {args.mode}, {args.clients} clients in {args.generators} generator(s), "
        f"{f'open loop at {args.rate:g}/s' if args.rate else 'closed loop'}, "
        f"{args.requests} requests x {args.repeat} runs, host args {args.host_arg or '-'}"
        f"{f', empty and full ({args.prefill:,} clients and events) alternated' if full else ''}"
        f"; load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; {python_build()}"
    )
    empty: list[Result] = []
    filled: list[Result] = []
    for _ in range(args.repeat):
        empty.append(one_run(args))
        if full is not None:
            filled.append(one_run(args, full))
    results = empty + filled
    median = median_of(empty)
    print(f"median {'empty ' if full else ''}{median.line()}")
    if full is not None:
        full_median = median_of(filled)
        print(f"median full  {full_median.line()}")
        ratio = full_median.rate / median.rate if median.rate else float("nan")
        print(
            f"full/empty: act/s {ratio:.2f}x, p99 {full_median.p99 / median.p99:.2f}x, "
            f"longest stall {max(r.stall for r in filled):.1f} ms full, "
            f"{max(r.stall for r in empty):.1f} ms empty; load {os.getloadavg()[0]:.2f}"
        )
    verified = all(r.verified for r in results)
    print(f"store verified in every run: {'yes' if verified else 'NO'}")
    if not verified or any(r.errors for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
