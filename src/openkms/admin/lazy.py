"""The admin server as a serving host runs it: listening from the start, loaded on first use.

The dashboard, API and metrics are built on aiohttp, which with the admin's own modules
adds about 15 MiB to the host's front process (bench/README.md, "Memory"). Most of the
time nobody looks at a host's dashboard, so ``LazyAdminServer`` binds the admin address at
start-up (an address in use fails the start as before) and accepts connections with a
protocol of its own that reads nothing; the first connection loads ``admin.server`` in a
worker thread (the event loop keeps answering activations meanwhile), builds the aiohttp
application and hands it every connection accepted so far, unread. From then on the
listener makes aiohttp's protocol directly. Every connection passes through the admin's
``http_guard.ConnectionGuard`` (caps, head timeout) from the start: the guard has no aiohttp
either. The request metrics count from the start, since they live in ``admin.metrics``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, cast

from openkms._address import format_address
from openkms.admin.config import AdminConfig, listen_error
from openkms.admin.host_view import HostView
from openkms.admin.http_guard import (
    ConnectionGuard,
    open_file_limit,
    within_file_limit,
)
from openkms.admin.metrics import HostMetrics
from openkms.store.base import HostStore

if TYPE_CHECKING:
    from openkms.admin.server import AdminServer

__all__ = ["LazyAdminServer"]

log = logging.getLogger("openkms.admin")

SERVER_MODULE = "openkms.admin.server"
# Bytes a waiting connection may have sent before the server is loaded.
_EARLY_MOST = 1 << 16


async def import_server() -> ModuleType:
    """``admin.server`` (and aiohttp), imported in a worker thread."""
    return await asyncio.to_thread(importlib.import_module, SERVER_MODULE)


class _Waiting(asyncio.Protocol):
    """A connection accepted before the admin server is loaded: not read until then, then
    passed on to aiohttp's protocol (the guard in front of it stays as it was)."""

    def __init__(self, owner: LazyAdminServer) -> None:
        self._owner = owner
        self.transport: asyncio.Transport | None = None
        self._inner: asyncio.Protocol | None = None
        # What arrived all the same (uvloop may read once before a pause takes effect).
        self._early = bytearray()
        self._eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()
        self._owner.waiting(self)

    def attach(self, inner: asyncio.Protocol) -> None:
        """Serve the connection with ``inner`` from now on."""
        assert self.transport is not None
        self._inner = inner
        inner.connection_made(self.transport)
        if self._early:
            early, self._early = bytes(self._early), bytearray()
            inner.data_received(early)
        if self._eof and not inner.eof_received():
            self.transport.close()
            return
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        self._early += data
        if self.transport is not None:
            self.transport.pause_reading()
            if len(self._early) > _EARLY_MOST:  # no request head is this long
                self.transport.abort()

    def eof_received(self) -> bool | None:
        if self._inner is not None:
            return self._inner.eof_received()
        self._eof = True
        return True  # keep the transport open for the answer

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)
        else:
            self._owner.gone(self)


class LazyAdminServer:
    """The admin server of a serving host: ``start()`` binds, the first connection loads."""

    def __init__(
        self,
        config: AdminConfig,
        *,
        host: HostView,
        store: HostStore,
        clock: Callable[[], float],
        metrics: HostMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else HostMetrics()
        self._guard = ConnectionGuard(within_file_limit(config.limits, open_file_limit()))
        self._host, self._store, self._clock = host, store, clock
        self._listeners: tuple[tuple[str, int], ...] = ()
        self._server: asyncio.Server | None = None
        self._real: AdminServer | None = None
        self._loading: asyncio.Task[None] | None = None
        self._waiting: list[_Waiting] = []
        self.address: tuple[str, int] | None = None

    @property
    def loaded(self) -> bool:
        """Whether the first connection has loaded the admin server."""
        return self._real is not None

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` once started."""
        if self.address is None:
            raise RuntimeError("the admin server is not started")
        return f"http://{format_address(*self.address)}/"

    def set_listeners(self, addresses: Sequence[tuple[str, int]]) -> None:
        """The activation listeners that are up, for ``/readyz``."""
        self._listeners = tuple(addresses)
        if self._real is not None:
            self._real.set_listeners(self._listeners)

    async def start(self) -> tuple[str, int]:
        """Bind the admin address; return the bound (host, port)."""
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(
                self._guard.factory(self._protocol),
                self.config.host,
                self.config.port,
                reuse_address=True,
            )
        except OSError as exc:
            raise listen_error(self.config, exc) from None
        self._server = server
        host, port = server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        log.info("admin on %s (%s)", self.url, "token set" if self.config.token else "no token")
        return self.address

    async def stop(self) -> None:
        """Close the listener and every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._loading is not None:
            self._loading.cancel()
            await asyncio.gather(self._loading, return_exceptions=True)
            self._loading = None
        self._abort_waiting()
        if self._real is not None:
            real, self._real = self._real, None
            await real.stop()

    def waiting(self, protocol: _Waiting) -> None:
        """A connection waits for the admin server: load it (once)."""
        self._waiting.append(protocol)
        if self._loading is None:
            self._loading = asyncio.get_running_loop().create_task(self._load())

    def gone(self, protocol: _Waiting) -> None:
        """A waiting connection closed."""
        if protocol in self._waiting:
            self._waiting.remove(protocol)

    def _protocol(self) -> asyncio.Protocol:
        if self._real is not None:
            return cast(asyncio.Protocol, self._real.protocol())
        return _Waiting(self)

    async def _load(self) -> None:
        try:
            module = await import_server()
            real: AdminServer = module.AdminServer(
                self.config,
                host=self._host,
                store=self._store,
                clock=self._clock,
                metrics=self.metrics,
            )
            real.set_listeners(self._listeners)
            await real.setup()
        except Exception:  # never a traceback to the host: the next connection tries again
            log.exception("the admin server could not be loaded")
            self._abort_waiting()
            self._loading = None
            return
        self._real = real
        handed, self._waiting = self._waiting, []
        for connection in handed:
            transport = connection.transport
            if transport is None or transport.is_closing():
                continue
            connection.attach(cast(asyncio.Protocol, real.protocol()))
        log.debug("admin server loaded (%d connection(s) waited)", len(handed))

    def _abort_waiting(self) -> None:
        for connection in self._waiting:
            if connection.transport is not None:
                connection.transport.abort()
        self._waiting.clear()
