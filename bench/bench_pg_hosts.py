"""Two hosts on one PostgreSQL store against one host on its SQLite store, over loopback.

    .venv/bin/python bench/bench_pg_hosts.py [--runs 3] [--requests 20000] [--connections 64]
        [--prefill 0|1000000] [--generators 1] [--cache DIR] [--json]

Every run starts real host processes (``openkms host serve``), each with its own host
directory, host key and certificate, and port: one host on its SQLite file, or two hosts on
one PostgreSQL database (one DSN) of a server started here with ``tests/pgserver.py``
(``initdb`` in a directory of its own, a free port, a non-root user when run as root) with
``fsync``, ``full_page_writes`` and ``synchronous_commit`` on, so that, as with SQLite's
``synchronous=FULL``, a response leaves only after its COMMIT is on disk. ``--connections``
closed-loop clients (bench_host.py's generator, in ``--generators`` processes), spread evenly
over the hosts, open a new TCP connection per activation; every request is a valid
ActivationRequest with a random CMID, so the hosts count it in their one shared count.

Runs alternate SQLite and PostgreSQL (the order swapped every pair). Printed per run and as
medians: activations/s, latency p50/p95/p99/max (ms, connect to response), the hosts' peak
RSS (VmHWM summed over their process trees), the server's memory (Pss) for PostgreSQL, CPU
milliseconds per activation of the hosts, the database server and the generator (and the
generator's share of a core, which shows whether it is the limit), and the load average
before each run. After each run the hosts are stopped gracefully and the store is checked:
counters, 12290 events (per host) and new clients must equal what the clients were told.

``--prefill N`` first puts N clients (each with its 12290 event, last seen within the past
60 days) in both stores: COPY for PostgreSQL, one transaction of ``executemany`` for SQLite.
The prefilled SQLite file, PostgreSQL cluster and the site they belong to are cached under
``--cache`` in a directory named after both schema versions and N, so that the next run
reuses them (each run works on a copy: a copied file, ``CREATE DATABASE ... TEMPLATE``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

import asyncpg
import msgspec
import uvloop

import _prefill
import bench_host
from bench_host import Load, Pace, Tally, Target
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.store import _pg_db as pg_db
from openkms.store import _pg_schema as pg_schema
from openkms.store import _sqlite_schema as sqlite_schema

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pgserver import (  # the tests' helper
    DEFAULT_SETTINGS,
    SUPERUSER,
    Postgres,
    _free_port,
    _mkdir_owned,
    _run_as,
    _start_on_free_port,
    postgres_bin,
    remove,
    start_postgres,
)

SQLITE = "sqlite x1"
PG_HOSTS = ("pg1", "pg2")  # the site's hosts for PostgreSQL (--pg-hosts takes the first N)
# Durable like the SQLite host (synchronous=FULL); memory at PostgreSQL's defaults.
SETTINGS = {"fsync": "on", "full_page_writes": "on", "shared_buffers": "128MB"}
TEMPLATE = "prefill"
DAY = 86_400
ECHO = print  # replaced by a print to stderr with --json


class SiteInfo(msgspec.Struct):
    """A publisher and its three activated hosts: the product to ask for, the host IDs."""

    target: Target
    host_ids: dict[str, str]


class Prefill(msgspec.Struct):
    """What the prefill put in the stores and how long it took (seconds per store)."""

    clients: int
    seconds: dict[str, float]
    built_now: bool = False


# -- the site and its prefilled stores -------------------------------------------------------


def make_site(root: Path) -> SiteInfo:
    """A publisher and the hosts ``sqlite``, ``pg1``, ``pg2``, each with its key and certificate."""
    publisher = Publisher.init(root / "publisher", "Bench Publisher")
    host_ids = {}
    for name in ("sqlite", *PG_HOSTS):
        state = HostState(root / name)
        state.install_key(str(publisher.issue_host_key("C")), publisher.trust())
        request = state.activation_request(f"bench-{name}", int(time.time()))
        state.install_certificate(publisher.activate_host(request), int(time.time()))
        host_ids[name] = state.host_id
    catalog = publisher.trust().catalog
    product = next(p for p in catalog.products if p.edition == _prefill.EDITION)
    target = Target("", 0, catalog.application_id, product.activation_id, product.n_policy)
    info = SiteInfo(target, host_ids)
    (root / "site.json").write_bytes(msgspec.json.encode(info))
    return info


CLIENT_COLUMNS = (
    "application_id", "cmid", "activation_id", "machine_name", "first_seen", "last_seen",
    "license_status", "n_policy", "requests", "last_activated",
)  # fmt: skip


def prefill_rows(site: SiteInfo, count: int, now: int) -> Iterator[tuple[tuple[object, ...], ...]]:
    """(client row, 12290 event row) of ``count`` clients with random CMIDs, seen lately."""
    draw = random.Random(count)
    app, activation = site.target.application_id, site.target.activation_id
    for i in range(count):
        cmid = str(uuid.UUID(int=draw.getrandbits(128), version=4))
        seen = now - draw.randrange(60 * DAY)
        name = f"pc-{i}"
        client = (app, cmid, activation, name, seen, seen, 1, 25, 1, seen)
        info = f"0x0,25,{name},{cmid},2027/1/15 8:00,0,1,43200,{activation}"
        yield client, (12290, seen, info, cmid, activation, 0)


def prefill_sqlite(path: Path, site: SiteInfo, count: int) -> None:
    """An SQLite store of this schema version holding ``count`` clients and their events."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        sqlite_schema.migrate(conn, path)
        # A throw-away build (no marker file until it is done): no journal, no fsync, and a
        # cache that holds the indexes, which random CMIDs would otherwise thrash.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -2000000")  # KiB
        conn.execute("BEGIN")
        rows = sorted(prefill_rows(site, count, int(time.time())))
        conn.executemany(
            f"INSERT INTO clients ({', '.join(CLIENT_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(CLIENT_COLUMNS))})",
            (c for c, _ in rows),
        )
        conn.executemany(
            "INSERT INTO events (event_id, time, info, cmid, activation_id, hresult) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (e for _, e in rows),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


async def prefill_postgres(dsn: str, site: SiteInfo, count: int) -> None:
    """The PostgreSQL schema with ``count`` clients and their events, loaded with COPY."""
    conn = await asyncpg.connect(dsn)
    try:
        await pg_db.migrate(conn, dsn)
        rows = sorted(prefill_rows(site, count, int(time.time())))  # key order: less I/O
        await conn.copy_records_to_table(
            "clients",
            records=[(*c, "prefill") for c, _ in rows],
            columns=[*CLIENT_COLUMNS, "host_id"],
        )
        columns = ["event_id", "time", "info", "cmid", "activation_id", "hresult", "host_id"]
        events = [(*e, "prefill") for _, e in rows]
        await conn.copy_records_to_table("events", records=events, columns=columns)
        await conn.execute("VACUUM ANALYZE")  # what autovacuum does soon after such a load
    finally:
        await conn.close()


def new_cluster(base: Path) -> Postgres:
    """``initdb`` a cluster in ``base`` (kept: the cache) and start it; as start_postgres()."""
    bin_dir, user = postgres_bin(), _run_as()
    if bin_dir is None:
        raise FileNotFoundError("postgres")
    _mkdir_owned(base, user)
    server = cluster_at(base, bin_dir)
    _mkdir_owned(server.sockets, user)
    server.tool(
        "initdb", "-D", str(server.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
        "--locale=C",
    )  # fmt: skip
    _start_on_free_port(server)
    return server


def cluster_at(base: Path, bin_dir: Path | None = None) -> Postgres:
    """The (stopped) bench cluster whose data lies in ``base``."""
    bin_dir = bin_dir or postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("postgres")
    settings = {**DEFAULT_SETTINGS, **SETTINGS}
    return Postgres(bin_dir, base, base / "data", _free_port(), _run_as(), settings)


def build_cache(directory: Path, count: int) -> Prefill:
    """Make the site, the prefilled SQLite file and the prefilled cluster in ``directory``."""
    shutil.rmtree(directory, ignore_errors=True)  # an interrupted build starts over
    directory.mkdir(parents=True, mode=0o755)
    site = make_site(directory / "site")
    ECHO(f"prefilling {count:,} clients (cache {directory})")
    began = time.perf_counter()
    prefill_sqlite(directory / "sqlite.db", site, count)
    seconds = {"sqlite": time.perf_counter() - began}
    server = new_cluster(directory / "pg")
    try:
        began = time.perf_counter()
        dsn = server.create_database(TEMPLATE)
        asyncio.run(prefill_postgres(dsn, site, count))
        seconds["postgresql"] = time.perf_counter() - began
    finally:
        server.stop()
    (directory / "prefill.json").write_bytes(msgspec.json.encode(Prefill(count, seconds)))
    return Prefill(count, seconds, built_now=True)


# -- the bench: a site, its stores and a PostgreSQL server ------------------------------------


@dataclass
class Bench:
    """What every run uses."""

    site_root: Path
    site: SiteInfo
    server: Postgres
    cached: bool  # the server's cluster is the cache's (stop it), else a temporary one
    sqlite_template: Path | None
    prefill: Prefill

    def close(self) -> None:
        """Stop the server (and delete it unless it is the cache's)."""
        if self.cached:
            self.server.stop()
        else:
            remove(self.server)


def cache_name(count: int) -> str:
    """The cache directory of a prefill: both schema versions and the count."""
    return f"pg-hosts-sqlite{sqlite_schema.schema_version()}-pg{pg_schema.schema_version()}-{count}"


def prepare(args: argparse.Namespace, scratch: Path) -> Bench:
    """An empty site and a fresh server, or the cached prefilled ones (built if missing)."""
    if args.prefill == 0:
        site = make_site(scratch / "site")
        server = start_postgres(fsync=True, settings=SETTINGS)
        return Bench(scratch / "site", site, server, False, None, Prefill(0, {}))
    directory = Path(args.cache) / cache_name(args.prefill)
    done = directory / "prefill.json"
    if done.exists():
        prefill = msgspec.json.decode(done.read_bytes(), type=Prefill)
    else:
        prefill = build_cache(directory, args.prefill)
    site = msgspec.json.decode((directory / "site" / "site.json").read_bytes(), type=SiteInfo)
    server = cluster_at(directory / "pg")
    _start_on_free_port(server)
    return Bench(directory / "site", site, server, True, directory / "sqlite.db", prefill)


# -- the load: clients spread over the hosts --------------------------------------------------


async def _spread(loads: list[Load], clients: int, requests: int) -> list[Tally]:
    """``clients`` closed-loop clients, client i on host i mod n; a tally per host."""
    tallies = [Tally() for _ in loads]
    budget = [requests]
    started = time.perf_counter()
    deadline = started + loads[0].seconds
    pace = Pace(0.0, started)
    n = len(loads)
    await asyncio.gather(
        *(
            bench_host._client(loads[i % n], budget, deadline, tallies[i % n], pace)
            for i in range(clients)
        )
    )
    finished = time.perf_counter()
    for tally in tallies:
        tally.started, tally.finished = started, finished
    return tallies


def generator_main(loads: list[Load], clients: int, requests: int, pipe: Pipe) -> None:
    """One generator process: wait for 'go', run, send the tallies and its CPU time back."""
    pipe.recv()
    before = time.process_time()
    tallies = uvloop.run(_spread(loads, clients, requests))
    pipe.send((tallies, time.process_time() - before))


def run_load(targets: list[Target], args: argparse.Namespace) -> tuple[list[Tally], float]:
    """Drive the hosts from ``args.generators`` processes; per-host tallies, generator CPU s."""
    ctx = mp.get_context("fork")
    k = args.generators
    loads = [Load(t, "new-connection", 0, 0, args.seconds, 0.0) for t in targets]
    pipes, processes = [], []
    for g in range(k):
        parent, child = ctx.Pipe()
        clients = args.connections // k + (g < args.connections % k)
        requests = args.requests // k + (g < args.requests % k)
        shifted = loads[g % len(loads) :] + loads[: g % len(loads)]  # spread odd counts
        process = ctx.Process(target=generator_main, args=(shifted, clients, requests, child))
        process.start()
        pipes.append(parent)
        processes.append((process, g % len(loads)))
    time.sleep(0.2)  # let every generator reach recv()
    for pipe in pipes:
        pipe.send("go")
    merged = [Tally() for _ in targets]
    cpu = 0.0
    for pipe, (process, shift) in zip(pipes, processes, strict=True):
        tallies, used = pipe.recv()
        cpu += used
        for i, tally in enumerate(tallies):
            merged[(i + shift) % len(targets)].merge(tally)
        process.join()
    return merged, cpu


# -- one run ---------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The figures of one run of one configuration."""

    load: float  # 1-minute load average before the run
    rate: float
    p50: float
    p95: float
    p99: float
    worst: float
    hosts_rss: float  # MiB, peak, both hosts' process trees
    db_pss: float  # MiB, the PostgreSQL server's processes at the end of the load
    host_cpu: float  # ms per activation, all hosts
    db_cpu: float  # ms per activation, the PostgreSQL server
    gen_cpu: float  # ms per activation, the generator processes
    gen_cores: float  # the generators' share of one core during the run
    errors: int
    per_host: list[int]
    verified: bool
    verdict: str

    def line(self) -> str:
        """The run as one line of text."""
        split = "/".join(str(n) for n in self.per_host)
        return (
            f"{self.rate:7,.0f} act/s  p50 {self.p50:6.2f}  p95 {self.p95:6.2f}  "
            f"p99 {self.p99:6.2f}  max {self.worst:7.2f} ms  hosts RSS {self.hosts_rss:6.1f} "
            f"MiB  db {self.db_pss:5.1f} MiB  CPU ms/act host {self.host_cpu:5.3f} db "
            f"{self.db_cpu:5.3f} gen {self.gen_cpu:5.3f} ({self.gen_cores:.2f} cores)  "
            f"load {self.load:.2f}  errors {self.errors}  split {split}"
        )


def pss_mib(pids: list[int]) -> float:
    """Summed proportional set size (shared memory split between sharers) in MiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024


def host_dirs(bench: Bench, names: tuple[str, ...], run_dir: Path) -> list[Path]:
    """Fresh copies of these hosts' directories (and of the prefilled SQLite file)."""
    dirs = []
    for name in names:
        shutil.copytree(bench.site_root / name, run_dir / name)
        dirs.append(run_dir / name)
    if names == ("sqlite",) and bench.sqlite_template is not None:
        shutil.copyfile(bench.sqlite_template, run_dir / "sqlite" / "host.db")
    return dirs


def new_database(bench: Bench, name: str) -> str:
    """A database for one run: empty, or a file copy of the prefilled template."""
    if bench.prefill.clients:
        bench.server.psql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE} STRATEGY FILE_COPY')
    else:
        bench.server.psql(f'CREATE DATABASE "{name}"')
    return bench.server.dsn(name)


def verify_sqlite(path: Path, host_id: str, tallies: list[Tally], prefill: int) -> str:
    """Check the SQLite store against what the clients were told."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT sum(total) FROM counters WHERE host_id = ?", (host_id,))
        counters = row.fetchone()[0] or 0
        # The prefilled events are seq 1..prefill; retention (1,000,000 events) may have
        # deleted some of them meanwhile, never a new one (it deletes the oldest).
        query = "SELECT count(*) FROM events WHERE event_id = 12290 AND seq > ?"
        events = conn.execute(query, (prefill,)).fetchone()[0]
        clients = conn.execute("SELECT count(*) FROM clients").fetchone()[0]
    finally:
        conn.close()
    return judge_store([counters], [events], clients - prefill, tallies)


async def verify_postgres(dsn: str, host_ids: list[str], tallies: list[Tally], prefill: int) -> str:
    """Check the shared database: counters and 12290 events per host, new clients."""
    conn = await asyncpg.connect(dsn)
    try:
        counters, events = [], []
        for host_id in host_ids:
            query = "SELECT coalesce(sum(total), 0)::bigint FROM counters WHERE host_id = $1"
            counters.append(await conn.fetchval(query, host_id))
            query = "SELECT count(*) FROM events WHERE event_id = 12290 AND host_id = $1"
            events.append(await conn.fetchval(query, host_id))
        clients = await conn.fetchval("SELECT count(*) FROM clients") - prefill
    finally:
        await conn.close()
    return judge_store(counters, events, clients, tallies)


def judge_store(counters: list[int], events: list[int], clients: int, tallies: list[Tally]) -> str:
    """'store OK ...' when every host recorded exactly what it acknowledged (at least, after
    errors: a request whose answer was lost may be recorded), else 'store MISMATCH ...'."""
    answered = [t.answered for t in tallies]
    ok = sum(t.ok for t in tallies)
    if any(t.errors for t in tallies):
        good = all(c >= a and e >= a for c, e, a in zip(counters, events, answered, strict=True))
    else:
        good = counters == answered and events == answered and clients == ok
    return (
        f"store {'OK' if good else 'MISMATCH'}: counters {counters} events12290 {events} new "
        f"clients {clients} (acknowledged {answered}, ok {ok})"
    )


def one_run(
    bench: Bench, config: str, index: int, args: argparse.Namespace, scratch: Path
) -> RunResult:
    """Start the configuration's hosts, load them, stop them, check the store."""
    run_dir = scratch / f"run-{index}-{config.split(maxsplit=1)[0]}"
    names = configs(args)[config]
    dirs = host_dirs(bench, names, run_dir)
    extra = bench_host.quiet_options()
    dsn = ""
    if config != SQLITE:
        dsn = new_database(bench, f"run_{index}")
        extra += ["--database", dsn]
    load = os.getloadavg()[0]
    processes, targets = [], []
    try:
        for directory, name in zip(dirs, names, strict=True):
            process, port = bench_host.start_host(directory, extra, name=name)
            processes.append(process)
            targets.append(dataclasses.replace(bench.site.target, host="127.0.0.1", port=port))
        hosts = [pid for p in processes for pid in bench_host.process_tree(p.pid)]
        assert bench.server.process is not None
        db = bench_host.process_tree(bench.server.process.pid) if dsn else []
        before = [sum(bench_host.cpu_seconds(pids)) for pids in (hosts, db)]
        tallies, gen_cpu = run_load(targets, args)
        hosts = [pid for p in processes for pid in bench_host.process_tree(p.pid)]
        db = bench_host.process_tree(bench.server.process.pid) if dsn else []
        host_cpu, db_cpu = (
            sum(bench_host.cpu_seconds(p)) - b for p, b in zip((hosts, db), before, strict=True)
        )
        rss, db_pss = bench_host.peak_rss_mib(hosts), pss_mib(db)
    finally:
        bench_host.stop_hosts(processes)
    prefill = bench.prefill.clients
    host_ids = [bench.site.host_ids[name] for name in names]
    if dsn:
        verdict = asyncio.run(verify_postgres(dsn, host_ids, tallies, prefill))
        bench.server.psql(f'DROP DATABASE "run_{index}" WITH (FORCE)')
    else:
        verdict = verify_sqlite(dirs[0] / "host.db", host_ids[0], tallies, prefill)
    for process, name in zip(processes, names, strict=True):
        if process.returncode != 0:
            log = (run_dir / name / f"{name}.log").read_text(errors="replace")
            verdict += f"; host {name} exited {process.returncode}: {log[-2000:]}"
    shutil.rmtree(run_dir, ignore_errors=True)
    return summarize_run(load, tallies, (host_cpu, db_cpu, gen_cpu), (rss, db_pss), verdict)


def summarize_run(
    load: float,
    tallies: list[Tally],
    cpu: tuple[float, float, float],
    memory: tuple[float, float],
    verdict: str,
) -> RunResult:
    """The figures of one run from its tallies."""
    ordered = sorted(x for t in tallies for x in t.latencies)
    done = len(ordered)
    elapsed = max(t.finished for t in tallies) - min(t.started for t in tallies)
    per_act = [c / done * 1000 if done else float("nan") for c in cpu]
    return RunResult(
        load=load,
        rate=done / elapsed if elapsed > 0 else 0.0,
        p50=bench_host.percentile(ordered, 0.50),
        p95=bench_host.percentile(ordered, 0.95),
        p99=bench_host.percentile(ordered, 0.99),
        worst=ordered[-1] * 1000 if ordered else float("nan"),
        hosts_rss=memory[0],
        db_pss=memory[1],
        host_cpu=per_act[0],
        db_cpu=per_act[1],
        gen_cpu=per_act[2],
        gen_cores=cpu[2] / elapsed if elapsed > 0 else 0.0,
        errors=sum(t.errors for t in tallies),
        per_host=[len(t.latencies) for t in tallies],
        verified=verdict.startswith("store OK") and "exited" not in verdict,
        verdict=verdict
        + "".join(f"; first error: {t.first_error}" for t in tallies if t.first_error),
    )


# -- medians and output ----------------------------------------------------------------------

FIGURES = ("load", "rate", "p50", "p95", "p99", "worst", "hosts_rss", "db_pss", "host_cpu")
FIGURES += ("db_cpu", "gen_cpu", "gen_cores")


def median_of(results: list[RunResult]) -> RunResult:
    """The median of every figure over runs (errors summed, split of the median run)."""
    figures = {name: statistics.median(getattr(r, name) for r in results) for name in FIGURES}
    middle = sorted(results, key=lambda r: r.rate)[len(results) // 2]
    return RunResult(
        **figures,
        errors=sum(r.errors for r in results),
        per_host=middle.per_host,
        verified=all(r.verified for r in results),
        verdict="",
    )


def configs(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """The configurations compared, each with the names of its hosts."""
    return {SQLITE: ("sqlite",), f"postgresql x{args.pg_hosts}": PG_HOSTS[: args.pg_hosts]}


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="alternated pairs (default 3)")
    parser.add_argument("--requests", type=int, default=10_000, help="activations per run")
    parser.add_argument("--connections", type=int, default=64, help="concurrent clients")
    parser.add_argument("--generators", type=int, default=1, help="load-generator processes")
    parser.add_argument("--seconds", type=float, default=120.0, help="time limit per run")
    parser.add_argument(
        "--pg-hosts", type=int, choices=(1, 2), default=2, help="hosts on PostgreSQL"
    )
    parser.add_argument("--prefill", type=int, default=0, help="clients already in the stores")
    parser.add_argument(
        "--cache",
        default=os.environ.get("OPENKMS_BENCH_CACHE", "/var/tmp/openkms-bench"),
        help="where prefilled stores are kept (must be reachable by PostgreSQL's user)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args()
    if args.runs < 1 or args.requests < 1 or args.connections < 1 or args.generators < 1:
        parser.error("--runs, --requests, --connections and --generators must be at least 1")
    if args.prefill < 0:
        parser.error("--prefill must be 0 or more")
    return args


def report(args: argparse.Namespace, bench: Bench, results: dict[str, list[RunResult]]) -> bool:
    """Print the medians (and the JSON document); True when every store checked out."""
    medians = {config: median_of(runs) for config, runs in results.items()}
    postgres = next(c for c in medians if c != SQLITE)
    sqlite, pg = medians[SQLITE], medians[postgres]
    ratio = {"rate": pg.rate / sqlite.rate if sqlite.rate else 0.0, "p99": pg.p99 / sqlite.p99}
    for config, median in medians.items():
        ECHO(f"median {config:13} {median.line()}")
    ECHO(
        f"{postgres} / {SQLITE}: act/s x{ratio['rate']:.2f}, p99 x{ratio['p99']:.2f}; "
        f"stores verified in every run: {'yes' if pg.verified and sqlite.verified else 'NO'}"
    )
    if args.json:
        document = {
            "command": sys.argv,
            "cpus": os.cpu_count(),
            "requests": args.requests,
            "connections": args.connections,
            "generators": args.generators,
            "prefill": msgspec.to_builtins(bench.prefill),
            "runs": {c: [dataclasses.asdict(r) for r in runs] for c, runs in results.items()},
            "median": {c: dataclasses.asdict(m) for c, m in medians.items()},
            "ratio": ratio,
        }
        print(json.dumps(document, indent=1))
    return pg.verified and sqlite.verified and not (pg.errors or sqlite.errors)


def main() -> None:
    """Alternate SQLite and PostgreSQL runs; print every run and the medians."""
    global ECHO  # noqa: PLW0603 - one switch for all progress output
    args = parse_args()
    if args.json:
        ECHO = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    ECHO(
        f"{args.connections} clients (new connection per activation) in {args.generators} "
        f"generator(s), {args.requests:,} requests x {args.runs} alternated pairs, prefill "
        f"{args.prefill:,}; load {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="openkms-bench-pg-") as name:
        scratch = Path(name)
        bench = prepare(args, scratch)
        try:
            if bench.prefill.clients:
                how = "built now" if bench.prefill.built_now else "reused from the cache"
                took = ", ".join(f"{k} {v:.1f} s" for k, v in bench.prefill.seconds.items())
                ECHO(f"prefill {bench.prefill.clients:,} clients ({how}; took {took})")
            order = list(configs(args))
            results: dict[str, list[RunResult]] = {config: [] for config in order}
            for i in range(args.runs):
                for config in order if i % 2 == 0 else order[::-1]:
                    result = one_run(bench, config, i, args, scratch)
                    results[config].append(result)
                    ECHO(f"run {i + 1} {config:13} {result.line()}\n    {result.verdict}")
        finally:
            bench.close()
    if not report(args, bench, results):
        sys.exit(1)


if __name__ == "__main__":
    main()
