"""How a client reaches a host: real TCP, or an in-memory transport for unit tests."""

from __future__ import annotations

import abc
import asyncio
import errno

from openkms._address import format_address
from openkms.core.codes import ResultCode
from openkms.errors import ActivationError, OpenKMSError
from openkms.protocol.connection import NEED_DATA, Connection, Role, encode
from openkms.protocol.messages import Message

__all__ = ["MemoryTransport", "TcpTransport", "Transport"]


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
        except TimeoutError:
            raise ActivationError(
                f"{where}: no answer within {self.timeout:g}s", code=ResultCode.TIMEOUT
            ) from None
        except OSError as exc:
            raise _connect_error(where, exc) from None


async def _read_message(reader: asyncio.StreamReader, where: str) -> Message:
    conn = Connection(role=Role.CLIENT)
    while True:
        data = await reader.read(65536)
        if not data:
            raise ActivationError(
                f"{where} closed the connection without answering",
                code=ResultCode.KMS_NOT_RESPONDING,
            )
        conn.receive_data(data)
        message = conn.next_event()
        if message is not NEED_DATA:
            return message


def _connect_error(where: str, exc: OSError) -> OpenKMSError:
    if exc.errno == errno.ECONNREFUSED:
        return ActivationError(f"{where}: connection refused", code=ResultCode.CONNECTION_REFUSED)
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ActivationError(f"{where}: unreachable", code=ResultCode.RPC_SERVER_UNAVAILABLE)
    if exc.errno is None or exc.errno < 0:  # getaddrinfo failures (socket.gaierror)
        return ActivationError(
            f"{where}: name not found ({exc.strerror or exc})",
            code=ResultCode.DNS_NAME_DOES_NOT_EXIST,
        )
    return ActivationError(
        f"{where}: {exc.strerror or exc}", code=ResultCode.RPC_SERVER_UNAVAILABLE
    )


class MemoryTransport(Transport):
    """Routes requests to in-process host services by (host, port) — for unit tests."""

    def __init__(self) -> None:
        from openkms.host.service import HostService

        self.hosts: dict[tuple[str, int], HostService] = {}

    async def exchange(self, host: str, port: int, request: Message) -> tuple[Message, str]:
        """Hand the request to the registered service, through the real framing."""
        service = self.hosts.get((host, port))
        if service is None:
            raise ActivationError(
                f"{format_address(host, port)}: connection refused",
                code=ResultCode.CONNECTION_REFUSED,
            )
        conn = Connection(role=Role.SERVER)  # the host's end decodes the request
        conn.receive_data(encode(request))
        decoded = conn.next_event()
        assert decoded is not NEED_DATA
        response = await service.handle(decoded, port)
        conn = Connection(role=Role.CLIENT)  # and the client's end the response
        conn.receive_data(encode(response))
        answer = conn.next_event()
        assert answer is not NEED_DATA
        return answer, host
