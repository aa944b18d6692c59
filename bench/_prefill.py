"""A big host store for the benchmarks, built once and cached: N clients and N events.

``prefilled_site(n, cache)`` returns an activated host store directory whose ``host.db`` holds
``n`` clients of one application (CMIDs random, seen over the last 60 days) and ``n`` 12290
events (the newest last, over the last 30 days, 2 % failed), written through the real schema
(migrations, the activity trigger) and checkpointed, as a host that has served a big site for
a while leaves it. It is built in one transaction with the indexes dropped and recreated
afterwards (sorted bulk loads: about a minute for 1,000,000 each), and cached under
``cache / prefill-v<schema>-<n>`` so that later runs only copy it. Used by ``bench_host.py
--prefill`` and ``bench_admin.py --prefilled``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from openkms.core.events import format_client_time
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.store._sqlite_conn import connect_writer
from openkms.store._sqlite_indexer import SearchIndexer
from openkms.store._sqlite_schema import schema_version

DAY = 86400
EDITION = "Desktop Professional"
_CHUNK = 50_000
CLIENT_INSERT = (
    "INSERT INTO clients (application_id, cmid, activation_id, machine_name, first_seen, "
    "last_seen, license_status, n_policy, requests) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
EVENT_INSERT = (
    "INSERT INTO events (event_id, time, info, cmid, activation_id, hresult) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Site:
    """An activated host store and what a load generator needs to activate against it."""

    store: str
    application_id: str
    activation_id: str
    n_policy: int
    host_id: str
    sample_cmid: str = ""


def make_site(root: Path, edition: str = EDITION) -> Site:
    """A publisher and an activated host store under ``root`` (store in ``root/host``)."""
    publisher = Publisher.init(root / "publisher", "Bench Publisher")
    state = HostState(root / "host")
    state.install_key(str(publisher.issue_host_key("C")), publisher.trust())
    request = state.activation_request("bench-kms", int(time.time()))
    state.install_certificate(publisher.activate_host(request), int(time.time()))
    catalog = publisher.trust().catalog
    product = next(p for p in catalog.products if p.edition == edition)
    return Site(
        str(root / "host"),
        catalog.application_id,
        product.activation_id,
        product.n_policy,
        state.host_id,
    )


def _client_rows(site: Site, cmids: list[str], now: int, rng: random.Random) -> Iterator[tuple]:
    for i, cmid in enumerate(cmids):
        last_seen = now - rng.randrange(60 * DAY)
        yield (site.application_id, cmid, site.activation_id, f"pc-{i:07d}",
               last_seen - rng.randrange(90 * DAY), last_seen, rng.choice((1, 1, 1, 2, 5)),
               site.n_policy, rng.randrange(1, 50))  # fmt: skip


def _event_rows(
    site: Site, cmids: list[str], events: int, now: int, rng: random.Random
) -> Iterator[tuple]:
    start = now - 30 * DAY
    step = 30 * DAY / max(events, 1)
    for i in range(events):
        t = int(start + i * step)
        failed = rng.random() < 0.02
        k = rng.randrange(len(cmids))
        hresult = "0xC004F042" if failed else "0x0"
        info = (f"{hresult},0x{site.n_policy:x},pc-{k:07d},{cmids[k]},{format_client_time(t)},"
                f"0,1,43200,{site.activation_id}")  # fmt: skip
        yield (12290, t, info, cmids[k], site.activation_id, 0xC004F042 if failed else 0)


def _chunks(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill(path: Path, site: Site, clients: int, events: int) -> str:
    """Bulk-load ``clients`` clients and ``events`` events into the store; a sample CMID."""
    conn = connect_writer(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    now = int(time.time())
    rng = random.Random(15)
    cmids = sorted(str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(clients))
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('clients', 'events')"
    ).fetchall()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    for chunk in _chunks(_client_rows(site, cmids, now, rng)):
        conn.executemany(CLIENT_INSERT, chunk)
    for chunk in _chunks(_event_rows(site, cmids, events, now, rng)):
        conn.executemany(EVENT_INSERT, chunk)
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute(
        "INSERT INTO n_policy_seen VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (site.application_id, site.n_policy, now),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    build_search_index(path)
    return cmids[len(cmids) // 2] if cmids else ""


def build_search_index(path: Path) -> None:
    """Index every client for the search, as a host that has run for a while has."""
    indexer = SearchIndexer(path)
    try:
        indexer.catch_up()
    finally:
        indexer.close()


def prefilled_site(n: int, cache: Path, events: int | None = None) -> Site:
    """The cached site with ``n`` clients and ``n`` (or ``events``) events; built if missing."""
    events = n if events is None else events
    final = cache / f"prefill-v{schema_version()}-{n}-{events}"
    if not (final / "site.json").exists():
        build = cache / f"building-{final.name}"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        started = time.monotonic()
        site = make_site(build)
        sample = fill(Path(site.store) / "host.db", site, n, events)
        shutil.rmtree(build / "publisher")
        site = Site(**{**asdict(site), "store": "host", "sample_cmid": sample})
        (build / "site.json").write_text(json.dumps(asdict(site)))
        shutil.rmtree(final, ignore_errors=True)
        build.rename(final)
        print(f"built the prefilled store {final} in {time.monotonic() - started:.0f} s")
    site = Site(**json.loads((final / "site.json").read_text()))
    return Site(**{**asdict(site), "store": str(final / site.store)})


def copy_store(site: Site, into: Path) -> Site:
    """A private copy of the site's store directory (a run may change it)."""
    target = into / "host"
    shutil.copytree(site.store, target)
    # On disk before the host starts: otherwise the kernel writes the copy back during the
    # run and every fsync of the host waits behind it.
    for path in target.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return Site(**{**asdict(site), "store": str(target)})


def count_rows(store: Path, table: str) -> int:
    """Rows in one table of a store (for the summary lines)."""
    conn = sqlite3.connect(store / "host.db")
    try:
        (rows,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    finally:
        conn.close()
    return int(rows)
