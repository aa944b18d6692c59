"""The open-loop generator (bench/openloop.c) counts latency from due times; its bench runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)"),
]

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
STALL_AT = 20  # the request the fake server holds back
STALL = 0.3  # seconds


class _Stalling(socketserver.BaseRequestHandler):
    """Answers each OpenKMS frame with a type-2 frame echoing its request ID; holds the
    STALL_AT-th request of the server's life for STALL seconds (the behaviour under test)."""

    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        while header := _receive(self.request, 8):
            payload = _receive(self.request, struct.unpack(">I", header[4:8])[0])
            with server.lock:
                server.seen += 1
                stall = server.seen == STALL_AT
            if stall:
                time.sleep(STALL)
            body = payload[:19] + bytes(20)
            self.request.sendall(struct.pack(">2sBBI", b"OK", 1, 2, len(body)) + body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Stalling)
        self.lock = threading.Lock()
        self.seen = 0


def _receive(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


@pytest.fixture(scope="module")
def openloop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator, compiled here."""
    binary = tmp_path_factory.mktemp("openloop") / "openloop"
    source = str(BENCH / "openloop.c")
    subprocess.run(["cc", "-O2", "-Wall", "-o", str(binary), source, "-lm"], check=True)
    return binary


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """Ten request frames, each with its own 16-byte request ID at offset 11."""
    path = tmp_path / "frames.bin"
    payload = [b"\x9a\xc4\x10" + os.urandom(16) + b"x" * 20 for _ in range(10)]
    path.write_bytes(b"".join(struct.pack(">2sBBI", b"OK", 1, 1, len(p)) + p for p in payload))
    return path


@pytest.fixture
def stalling_port() -> Iterator[int]:
    """The fake server on a free loopback port (listening before the fixture returns)."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run_openloop(
    binary: Path, port: int, frames: Path, *args: str
) -> tuple[int, dict[str, object]]:
    command = [str(binary), "--port", str(port), "--frames", str(frames)]
    command += ["--resp-byte", "3=2", "--echo", "11:16", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    return result.returncode, json.loads(result.stdout)


def test_latency_counts_from_the_due_time_not_from_the_send(
    openloop: Path, stalling_port: int, frames: Path, tmp_path: Path
) -> None:
    # One connection at a time: the requests due while the server holds one back cannot
    # start; each is a late start, charged the wait from its due time.
    latencies = tmp_path / "lat.bin"
    args = ["--rate", "200", "--requests", "120", "--max-open", "1", "--lat-out", str(latencies)]
    code, report = run_openloop(openloop, stalling_port, frames, *args)
    assert code == 0 and report["errors"] == 0 and report["completed"] == 120
    assert report["max_open_seen"] == 1
    late = int(str(report["late_starts"]))
    assert late >= 40, report  # about STALL * 200 requests fell due during the stall
    each = array("d", latencies.read_bytes())
    assert len(each) == 120
    assert max(each) >= STALL * 0.9
    # Timed from the send, only the held request would take longer than 100 ms.
    assert sum(1 for x in each if x > 0.1) >= 15, sorted(each)[-20:]
    assert float(str(report["p99"])) >= 200


@pytest.mark.parametrize("pacing", [[], ["--timerfd"]], ids=["epoll_pwait2", "timerfd"])
def test_a_stall_with_room_to_start_delays_only_the_held_request(
    openloop: Path, stalling_port: int, frames: Path, pacing: list[str]
) -> None:
    args = ["--rate", "200", "--requests", "120", "--warmup", "5", "--poisson", *pacing]
    code, report = run_openloop(openloop, stalling_port, frames, *args)
    assert code == 0 and report["completed"] == 120 and report["measured"] == 115
    assert report["late_starts"] == 0
    assert float(str(report["max"])) >= STALL * 1000 * 0.9
    assert float(str(report["p50"])) < 100


def test_persistent_mode_waits_for_the_connection_and_counts_from_due(
    openloop: Path, stalling_port: int, frames: Path
) -> None:
    args = ["--rate", "200", "--requests", "120", "--mode", "persistent", "--conns", "1"]
    code, report = run_openloop(openloop, stalling_port, frames, *args)
    assert code == 0 and report["completed"] == 120 and report["mode"] == "persistent"
    assert int(str(report["late_starts"])) >= 40
    assert float(str(report["p99"])) >= 200


def test_refused_connections_are_errors_with_their_text(openloop: Path, frames: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    for mode in ("new", "persistent"):
        code, report = run_openloop(
            openloop, port, frames, "--rate", "500", "--requests", "50", "--mode", mode
        )
        assert code == 1 and report["errors"] == 50 and report["completed"] == 0
        assert "refused" in str(report["first_error"])


def test_bad_arguments_are_refused_with_the_usage(openloop: Path, frames: Path) -> None:
    result = subprocess.run(
        [str(openloop), "--port", "1", "--frames", str(frames)],  # no --rate
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2 and "usage: openloop" in result.stderr


def test_bench_latency_drives_the_real_host(tmp_path: Path) -> None:
    args = ["--rates", "500", "--requests", "300", "--warmup", "50", "--runs", "1"]
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_latency.py"),
            *args,
            "--cache",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "median new" in result.stdout and "STORE MISMATCH" not in result.stdout
    run = json.loads(result.stdout.splitlines()[-1])["new 500"]
    assert run["completed"] == 300 and run["errors"] == 0 and run["verified"]
    assert 100 <= run["achieved"] <= 510 and run["p50"] > 0
    assert list(tmp_path.glob("openloop-*")), "the generator was built in the cache"
