"""Bad input, idle connections and a killed host, against the real host process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from openkms.core.codes import ResultCode
from openkms.protocol import (
    NEED_DATA,
    ActivationRequest,
    ActivationResponse,
    Connection,
    ErrorResponse,
    Role,
)
from openkms.protocol.connection import HEADER, encode
from openkms.publisher import Publisher
from openkms.store.base import ClientQuery
from openkms.store.sqlite import SqliteReader

from helpers import HostProcess, Site, host_process, openkms_cmd, writer_processes

pytestmark = pytest.mark.e2e


def _request(site: Site, edition: str = "Standard", cmid: bytes | None = None) -> ActivationRequest:
    trust = site.publisher.trust()
    product = site.product(edition)
    return ActivationRequest(
        os.urandom(16),
        trust.catalog.application_id,
        product.activation_id,
        cmid or uuid.uuid4().bytes,
        "e2e",
        int(time.time()),
        2,
        43200,
        product.n_policy,
    )


def _exchange(host: HostProcess, payload: bytes, timeout: float = 5.0) -> object:
    with socket.create_connection((host.host, host.port), timeout=timeout) as sock:
        sock.sendall(payload)
        conn = Connection(role=Role.CLIENT)
        while True:
            data = sock.recv(65536)
            if not data:
                return None
            conn.receive_data(data)
            message = conn.next_event()
            if message is not NEED_DATA:
                return message


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_garbage_truncated_and_oversized_frames_get_errors_and_others_are_served(
    site: Site,
) -> None:
    with host_process(site.host_dir, "--idle-timeout", "1") as host:
        rng = random.Random(1)
        for _ in range(20):
            reply = _exchange(host, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
            assert reply is None or isinstance(reply, ErrorResponse)
        oversized = _exchange(host, HEADER.pack(b"OK", 1, 1, 10_000_000))
        assert (
            isinstance(oversized, ErrorResponse) and oversized.result == ResultCode.PROTOCOL_ERROR
        )
        wrong_version = _exchange(host, HEADER.pack(b"OK", 9, 1, 0))
        assert (
            isinstance(wrong_version, ErrorResponse)
            and wrong_version.result == ResultCode.UNSUPPORTED_VERSION
        )
        started = time.monotonic()
        truncated = _exchange(host, encode(_request(site))[:-3])  # then nothing: the host times out
        assert truncated is None and time.monotonic() - started < 4
        ok = _exchange(host, encode(_request(site)))
        assert isinstance(ok, ActivationResponse) and ok.result == 0
    log = host.log()
    assert "Traceback" not in log
    assert ("WARNING" in log and "bad magic" in log) or "not speaking" in log


def test_a_thousand_idle_connections_do_not_stop_service(site: Site) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"file descriptor limit {hard} is too low for 1,000 connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))
    # All from 127.0.0.1 here: the per-address limit is raised (it has its own test).
    limit = ("--max-connections-per-address", "2000")
    with host_process(site.host_dir, "--idle-timeout", "30", *limit) as host:
        baseline = _rss_kib(host.process.pid)
        idle = [socket.create_connection((host.host, host.port)) for _ in range(1000)]
        try:
            started = time.monotonic()
            replies = [_exchange(host, encode(_request(site))) for _ in range(10)]
            elapsed = time.monotonic() - started
            assert all(isinstance(r, ActivationResponse) for r in replies)
            assert elapsed < 5
            grown = _rss_kib(host.process.pid) - baseline
            assert grown < 64 * 1024, f"RSS grew by {grown} KiB for 1,000 idle connections"
        finally:
            for sock in idle:
                sock.close()
    assert "Traceback" not in host.log()


async def _burst(
    host: HostProcess, site: Site, acknowledged: list[str], stop: asyncio.Event
) -> None:
    async def one() -> None:
        while not stop.is_set():
            request = _request(site)
            try:
                reader, writer = await asyncio.open_connection(host.host, host.port)
            except OSError:
                return
            try:
                writer.write(encode(request))
                conn = Connection(role=Role.CLIENT)
                while (message := conn.next_event()) is NEED_DATA:
                    data = await reader.read(65536)
                    if not data:
                        return
                    conn.receive_data(data)
            except OSError:
                return
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            if isinstance(message, ActivationResponse) and message.result == 0:
                acknowledged.append(str(uuid.UUID(bytes=request.cmid)))

    await asyncio.gather(*(one() for _ in range(32)))


def test_kill_9_loses_nothing_that_was_acknowledged(site: Site) -> None:
    acknowledged: list[str] = []
    with host_process(site.host_dir) as host:

        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.ensure_future(_burst(host, site, acknowledged, stop))
            await asyncio.sleep(1.5)
            host.process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(task, 30)

        asyncio.run(run())
        assert host.process.wait(10) == -signal.SIGKILL
    # The store's writer process commits what it had and exits with its parent.
    deadline = time.monotonic() + 10
    while writer_processes(site.host_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not writer_processes(site.host_dir), "the store writer outlived the killed host"
    assert len(acknowledged) > 50
    with host_process(site.host_dir) as again:
        assert isinstance(_exchange(again, encode(_request(site))), ActivationResponse)
    with SqliteReader(site.host_dir / "host.db") as reader:
        stored = {c.cmid for c in reader.clients(ClientQuery(limit=10**7))}
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged activations lost"


def test_sigterm_stops_gracefully_with_status_zero(site: Site) -> None:
    with host_process(site.host_dir) as host:
        assert isinstance(_exchange(host, encode(_request(site))), ActivationResponse)
        assert host.stop() == 0
    assert "host stopped" in host.log()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_stops_host_and_writer_in_order(
    site: Site, sig: signal.Signals
) -> None:
    """Ctrl-C in a terminal and systemd's control-group stop signal every process of the host."""
    with host_process(site.host_dir, new_session=True) as host:
        assert isinstance(_exchange(host, encode(_request(site))), ActivationResponse)
        assert writer_processes(site.host_dir)
        os.killpg(host.process.pid, sig)
        assert host.process.wait(20) == 0, host.log()
    assert "host stopped" in host.log()
    assert "Traceback" not in host.log()
    deadline = time.monotonic() + 10
    while writer_processes(site.host_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not writer_processes(site.host_dir)
    with SqliteReader(site.host_dir / "host.db") as reader:
        assert reader.counters(site.host_state.host_id).total == 1


def _libfaketime() -> str | None:
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    return str(found[0]) if found else None


@pytest.mark.skipif(
    _libfaketime() is None and not os.environ.get("CI"), reason="libfaketime not installed"
)
def test_clients_unseen_for_thirty_days_leave_the_count_of_real_processes(
    site: Site, tmp_path: Path
) -> None:
    """The host and clients run 31 days in the past (libfaketime), then the host in the present."""
    # The library itself, not the faketime wrapper, which would not pass SIGTERM on.
    library = _libfaketime()
    assert library is not None, "libfaketime is not installed (scripts/system-packages)"
    past = {"FAKETIME": "-31d", "FAKETIME_DONT_FAKE_MONOTONIC": "1", "LD_PRELOAD": library}
    trust = str(site.publisher.directory / "trust.json")
    key = site.product("Standard").setup_key
    # The host was activated before the 31 days began: its certificate covers the past too.
    earlier = Publisher(site.publisher.directory, clock=lambda: time.time() - 40 * 86400)
    request = site.host_state.activation_request("kms", int(time.time()))
    site.host_state.install_certificate(earlier.activate_host(request), int(time.time()))

    def client(name: str, address: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        base = openkms_cmd("client", "--store", str(tmp_path / name), "--machine-name", name)
        environ = {**os.environ, **env}
        subprocess.run([*base, "ipk", key, "--trust", trust], check=True, capture_output=True)
        subprocess.run([*base, "skms", address], check=True, capture_output=True)
        return subprocess.run([*base, "ato"], capture_output=True, text=True, env=environ)

    with host_process(site.host_dir, env=past) as old_host:
        results = [client(f"old{i}", old_host.address, past) for i in range(5)]
        assert results[-1].returncode == 0, results[-1].stderr
        assert "current count 5" in results[-1].stdout
    assert old_host.process.returncode == 0, old_host.log()
    with host_process(site.host_dir) as host:
        result = client("today", host.address, {})
        assert result.returncode == 1
        assert "0xC004F038" in result.stderr
        dli = subprocess.run(
            openkms_cmd("host", "--store", str(site.host_dir), "dli", "--json"),
            capture_output=True,
            text=True,
            check=True,
        )
        assert '"current_count": 1' in dli.stdout


def test_struct_header_is_eight_bytes() -> None:
    assert HEADER.size == 8 and struct.calcsize(">2sBBI") == 8
