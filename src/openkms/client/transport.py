"""How a client reaches a host: real TCP, or an in-memory transport for unit tests.

Whatever bytes a host sends, a transport returns a message or raises an OpenKMSError:
:func:`read_response` turns every decoding failure (a bad frame, invalid UTF-8 in a text
field, a wrong type, an integer out of range) into a ProtocolError (0xE0040002).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable, Callable, Mapping

from openkms._address import format_address
from openkms.core.codes import ResultCode
from openkms.errors import ActivationError, OpenKMSError, ProtocolError, network_error
from openkms.i18n import _
from openkms.protocol.connection import NEED_DATA, Connection, Role, encode
from openkms.protocol.messages import Message

__all__ = ["Handler", "MemoryTransport", "TcpTransport", "Transport", "read_response"]

Handler = Callable[[Message, int], Awaitable[Message | bytes]]
"""What answers a request in memory: (request, port the request came to) -> response, or
the raw bytes a (hostile) host would write."""


class Transport(abc.ABC):
    """Sends one request to a host and returns its answer."""

    @abc.abstractmethod
    async def exchange(self, host: str, port: int, request: Message) -> tuple[Message, str]:
        """The host's response and the address it was reached at; ActivationError if not."""


class TcpTransport(Transport):
    """One TCP connection per exchange, with connect and read timeouts."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    async def exchange(self, host: str, port: int, request: Message) -> tuple[Message, str]:
        """Connect, send one frame, read one frame, close."""
        where = format_address(host, port)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    address = writer.get_extra_info("peername")[0]
                    writer.write(encode(request))
                    return await _read_message(reader, where), address
                finally:
                    writer.close()
        except OSError as exc:  # TimeoutError is an OSError: the table maps it too
            raise network_error(exc, where, self.timeout) from None


async def _read_message(reader: asyncio.StreamReader, where: str) -> Message:
    conn = Connection(role=Role.CLIENT)
    while True:
        data = await reader.read(65536)
        if not data:
            raise _closed(conn, where)
        message = read_response(conn, data, where)
        if message is not None:
            return message


def _closed(conn: Connection, where: str) -> OpenKMSError:
    """The error of a host that closed the connection before a whole response."""
    if conn.buffered:
        return ProtocolError(
            _("{where} closed the connection in the middle of a response").format(where=where)
        )
    return ActivationError(
        _("{where} closed the connection without answering").format(where=where),
        code=ResultCode.KMS_NOT_RESPONDING,
    )


def read_response(conn: Connection, data: bytes, where: str) -> Message | None:
    """Feed a host's ``data``: its response once complete, None while more is needed.

    Every failure to decode is a ProtocolError naming ``where``; nothing else is raised.
    """
    conn.receive_data(data)
    try:
        message = conn.next_event()
    except ProtocolError as exc:
        raise ProtocolError(
            _("{where}: {message}").format(where=where, message=exc.message), code=exc.code
        ) from None
    # msgspec raises UnicodeDecodeError (a ValueError) for invalid UTF-8 in a text field.
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ProtocolError(
            _("{where} sent an undecodable response: {kind}: {exc}").format(
                where=where, kind=type(exc).__name__, exc=exc
            )[:300]
        ) from None
    return None if message is NEED_DATA else message


class MemoryTransport(Transport):
    """Routes requests to in-process handlers by (host, port) — for unit tests.

    A handler is any ``async (request, port) -> response``, such as a host service's.
    """

    def __init__(self, hosts: Mapping[tuple[str, int], Handler] | None = None) -> None:
        self.hosts: dict[tuple[str, int], Handler] = dict(hosts or {})

    async def exchange(self, host: str, port: int, request: Message) -> tuple[Message, str]:
        """Hand the request to the registered handler, through the real framing."""
        handler = self.hosts.get((host, port))
        if handler is None:
            raise ActivationError(
                _("{address}: connection refused").format(address=format_address(host, port)),
                code=ResultCode.CONNECTION_REFUSED,
            )
        response = await handler(_through_framing(request, Role.SERVER), port)
        data = response if isinstance(response, bytes) else encode(response)
        where = format_address(host, port)
        conn = Connection(role=Role.CLIENT)
        message = read_response(conn, data, where)
        if message is None:
            raise _closed(conn, where)
        return message, host


def _through_framing(message: Message, role: Role) -> Message:
    """Encode ``message`` and decode it at the end of the wire that plays ``role``."""
    conn = Connection(role=role)
    conn.receive_data(encode(message))
    decoded = conn.next_event()
    assert decoded is not NEED_DATA
    return decoded
