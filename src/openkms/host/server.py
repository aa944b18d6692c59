"""The asyncio listeners of a host and their lifecycle: start -> serve -> graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import cast

from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError, StoreError
from openkms.host.config import HostConfig, format_address
from openkms.host.service import HostService
from openkms.protocol.connection import NEED_DATA, Connection, encode
from openkms.protocol.messages import ErrorResponse, Message

__all__ = ["HostServer"]

log = logging.getLogger("openkms.host")


class _ActivationProtocol(asyncio.Protocol):
    """One client connection: frames in, responses out, in order."""

    def __init__(self, server: HostServer) -> None:
        self._server = server
        self._config = server.config
        self._conn = Connection()
        self._transport: asyncio.Transport | None = None
        self._tail: asyncio.Future[None] | None = None
        self._pending = 0
        self._timer: asyncio.TimerHandle | None = None
        self._port = 0
        self._peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        sockname = transport.get_extra_info("sockname")
        peer = transport.get_extra_info("peername")
        self._port = sockname[1] if sockname else 0
        self._peer = format_address(peer[0], peer[1]) if peer else "?"
        if not self._server.admit(self):
            transport.write(encode(ErrorResponse(b"", ResultCode.HOST_BUSY, "host busy")))
            transport.close()
            return
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.release(self)
        if self._timer is not None:
            self._timer.cancel()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._config.idle_timeout, self._idle)

    def _idle(self) -> None:
        if self._pending == 0 and self._transport is not None:
            if self._conn.buffered:
                log.warning(
                    "closing %s: incomplete frame after %.0fs",
                    self._peer,
                    self._config.idle_timeout,
                )
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        self._conn.receive_data(data)
        try:
            while True:
                message = self._conn.next_event()
                if message is NEED_DATA:
                    break
                self._dispatch(message)
        except OpenKMSError as exc:
            log.warning("closing %s: %s", self._peer, exc.message)
            assert self._transport is not None
            self._transport.write(encode(ErrorResponse(b"", exc.code, exc.message)))
            self._transport.close()

    def _dispatch(self, message: Message) -> None:
        self._pending += 1
        if self._pending >= self._config.max_pipelined and self._transport is not None:
            self._transport.pause_reading()
        self._tail = asyncio.ensure_future(self._respond(message, self._tail))
        self._server.track(self._tail)

    async def _respond(self, message: Message, previous: asyncio.Future[None] | None) -> None:
        try:
            response = await self._server.service.handle(message, self._port)
        except StoreError as exc:
            log.error("store error: %s", exc)
            response = ErrorResponse(getattr(message, "request_id", b""), exc.code, exc.message)
        except Exception:
            log.exception("internal error while answering %s", self._peer)
            response = ErrorResponse(
                getattr(message, "request_id", b""), ResultCode.INTERNAL_ERROR, "internal error"
            )
        if previous is not None and not previous.done():
            await previous
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(encode(response))
            self._pending -= 1
            if self._pending < self._config.max_pipelined:
                transport.resume_reading()
            self._arm_timer()


class HostServer:
    """Binds the listeners, tracks connections and in-flight requests, stops gracefully."""

    def __init__(self, config: HostConfig, service: HostService) -> None:
        self.config = config
        self.service = service
        self._servers: list[asyncio.Server] = []
        self._connections: set[_ActivationProtocol] = set()
        self._inflight: set[asyncio.Future[None]] = set()
        self.addresses: list[tuple[str, int]] = []

    def admit(self, protocol: _ActivationProtocol) -> bool:
        """Register a connection; False when the connection limit is reached."""
        if len(self._connections) >= self.config.max_connections:
            log.warning(
                "connection limit %d reached: refusing a client", self.config.max_connections
            )
            return False
        self._connections.add(protocol)
        return True

    def release(self, protocol: _ActivationProtocol) -> None:
        """Forget a closed connection."""
        self._connections.discard(protocol)

    def track(self, future: asyncio.Future[None]) -> None:
        """Keep an in-flight response so that a graceful stop can wait for it."""
        self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)

    @property
    def connection_count(self) -> int:
        """Open client connections."""
        return len(self._connections)

    async def start(self, default_port: int) -> list[tuple[str, int]]:
        """Bind every listener; return the bound (host, port) pairs."""
        loop = asyncio.get_running_loop()
        wanted = self.config.listeners(default_port)
        for host, port in wanted:
            try:
                server = await loop.create_server(
                    lambda: _ActivationProtocol(self), host, port, reuse_address=True, backlog=4096
                )
            except OSError as exc:
                if self.config.listen:
                    await self.close_listeners()
                    raise OpenKMSError(
                        f"cannot listen on {format_address(host, port)}: {exc.strerror or exc}",
                        code=ResultCode.ACCESS_DENIED
                        if exc.errno == 13
                        else ResultCode.INVALID_ARGUMENT,
                        fix="Choose a free port (--listen ADDR:PORT) or stop the other service.",
                    ) from None
                log.warning("not listening on %s: %s", format_address(host, port), exc.strerror)
                continue
            self._servers.append(server)
            for sock in server.sockets:
                self.addresses.append(sock.getsockname()[:2])
        if not self._servers:
            raise OpenKMSError("no listener could be bound", code=ResultCode.INVALID_ARGUMENT)
        return self.addresses

    async def close_listeners(self) -> None:
        """Stop accepting new connections."""
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def stop(self) -> None:
        """Graceful stop: no new connections, in-flight requests finish, then close the rest."""
        for server in self._servers:
            server.close()
        if self._inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*self._inflight, return_exceptions=True),
                    self.config.shutdown_timeout,
                )
        for protocol in list(self._connections):
            if protocol._transport is not None:
                protocol._transport.close()
        await self.close_listeners()
