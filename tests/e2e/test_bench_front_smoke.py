"""The front's benchmarks still run, with tiny numbers (the figures are not checked here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
LOADGEN = ROOT.parent / "shared" / "tools" / "loadgen.c"


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


def test_bench_front_path_times_the_front_and_counts_its_calls() -> None:
    out = run_bench("bench_front_path.py", "--requests", "200", "--runs", "1", "--calls")
    assert "us of it in gc" in out
    assert "Python calls per activation" in out and "median" in out


@pytest.mark.skipif(
    not LOADGEN.exists() or shutil.which("cc") is None, reason="needs loadgen.c and cc"
)
@pytest.mark.parametrize("mode", ["new", "persistent"])
def test_bench_front_drives_the_host_with_the_c_generator(tmp_path: Path, mode: str) -> None:
    args = ("--mode", mode, "--requests", "300", "--conns", "8", "--runs", "1")
    out = run_bench("bench_front.py", *args, "--cache", str(tmp_path), "--json")
    assert "median new" in out and "errors 0" in out and "STORE MISMATCH" not in out
    assert list(tmp_path.glob("loadgen-*")), "the generator was built in the cache"
    # The figures name the interpreter they were taken on (its build changes them).
    assert f"python {sys.executable} {sys.version.split()[0]} (libpython " in out


def test_bench_front_prints_each_process_rss_after_its_imports() -> None:
    out = run_bench("bench_front.py", "--imports")
    assert "front (openkms host serve --help) after its imports: RSS MiB new" in out
    assert "writer (openkms.store._writer_process) after its imports: RSS MiB new" in out
