"""``doctor port`` and the probe against a real host, a closed port and peers that are not
OpenKMS; the probe is answered without being counted."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from doctor.sitetools import activate_clients, doctor, doctor_json, one
from openkms.client.transport import TcpTransport
from openkms.core.codes import ResultCode
from openkms.doctor.network.probe import ProbeOutcome, probe, tcp_connect
from openkms.errors import ActivationError
from openkms.protocol.messages import ProbeRequest
from openkms.store.base import EventQuery
from openkms.store.sqlite import SqliteReader

from helpers import Site, host_process

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def peer() -> Iterator[tuple[list[bytes], int]]:
    """A TCP server on loopback that answers each connection with the bytes queued in
    ``replies`` (b'' = close at once, None-like b'wait' = say nothing)."""
    replies: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            reply = replies.pop(0) if replies else b""
            if reply == b"wait":
                stop.wait(2.0)
            elif reply:
                conn.sendall(reply)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield replies, server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _stored(site: Site) -> tuple[int, int, int]:
    with SqliteReader(site.host_dir / "host.db") as reader:
        app = site.publisher.trust().catalog.application_id
        count = reader.current_count(app, int(time.time()))
        events = len(reader.events(EventQuery(event_ids=(12290,))))
        total = reader.counters(site.host_state.host_id).total
    return count, events, total


def test_probe_is_not_counted(site: Site, tmp_path: Path) -> None:
    app = site.publisher.trust().catalog.application_id
    with host_process(site.host_dir) as host:
        activate_clients(site, tmp_path, "Standard", host.address, 3)
        before = _stored(site)
        for _ in range(5):
            result = asyncio.run(probe(host.host, host.port, 5.0, application_id=app))
            assert result.outcome is ProbeOutcome.OPENKMS
            assert result.response is not None and result.response.current_count == 3
        code, findings = doctor_json("port", host.address, "--application-id", app)
        after = _stored(site)
    assert before == after == (3, 3, 3)  # count, 12290 events, cumulative requests
    assert code == 0
    answer = one(findings, "openkms-host")
    assert "activated yes" in answer["evidence"] and "current count 3" in answer["evidence"]
    assert one(findings, "clock-skew")["severity"] == "ok"


def test_port_refused_names_the_code_and_fix() -> None:
    port = _free_port()
    code, findings = doctor_json("port", f"127.0.0.1:{port}", "--timeout", "2")
    assert code == 2
    connect = one(findings, "tcp-connect")
    assert connect["code"] == ResultCode.CONNECTION_REFUSED.hex
    assert "start the host" in connect["fix"]


def test_port_text_output_is_human(site: Site) -> None:
    with host_process(site.host_dir) as host:
        code, out, _ = doctor("port", host.address)
    assert code == 0
    assert "== Network path and port ==" in out and "[OK] openkms-host" in out


@pytest.mark.parametrize(
    ("reply", "outcome", "severity"),
    [
        (b"\x05\x00\x0b\x03\x10\x00\x00\x00garbage-not-openkms", ProbeOutcome.NOT_OPENKMS, "error"),
        (b"", ProbeOutcome.CLOSED, "error"),
        (b"wait", ProbeOutcome.SILENT, "warning"),
    ],
)
def test_a_peer_that_is_not_openkms(
    peer: tuple[list[bytes], int], reply: bytes, outcome: ProbeOutcome, severity: str
) -> None:
    replies, port = peer
    replies.append(reply)
    result = asyncio.run(probe("127.0.0.1", port, 0.5))
    assert result.outcome is outcome and result.connected
    replies.append(reply)
    code, findings = doctor_json("port", f"127.0.0.1:{port}", "--timeout", "0.5")
    assert one(findings, "tcp-connect")["severity"] == "ok"
    assert one(findings, "not-openkms")["severity"] == severity
    assert code == (2 if severity == "error" else 1)


def test_tcp_connect_only(peer: tuple[list[bytes], int]) -> None:
    _, port = peer
    result = asyncio.run(tcp_connect("127.0.0.1", port, 1.0))
    assert result.outcome is ProbeOutcome.CONNECTED and result.code is ResultCode.OK
    refused = asyncio.run(tcp_connect("127.0.0.1", _free_port(), 1.0))
    assert refused.outcome is ProbeOutcome.REFUSED


def test_an_unresolvable_name_is_0x8007232b_in_the_probe_as_in_the_client() -> None:
    result = asyncio.run(probe("no-such-host.invalid", 1688, 2.0))
    assert result.outcome is ProbeOutcome.UNREACHABLE
    assert result.code is ResultCode.DNS_NAME_DOES_NOT_EXIST
    request = ProbeRequest(b"\0" * 16, "")
    with pytest.raises(ActivationError) as info:
        asyncio.run(TcpTransport(2.0).exchange("no-such-host.invalid", 1688, request))
    assert info.value.code is result.code
