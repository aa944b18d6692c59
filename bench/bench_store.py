"""Throughput and latency of SqliteStore.record() under concurrent producers.

    .venv/bin/python bench/bench_store.py [-n 50000] [--producers 64] [--clients 100000]
        [--writer process|thread]

Each producer awaits ``record()`` in a loop, as one host connection per client would. Prints
records/s, p50/p99 of ``record()`` latency and (thread writer only: the writer process
logs nothing per batch) the median group-commit batch size.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal

from openkms.core.codes import ResultCode
from openkms.core.events import format_client_time, make_event
from openkms.store.base import RequestRecord
from openkms.store.sqlite import SqliteStore

T0 = 1_800_000_000


class BatchSizes(logging.Handler):
    """Collects the batch sizes the writer logs at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sizes: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("store committed a batch") and isinstance(record.args, tuple):
            size = record.args[0]
            if isinstance(size, int):
                self.sizes.append(size)


def request(i: int, clients: int) -> RequestRecord:
    cmid = f"{i % clients:08x}-0000-4000-8000-000000000000"
    t = T0 + i // 100
    event = make_event(
        12290, t, ["0x0", 25, f"pc-{i % clients}", cmid, format_client_time(t), 0, 1, 43200, "act"]
    )
    return RequestRecord(t, "host", "app", "act", cmid, f"pc-{i}", 1, 25, ResultCode.OK, event)


async def producer(
    store: SqliteStore, indexes: range, clients: int, latencies: list[float]
) -> None:
    for i in indexes:
        started = time.perf_counter()
        await store.record(request(i, clients))
        latencies.append(time.perf_counter() - started)


async def bench(
    path: Path, n: int, producers: int, clients: int, batch_max: int, writer: str
) -> None:
    latencies: list[float] = []
    mode: Literal["thread", "process"] = "process" if writer == "process" else "thread"
    async with SqliteStore(path, batch_max=batch_max, writer=mode) as store:
        started = time.perf_counter()
        await asyncio.gather(
            *(producer(store, range(p, n, producers), clients, latencies) for p in range(producers))
        )
        elapsed = time.perf_counter() - started
        count = await store.current_count("app", T0 + n // 100)
    latencies.sort()
    print(f"{n} records by {producers} producers in {elapsed:.2f} s: {n / elapsed:,.0f} records/s")
    print(
        f"record() latency p50 {latencies[len(latencies) // 2] * 1000:.2f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms; final count {count}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50_000, help="records to write")
    parser.add_argument("--producers", type=int, default=64, help="concurrent producers")
    parser.add_argument("--clients", type=int, default=100_000, help="distinct CMIDs")
    parser.add_argument("--batch-max", type=int, default=256, help="SqliteStore batch_max")
    parser.add_argument("--path", type=Path, help="store file (default: a temporary one)")
    parser.add_argument(
        "--writer", choices=["thread", "process"], default="process", help="SqliteStore writer"
    )
    args = parser.parse_args()
    sizes = BatchSizes()
    logger = logging.getLogger("openkms.store")
    logger.addHandler(sizes)
    logger.setLevel(logging.DEBUG)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.path or Path(scratch) / "bench.db"
        asyncio.run(bench(path, args.n, args.producers, args.clients, args.batch_max, args.writer))
    if sizes.sizes:
        print(f"{len(sizes.sizes)} batches, median size {statistics.median(sizes.sizes):g}")


if __name__ == "__main__":
    main()
