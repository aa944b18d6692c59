"""The benchmarks' options still run, with tiny numbers (the figures are not checked here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_bench_host_prefill_compares_a_full_store_with_an_empty_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    args = ("--prefill", "300", "--cache-dir", str(cache), "--requests", "60", "--repeat", "1")
    out = run_bench("bench_host.py", *args)
    assert "built the prefilled store" in out
    assert "median full" in out and "full/empty: act/s" in out
    assert "store verified in every run: yes" in out
    # Later runs reuse the cached store.
    reuse = (
        f"import sys; sys.path.insert(0, {str(BENCH)!r}); import _prefill, pathlib; "
        f"print(_prefill.prefilled_site(300, pathlib.Path({str(cache)!r})).store)"
    )
    again = subprocess.run(
        [sys.executable, "-c", reuse], capture_output=True, text=True, timeout=60, check=True
    )
    assert "built" not in again.stdout and again.stdout.startswith(str(cache))
    # bench_admin.py times the admin calls on a copy of the same cached store.
    out = run_bench(
        "bench_admin.py", "--prefilled", "--clients", "300", "--events", "300",
        "--cache-dir", str(cache), "--repeat", "2", "--pairs", "0",
    )  # fmt: skip
    assert "built the prefilled store" not in out
    assert "/api/clients?q=pc-0999" in out and "slowest p95" in out
