"""One source address cannot hold every connection slot of a host (the per-address limit)."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import time
import uuid

import pytest
import uvloop

from openkms.protocol import NEED_DATA, ActivationRequest, ActivationResponse, Connection, Role
from openkms.protocol.connection import encode

from helpers import HostProcess, Site, host_process

pytestmark = pytest.mark.e2e

IDLE = 10_000
PER_ADDRESS = 100


def _request(site: Site) -> ActivationRequest:
    product = site.product("Standard")
    return ActivationRequest(
        os.urandom(16),
        site.publisher.trust().catalog.application_id,
        product.activation_id,
        uuid.uuid4().bytes,
        "legit",
        int(time.time()),
        2,
        43200,
        product.n_policy,
    )


async def _open_idle(host: HostProcess, count: int) -> tuple[list[socket.socket], int]:
    """``count`` connections from 127.0.0.2; how many of them the host closed at once."""
    loop = asyncio.get_running_loop()
    sockets: list[socket.socket] = []

    async def one() -> bool:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind(("127.0.0.2", 0))
        sockets.append(sock)
        await loop.sock_connect(sock, (host.host, host.port))
        try:  # the host closes those past the limit: EOF or a reset
            return await asyncio.wait_for(loop.sock_recv(sock, 1), 3.0) == b""
        except ConnectionError:
            return True
        except TimeoutError:
            return False  # still open, as an idle connection the host admitted

    closed = 0
    for start in range(0, count, 1000):  # the listen backlog is 4096
        closed += sum(await asyncio.gather(*(one() for _ in range(min(1000, count - start)))))
    return sockets, closed


async def _activate(host: HostProcess, site: Site) -> bool:
    reader, writer = await asyncio.open_connection(host.host, host.port)
    try:
        writer.write(encode(_request(site)))
        conn = Connection(role=Role.CLIENT)
        while (message := conn.next_event()) is NEED_DATA:
            data = await reader.read(65536)
            if not data:
                return False
            conn.receive_data(data)
        return isinstance(message, ActivationResponse) and message.result == 0
    except ConnectionError:
        return False
    finally:
        writer.close()


def test_ten_thousand_idle_connections_from_one_address_leave_others_served(site: Site) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE + 1000:
        pytest.skip(f"file descriptor limit {hard} is too low for {IDLE} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, IDLE + 1000), hard))
    try:
        socket.create_connection(("127.0.0.2", 9), timeout=0.1).close()
    except ConnectionRefusedError:
        pass  # 127.0.0.2 answers: loopback covers 127/8 here
    except OSError as exc:
        pytest.skip(f"127.0.0.2 is not usable here: {exc}")
    limits = ("--max-connections", str(IDLE), "--max-connections-per-address", str(PER_ADDRESS))

    async def main(host: HostProcess) -> tuple[int, int, float]:
        started = time.monotonic()
        sockets, closed = await _open_idle(host, IDLE)
        try:
            served = [await _activate(host, site) for _ in range(200)]
        finally:
            for sock in sockets:
                sock.close()
        return closed, sum(served), time.monotonic() - started

    with host_process(site.host_dir, "--idle-timeout", "60", *limits) as host:
        closed, served, elapsed = uvloop.run(main(host))
    print(f"\n{IDLE} idle from 127.0.0.2: {closed} closed at once; legitimate {served}/200")
    assert closed == IDLE - PER_ADDRESS
    assert served == 200
    assert elapsed < 120
    assert "Traceback" not in host.log()
