"""The host's front (listener, decoding, signing, responses) driven by a C load generator.

    .venv/bin/python bench/bench_front.py [--mode new|persistent] [--requests 30000]
        [--conns 64] [--runs 3] [--old SRC] [--host-arg=ARG] [--defaults] [--json]
    .venv/bin/python bench/bench_front.py --imports [--old SRC]

The generator is ``../shared/tools/loadgen.c`` (one thread, epoll), compiled with ``cc -O2``
into ``--cache`` on first use (the binary is not part of the repository; when the source is
missing the bench says where it looked and stops). It replays a file of frames made here
with the protocol codec: one valid ActivationRequest per request, each with its own CMID and
request ID, for a catalog product of a fresh activated host, so that every request is
counted, written durably (event 12290, counters, client row) and, from the N-policy on,
answered with a signed ticket. Each response is checked by the generator: an
ActivationResponse (type byte 2) echoing the request's ID.

Per run: activations/s, latency p50/p90/p99/max, the host's CPU per activation (front and
writer process, from /proc/PID/stat), the generator's share of a core, the host's peak RSS
(VmHWM) and its resident memory while 64 idle connections are open, before and after the
load (RSS summed and split front + writer process, and PSS, from /proc/PID/smaps_rollup),
and the 1-minute load average. After each run the host stops gracefully and the store is
checked: its 12290 events must equal the activations answered. ``--imports`` prints instead
the RSS of each process once it has imported its modules (its entry point run until it stops
by itself).

``--old SRC`` alternates the host in ``SRC`` (a ``src`` directory, e.g. from
``git archive main src | tar -x -C /tmp/old``) with this one run by run, the order swapped
every pair, and prints the medians of each.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _prefill import Site, make_site
from bench_host import cpu_seconds, peak_rss_mib, process_tree, python_build, quiet_options
from openkms.protocol.connection import encode
from openkms.protocol.messages import ActivationRequest

ROOT = Path(__file__).resolve().parents[1]
LOADGEN_SOURCE = ROOT.parent / "shared" / "tools" / "loadgen.c"
# Where the request ID sits in both frames: 8-byte header, array header, bin8 header.
_ECHO = "11:16"


@dataclass
class Run:
    """One run's figures."""

    version: str
    rate: float
    p50: float
    p90: float
    p99: float
    max: float
    host_cpu_ms: float  # host CPU (front + writer) per activation
    front_cpu_ms: float
    front_sys_ms: float  # of which in the kernel
    generator_core: float  # the generator's CPU seconds per second of the run
    rss_mib: float  # peak RSS of the host's processes
    rss_open_mib: float  # summed RSS with --conns idle connections open, before the load
    pss_open_mib: float
    front_open_mib: float  # of which the front's (the rest is the writer process's)
    rss_after_mib: float  # the same after the load (the writer's page cache has grown)
    pss_after_mib: float
    front_after_mib: float
    load: float
    errors: int
    verified: bool

    def line(self) -> str:
        """One line for the console."""
        return (
            f"{self.version:4} {self.rate:8,.0f}/s  p50 {self.p50:6.2f}  p90 {self.p90:6.2f}  "
            f"p99 {self.p99:6.2f}  max {self.max:7.2f} ms  host {self.host_cpu_ms:.3f} "
            f"(front {self.front_cpu_ms:.3f}, sys {self.front_sys_ms:.3f}) ms/act  "
            f"gen {self.generator_core:.2f} core  "
            f"RSS peak {self.rss_mib:.1f} MiB, {self._memory(before=True)}, "
            f"after {self._memory(before=False)}  load {self.load:.2f}  errors {self.errors}"
            f"{'' if self.verified else '  STORE MISMATCH'}"
        )

    def _memory(self, *, before: bool) -> str:
        """RSS with the connections open: summed, front + writer, and PSS."""
        rss, front, pss = (
            (self.rss_open_mib, self.front_open_mib, self.pss_open_mib)
            if before
            else (self.rss_after_mib, self.front_after_mib, self.pss_after_mib)
        )
        return f"open {rss:.1f} = {front:.1f} + {rss - front:.1f} (PSS {pss:.1f})"


def loadgen(cache: Path) -> Path:
    """The compiled generator, built from ``LOADGEN_SOURCE`` when its source changed."""
    if not LOADGEN_SOURCE.exists():
        sys.exit(f"the C load generator is missing: expected its source at {LOADGEN_SOURCE}")
    digest = hashlib.sha256(LOADGEN_SOURCE.read_bytes()).hexdigest()[:12]
    binary = cache / f"loadgen-{digest}"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".tmp")
        subprocess.run(["cc", "-O2", "-o", str(partial), str(LOADGEN_SOURCE)], check=True)
        partial.replace(binary)
    return binary


def write_frames(path: Path, count: int, target: Site) -> None:
    """``count`` activation request frames, each with its own CMID, back to back."""
    now = int(time.time())
    with path.open("wb") as out:
        for serial in range(count):
            request = ActivationRequest(
                os.urandom(16),
                target.application_id,
                target.activation_id,
                os.urandom(16),
                f"bench-{serial % 100_000}",
                now,
                2,
                43200,
                target.n_policy,
            )
            out.write(encode(request))


def start_host(
    store: Path, src: Path | None, extra: list[str]
) -> tuple[subprocess.Popen[bytes], int]:
    """The real host (from ``src`` when given) on a free loopback port; its process and port."""
    ready = store / "ready.json"
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [sys.executable, "-m", "openkms", "host", "--store", str(store), "serve"]
    command += ["--listen", "127.0.0.1:0", "--ready-file", str(ready), "--log-level", "WARNING"]
    log = (store / "host.log").open("wb")
    process = subprocess.Popen([*command, *extra], stdout=subprocess.DEVNULL, stderr=log, env=env)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"host did not start: {(store / 'host.log').read_text()}")
        time.sleep(0.02)
    address = json.loads(ready.read_text())["listen"][0]
    return process, int(address.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Memory:
    """Resident memory of the host's processes, in MiB (from smaps_rollup)."""

    rss: float  # summed over the processes (what target 4 of issue 15 counts)
    pss: float  # shared pages split between the processes that map them
    front_rss: float  # the first process's (``openkms host serve``)


def memory_mib(pids: list[int]) -> Memory:
    """RSS and PSS of ``pids`` summed, and the RSS of the first of them."""
    rss: list[int] = []
    pss = 0
    for pid in pids:
        rss.append(0)
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == "Rss":
                    rss[-1] = int(value.split()[0])
                elif name == "Pss":
                    pss += int(value.split()[0])
    return Memory(sum(rss) / 1024, pss / 1024, rss[0] / 1024 if rss else 0.0)


def open_connections_memory(port: int, pids: list[int], count: int) -> Memory:
    """The host's memory while ``count`` idle connections are open."""
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    try:
        time.sleep(0.2)  # let the host accept them all (a measurement, not a synchronisation)
        return memory_mib(pids)
    finally:
        for sock in sockets:
            sock.close()


# Each process's entry point run until it stops by itself (``host serve --help``; the writer
# process without arguments stops at its usage line), printing its peak RSS at exit: what
# the process has imported before it does anything.
# (VmHWM, not ru_maxrss: that one keeps the peak of the parent that forked the process.)
_IMPORTS_PROBE = """
import atexit, runpy, sys
def peak():
    with open("/proc/self/status") as status:
        lines = [line for line in status if line.startswith("VmHWM:")]
    print("RSS", lines[0].split()[1], file=sys.stderr)
atexit.register(peak)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""
ENTRY_POINTS = {
    "front": ["openkms", "host", "serve", "--help"],
    "writer": ["openkms.store._writer_process"],
}


def import_rss_mib(src: Path | None, argv: list[str]) -> float:
    """Peak RSS of ``python -m ARGV`` (from ``src`` when given) that stops after its imports."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    run = subprocess.run(
        [sys.executable, "-c", _IMPORTS_PROBE, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,  # the writer process exits 1 or 2 at its usage line
    )
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("RSS ")]
    return int(line.split()[1]) / 1024


def print_import_rss(versions: list[tuple[str, Path | None]], repeat: int = 5) -> None:
    """The import-time RSS of each process of each version, medians of alternated runs."""
    for process, argv in ENTRY_POINTS.items():
        found: dict[str, list[float]] = {name: [] for name, _ in versions}
        for index in range(repeat):
            for name, src in versions if index % 2 == 0 else versions[::-1]:
                found[name].append(import_rss_mib(src, argv))
        medians = ", ".join(f"{n} {statistics.median(v):.1f}" for n, v in found.items())
        print(f"{process} ({' '.join(argv)}) after its imports: RSS MiB {medians}")


def events_stored(store: Path) -> int:
    """The 12290 events in the host's store."""
    conn = sqlite3.connect(store / "host.db")
    try:
        (count,) = conn.execute("SELECT count(*) FROM events WHERE event_id = 12290").fetchone()
    finally:
        conn.close()
    return int(count)


def first_publication(store: Path, process: subprocess.Popen[bytes]) -> None:
    """Wait for the host's first DNS publishing cycle (a child process of about a second,
    31 MiB: part of its start, not of its resident memory while it serves; docs/architecture.md,
    "DNS publishing in a child process")."""
    deadline = time.monotonic() + 60
    while not (store / "dns-status.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"no DNS publishing cycle ended: {(store / 'host.log').read_text()}")
        time.sleep(0.05)
    while len(process_tree(process.pid)) > 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the child has written its outcome and is exiting


def one_run(args: argparse.Namespace, version: str, src: Path | None, generator: Path) -> Run:
    """Start a fresh host, drive it with the generator, stop it, check the store."""
    with tempfile.TemporaryDirectory(prefix="openkms-front-") as scratch:
        target = make_site(Path(scratch))
        store = Path(target.store)
        frames = Path(scratch) / "frames.bin"
        write_frames(frames, args.requests, target)
        process, port = start_host(store, src, args.host_arg)
        try:
            if "--no-dns" not in args.host_arg:
                first_publication(store, process)
            pids = process_tree(process.pid)
            before_load = open_connections_memory(port, pids, args.conns)
            load = os.getloadavg()[0]
            front_before = cpu_seconds([process.pid])
            before = cpu_seconds(pids)
            command = [str(generator), "--port", str(port), "--frames", str(frames)]
            command += ["--conns", str(args.conns), "--total", str(args.requests)]
            command += ["--mode", args.mode, "--resp-byte", "3=2", "--echo", _ECHO]
            out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            report = json.loads(out)
            host = sum(cpu_seconds(pids)) - sum(before)
            front_user, front_sys = (
                a - b for a, b in zip(cpu_seconds([process.pid]), front_before, strict=True)
            )
            rss = peak_rss_mib(pids)
            after_load = open_connections_memory(port, pids, args.conns)
        finally:
            process.terminate()
            process.wait(30)
        done = int(report["completed"])
        verified = process.returncode == 0 and events_stored(store) == done
        if report["errors"]:
            print(f"    first error: {report['first_error']}")
    return Run(
        version=version,
        rate=report["rate"],
        p50=report["p50"],
        p90=report["p90"],
        p99=report["p99"],
        max=report["max"],
        host_cpu_ms=host / done * 1000 if done else float("nan"),
        front_cpu_ms=(front_user + front_sys) / done * 1000 if done else float("nan"),
        front_sys_ms=front_sys / done * 1000 if done else float("nan"),
        generator_core=report["gen_cpu_s"] / report["seconds"],
        rss_mib=rss,
        rss_open_mib=before_load.rss,
        pss_open_mib=before_load.pss,
        front_open_mib=before_load.front_rss,
        rss_after_mib=after_load.rss,
        pss_after_mib=after_load.pss,
        front_after_mib=after_load.front_rss,
        load=load,
        errors=int(report["errors"]),
        verified=verified,
    )


def median_run(runs: list[Run]) -> Run:
    """The median of each figure over ``runs``."""
    numbers = {
        name: statistics.median(getattr(r, name) for r in runs)
        for name in asdict(runs[0])
        if name not in {"version", "errors", "verified"}
    }
    return Run(
        version=runs[0].version,
        errors=sum(r.errors for r in runs),
        verified=all(r.verified for r in runs),
        **numbers,
    )


def main() -> None:
    """Run the bench and print each run and the medians."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mode", choices=["new", "persistent"], default="new")
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3, help="runs (pairs with --old)")
    parser.add_argument("--old", type=Path, help="a src directory to alternate with this one")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/openkms-bench"))
    parser.add_argument("--host-arg", action="append", default=[], help="for 'host serve'")
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="serve with DNS publishing and the admin API (default: --no-dns --no-admin); "
        "give --host-arg=--admin=127.0.0.1:0 to keep port 8080 free",
    )
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    parser.add_argument(
        "--imports", action="store_true", help="only each process's RSS after its imports"
    )
    args = parser.parse_args()
    args.host_arg = ([] if args.defaults else quiet_options()) + args.host_arg
    versions: list[tuple[str, Path | None]] = [("new", None)]
    if args.old is not None:
        versions.append(("old", args.old.resolve()))
    if args.imports:
        print_import_rss(versions)
        return
    generator = loadgen(args.cache)
    print(
        f"mode {args.mode}, {args.conns} connections, {args.requests} requests per run, "
        f"{args.runs} run(s) per version, generator {generator}; {os.cpu_count()} CPUs; "
        f"{python_build()}"
    )
    runs: dict[str, list[Run]] = {name: [] for name, _ in versions}
    for index in range(args.runs):
        order = versions if index % 2 == 0 else versions[::-1]
        for name, src in order:
            run = one_run(args, name, src, generator)
            runs[name].append(run)
            print(f"  {run.line()}")
    medians = {name: median_run(each) for name, each in runs.items()}
    for run in medians.values():
        print(f"median {run.line()}")
    if args.json:
        print(json.dumps({name: asdict(run) for name, run in medians.items()}))
    if not all(run.verified and not run.errors for run in medians.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
