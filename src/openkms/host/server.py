"""The asyncio listeners of a host and their lifecycle: start -> serve -> graceful stop."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
from typing import cast

from openkms._address import format_address
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.host.config import HostConfig
from openkms.host.service import HostService
from openkms.protocol.connection import NEED_DATA, Connection, Role
from openkms.protocol.messages import ErrorResponse, Message

__all__ = ["HostServer"]

log = logging.getLogger("openkms.host")


class _Listener:
    """The port a listener is bound to, known once it is bound (a response carries it).

    0 when its sockets were bound to different ports: each connection then looks it up.
    """

    __slots__ = ("port",)

    def __init__(self) -> None:
        self.port = 0


class _ActivationProtocol(asyncio.Protocol):
    """One client connection: frames in, responses out, in order.

    Each message goes to ``HostService.answer`` with its ``_Reply`` as the ``deliver``
    callback; no task is created here. Responses wait in ``_queue`` so that pipelined ones
    leave in order. Idle connections are closed by the server's sweep, not by a timer per
    connection.
    """

    def __init__(self, server: HostServer, listener: _Listener) -> None:
        self._server = server
        self._service = server.service
        self._config = server.config
        self._port = listener.port
        self._conn = Connection(role=Role.SERVER)
        self._transport: asyncio.Transport | None = None
        self._queue: collections.deque[_Reply] = collections.deque()
        self._last_active = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        if not self._port:
            sockname = transport.get_extra_info("sockname")
            self._port = sockname[1] if sockname else 0
        if not self._server.admit(self):
            busy = ErrorResponse(b"", ResultCode.HOST_BUSY, "host busy")
            self._transport.write(self._conn.send(busy))
            self._transport.close()
            return
        self._last_active = asyncio.get_running_loop().time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.release(self)

    @property
    def _peer(self) -> str:
        """The client's address, for log lines (looked up only when one is written)."""
        peer = self._transport.get_extra_info("peername") if self._transport else None
        return format_address(peer[0], peer[1]) if peer else "?"

    def close(self) -> None:
        """Close the connection (what is written is still sent)."""
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self, now: float) -> None:
        """Close the connection if it has waited ``idle_timeout`` with nothing in flight."""
        if self._queue or self._transport is None:
            return
        if now - self._last_active < self._config.idle_timeout:
            return
        if self._conn.buffered:
            log.warning(
                "closing %s: incomplete frame after %.0fs", self._peer, self._config.idle_timeout
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
            self._transport.write(self._conn.send(ErrorResponse(b"", exc.code, exc.message)))
            self._transport.close()

    def _dispatch(self, message: Message) -> None:
        reply = _Reply(self)
        self._queue.append(reply)
        self._server.inflight += 1
        if len(self._queue) >= self._config.max_pipelined and self._transport is not None:
            self._transport.pause_reading()
        self._service.answer(message, self._port, reply)

    def flush(self) -> None:
        """Write the responses that are ready, in the order their requests came."""
        queue, transport = self._queue, self._transport
        while queue and queue[0].response is not None:
            response = queue.popleft().response
            self._server.answered()
            if transport is not None and not transport.is_closing():
                assert response is not None
                transport.write(self._conn.send(response))
        if transport is None or transport.is_closing():
            return
        if len(queue) < self._config.max_pipelined:
            transport.resume_reading()
        self._last_active = asyncio.get_running_loop().time()


class _Reply:
    """One request's place in its connection's response order; called with its response."""

    __slots__ = ("_connection", "response")

    def __init__(self, connection: _ActivationProtocol) -> None:
        self._connection = connection
        self.response: Message | None = None

    def __call__(self, response: Message) -> None:
        self.response = response
        self._connection.flush()


class HostServer:
    """Binds the listeners, tracks connections and in-flight requests, stops gracefully."""

    def __init__(self, config: HostConfig, service: HostService) -> None:
        self.config = config
        self.service = service
        self._servers: list[asyncio.Server] = []
        self._connections: set[_ActivationProtocol] = set()
        self.inflight = 0  # requests received and not yet answered
        self._drained: asyncio.Future[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
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

    def answered(self) -> None:
        """One in-flight request has its response; wake a graceful stop waiting for the last."""
        self.inflight -= 1
        if self.inflight == 0 and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    @property
    def connection_count(self) -> int:
        """Open client connections."""
        return len(self._connections)

    async def start(self, default_port: int) -> list[tuple[str, int]]:
        """Bind every listener; return the bound (host, port) pairs."""
        loop = asyncio.get_running_loop()
        wanted = self.config.listeners(default_port)
        for host, port in wanted:
            listener = _Listener()
            try:
                server = await loop.create_server(
                    functools.partial(_ActivationProtocol, self, listener),
                    host,
                    port,
                    reuse_address=True,
                    backlog=4096,
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
            ports = {sock.getsockname()[1] for sock in server.sockets}
            for sock in server.sockets:
                self.addresses.append(sock.getsockname()[:2])
            # One port for the whole listener, unless port 0 gave its sockets different ones.
            listener.port = ports.pop() if len(ports) == 1 else 0
        if not self._servers:
            raise OpenKMSError("no listener could be bound", code=ResultCode.INVALID_ARGUMENT)
        self._sweep()
        return self.addresses

    def _sweep(self) -> None:
        """Close idle connections; runs every tenth of the idle timeout.

        One timer for the host instead of one per connection: a connection closes between
        ``idle_timeout`` and 1.1 x ``idle_timeout`` after its last response.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        for protocol in list(self._connections):
            protocol.close_if_idle(now)
        self._sweeper = loop.call_later(self.config.idle_timeout / 10, self._sweep)

    async def close_listeners(self) -> None:
        """Stop accepting new connections."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    async def stop(self) -> None:
        """Graceful stop: no new connections, in-flight requests finish, then close the rest."""
        for server in self._servers:
            server.close()
        if self.inflight > 0:
            self._drained = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained, self.config.shutdown_timeout)
        for protocol in list(self._connections):
            protocol.close()
        await self.close_listeners()
