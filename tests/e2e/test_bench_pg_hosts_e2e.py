"""bench/bench_pg_hosts.py runs end to end with tiny numbers, so that it cannot rot.

Two runs on one cache: the first builds the prefilled stores, the second reuses them. Each
runs one host on SQLite and two hosts on one PostgreSQL database for real, and the bench
itself checks every store against what the clients were told.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pgfixtures import require_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_pg_hosts.py"
REQUESTS = 200
PREFILL = 1000


def run_bench(cache: Path) -> dict[str, Any]:
    argv = [sys.executable, str(BENCH), "--runs", "1", "--requests", str(REQUESTS)]
    argv += ["--connections", "8", "--prefill", str(PREFILL), "--cache", str(cache), "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def check_runs(document: dict[str, Any]) -> None:
    sqlite = document["runs"]["sqlite x1"]
    postgres = document["runs"]["postgresql x2"]
    assert len(sqlite) == len(postgres) == 1
    for run in (*sqlite, *postgres):
        assert run["verified"], run["verdict"]
        assert run["errors"] == 0
        assert sum(run["per_host"]) == REQUESTS
        assert run["rate"] > 0
        assert 0 < run["p50"] <= run["p95"] <= run["p99"] <= run["worst"]
        assert run["hosts_rss"] > 10
    assert len(sqlite[0]["per_host"]) == 1
    # Both PostgreSQL hosts answered, and the server's memory and CPU were measured.
    assert len(postgres[0]["per_host"]) == 2
    assert min(postgres[0]["per_host"]) > 0
    assert postgres[0]["db_pss"] > 0
    assert postgres[0]["db_cpu"] > 0
    assert document["ratio"]["rate"] > 0


def test_bench_builds_then_reuses_its_prefilled_cache() -> None:
    require_postgres()
    # Not pytest's tmp_path: PostgreSQL's unprivileged user must reach the cached cluster.
    cache = Path(tempfile.mkdtemp(prefix="openkms-bench-cache-"))
    cache.chmod(0o755)
    try:
        first = run_bench(cache)
        check_runs(first)
        assert first["prefill"]["clients"] == PREFILL
        assert first["prefill"]["built_now"]
        assert set(first["prefill"]["seconds"]) == {"sqlite", "postgresql"}

        second = run_bench(cache)
        check_runs(second)
        assert not second["prefill"]["built_now"]
        assert second["prefill"]["seconds"] == first["prefill"]["seconds"]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
