"""Framing and the sans-IO connection state machine.

A frame is an 8-byte header followed by a MessagePack payload::

    offset size  field
    0      2     magic   b"OK"
    2      1     version 1
    3      1     type    message type (1..5)
    4      4     length  payload length, big-endian, at most MAX_PAYLOAD
    8      n     payload MessagePack array

A connection knows its role, as h11's does: a server (the host) receives requests and sends
responses, a client the reverse. A frame of the wrong kind for the role is a ProtocolError.

Whatever the bytes, ``next_event`` returns a message or NEED_DATA, or raises ProtocolError
(never another exception). A request of the right shape whose values break the limits of
``messages`` raises ``InvalidRequestError``, a ProtocolError that carries the request (its
values as sent) and leaves the stream in step: the next frame can still be read.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

import msgspec

from openkms.core.codes import ResultCode
from openkms.errors import ProtocolError
from openkms.i18n import _
from openkms.protocol.messages import (
    LENIENT_REQUEST_TYPES,
    MESSAGE_TYPES,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    V1_FIELDS,
    ActivationRequest,
    ActivationResponse,
    Message,
    ProbeRequest,
)

__all__ = [
    "HEADER",
    "MAGIC",
    "MAX_PAYLOAD",
    "NEED_DATA",
    "VERSION",
    "Connection",
    "InvalidRequestError",
    "Role",
    "encode",
]

MAGIC: Final = b"OK"
VERSION: Final = 1
MAX_PAYLOAD: Final = 64 * 1024
HEADER: Final = struct.Struct(">2sBBI")

_ENCODER = msgspec.msgpack.Encoder()
_DECODERS = {type_id: msgspec.msgpack.Decoder(cls) for type_id, cls in MESSAGE_TYPES.items()}
_LENIENT = {
    type_id: (msgspec.msgpack.Decoder(shape), cls)
    for type_id, (shape, cls) in LENIENT_REQUEST_TYPES.items()
}
# What msgspec raises on bytes it cannot read: invalid MessagePack, a wrong type or limit
# (DecodeError, ValidationError), invalid UTF-8 in a str (UnicodeDecodeError), and, to be
# safe against any other corner of the decoder, ValueError, TypeError and OverflowError.
_UNREADABLE = (msgspec.DecodeError, UnicodeDecodeError, ValueError, TypeError, OverflowError)


class InvalidRequestError(ProtocolError):
    """A request frame of the right shape whose values break the protocol's limits.

    ``request`` holds the values as sent (unchecked: never store them as they are).
    """

    default_code = ResultCode.REQUEST_INVALID

    def __init__(self, message: str, request: ActivationRequest | ProbeRequest) -> None:
        super().__init__(message)
        self.request = request


class _Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = _Sentinel.NEED_DATA


class Role(enum.Enum):
    """Which end of a connection this side is."""

    CLIENT = "client"  # sends requests, receives responses
    SERVER = "server"  # the host: receives requests, sends responses


def encode(message: Message) -> bytes:
    """One frame carrying ``message``."""
    payload = _ENCODER.encode(_wire_form(message))
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(
            _("message of {count} bytes exceeds {max_payload}").format(
                count=len(payload), max_payload=MAX_PAYLOAD
            )
        )
    return HEADER.pack(MAGIC, VERSION, message.type_id, len(payload)) + payload


def _wire_form(message: Message) -> Message | tuple[object, ...]:
    """``message``, or its values without the trailing nil fields added after version 1.0."""
    # Written out for the two messages that have such fields: this runs for every response.
    if type(message) is ActivationResponse:
        if message.catalog is not None:
            return message
        end = V1_FIELDS[ActivationResponse.type_id] + (message.revocations is not None)
        return msgspec.structs.astuple(message)[:end]
    if type(message) is ActivationRequest:
        if message.catalog_serial is not None:
            return message
        end = V1_FIELDS[ActivationRequest.type_id] + (message.revocations_serial is not None)
        return msgspec.structs.astuple(message)[:end]
    return message


class Connection:
    """Parses frames from a byte stream; encodes messages into frames. Never does IO.

    ``role`` decides which frames it accepts: a server decodes requests and encodes
    responses, a client decodes responses and encodes requests.
    """

    def __init__(self, *, role: Role, max_payload: int = MAX_PAYLOAD) -> None:
        self.role = role
        self._buffer = bytearray()
        self._max_payload = max_payload
        server = role is Role.SERVER
        self._receives = REQUEST_TYPES if server else RESPONSE_TYPES
        self._sends = RESPONSE_TYPES if server else REQUEST_TYPES

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the peer."""
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into a message."""
        return len(self._buffer)

    def next_event(self) -> Message | _Sentinel:
        """The next complete message, or NEED_DATA; ProtocolError on a bad frame."""
        if len(self._buffer) < HEADER.size:
            if self._buffer and not MAGIC.startswith(bytes(self._buffer[:2])):
                raise ProtocolError(_("the peer is not speaking the OpenKMS protocol (bad magic)"))
            return NEED_DATA
        magic, version, type_id, length = HEADER.unpack_from(self._buffer)
        if (
            magic != MAGIC
            or version != VERSION
            or type_id not in self._receives
            or length > self._max_payload
        ):
            self._check_header(magic, version, type_id, length)  # raises, saying which
        end = HEADER.size + length
        if len(self._buffer) < end:
            return NEED_DATA
        payload = bytes(self._buffer[HEADER.size : end])
        del self._buffer[:end]
        try:
            return _DECODERS[type_id].decode(payload)
        except msgspec.ValidationError as exc:
            raise _invalid(type_id, payload, exc) from None
        except _UNREADABLE as exc:
            raise ProtocolError(
                _("malformed message of type {type_id}: {exc}").format(type_id=type_id, exc=exc)
            ) from None

    def _check_header(self, magic: bytes, version: int, type_id: int, length: int) -> None:
        if magic != MAGIC:
            raise ProtocolError(_("the peer is not speaking the OpenKMS protocol (bad magic)"))
        if version != VERSION:
            raise ProtocolError(
                _(
                    "protocol version {version} is not supported (this side speaks {supported})"
                ).format(version=version, supported=VERSION),
                code=ResultCode.UNSUPPORTED_VERSION,
            )
        if type_id not in _DECODERS:
            raise ProtocolError(_("unknown message type {type_id}").format(type_id=type_id))
        if type_id not in self._receives:
            name = MESSAGE_TYPES[type_id].__name__
            raise ProtocolError(
                _("a {value} does not accept {name} (type {type_id})").format(
                    value=self.role.value, name=name, type_id=type_id
                )
            )
        if length > self._max_payload:
            raise ProtocolError(
                _("frame of {length} bytes exceeds the limit of {max_payload}").format(
                    length=length, max_payload=self._max_payload
                )
            )

    def send(self, message: Message) -> bytes:
        """The bytes to write for ``message``; ProtocolError if this role does not send it."""
        if message.type_id not in self._sends:
            raise ProtocolError(
                _("a {value} does not send {kind} (type {type_id})").format(
                    value=self.role.value, kind=type(message).__name__, type_id=message.type_id
                )
            )
        return encode(message)


def _invalid(type_id: int, payload: bytes, exc: msgspec.ValidationError) -> ProtocolError:
    """The error for a frame that failed validation: InvalidRequestError if it has the shape
    of a request (only its values are wrong), else a plain ProtocolError."""
    problem = f"malformed message of type {type_id}: {exc}"
    lenient = _LENIENT.get(type_id)
    if lenient is None:
        return ProtocolError(problem)
    decoder, cls = lenient
    try:
        shaped = decoder.decode(payload)
    except _UNREADABLE:
        return ProtocolError(problem)
    request = cls(*msgspec.structs.astuple(shaped))
    assert isinstance(request, ActivationRequest | ProbeRequest)
    return InvalidRequestError(_field_named(str(exc), cls), request)


def _field_named(problem: str, cls: type[Message]) -> str:
    """msgspec's "Expected `int` <= 6 - at `$[6]`" with the field's name for ``$[6]``."""
    head, _sep, where = problem.rpartition(" - at `$[")
    index = where.rstrip("]`")
    fields = msgspec.structs.fields(cls)
    if not head or not index.isdigit() or int(index) >= len(fields):
        return f"invalid {cls.__name__}: {problem}"
    return f"invalid {cls.__name__}: {fields[int(index)].name}: {head}"
