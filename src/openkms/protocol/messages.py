"""The messages of protocol version 1 and their frame types (normative: docs/protocol.md).

Every message is a MessagePack array whose positions are the fields below, in order.
Fields were only ever added at the end, with a default: a receiver takes a shorter array (an
older sender) with the defaults, and ignores trailing elements it does not know (a newer
sender). The serials of an ActivationRequest and the revocation list and catalog of an
ActivationResponse came that way (docs/protocol.md, "Revocation lists and catalogs").

The fields of the two requests carry their limits (``msgspec.Meta``): a host decodes them
with those limits checked in C, so that nothing out of range reaches its store. A request
of the right shape whose values break a limit is decoded again without them
(``LENIENT_REQUEST_TYPES``), so that the host can record it as the failed request it is.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Final

import msgspec

from openkms.core.license import LicenseState

__all__ = [
    "LENIENT_REQUEST_TYPES",
    "MAX_CATALOG_BYTES",
    "MAX_CLIENT_TIME",
    "MAX_ID_LENGTH",
    "MAX_MACHINE_NAME",
    "MAX_N_POLICY",
    "MAX_REVOCATIONS_BYTES",
    "MAX_SERIAL",
    "MESSAGE_TYPES",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "V1_FIELDS",
    "ActivationRequest",
    "ActivationResponse",
    "ErrorResponse",
    "Message",
    "ProbeRequest",
    "ProbeResponse",
]


# The limits of docs/protocol.md. IDs are UUIDs (36 characters); 128 leaves room.
MAX_ID_LENGTH: Final = 128
MAX_MACHINE_NAME: Final = 255
MAX_N_POLICY: Final = 1000  # the catalog's limit
MAX_CLIENT_TIME: Final = 253402300799  # 9999-12-31T23:59:59Z, the last time a date can show
MAX_SERIAL: Final = 2**53  # a catalog's or revocation list's serial
# A response carries a ticket, a revocation list and a signed catalog in one 64 KiB frame.
MAX_REVOCATIONS_BYTES: Final = 24 * 1024  # core.revocation.MAX_LIST_BYTES
MAX_CATALOG_BYTES: Final = 32 * 1024

RequestId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
Identifier = Annotated[str, msgspec.Meta(max_length=MAX_ID_LENGTH)]
Cmid = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
MachineName = Annotated[str, msgspec.Meta(max_length=MAX_MACHINE_NAME)]
Time = Annotated[int, msgspec.Meta(ge=0, le=MAX_CLIENT_TIME)]
Status = Annotated[int, msgspec.Meta(ge=int(min(LicenseState)), le=int(max(LicenseState)))]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
NPolicy = Annotated[int, msgspec.Meta(ge=0, le=MAX_N_POLICY)]
Serial = Annotated[int, msgspec.Meta(ge=0, le=MAX_SERIAL)]
SignedList = Annotated[bytes, msgspec.Meta(max_length=MAX_REVOCATIONS_BYTES)]
SignedCatalog = Annotated[bytes, msgspec.Meta(max_length=MAX_CATALOG_BYTES)]


class ActivationRequest(msgspec.Struct, frozen=True, array_like=True):
    """Client -> host: please count me and, if the count allows, activate me."""

    type_id: ClassVar[int] = 1
    request_id: RequestId
    application_id: Identifier
    activation_id: Identifier
    cmid: Cmid
    machine_name: MachineName
    client_time: Time
    license_status: Status
    minutes_to_expiration: Minutes
    n_policy: NPolicy
    vm: bool = False
    # The serials of the revocation list and catalog the client holds (0: none); None from
    # a client that takes neither (the host then sends neither).
    revocations_serial: Serial | None = None
    catalog_serial: Serial | None = None


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
    # The host's revocation list (an encoded signed list) and signed catalog (an encoded
    # envelope), each only when newer than the serial the request named.
    revocations: SignedList | None = None
    catalog: SignedCatalog | None = None


class ProbeRequest(msgspec.Struct, frozen=True, array_like=True):
    """Anyone -> host: what are you and what is your count? (never counted)."""

    type_id: ClassVar[int] = 3
    request_id: RequestId
    application_id: Identifier


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


class _LenientActivation(msgspec.Struct, frozen=True, array_like=True):
    """The shape of an ActivationRequest without its limits (a rejected frame, re-read)."""

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
    revocations_serial: int | None = None
    catalog_serial: int | None = None


class _LenientProbe(msgspec.Struct, frozen=True, array_like=True):
    """The shape of a ProbeRequest without its limits."""

    request_id: bytes
    application_id: str


# Request frame type -> (the shape without limits, the message it stands for).
LENIENT_REQUEST_TYPES: dict[int, tuple[type[msgspec.Struct], type[Message]]] = {
    ActivationRequest.type_id: (_LenientActivation, ActivationRequest),
    ProbeRequest.type_id: (_LenientProbe, ProbeRequest),
}

# How many fields a message type had in the first release of protocol version 1: the later
# (trailing, optional) ones are left out of a frame when they are nil, so that a message
# without them encodes exactly as it always did (the vectors of docs/protocol.md).
V1_FIELDS: dict[int, int] = {ActivationRequest.type_id: 10, ActivationResponse.type_id: 9}

# The frame types a host receives (and a client sends), and the reverse.
REQUEST_TYPES: frozenset[int] = frozenset({ActivationRequest.type_id, ProbeRequest.type_id})
RESPONSE_TYPES: frozenset[int] = frozenset(
    {ActivationResponse.type_id, ProbeResponse.type_id, ErrorResponse.type_id}
)
