"""The admin server's connections pass through the HTTP guard: a per-address cap and a
head timeout, on a real socket (the admin server on loopback port 0)."""

from __future__ import annotations

import asyncio
import time

from openkms.admin.config import AdminConfig
from openkms.admin.http_guard import ConnectionLimits
from openkms.admin.server import AdminServer
from openkms.host.app import HostApp
from openkms.host.config import HostConfig

from helpers import Site, host_process


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def test_the_admin_server_caps_an_address_and_closes_a_slow_head(site: Site) -> None:
    limits = ConnectionLimits(max_connections_per_address=2, header_timeout=0.5)

    async def scenario() -> None:
        app = HostApp(
            HostConfig(store_dir=site.host_dir, listen=(("127.0.0.1", 0),)), state=site.host_state
        )
        await app.start()
        assert app.service is not None
        admin = AdminServer(
            AdminConfig("127.0.0.1", 0),
            host=app.admin_view(app.service),
            store=app.store,
            clock=time.time,
            limits=limits,
        )
        try:
            host, port = await admin.start()
            held = [await asyncio.open_connection(host, port) for _ in range(2)]
            third = await asyncio.open_connection(host, port)
            assert await _closed_within(third[0], 2.0)  # over the cap: closed at once
            held[0][1].write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert await _closed_within(held[0][0], 3.0)
            assert 0.4 <= loop.time() - start < 1.5
            for _, writer in (*held, third):
                writer.close()
        finally:
            await admin.stop()
            await app.shutdown()

    asyncio.run(scenario())


def _third_is_closed(address: str) -> bool:
    """Open three connections to ``address``; whether the third is closed unanswered."""

    async def scenario() -> bool:
        host, port = address.rsplit(":", 1)
        held = [await asyncio.open_connection(host, int(port)) for _ in range(3)]
        try:
            reader, writer = held[2]
            if await _closed_within(reader, 1.0):
                return True
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 30)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
            return False
        finally:
            for _, writer in held:
                writer.close()

    return asyncio.run(scenario())


def test_host_serve_takes_the_admin_limits_and_trusted_proxies(site: Site) -> None:
    """`host serve --admin-max-connections-per-address 2`: a third connection from one
    address is closed; with `--admin-trusted-proxy 127.0.0.1` it is served."""
    cap = ("--admin", "127.0.0.1:0", "--admin-max-connections-per-address", "2")
    with host_process(site.host_dir, *cap) as host:
        assert host.admin is not None
        assert _third_is_closed(host.admin), host.log
    with host_process(site.host_dir, *cap, "--admin-trusted-proxy", "127.0.0.1") as host:
        assert host.admin is not None
        assert not _third_is_closed(host.admin), host.log
