"""The machine's floor: a C server that does nothing, driven as the host is by the C generator.

    .venv/bin/python bench/bench_floor.py [--mode new|persistent] [--threads 1 2]
        [--requests 20000] [--conns 64] [--runs 3] [--response-bytes N] [--with-host]
        [--host-requests N] [--host-arg=ARG] [--json]

The server is ``bench/floor.c`` (epoll, non-blocking, ``--threads`` loops each with its own
``SO_REUSEPORT`` listener), compiled with ``cc -O2`` into ``--cache`` keyed by the digest of
its source, like the generator. For each request frame it writes one fixed response frame
with the OpenKMS header (type 2) that echoes the request ID, and does nothing else: no
decoding, no signing, no store. The generator (``../shared/tools/loadgen.c``, built by
``bench_front.loadgen``) replays the same frames as ``bench_front.py`` (its
``write_frames``: one ActivationRequest per request, each with its own CMID) over new or
persistent connections and checks every response the same way (type byte 2, the request ID
echoed), so it does the same work against either server.

The response is as long as the real host's: unless ``--response-bytes`` is given, the bench
starts the host once on the site it made, sends it ``n_policy + 2`` requests on one
connection and takes the length of the last response (every bench request past the first
``n_policy`` is answered with a signed ticket).

Per run: requests/s, latency p50/p90/p99/max, the server's CPU per request in ms, user and
system separately (from /proc/PID/stat, all its threads), the generator's share of a core and
the 1-minute load average; then the medians per thread count. ``--with-host`` alternates
each set of floor runs with a ``bench_front.py`` run of the real host (the order swapped
every run; ``--host-requests`` for the host's runs, since the floor needs many more requests
than the host for /proc's 10 ms ticks to measure it) and prints the host/floor ratios of rate
and CPU per request.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from _prefill import Site, make_site
from bench_front import _ECHO, Run, loadgen, median_run, start_host, write_frames
from bench_front import one_run as host_run
from bench_host import cpu_seconds, quiet_options
from openkms.protocol.connection import HEADER

FLOOR_SOURCE = Path(__file__).resolve().parent / "floor.c"
CFLAGS = ["-O2", "-pthread"]


@dataclass
class FloorRun:
    """One run of the floor server."""

    version: str  # "floor-T", T its threads
    rate: float
    p50: float
    p90: float
    p99: float
    max: float
    cpu_ms: float  # the server's CPU per request
    user_ms: float
    sys_ms: float
    generator_core: float  # the generator's CPU seconds per second of the run
    generator_ms: float  # the generator's CPU per request (loopback work is charged to it too)
    load: float
    errors: int

    def line(self) -> str:
        """One line for the console."""
        return (
            f"{self.version:8} {self.rate:8,.0f}/s  p50 {self.p50:6.2f}  p90 {self.p90:6.2f}  "
            f"p99 {self.p99:6.2f}  max {self.max:7.2f} ms  server {self.cpu_ms:.4f} "
            f"(user {self.user_ms:.4f}, sys {self.sys_ms:.4f}) ms/req  "
            f"gen {self.generator_core:.2f} core ({self.generator_ms:.4f} ms/req)  "
            f"load {self.load:.2f}  errors {self.errors}"
        )


def floor_binary(cache: Path) -> Path:
    """The compiled floor server, built from ``FLOOR_SOURCE`` when its source changed."""
    digest = hashlib.sha256(FLOOR_SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()
    binary = cache / f"floor-{digest[:12]}"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".tmp")
        subprocess.run(["cc", *CFLAGS, "-o", str(partial), str(FLOOR_SOURCE)], check=True)
        partial.replace(binary)
    return binary


def start_floor(
    binary: Path, threads: int, response_bytes: int
) -> tuple[subprocess.Popen[str], int]:
    """The floor server on a free loopback port; its process and port."""
    command = [str(binary), "--threads", str(threads), "--response-bytes", str(response_bytes)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # "port N" once every listener is bound
    if not line.startswith("port "):
        stop(process)
        sys.exit(f"the floor server did not start (exit {process.returncode}): {line!r}")
    return process, int(line.split()[1])


def stop(process: subprocess.Popen[str]) -> None:
    """Kill the floor server (it keeps no state) and close its pipe."""
    process.kill()
    process.wait(30)
    if process.stdout is not None:
        process.stdout.close()


def real_response_bytes(site: Site, frames: Path, host_arg: list[str]) -> int:
    """The length of the real host's answer to a request past the N-policy (with a ticket)."""
    count = site.n_policy + 2
    blob = frames.read_bytes()
    process, port = start_host(Path(site.store), None, host_arg)
    lengths: list[int] = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            at = 0
            for _ in range(count):
                length = HEADER.size + int.from_bytes(blob[at + 4 : at + 8], "big")
                conn.sendall(blob[at : at + length])
                at += length
                lengths.append(len(read_frame(conn)))
    finally:
        process.terminate()
        process.wait(30)
    print(f"the real host's response lengths for {count} requests: {sorted(set(lengths))}")
    return lengths[-1]


def read_frame(conn: socket.socket) -> bytes:
    """One whole frame from ``conn``."""
    data = b""
    while len(data) < HEADER.size or len(data) < HEADER.size + int.from_bytes(data[4:8], "big"):
        chunk = conn.recv(65536)
        if not chunk:
            sys.exit("the host closed the connection before answering")
        data += chunk
    return data


def floor_run(
    args: argparse.Namespace, threads: int, frames: Path, generator: Path, server: Path
) -> FloorRun:
    """Start the floor server, drive it with the generator, stop it."""
    process, port = start_floor(server, threads, args.response_bytes)
    try:
        load = os.getloadavg()[0]
        before = cpu_seconds([process.pid])
        command = [str(generator), "--port", str(port), "--frames", str(frames)]
        command += ["--conns", str(args.conns), "--total", str(args.requests)]
        command += ["--mode", args.mode, "--resp-byte", "3=2", "--echo", _ECHO]
        out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        user, system = (a - b for a, b in zip(cpu_seconds([process.pid]), before, strict=True))
    finally:
        stop(process)
    report = json.loads(out)
    if report["errors"]:
        print(f"    first error: {report['first_error']}")
    done = int(report["completed"]) or 1
    return FloorRun(
        version=f"floor-{threads}",
        rate=report["rate"],
        p50=report["p50"],
        p90=report["p90"],
        p99=report["p99"],
        max=report["max"],
        cpu_ms=(user + system) / done * 1000,
        user_ms=user / done * 1000,
        sys_ms=system / done * 1000,
        generator_core=report["gen_cpu_s"] / report["seconds"],
        generator_ms=report["gen_cpu_s"] / done * 1000,
        load=load,
        errors=int(report["errors"]),
    )


def median_floor(runs: list[FloorRun]) -> FloorRun:
    """The median of each figure over ``runs``."""
    numbers = {
        name: statistics.median(getattr(r, name) for r in runs)
        for name in asdict(runs[0])
        if name not in {"version", "errors"}
    }
    return FloorRun(version=runs[0].version, errors=sum(r.errors for r in runs), **numbers)


def ratios(host: Run, floor: FloorRun) -> dict[str, float]:
    """The host's figures over the floor's: rate, and CPU per request (all, front, kernel)."""
    return {
        "rate": over(host.rate, floor.rate),
        "cpu": over(host.host_cpu_ms, floor.cpu_ms),
        "front_cpu": over(host.front_cpu_ms, floor.cpu_ms),
        "front_sys": over(host.front_sys_ms, floor.sys_ms),
    }


def over(a: float, b: float) -> float:
    """``a / b``, NaN when ``b`` is 0 (a run too short for /proc's ticks to see)."""
    return a / b if b else float("nan")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mode", choices=["new", "persistent"], default="new")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="one or more")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--host-requests", type=int, help="per host run (default --requests)")
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--response-bytes", type=int, default=0, help="default: measured on the real host"
    )
    parser.add_argument("--with-host", action="store_true", help="alternate with the host")
    parser.add_argument("--host-arg", action="append", default=[], help="for 'host serve'")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/openkms-bench"))
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    args.host_arg = quiet_options() + args.host_arg
    args.host_requests = args.host_requests or args.requests
    return args


def main() -> None:
    """Run the bench and print each run and the medians."""
    args = parse_args()
    generator = loadgen(args.cache)
    server = floor_binary(args.cache)
    floors: dict[int, list[FloorRun]] = {threads: [] for threads in args.threads}
    hosts: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="openkms-floor-") as scratch:
        site = make_site(Path(scratch))
        frames = Path(scratch) / "frames.bin"
        write_frames(frames, max(args.requests, site.n_policy + 2), site)
        if not args.response_bytes:
            args.response_bytes = real_response_bytes(site, frames, args.host_arg)
        print(
            f"mode {args.mode}, {args.conns} connections, {args.requests} requests per run, "
            f"{args.runs} run(s), response {args.response_bytes} bytes, server {server}, "
            f"generator {generator}; {os.cpu_count()} CPUs"
        )
        host_args = argparse.Namespace(**{**vars(args), "requests": args.host_requests})
        for index in range(args.runs):
            steps: list[int | None] = [*args.threads, *([None] if args.with_host else [])]
            for threads in steps if index % 2 == 0 else steps[::-1]:
                if threads is None:
                    hosts.append(host_run(host_args, "host", None, generator))
                    print(f"  {hosts[-1].line()}")
                else:
                    floors[threads].append(floor_run(args, threads, frames, generator, server))
                    print(f"  {floors[threads][-1].line()}")
    report(floors, hosts, json_out=args.json)


def report(floors: dict[int, list[FloorRun]], hosts: list[Run], *, json_out: bool) -> None:
    """Print the medians, the host/floor ratios, and JSON when asked; exit 1 on errors."""
    medians = {f"floor-{threads}": median_floor(runs) for threads, runs in floors.items()}
    for run in medians.values():
        print(f"median {run.line()}")
    out: dict[str, object] = {name: asdict(run) for name, run in medians.items()}
    ok = all(run.errors == 0 for run in medians.values())
    if hosts:
        host = median_run(hosts)
        print(f"median {host.line()}")
        out["host"] = asdict(host)
        for name, floor in medians.items():
            each = ratios(host, floor)
            out[f"host/{name}"] = each
            print(
                f"host/{name}: rate {each['rate']:.3f}x, CPU per request {each['cpu']:.1f}x "
                f"(front alone {each['front_cpu']:.1f}x, front's kernel time "
                f"{each['front_sys']:.1f}x the floor's kernel time)"
            )
        ok = ok and host.verified and not host.errors
    if json_out:
        print(json.dumps(out))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
