"""A killed test run leaves no PostgreSQL or BIND9 server behind (``tests/orphans.py``).

Each test starts the server from a separate Python process, as a fixture would, kills that
process with SIGKILL (no teardown runs) and waits for the server to exit by itself.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS / "dns"))

from bindserver import named_installed  # noqa: E402

from pgserver import postgres_installed  # noqa: E402

_STARTERS = {
    "named": (
        "from bindserver import start_bind\n"
        "server = start_bind(Path(sys.argv[1]))\n"
        "print(server.process.pid, flush=True)\n"
    ),
    "postgres": (
        "from pgserver import start_postgres\n"
        "server = start_postgres()\n"
        "print(server.process.pid, server.base, flush=True)\n"
    ),
}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _start_then_kill_parent(server: str, directory: Path) -> tuple[int, str]:
    code = (
        "import sys, time\nfrom pathlib import Path\n"
        f"sys.path[:0] = [{str(TESTS)!r}, {str(TESTS / 'dns')!r}]\n"
        + _STARTERS[server]
        + "time.sleep(120)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            line = parent.stdout.readline().split()
            assert line, f"{server} did not start"
        finally:
            parent.kill()
            parent.wait(10)
    return int(line[0]), " ".join(line[1:])


def _wait_gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)  # the server shuts down on its own: poll, bounded
    return False


@pytest.mark.parametrize(
    "server",
    [
        pytest.param("named", marks=pytest.mark.skipif(not named_installed(), reason="no named")),
        pytest.param(
            "postgres",
            marks=pytest.mark.skipif(not postgres_installed(), reason="no PostgreSQL"),
        ),
    ],
)
def test_a_server_exits_when_the_process_that_started_it_is_killed(
    server: str, tmp_path: Path
) -> None:
    pid, base = _start_then_kill_parent(server, tmp_path)  # base: PostgreSQL's directory
    try:
        assert _wait_gone(pid), f"{server} {pid} still runs after its parent was killed"
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        if base:
            shutil.rmtree(base, ignore_errors=True)
