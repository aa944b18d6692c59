"""The guides' telnet test, and an OpenKMS probe that is answered without being counted.

::

    result = await probe("kms01.corp.example", 1688, timeout=3.0)
    if result.connected and result.response is not None:
        print(result.response.current_count, result.skew_seconds)

A probe opens one TCP connection, sends one :class:`~openkms.protocol.ProbeRequest` and
reads one frame. An OpenKMS host answers with its version, activation, count, port and
clock, and records nothing: no 12290, no counter, no client. A peer that answers anything
else (a Windows KMS host speaks RPC on 1688 and closes, or sends bytes that are not an
OpenKMS frame) is reported as "not an OpenKMS host" without speaking its protocol.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from openkms._address import format_address
from openkms.core.codes import ResultCode
from openkms.doctor._i18n import Text
from openkms.errors import ProtocolError, network_error
from openkms.i18n import DEFAULT_LANGUAGE, N_, language_scope
from openkms.protocol.connection import NEED_DATA, Connection, Role, encode
from openkms.protocol.messages import ErrorResponse, Message, ProbeRequest, ProbeResponse

__all__ = ["ProbeOutcome", "ProbeResult", "probe", "tcp_connect"]

_READ_LIMIT = 65536


class ProbeOutcome(enum.Enum):
    """What happened, from the TCP connect to the answer."""

    OPENKMS = "openkms"  # an OpenKMS host answered the probe
    REFUSED = "refused"  # nothing listens there (0x8007274D)
    TIMEOUT = "timeout"  # no answer to the connect: a firewall drops it (0x800705B4)
    UNREACHABLE = "unreachable"  # no route (0x800706BA), or no such name (0x8007232B)
    CONNECTED = "connected"  # TCP only (tcp_connect), nothing asked
    CLOSED = "closed"  # connected, then the peer closed without an OpenKMS answer
    NOT_OPENKMS = "not-openkms"  # connected, the peer sent something else
    SILENT = "silent"  # connected, the peer kept quiet until the timeout
    ERROR = "error"  # an OpenKMS host answered with an ErrorResponse


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe, with the host's answer when there is one."""

    host: str
    port: int
    outcome: ProbeOutcome
    code: ResultCode
    detail: str
    address: str | None = None  # the peer address connected to
    response: ProbeResponse | None = None
    local_time: float | None = None  # the local clock halfway through the exchange
    connect_ms: float | None = None

    @property
    def where(self) -> str:
        """HOST:PORT."""
        return format_address(self.host, self.port)

    @property
    def connected(self) -> bool:
        """True when the TCP connection was established."""
        return self.outcome not in (
            ProbeOutcome.REFUSED,
            ProbeOutcome.TIMEOUT,
            ProbeOutcome.UNREACHABLE,
        )

    @property
    def skew_seconds(self) -> float | None:
        """Host clock minus local clock, in seconds (None without an answer)."""
        if self.response is None or self.local_time is None:
            return None
        return self.response.host_time - self.local_time


# The doctor's outcome and its hint for each code of the shared table (errors.network_error).
_CONNECT_OUTCOMES: dict[ResultCode, tuple[ProbeOutcome, str]] = {
    ResultCode.CONNECTION_REFUSED: (ProbeOutcome.REFUSED, N_("(nothing listens on this port)")),
    ResultCode.TIMEOUT: (
        ProbeOutcome.TIMEOUT,
        N_("(a firewall drops the TCP connect, or the host is down)"),
    ),
}


def _connect_failure(host: str, port: int, exc: OSError, timeout: float) -> ProbeResult:
    with language_scope(DEFAULT_LANGUAGE):  # the finding's English text (the --json report)
        error = network_error(exc, format_address(host, port), timeout)
    outcome, hint = _CONNECT_OUTCOMES.get(error.code, (ProbeOutcome.UNREACHABLE, ""))
    detail = (
        Text("{message} {hint}", message=error.message, hint=Text(hint)) if hint else error.message
    )
    return ProbeResult(host, port, outcome, error.code, detail)


async def _open(
    host: str, port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | ProbeResult:
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.open_connection(host, port)
    except OSError as exc:  # TimeoutError is an OSError: the table maps it too
        return _connect_failure(host, port, exc, timeout)


async def tcp_connect(host: str, port: int, timeout: float = 3.0) -> ProbeResult:
    """The telnet test: can a TCP connection be opened? Nothing is sent."""
    started = time.monotonic()
    opened = await _open(host, port, timeout)
    if isinstance(opened, ProbeResult):
        return opened
    _, writer = opened
    address = str(writer.get_extra_info("peername")[0])
    writer.close()
    return ProbeResult(
        host, port, ProbeOutcome.CONNECTED, ResultCode.OK,
        Text(N_("{where}: TCP connection established"), where=format_address(host, port)),
        address=address, connect_ms=(time.monotonic() - started) * 1000,
    )  # fmt: skip


async def probe(
    host: str,
    port: int,
    timeout: float = 3.0,
    *,
    application_id: str = "",
    clock: Callable[[], float] = time.time,
) -> ProbeResult:
    """Connect, send a ProbeRequest, read one frame; never raises for network trouble.

    ``application_id`` selects the count the host reports (its catalog's application).
    """
    started = time.monotonic()
    opened = await _open(host, port, timeout)
    if isinstance(opened, ProbeResult):
        return opened
    reader, writer = opened
    connect_ms = (time.monotonic() - started) * 1000
    address = str(writer.get_extra_info("peername")[0])
    sent_at = clock()
    try:
        writer.write(encode(ProbeRequest(secrets.token_bytes(16), application_id)))
        async with asyncio.timeout(timeout):
            answer = await _read_answer(reader)
    except TimeoutError:
        answer = None
    except OSError as exc:
        answer = Text(N_("the peer closed the connection ({reason})"), reason=exc.strerror or exc)
    finally:
        writer.close()
    local_time = (sent_at + clock()) / 2
    return _result(
        host, port, answer,
        timeout=timeout, address=address, local_time=local_time, connect_ms=connect_ms,
    )  # fmt: skip


async def _read_answer(reader: asyncio.StreamReader) -> Message | str:
    """One OpenKMS message, or why the peer is not an OpenKMS host."""
    conn = Connection(role=Role.CLIENT)
    received = 0
    while True:
        data = await reader.read(_READ_LIMIT)
        if not data:
            if received:
                return Text(
                    N_("the peer sent {count} byte(s) that are not an OpenKMS frame, then closed"),
                    count=received,
                )
            return Text(N_("the peer closed the connection without answering"))
        received += len(data)
        conn.receive_data(data)
        try:
            message = conn.next_event()
        except ProtocolError as exc:
            return Text(
                N_("the peer's answer is not an OpenKMS frame ({reason})"), reason=exc.message
            )
        if message is not NEED_DATA:
            return message


def _result(
    host: str,
    port: int,
    answer: Message | str | None,
    *,
    timeout: float,
    address: str,
    local_time: float,
    connect_ms: float,
) -> ProbeResult:
    where = format_address(host, port)

    def make(
        outcome: ProbeOutcome, code: ResultCode, detail: str, response: ProbeResponse | None = None
    ) -> ProbeResult:
        return ProbeResult(
            host, port, outcome, code, Text("{where}: {detail}", where=where, detail=detail),
            address=address, response=response, local_time=local_time, connect_ms=connect_ms,
        )  # fmt: skip

    if answer is None:
        return make(
            ProbeOutcome.SILENT,
            ResultCode.KMS_NOT_RESPONDING,
            Text(
                N_("connected, but no answer to the probe within {timeout}s"),
                timeout=f"{timeout:g}",
            ),
        )
    if isinstance(answer, ProbeResponse):
        return make(ProbeOutcome.OPENKMS, ResultCode.OK, f"OpenKMS {answer.version}", answer)
    if isinstance(answer, ErrorResponse):
        return make(
            ProbeOutcome.ERROR,
            ResultCode.from_wire(answer.result),
            Text(N_("the OpenKMS host refused the probe: {message}"), message=answer.message),
        )
    if isinstance(answer, str):
        closed = "closed the connection" in answer
        outcome = ProbeOutcome.CLOSED if closed else ProbeOutcome.NOT_OPENKMS
        return make(outcome, ResultCode.PROTOCOL_ERROR, answer)
    return make(
        ProbeOutcome.NOT_OPENKMS,
        ResultCode.PROTOCOL_ERROR,
        Text(N_("answered a probe with {message}"), message=type(answer).__name__),
    )
