"""asyncpg against psycopg 3 (async) on the PostgreSQL store's write transaction.

    .venv/bin/python -m pip install 'psycopg[binary]'   # the contender, not a dependency
    .venv/bin/python bench/bench_pg_driver.py [--seconds 2.5] [--rounds 3]

Starts its own PostgreSQL (``tests/pgserver.py``: ``fsync=on``, ``synchronous_commit=on``,
so each COMMIT waits for its WAL flush) and runs, for batch sizes 1, 8 and 64, the
transaction one group-committed batch of activation requests does: the application's
advisory lock, an upsert per client, the N-policy upsert, the capped count query, the 12290
events and the counters, then COMMIT. Drivers alternate round by round; the figures are
medians over rounds of records/s, of the rounds' p50 and p99 commit latency and of the
driver's CPU time in this process per record (what the host's event loop pays).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import psycopg

from openkms.store import _pg_schema as schema

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pgserver import remove, start_postgres  # the tests' helper

T0 = 1_800_000_000
APP = "app-desktop"
HOST = "bench-host"
POPULATION = 10_000
INFO = "0x0,25,pc-{i},{cmid},2027/1/15 8:00,0,1,43200,act-pro"

Batch = list[tuple[str, int, str]]  # (cmid, time, info)
Runner = Callable[[Batch], Awaitable[None]]


def make_batch(start: int, size: int) -> Batch:
    """``size`` requests of CMIDs drawn in turn from the population, one second apart."""
    batch = []
    for i in range(start, start + size):
        cmid = f"{(i * 7919) % POPULATION:08x}-0000-4000-8000-000000000000"
        batch.append((cmid, T0 + i // 100, INFO.format(i=i % POPULATION, cmid=cmid)))
    return batch


def client_rows(batch: Batch) -> list[tuple[Any, ...]]:
    return [(APP, c, "act-pro", f"pc-{c[:8]}", t, 1, 25, HOST) for c, t, _ in batch]


def event_rows(batch: Batch) -> list[tuple[Any, ...]]:
    return [(12290, t, info, c, "act-pro", 0, HOST) for c, t, info in batch]


async def asyncpg_runner(dsn: str) -> tuple[Runner, Callable[[], Awaitable[None]]]:
    conn = await asyncpg.connect(dsn)

    async def run(batch: Batch) -> None:
        now = batch[-1][1]
        async with conn.transaction():
            await conn.execute(schema.APP_LOCK, schema.LOCK_CLASS, schema.app_lock_key(APP))
            await conn.executemany(schema.UPSERT_CLIENT, client_rows(batch))
            await conn.execute(schema.UPSERT_N_POLICY, APP, 25, now)
            cap = 2 * await conn.fetchval(schema.LARGEST_N_POLICY, APP, now - 30 * 86400)
            await conn.fetchval(schema.RECENT_CLIENTS, APP, now - 30 * 86400, cap)
            await conn.executemany(schema.INSERT_EVENT, event_rows(batch))
            await conn.execute(schema.ADD_COUNTERS, HOST, 1, len(batch), 0)

    return run, conn.close


async def psycopg_runner(dsn: str) -> tuple[Runner, Callable[[], Awaitable[None]]]:
    # A raw cursor takes the same $n placeholders as asyncpg; the pipeline sends the whole
    # transaction without waiting for each statement's answer.
    conn = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, cursor_factory=psycopg.AsyncRawCursor
    )

    async def run(batch: Batch) -> None:
        now = batch[-1][1]
        async with conn.pipeline(), conn.transaction(), conn.cursor() as cur:
            await cur.execute(schema.APP_LOCK, (schema.LOCK_CLASS, schema.app_lock_key(APP)))
            await cur.executemany(schema.UPSERT_CLIENT, client_rows(batch))
            await cur.execute(schema.UPSERT_N_POLICY, (APP, 25, now))
            await cur.execute(schema.LARGEST_N_POLICY, (APP, now - 30 * 86400))
            row = await cur.fetchone()
            cap = 2 * (row[0] if row else 0)
            await cur.execute(schema.RECENT_CLIENTS, (APP, now - 30 * 86400, cap))
            await cur.fetchone()
            await cur.executemany(schema.INSERT_EVENT, event_rows(batch))
            await cur.execute(schema.ADD_COUNTERS, (HOST, 1, len(batch), 0))

    return run, conn.close


async def setup(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    for statement in schema.MIGRATIONS[0]:
        await conn.execute(statement)
    rows = client_rows(make_batch(0, POPULATION))
    await conn.executemany(schema.UPSERT_CLIENT, rows)
    await conn.close()


async def one_round(runner: Runner, size: int, seconds: float, start: int) -> tuple[float, ...]:
    latencies: list[float] = []
    cpu = time.process_time()
    began = time.perf_counter()
    records = 0
    while time.perf_counter() - began < seconds:
        batch = make_batch(start + records, size)
        started = time.perf_counter()
        await runner(batch)
        latencies.append(time.perf_counter() - started)
        records += size
    elapsed = time.perf_counter() - began
    cpu_us = (time.process_time() - cpu) / records * 1e6
    cuts = statistics.quantiles(latencies, n=100)
    return records / elapsed, cuts[49] * 1000, cuts[98] * 1000, cpu_us


async def main(seconds: float, rounds: int) -> None:
    server = start_postgres(fsync=True)
    try:
        dsn = server.create_database("bench")
        await setup(dsn)
        drivers = {"asyncpg": await asyncpg_runner(dsn), "psycopg": await psycopg_runner(dsn)}
        for run, _ in drivers.values():  # warm up: prepared statements, caches
            await one_round(run, 8, 0.3, 0)
        heads = ("records/s", "p50 ms", "p99 ms", "CPU us/rec")
        print(f"{'driver':8} {'batch':>5} " + " ".join(f"{h:>10}" for h in heads))
        start = 0
        for size in (1, 8, 64):
            results: dict[str, list[tuple[float, ...]]] = {name: [] for name in drivers}
            for _ in range(rounds):
                for name, (run, _) in drivers.items():
                    results[name].append(await one_round(run, size, seconds, start))
                    start += 100_000
            for name, figures in results.items():
                rate, p50, p99, cpu = (
                    statistics.median(column) for column in zip(*figures, strict=True)
                )
                print(f"{name:8} {size:5d} {rate:10.0f} {p50:10.2f} {p99:10.2f} {cpu:10.0f}")
        for _, close in drivers.values():
            await close()
    finally:
        remove(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.seconds, options.rounds))
