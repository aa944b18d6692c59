"""Admin dashboard and API latency on a big store, and activations while it is polled.

    .venv/bin/python bench/bench_admin.py [--clients 100000] [--events 1000000] [--repeat 15]
        [--seconds 10] [--concurrency 32]

1. Fills a fresh host store directly (bulk INSERTs, not through the host) with ``--clients``
   clients and ``--events`` 12290 events spread over 60 days (2% failed).
2. Starts the real host (``openkms host serve --admin 127.0.0.1:0``) and times every
   dashboard page and API list call over ``--repeat`` requests: median and p95 in ms.
   With ``--prefilled``, step 1 instead copies the store ``bench_host.py --prefill`` builds
   and caches (``_prefill.py``; ``--clients 1000000 --prefilled``: 1,000,000 clients and
   1,000,000 events, built once if missing).
3. Measures activations/s over ``--seconds`` with ``--concurrency`` persistent connections,
   first alone, then while a poller loads the dashboard's calls once a second.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _prefill import copy_store, prefilled_site
from openkms.admin._params import client_cursor
from openkms.core.events import format_client_time
from openkms.host.state import HostState
from openkms.protocol.connection import NEED_DATA, Connection, Role, encode
from openkms.protocol.messages import ActivationRequest, ActivationResponse
from openkms.publisher import Publisher
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_indexer import SearchIndexer
from openkms.store._sqlite_queries import CLIENT_COLUMNS
from openkms.store._sqlite_records import INSERT_EVENT
from openkms.store.base import ClientRecord, ClientSearch

DAY = 86400


def make_site(root: Path) -> tuple[Path, str, str, int]:
    """An activated host store: its dir, the application ID, a product and its N."""
    publisher = Publisher.init(root / "publisher", "Bench Publisher")
    state = HostState(root / "host")
    state.install_key(str(publisher.issue_host_key("C")), publisher.trust())
    request = state.activation_request("bench-kms", int(time.time()))
    state.install_certificate(publisher.activate_host(request), int(time.time()))
    catalog = publisher.trust().catalog
    product = next(p for p in catalog.products if p.edition == "Standard")
    return root / "host", catalog.application_id, product.activation_id, product.n_policy


def fill(path: Path, app_id: str, act_id: str, clients: int, events: int) -> None:
    """Bulk-insert clients and events (through the real schema, migrations and trigger)."""
    conn = connect_writer(path)
    conn.execute("PRAGMA synchronous = OFF")
    now = int(time.time())
    rng = random.Random(1)
    cmids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(clients)]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO clients (application_id, cmid, activation_id, machine_name, first_seen, "
        "last_seen, license_status, n_policy, requests) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                app_id,
                cmid,
                act_id,
                f"pc-{i:06d}",
                now - 90 * DAY,
                now - rng.randrange(60 * DAY),
                rng.choice((1, 1, 1, 2, 5)),
                5,
                rng.randrange(1, 50),
            )
            for i, cmid in enumerate(cmids)
        ),
    )
    conn.execute("INSERT INTO n_policy_seen VALUES (?, 5, ?)", (app_id, now))
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    start = now - 60 * DAY
    step = 60 * DAY / events
    rows = []
    for i in range(events):
        t = int(start + i * step)
        failed = rng.random() < 0.02
        cmid = cmids[i % clients]
        hresult = "0xC004F042" if failed else "0x0"
        info = (
            f"{hresult},0x5,pc-{i % clients:06d},{cmid},{format_client_time(t)},0,1,43200,{act_id}"
        )
        rows.append((12290, t, info, cmid, act_id, 0xC004F042 if failed else 0))
        if len(rows) == 50_000:
            conn.executemany(INSERT_EVENT, rows)
            rows.clear()
    conn.executemany(INSERT_EVENT, rows)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    # A host that has run for a while has a checkpointed WAL; start from there, not with the
    # fill's hundreds of megabytes of WAL still to copy back under the first measurements.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    indexer = SearchIndexer(path)  # every client indexed, as a host that has run a while has
    try:
        indexer.catch_up()
    finally:
        indexer.close()


def start_host(store: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    ready = store / "ready.json"
    command = [sys.executable, "-m", "openkms", "host", "--store", str(store), "serve",
               "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--no-dns",
               "--ready-file", str(ready), "--log-level", "WARNING"]  # fmt: skip
    log = (store / "host.log").open("wb")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError((store / "host.log").read_text())
        time.sleep(0.05)
    document = json.loads(ready.read_text())
    return process, int(document["listen"][0].rsplit(":", 1)[1]), document["admin"]


def deep_cursor(db: Path, offset: int) -> str:
    """The ``after`` cursor the API gives for the client at ``offset`` of the default order
    (the keyset equivalent of ``offset``)."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            f"SELECT {CLIENT_COLUMNS} FROM clients ORDER BY last_seen DESC, application_id, "
            "cmid LIMIT 1 OFFSET ?",
            (offset - 1,),
        ).fetchone()
    finally:
        conn.close()
    return client_cursor(ClientSearch(), ClientRecord(*row))


def calls(act_id: str, cmid: str, after: str) -> list[str]:
    """The dashboard's pages and the API list calls to time."""
    return [
        "/", "/clients", "/events", "/api/overview", "/api/status", "/api/activity?days=7",
        "/api/activity?days=90&bucket=day", "/api/clients", "/api/clients?sort=machine_name",
        f"/api/clients?product={act_id}&state=licensed", "/api/clients?q=pc-0999",
        "/api/clients?seen_before=" + str(int(time.time()) - 30 * DAY),
        "/api/clients?offset=99000", f"/api/clients?q={cmid[:8]}&sort=machine_name&order=asc",
        "/api/clients?after=" + after, "/api/events", "/api/events?id=12290",
        "/api/events?failed=true", "/api/events?id=12293,12294", f"/api/events?cmid={cmid}",
        f"/api/events?since={int(time.time()) - 40 * DAY}&until={int(time.time()) - 39 * DAY}",
        "/api/products", "/api/dns", "/api/counters", "/metrics",
    ]  # fmt: skip


def get(admin: str, path: str) -> float:
    host, port = admin.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}")
    return elapsed


def time_calls(admin: str, paths: list[str], repeat: int) -> float:
    for path in paths:  # warm the readers' caches once, as a dashboard in use has them
        get(admin, path)
    worst = 0.0
    print(f"{'call':58} {'median ms':>10} {'p95 ms':>8}")
    for path in paths:
        samples = sorted(get(admin, path) * 1000 for _ in range(repeat))
        p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
        worst = max(worst, p95)
        print(f"{path[:58]:58} {statistics.median(samples):10.1f} {p95:8.1f}")
    return worst


async def load(
    port: int, app_id: str, act_id: str, n: int, seconds: float, concurrency: int
) -> float:
    """Activations per second over ``seconds`` with ``concurrency`` persistent connections."""
    done = 0
    deadline = time.monotonic() + seconds

    async def one_client() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = Connection(role=Role.CLIENT)
        try:
            while time.monotonic() < deadline:
                request = ActivationRequest(os.urandom(16), app_id, act_id, os.urandom(16),
                                            "bench", int(time.time()), 2, 43200, n)  # fmt: skip
                writer.write(encode(request))
                while True:
                    message = conn.next_event()
                    if message is not NEED_DATA:
                        break
                    conn.receive_data(await reader.read(65536))
                assert isinstance(message, ActivationResponse)
                done += 1
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.monotonic()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return done / (time.monotonic() - started)


def poll_dashboard(admin: str, stop: Any, paths: list[str]) -> None:
    """What an open overview, clients and events page load, once a second."""
    while not stop.is_set():
        started = time.monotonic()
        for path in paths:
            get(admin, path)
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each load run")
    parser.add_argument("--pairs", type=int, default=8, help="alone/polled pairs")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--prefilled",
        action="store_true",
        help="copy bench_host.py's cached store of --clients clients and --events events "
        "(built once if missing) instead of filling a fresh one",
    )
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "openkms-bench")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        if args.prefilled:
            site = copy_store(prefilled_site(args.clients, args.cache_dir, args.events), Path(tmp))
            store, app_id, act_id, n = (Path(site.store), site.application_id,
                                        site.activation_id, site.n_policy)  # fmt: skip
        else:
            store, app_id, act_id, n = make_site(Path(tmp))
            fill(store / "host.db", app_id, act_id, args.clients, args.events)
        took = time.monotonic() - started
        print(f"store of {args.clients} clients, {args.events} events ready in {took:.1f} s; "
              f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
        process, port, admin = start_host(store)
        try:
            cmid = (
                sqlite3.connect(store / "host.db")
                .execute("SELECT cmid FROM clients LIMIT 1")
                .fetchone()[0]
            )
            # The cursor of the 99,000th client (the last one of a smaller store).
            after = deep_cursor(store / "host.db", min(99_000, args.clients))
            worst = time_calls(admin, calls(act_id, cmid, after), args.repeat)
            print(f"slowest p95: {worst:.1f} ms (target < 100 ms at 1,000,000 clients)")
            if args.pairs < 1:
                return
            dashboard = ["/api/overview", "/api/status", "/api/activity?days=7", "/api/clients",
                         "/api/events?limit=50"]  # fmt: skip
            # Warm-up: the first writes into a freshly filled store pay its checkpoints.
            asyncio.run(load(port, app_id, act_id, n, args.seconds, args.concurrency))
            # Short alone/polled pairs, many times: the machine's background load drifts, so
            # each pair's ratio compares like with like, and the median ratio is the figure.
            ratios, alone, polled = [], [], []
            for _ in range(args.pairs):
                alone.append(
                    asyncio.run(load(port, app_id, act_id, n, args.seconds, args.concurrency))
                )
                stop = mp.Event()
                poller = mp.Process(target=poll_dashboard, args=(admin, stop, dashboard))
                poller.start()
                try:
                    polled.append(
                        asyncio.run(load(port, app_id, act_id, n, args.seconds, args.concurrency))
                    )
                finally:
                    stop.set()
                    poller.join()
                ratios.append(polled[-1] / alone[-1])
            print("pairs (alone -> polled act/s): " + ", ".join(
                f"{a:.0f}->{p:.0f}" for a, p in zip(alone, polled, strict=True)))  # fmt: skip
            print(f"activations/s alone: median {statistics.median(alone):.0f}; while the "
                  f"dashboard polls every second (another process): median "
                  f"{statistics.median(polled):.0f}; median ratio "
                  f"{100 * statistics.median(ratios):.0f}% (target >= 90%)")  # fmt: skip
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
