"""The asyncio listeners of a host and their lifecycle: start -> serve -> graceful stop."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import functools
import logging
import time
from collections.abc import Callable
from typing import cast

from openkms._address import format_address
from openkms._throttle import ThrottledLog
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.host.config import HostConfig
from openkms.host.service import HostService
from openkms.i18n import _
from openkms.protocol.connection import NEED_DATA, Connection, InvalidRequestError, Role
from openkms.protocol.messages import ErrorResponse, Message

__all__ = ["HostServer"]

log = logging.getLogger("openkms.host")
# What a peer can make the host write, once a second at most per kind.
_bad_frames = ThrottledLog(log)
_refusals = ThrottledLog(log)


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
        self._eof = False
        self._paused = False  # reading paused: max_pipelined responses are pending
        self.address = ""  # the peer's IP address, the key of the per-address limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        if not self._port:
            sockname = transport.get_extra_info("sockname")
            self._port = sockname[1] if sockname else 0
        peer = transport.get_extra_info("peername")
        self.address = peer[0] if peer else ""
        admitted = self._server.admit(self)
        if admitted is _Admission.ADDRESS_FULL:  # closed at once: it costs nothing more
            self._transport.abort()
            return
        if admitted is _Admission.HOST_FULL:
            busy = ErrorResponse(b"", ResultCode.HOST_BUSY, "host busy")
            self._transport.write(self._conn.send(busy))
            self._transport.close()
            return
        self._last_active = self._server.loop_time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.release(self)

    def eof_received(self) -> bool:
        """The peer finished sending: answer what is in flight, refuse a partial frame."""
        self._eof = True
        if self._conn.buffered:
            self._refuse(ResultCode.PROTOCOL_ERROR, "incomplete frame before the end of input")
            return True  # _refuse closes once the error is written
        return bool(self._queue)  # keep the transport until the last response is written

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
        while True:
            try:
                message = self._conn.next_event()
            except InvalidRequestError as exc:  # well framed: answered, and the stream goes on
                _bad_frames.warning("invalid request from %s: %s", self._peer, exc.message)
                self._service.answer_invalid(exc, self._port, self._queued())
                continue
            except OpenKMSError as exc:
                self._refuse(exc.code, exc.message)
                return
            except Exception:  # a bug: this connection ends, the host goes on
                log.exception("closing %s: the frame could not be read", self._peer)
                self._refuse(ResultCode.INTERNAL_ERROR, "internal error")
                return
            if message is NEED_DATA:
                return
            self._service.answer(message, self._port, self._queued(), decoded=True)

    def _refuse(self, code: ResultCode, reason: str) -> None:
        """Answer an unreadable frame with one ErrorResponse, then close (after what is in
        flight: responses leave in order)."""
        _bad_frames.warning("closing %s: %s", self._peer, reason)
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.pause_reading()
        self._paused = True  # never resumed: the connection closes after this answer
        reply = _Reply(self, closing=True)
        self._queue.append(reply)
        self._server.inflight += 1
        reply(ErrorResponse(b"", code, reason))

    def _queued(self) -> _Reply:
        """A new place in the response order; reading pauses once max_pipelined wait."""
        reply = _Reply(self)
        queue = self._queue
        queue.append(reply)
        self._server.inflight += 1
        if len(queue) >= self._config.max_pipelined and self._transport is not None:
            self._transport.pause_reading()
            self._paused = True
        return reply

    def flush(self) -> None:
        """Write the responses that are ready, in the order their requests came."""
        queue, transport, server = self._queue, self._transport, self._server
        writable = transport is not None and not transport.is_closing()
        while queue and queue[0].response is not None:
            reply = queue.popleft()
            server.inflight -= 1
            if server.inflight == 0 and server.draining:
                server.answered_all()
            if writable:
                assert transport is not None and reply.response is not None
                transport.write(self._conn.send(reply.response))
                if reply.closing:
                    transport.close()
                    writable = False
        if not writable:
            return
        assert transport is not None
        if self._eof and not queue:
            transport.close()
            return
        if self._paused and len(queue) < self._config.max_pipelined:
            self._paused = False
            transport.resume_reading()
        self._last_active = server.loop_time()


class _Reply:
    """One request's place in its connection's response order; called with its response."""

    __slots__ = ("_connection", "closing", "response")

    def __init__(self, connection: _ActivationProtocol, *, closing: bool = False) -> None:
        self._connection = connection
        self.response: Message | None = None
        self.closing = closing  # the connection closes once this response is written

    def __call__(self, response: Message) -> None:
        self.response = response
        self._connection.flush()


class _Admission(enum.Enum):
    ADMITTED = "admitted"
    ADDRESS_FULL = "address full"  # the peer's address holds its share of the connections
    HOST_FULL = "host full"


class HostServer:
    """Binds the listeners, tracks connections and in-flight requests, stops gracefully.

    Connections are limited in total (``max_connections``) and per source address
    (``max_connections_per_address``), so that one address cannot hold every slot.
    """

    def __init__(self, config: HostConfig, service: HostService) -> None:
        self.config = config
        self.service = service
        self._servers: list[asyncio.Server] = []
        self._connections: set[_ActivationProtocol] = set()
        self._per_address: dict[str, int] = {}  # open connections per source address
        self.loop_time: Callable[[], float] = time.monotonic  # the serving loop's, once started
        self.inflight = 0  # requests received and not yet answered
        self._drained: asyncio.Future[None] | None = None
        self.draining = False  # a graceful stop waits for the last in-flight request
        self._sweeper: asyncio.TimerHandle | None = None
        self.addresses: list[tuple[str, int]] = []

    def admit(self, protocol: _ActivationProtocol) -> _Admission:
        """Register a connection, unless its address or the host is at its limit."""
        address = protocol.address
        held = self._per_address.get(address, 0)
        if held >= self.config.max_connections_per_address:
            _refusals.warning(
                "%s holds %d connections, its limit: closing its new ones",
                address,
                self.config.max_connections_per_address,
            )
            return _Admission.ADDRESS_FULL
        if len(self._connections) >= self.config.max_connections:
            _refusals.warning(
                "connection limit %d reached: refusing a client", self.config.max_connections
            )
            return _Admission.HOST_FULL
        self._connections.add(protocol)
        self._per_address[address] = held + 1
        return _Admission.ADMITTED

    def release(self, protocol: _ActivationProtocol) -> None:
        """Forget a closed connection."""
        if protocol in self._connections:
            self._connections.remove(protocol)
            left = self._per_address[protocol.address] - 1
            if left > 0:
                self._per_address[protocol.address] = left
            else:
                del self._per_address[protocol.address]

    def answered_all(self) -> None:
        """No request is in flight any more: wake a graceful stop waiting for the last."""
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    @property
    def connection_count(self) -> int:
        """Open client connections."""
        return len(self._connections)

    async def start(self, default_port: int) -> list[tuple[str, int]]:
        """Bind every listener; return the bound (host, port) pairs."""
        loop = asyncio.get_running_loop()
        self.loop_time = loop.time
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
                        _("cannot listen on {address}: {error}").format(
                            address=format_address(host, port), error=exc.strerror or exc
                        ),
                        code=ResultCode.ACCESS_DENIED
                        if exc.errno == 13
                        else ResultCode.INVALID_ARGUMENT,
                        fix=_("Choose a free port (--listen ADDR:PORT) or stop the other service."),
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
            raise OpenKMSError(_("no listener could be bound"), code=ResultCode.INVALID_ARGUMENT)
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
            self.draining = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained, self.config.shutdown_timeout)
        for protocol in list(self._connections):
            protocol.close()
        await self.close_listeners()
