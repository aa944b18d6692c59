"""The floor server (bench/floor.c) compiles, answers, survives bad frames, and its bench runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler (cc)"),
]

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
LOADGEN = ROOT.parent / "shared" / "tools" / "loadgen.c"
RESPONSE_BYTES = 100


@pytest.fixture(scope="module")
def floor_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The floor server, compiled here, on a free loopback port with two threads."""
    binary = tmp_path_factory.mktemp("floor") / "floor"
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(binary), str(BENCH / "floor.c")], check=True)
    command = [str(binary), "--threads", "2", "--response-bytes", str(RESPONSE_BYTES)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        try:
            assert line.startswith("port "), line
            yield int(line.split()[1])
            assert process.poll() is None, "the floor server died"
        finally:
            process.kill()


def frame(payload: bytes, *, magic: bytes = b"OK", length: int | None = None) -> bytes:
    size = len(payload) if length is None else length
    return struct.pack(">2sBBI", magic, 1, 1, size) + payload


def receive(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_floor_answers_each_frame_with_a_response_that_echoes_the_request_id(
    floor_port: int,
) -> None:
    request_id = bytes(range(16))
    first = frame(b"\x9a\xc4\x10" + request_id + b"x" * 40)
    second = frame(b"\x9a\xc4\x10" + bytes(16) + b"y" * 3)
    with socket.create_connection(("127.0.0.1", floor_port), timeout=10) as conn:
        conn.sendall(first + second[:5])  # the second frame split across two sends
        conn.sendall(second[5:])
        data = receive(conn, 2 * RESPONSE_BYTES)
    assert len(data) == 2 * RESPONSE_BYTES
    header = struct.pack(">2sBBI", b"OK", 1, 2, RESPONSE_BYTES - 8)
    assert data[:8] == header and data[RESPONSE_BYTES : RESPONSE_BYTES + 8] == header
    assert data[11:27] == request_id
    assert data[RESPONSE_BYTES + 11 : RESPONSE_BYTES + 27] == bytes(16)


@pytest.mark.parametrize(
    "bad",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        frame(b"", magic=b"KO"),
        frame(b"", length=65537),  # longer than the protocol's largest payload
        struct.pack(">2sBBI", b"OK", 9, 1, 0),  # another version
    ],
)
def test_floor_closes_a_connection_that_sends_a_malformed_frame(
    floor_port: int, bad: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", floor_port), timeout=10) as conn:
        conn.sendall(bad)
        assert conn.recv(100) == b""
    with socket.create_connection(("127.0.0.1", floor_port), timeout=10) as conn:
        conn.sendall(frame(bytes(20)))
        assert len(receive(conn, RESPONSE_BYTES)) == RESPONSE_BYTES


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda p, n: frame(p, length=n), st.binary(max_size=64), st.integers(0, 2**32 - 1)
        ),
    )
)
def test_floor_survives_any_bytes_and_answers_only_whole_frames(
    floor_port: int, data: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", floor_port), timeout=10) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        answered = receive(conn, 1 << 20)  # until the server closes
    assert len(answered) % RESPONSE_BYTES == 0
    with socket.create_connection(("127.0.0.1", floor_port), timeout=10) as conn:
        conn.sendall(frame(bytes(20)))
        assert len(receive(conn, RESPONSE_BYTES)) == RESPONSE_BYTES


@pytest.mark.skipif(not LOADGEN.exists(), reason="needs ../shared/tools/loadgen.c")
def test_bench_floor_measures_the_response_and_alternates_with_the_host(tmp_path: Path) -> None:
    args = ["--mode", "new", "--threads", "1", "2", "--with-host", "--host-requests", "200"]
    out = run_bench_floor(tmp_path, *args)
    assert "the real host's response lengths" in out
    assert "median floor-1" in out and "median floor-2" in out and "median host" in out
    assert "host/floor-2: rate" in out and "STORE MISMATCH" not in out
    assert list(tmp_path.glob("floor-*")) and list(tmp_path.glob("loadgen-*"))


@pytest.mark.skipif(not LOADGEN.exists(), reason="needs ../shared/tools/loadgen.c")
def test_bench_floor_persistent_alone(tmp_path: Path) -> None:
    out = run_bench_floor(tmp_path, "--mode", "persistent", "--response-bytes", "555", "--json")
    medians = json.loads(out.splitlines()[-1])
    assert medians["floor-1"]["errors"] == 0 and medians["floor-1"]["rate"] > 0


def run_bench_floor(cache: Path, *args: str) -> str:
    common = ["--requests", "400", "--conns", "8", "--runs", "1", "--cache", str(cache)]
    result = subprocess.run(
        [sys.executable, str(BENCH / "bench_floor.py"), *common, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
