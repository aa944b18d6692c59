"""The host's latency in open loop: a C generator offers a fixed rate (issue 15, target 4).

    .venv/bin/python bench/bench_latency.py [--rates 500 1000 2000 3000 5000]
        [--seconds 8 | --requests N] [--runs 3] [--old SRC] [--mode new|persistent]
        [--conns 64] [--poisson] [--warmup N] [--max-open 2048] [--host-arg=ARG] [--defaults]
        [--json]

The generator is ``bench/openloop.c`` (one thread, epoll, a timerfd for the pacing), compiled
with ``cc -O2`` into ``--cache`` on first use and cached by its source's digest. Request i is
due at start + i/rate (``--poisson``: exponential gaps, fixed seed); with ``--mode new`` each
request opens a new connection at its due time, however many are still open (at most
``--max-open``; a request due while they are all open is counted as a late start and waits),
sends one ActivationRequest (each with its own CMID, as ``bench_front.py`` writes them),
reads the response, checks it (type byte 2, the request's ID echoed) and closes. Latency is
the response's arrival minus the request's due time, so a host that falls behind is charged
for the queue (no coordinated omission).

Each run starts a fresh real host (``--no-dns --no-admin`` unless ``--defaults``; its limit
of connections per address raised to ``--max-open``, since every request comes from
127.0.0.1) and offers one rate for ``--seconds`` (or ``--requests``). Printed per run and as
medians per rate over ``--runs``: offered and achieved rate, latency p50/p90/p99/p99.9/max
(ms, after ``--warmup`` requests), the host's CPU per activation (front and writer process,
from /proc/PID/stat), the generator's share of a core, late starts, and the 1-minute load
average. After each run the host stops gracefully and its store is checked: its 12290 events
must equal the responses the generator read. ``--old SRC`` alternates the host in ``SRC``
(a ``src`` directory) with this one at every rate, the order swapped every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from _prefill import make_site
from bench_front import _ECHO, events_stored, first_publication, start_host, write_frames
from bench_host import cpu_seconds, process_tree, python_build, quiet_options

ROOT = Path(__file__).resolve().parents[1]
OPENLOOP_SOURCE = ROOT / "bench" / "openloop.c"
# Figures taken as medians over a rate's runs (the rest are summed or and-ed).
_COUNTS = ("completed", "errors", "late_starts")


@dataclass
class Run:
    """One run's figures at one offered rate."""

    version: str
    offered: float
    achieved: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    host_cpu_ms: float  # host CPU (front + writer process) per activation
    front_cpu_ms: float
    writer_cpu_ms: float
    generator_core: float  # the generator's CPU seconds per second of the run
    generator_sys: float  # of which in the kernel
    start_lag_max: float  # ms: the latest start of a request after its due time
    load: float
    completed: int
    errors: int
    late_starts: int
    verified: bool

    def line(self) -> str:
        """One line for the console."""
        return (
            f"{self.version:4} {self.offered:6,.0f}/s offered {self.achieved:6,.0f}/s done  "
            f"p50 {self.p50:7.2f}  p90 {self.p90:7.2f}  p99 {self.p99:7.2f}  "
            f"p99.9 {self.p999:7.2f}  max {self.max:7.2f} ms  host {self.host_cpu_ms:.3f} "
            f"(front {self.front_cpu_ms:.3f}, writer {self.writer_cpu_ms:.3f}) ms/act  "
            f"gen {self.generator_core:.3f} core (sys {self.generator_sys:.3f}), "
            f"lag max {self.start_lag_max:.1f} ms, "
            f"late {self.late_starts}  load {self.load:.2f}  errors {self.errors}"
            f"{'' if self.verified else '  STORE MISMATCH'}"
        )


def openloop(cache: Path) -> Path:
    """The compiled generator, built from ``OPENLOOP_SOURCE`` when its source changed."""
    digest = hashlib.sha256(OPENLOOP_SOURCE.read_bytes()).hexdigest()[:12]
    binary = cache / f"openloop-{digest}"
    if not binary.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = binary.with_suffix(".tmp")
        command = ["cc", "-O2", "-o", str(partial), str(OPENLOOP_SOURCE), "-lm"]
        subprocess.run(command, check=True)
        partial.replace(binary)
    return binary


def requests_at(args: argparse.Namespace, rate: float) -> int:
    """How many requests one run offers at ``rate``."""
    return int(args.requests) if args.requests else max(1, round(rate * args.seconds))


def generator_command(
    args: argparse.Namespace, generator: Path, port: int, frames: Path, rate: float
) -> list[str]:
    """The generator's command line for one run."""
    count = requests_at(args, rate)
    command = [str(generator), "--port", str(port), "--frames", str(frames)]
    command += ["--rate", f"{rate:g}", "--requests", str(count)]
    command += ["--warmup", str(min(args.warmup, count - 1)), "--max-open", str(args.max_open)]
    command += ["--mode", args.mode, "--conns", str(args.conns), "--resp-byte", "3=2"]
    command += ["--echo", _ECHO, "--drain", f"{10 + count / 500:g}"]
    return command + (["--poisson"] if args.poisson else [])


def one_run(
    args: argparse.Namespace, version: str, src: Path | None, generator: Path, rate: float
) -> Run:
    """Start a fresh host, offer it ``rate``, stop it, check the store."""
    with tempfile.TemporaryDirectory(prefix="openkms-latency-") as scratch:
        target = make_site(Path(scratch))
        store = Path(target.store)
        frames = Path(scratch) / "frames.bin"
        write_frames(frames, requests_at(args, rate), target)
        process, port = start_host(store, src, args.host_arg)
        try:
            if "--no-dns" not in args.host_arg:
                first_publication(store, process)
            pids = process_tree(process.pid)
            load = os.getloadavg()[0]
            front_before = sum(cpu_seconds([process.pid]))
            host_before = sum(cpu_seconds(pids))
            command = generator_command(args, generator, port, frames, rate)
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            front = sum(cpu_seconds([process.pid])) - front_before
            host = sum(cpu_seconds(pids)) - host_before
        finally:
            process.terminate()
            process.wait(30)
        try:
            report = json.loads(out.stdout)
        except ValueError:
            sys.exit(f"the generator failed ({out.returncode}): {out.stdout}{out.stderr}")
        done = int(report["completed"])
        verified = process.returncode == 0 and events_stored(store) == done
        if report["errors"]:
            print(f"    first error: {report['first_error']}")

    def per_act(cpu: float) -> float:
        return cpu / done * 1000 if done else float("nan")

    seconds = float(report["seconds"]) or float("nan")

    return Run(
        version=version,
        offered=rate,
        achieved=report["achieved_rate"],
        p50=report["p50"],
        p90=report["p90"],
        p99=report["p99"],
        p999=report["p999"],
        max=report["max"],
        host_cpu_ms=per_act(host),
        front_cpu_ms=per_act(front),
        writer_cpu_ms=per_act(host - front),
        generator_core=report["gen_cpu_s"] / seconds,
        generator_sys=report["gen_sys_s"] / seconds,
        start_lag_max=report["start_lag_max_ms"],
        load=load,
        completed=done,
        errors=int(report["errors"]),
        late_starts=int(report["late_starts"]),
        verified=verified,
    )


def median_run(runs: list[Run]) -> Run:
    """The median of each figure over ``runs``; counts summed."""
    skip = {"version", "verified", *_COUNTS}
    numbers = {
        name: statistics.median(getattr(r, name) for r in runs)
        for name in asdict(runs[0])
        if name not in skip
    }
    counts = {name: sum(getattr(r, name) for r in runs) for name in _COUNTS}
    return Run(version=runs[0].version, verified=all(r.verified for r in runs), **numbers, **counts)


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[500, 1000, 2000, 3000, 5000])
    parser.add_argument("--seconds", type=float, default=8.0, help="offered per run and rate")
    parser.add_argument("--requests", type=int, default=0, help="per run (instead of --seconds)")
    parser.add_argument("--runs", type=int, default=3, help="runs per rate (and version)")
    parser.add_argument("--old", type=Path, help="a src directory to alternate with this one")
    parser.add_argument("--mode", choices=["new", "persistent"], default="new")
    parser.add_argument("--conns", type=int, default=64, help="connections (persistent mode)")
    parser.add_argument("--poisson", action="store_true", help="exponential gaps (fixed seed)")
    parser.add_argument("--warmup", type=int, default=200, help="requests left out of the stats")
    parser.add_argument("--max-open", type=int, default=2048, help="open connections at most")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/openkms-bench"))
    parser.add_argument("--host-arg", action="append", default=[], help="for 'host serve'")
    parser.add_argument(
        "--defaults",
        action="store_true",
        help="serve with DNS publishing and the admin API (default: --no-dns --no-admin)",
    )
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    limit = f"--max-connections-per-address={args.max_open}"
    args.host_arg = ([] if args.defaults else quiet_options()) + [limit, *args.host_arg]
    return args


def main() -> None:
    """Run the bench and print each run and the medians per rate."""
    args = parse_args()
    versions: list[tuple[str, Path | None]] = [("new", None)]
    if args.old is not None:
        versions.append(("old", args.old.resolve()))
    generator = openloop(args.cache)
    size = f"{args.requests} requests" if args.requests else f"{args.seconds:g} s"
    print(
        f"mode {args.mode}, rates {' '.join(f'{r:g}' for r in args.rates)}/s, {size} per run, "
        f"{args.runs} run(s) per rate and version, warm-up {args.warmup}, "
        f"{'Poisson' if args.poisson else 'even'} arrivals, generator {generator}; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; {python_build()}"
    )
    runs: dict[tuple[str, float], list[Run]] = {}
    for index in range(args.runs):
        for rate in args.rates:
            for name, src in versions if index % 2 == 0 else versions[::-1]:
                run = one_run(args, name, src, generator, rate)
                runs.setdefault((name, rate), []).append(run)
                print(f"  {run.line()}")
    medians = {key: median_run(each) for key, each in runs.items()}
    for rate in args.rates:
        for name, _ in versions:
            print(f"median {medians[name, rate].line()}")
    print(f"load {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        found = {f"{name} {rate:g}": asdict(run) for (name, rate), run in medians.items()}
        print(json.dumps(found))
    if not all(run.verified and not run.errors for run in medians.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
