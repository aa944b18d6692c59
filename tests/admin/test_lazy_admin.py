"""The serving host's admin server loads aiohttp on its first connection (``admin.lazy``).

Connections accepted before it is loaded wait unread and are answered once it is; a failed
load closes them and the next connection loads again; stopping while they wait closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType

import pytest
import uvloop

from openkms.admin import lazy
from openkms.admin.config import AdminConfig
from openkms.host.app import HostApp
from openkms.host.config import HostConfig

from helpers import Site

LOOPS = pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


async def get_healthz(address: tuple[str, int]) -> bytes:
    """One whole HTTP exchange on a connection of its own: what the server sent back."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(REQUEST)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def started(site: Site) -> AsyncIterator[HostApp]:
    app = HostApp(
        HostConfig(store_dir=site.host_dir, listen=(("127.0.0.1", 0),)),
        state=site.host_state,
        admin=AdminConfig("127.0.0.1", 0),
    )
    await app.start()
    try:
        yield app
    finally:
        await app.shutdown()


def admin_of(app: HostApp) -> lazy.LazyAdminServer:
    assert app.admin is not None and app.admin.address is not None
    return app.admin


def run(loop_factory: Callable[[], asyncio.AbstractEventLoop], body: Awaitable[None]) -> None:
    """``body`` on a loop of ``loop_factory`` (uvloop's transports differ: they may read
    once before a pause in ``connection_made`` takes effect)."""
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(body)


@LOOPS
def test_connections_before_the_load_are_all_answered(
    site: Site, loop_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    async def body() -> None:
        async with started(site) as app:
            admin = admin_of(app)
            assert not admin.loaded
            answers = await asyncio.gather(*(get_healthz(admin.address) for _ in range(8)))
            assert admin.loaded
            assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers
            assert (await get_healthz(admin.address)).startswith(b"HTTP/1.1 200")

    run(loop_factory, body())


@LOOPS
def test_a_failed_load_closes_the_waiting_and_the_next_connection_loads(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def body() -> None:
        async with started(site) as app:
            admin = admin_of(app)
            monkeypatch.setattr(lazy, "SERVER_MODULE", "openkms.admin.no_such_module")
            with caplog.at_level(logging.ERROR, logger="openkms.admin"):
                assert await get_healthz(admin.address) == b""
            assert "could not be loaded" in caplog.text and not admin.loaded
            monkeypatch.undo()
            assert (await get_healthz(admin.address)).startswith(b"HTTP/1.1 200")
            assert admin.loaded

    run(loop_factory, body())


@LOOPS
def test_stopping_closes_the_waiting_connections(
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def body() -> None:
        async with started(site) as app:
            admin = admin_of(app)
            loading = asyncio.Event()

            async def never() -> ModuleType:
                loading.set()
                await asyncio.Event().wait()
                raise AssertionError("unreachable")

            monkeypatch.setattr(lazy, "import_server", never)
            waiting = asyncio.create_task(get_healthz(admin.address))
            await asyncio.wait_for(loading.wait(), 10)
            await admin.stop()
            assert await asyncio.wait_for(waiting, 10) == b""

    run(loop_factory, body())
