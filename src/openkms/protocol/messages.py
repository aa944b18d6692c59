"""The messages of protocol version 1 and their frame types (normative: docs/protocol.md).

Every message is a MessagePack array whose positions are the fields below, in order.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

__all__ = [
    "MESSAGE_TYPES",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "ActivationRequest",
    "ActivationResponse",
    "ErrorResponse",
    "Message",
    "ProbeRequest",
    "ProbeResponse",
]


class ActivationRequest(msgspec.Struct, frozen=True, array_like=True):
    """Client -> host: please count me and, if the count allows, activate me."""

    type_id: ClassVar[int] = 1
    request_id: bytes
    application_id: str
    activation_id: str
    cmid: bytes
    machine_name: str
    client_time: int
    license_status: int
    minutes_to_expiration: int
    n_policy: int
    vm: bool = False


class ActivationResponse(msgspec.Struct, frozen=True, array_like=True):
    """Host -> client: the result, the current count, the client's timers, maybe a ticket."""

    type_id: ClassVar[int] = 2
    request_id: bytes
    result: int
    current_count: int
    activation_interval: int
    renewal_interval: int
    port: int
    host_time: int
    host_id: str
    ticket: bytes | None = None


class ProbeRequest(msgspec.Struct, frozen=True, array_like=True):
    """Anyone -> host: what are you and what is your count? (never counted)."""

    type_id: ClassVar[int] = 3
    request_id: bytes
    application_id: str


class ProbeResponse(msgspec.Struct, frozen=True, array_like=True):
    """Host -> prober: version, activation state, count, port and clock."""

    type_id: ClassVar[int] = 4
    request_id: bytes
    version: str
    activated: bool
    current_count: int
    port: int
    host_time: int
    host_id: str


class ErrorResponse(msgspec.Struct, frozen=True, array_like=True):
    """Host -> client: the request could not be processed at all."""

    type_id: ClassVar[int] = 5
    request_id: bytes
    result: int
    message: str


Message = ActivationRequest | ActivationResponse | ProbeRequest | ProbeResponse | ErrorResponse

MESSAGE_TYPES: dict[int, type[Message]] = {
    cls.type_id: cls
    for cls in (ActivationRequest, ActivationResponse, ProbeRequest, ProbeResponse, ErrorResponse)
}

# The frame types a host receives (and a client sends), and the reverse.
REQUEST_TYPES: frozenset[int] = frozenset({ActivationRequest.type_id, ProbeRequest.type_id})
RESPONSE_TYPES: frozenset[int] = frozenset(
    {ActivationResponse.type_id, ProbeResponse.type_id, ErrorResponse.type_id}
)
