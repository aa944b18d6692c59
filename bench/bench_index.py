"""The search index's CPU per new client, in process: the indexer thread's work alone.

    .venv/bin/python bench/bench_index.py [--clients 20000] [--events 20000] [--runs 3]
        [--old SRC]

Builds a store of ``--clients`` clients with the real writer (``SqliteStore``, its own
indexing off), indexes it, then writes ``--events`` requests of new clients (random CMIDs,
as ``bench_front.py`` sends) and times ``SearchIndexer.catch_up()`` over them on a copy of
that store, ``--runs`` times: the process CPU per event the indexer spends (the thread that
takes a third of the writer process's CPU with persistent connections, bench/README.md,
"Where a persistent-connection run waits") and the index file's size after. ``--old SRC``
runs the same in another source tree (``git archive REF src | tar -x -C /tmp/old``), version
by version alternated, each in its own interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

T0 = 1_800_000_000


def _request(i: int) -> object:
    from openkms.core.codes import ResultCode  # noqa: PLC0415 (the tree under test: see --old)
    from openkms.core.events import format_client_time, make_event  # noqa: PLC0415
    from openkms.store.base import RequestRecord  # noqa: PLC0415

    cmid = str(uuid.uuid4())
    t = T0 + i // 100
    name = f"desktop-{uuid.uuid4().hex[:7]}"
    event = make_event(12290, t, ["0x0", 25, name, cmid, format_client_time(t), 0, 1, 43200, "act"])
    return RequestRecord(t, "host", "app", "act", cmid, name, 1, 25, ResultCode.OK, event)


async def _fill(path: Path, start: int, count: int) -> None:
    from openkms.store.sqlite import SqliteStore  # noqa: PLC0415

    async with SqliteStore(path, writer="thread") as store:
        await asyncio.gather(*(store.record(_request(i)) for i in range(start, start + count)))  # type: ignore[arg-type]


def _measure(clients: int, events: int, runs: int) -> list[dict[str, float]]:
    """In this interpreter (the tree on its ``sys.path``): CPU per event and index size."""
    from openkms.store import _sqlite_indexer, _sqlite_writer  # noqa: PLC0415

    _sqlite_writer.BatchWriter.start_indexing = lambda self: None  # type: ignore[method-assign]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        base.mkdir()
        asyncio.run(_fill(base / "host.db", 0, clients))
        built = _sqlite_indexer.SearchIndexer(base / "host.db")
        built.catch_up()
        built.close()
        asyncio.run(_fill(base / "host.db", clients, events))
        for _ in range(runs):
            work = Path(scratch) / "work"
            shutil.copytree(base, work)
            indexer = _sqlite_indexer.SearchIndexer(work / "host.db")
            indexer.step(0)  # opened, nothing taken in
            started = time.process_time()
            indexer.catch_up()
            cpu = time.process_time() - started
            indexer.close()
            size = sum(f.stat().st_size for f in work.iterdir() if "-search" in f.name)
            shutil.rmtree(work)
            results.append({"us_per_event": cpu / events * 1e6, "index_mb": size / 1e6})
    return results


def _run_tree(src: Path, args: argparse.Namespace) -> list[dict[str, float]]:
    env = dict(os.environ, PYTHONPATH=str(src))
    command = [sys.executable, __file__, "--child", "--clients", str(args.clients)]
    command += ["--events", str(args.events), "--runs", "1"]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return list(json.loads(out.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000, help="clients indexed before")
    parser.add_argument("--events", type=int, default=20_000, help="new clients to index")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old", type=Path, help="a src directory to alternate with this one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.clients, args.events, args.runs)))
        return
    here = Path(__file__).resolve().parent.parent / "src"
    trees = {"new": here, **({"old": args.old.resolve()} if args.old else {})}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_host import python_build  # noqa: PLC0415

    print(
        f"search index: {args.clients} clients indexed, then {args.events} new ones, "
        f"{args.runs} run(s) per version; {python_build()}"
    )
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for run in range(args.runs):
        order = list(trees) if run % 2 == 0 else list(reversed(trees))
        for name in order:
            (result,) = _run_tree(trees[name], args)
            results[name].append(result)
            load = os.getloadavg()[0]
            print(
                f"  {name:4} {result['us_per_event']:6.1f} us CPU per event, "
                f"index {result['index_mb']:.1f} MB  load {load:.2f}",
                flush=True,
            )
    for name, rows in results.items():
        cpu = statistics.median(row["us_per_event"] for row in rows)
        size = statistics.median(row["index_mb"] for row in rows)
        print(f"median {name:4} {cpu:6.1f} us CPU per event, index {size:.1f} MB")


if __name__ == "__main__":
    main()
