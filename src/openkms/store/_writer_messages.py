"""The messages between the store and its writer process, and their framing.

Each message is a tagged msgspec Struct encoded as a MessagePack array (``[tag, fields...]``)
in a frame with a 4-byte big-endian length. The parent sends writes and ``Stop``; the child
answers ``Ready`` once, then one ``Done`` or ``Failed`` per batch, in order, so replies carry
no identifiers.
"""

from __future__ import annotations

from typing import Final, cast

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord
from openkms.errors import StoreError
from openkms.store._sqlite_writer import Forget, WriteOp, WriteResult
from openkms.store.base import RequestRecord

__all__ = [
    "FROM_WRITER",
    "TO_WRITER",
    "Done",
    "Failed",
    "FromWriter",
    "Ready",
    "Stop",
    "ToWriter",
    "WriteEvent",
    "WriteForget",
    "WriteRecord",
    "WriteRecords",
    "frame",
    "frames_of",
    "message_of",
    "op_of",
    "split_frames",
]

_HEADER: Final = 4


# -- the messages: parent -> child -----------------------------------------------------------


class WriteRecord(msgspec.Struct, frozen=True, array_like=True, tag=0):
    """Record one activation request."""

    record: RequestRecord


class WriteEvent(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """Append one host event."""

    event: EventRecord


class WriteForget(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """Remove one client."""

    forget: Forget


class Stop(msgspec.Struct, frozen=True, array_like=True, tag=3):
    """Commit what came before, then exit."""


class WriteRecords(msgspec.Struct, frozen=True, array_like=True, tag=4):
    """Record several activation requests, in order (one loop iteration's, in one frame)."""

    records: list[RequestRecord]


ToWriter = WriteRecord | WriteEvent | WriteForget | WriteRecords | Stop


# -- the messages: child -> parent -----------------------------------------------------------


class Ready(msgspec.Struct, frozen=True, array_like=True, tag=10):
    """The store is open and migrated: writes may come."""


class Done(msgspec.Struct, frozen=True, array_like=True, tag=11):
    """The next ``len(results)`` writes committed; their results in order."""

    results: list[WriteResult]


class Failed(msgspec.Struct, frozen=True, array_like=True, tag=12):
    """The next ``count`` writes failed (0: the store could not be opened)."""

    count: int
    message: str
    code: int
    fix: str

    @classmethod
    def of(cls, count: int, error: StoreError) -> Failed:
        """The message for ``error``."""
        return cls(count, error.message, int(error.code), error.fix)

    def error(self) -> StoreError:
        """The StoreError this message carries."""
        try:
            code = ResultCode(self.code)
        except ValueError:
            code = ResultCode.INTERNAL_ERROR
        return StoreError(self.message, code=code, fix=self.fix)


FromWriter = Ready | Done | Failed

_encoder = msgspec.msgpack.Encoder()
TO_WRITER: Final[msgspec.msgpack.Decoder[ToWriter]] = msgspec.msgpack.Decoder(ToWriter)
FROM_WRITER: Final[msgspec.msgpack.Decoder[FromWriter]] = msgspec.msgpack.Decoder(FromWriter)


def frame(message: ToWriter | FromWriter) -> bytes:
    """One length-prefixed MessagePack frame."""
    payload = _encoder.encode(message)
    return len(payload).to_bytes(_HEADER, "big") + payload


def split_frames(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buffer``."""
    frames: list[bytes] = []
    start = 0
    while len(buffer) - start >= _HEADER:
        size = int.from_bytes(buffer[start : start + _HEADER], "big")
        end = start + _HEADER + size
        if end > len(buffer):
            break
        frames.append(bytes(buffer[start + _HEADER : end]))
        start = end
    del buffer[:start]
    return frames


def frames_of(ops: list[WriteOp]) -> bytes:
    """The frames that carry ``ops`` to the child, in order: one for all of them when they
    are all request records (the host's hot path: one encoding per loop iteration)."""
    if all(type(op) is RequestRecord for op in ops):
        return frame(WriteRecords(cast("list[RequestRecord]", ops)))
    return b"".join(frame(message_of(op)) for op in ops)


def message_of(op: WriteOp) -> ToWriter:
    """The message that carries ``op`` to the child."""
    if isinstance(op, RequestRecord):
        return WriteRecord(op)
    if isinstance(op, EventRecord):
        return WriteEvent(op)
    return WriteForget(op)


def op_of(message: WriteRecord | WriteEvent | WriteForget) -> WriteOp:
    """The operation a message carries."""
    if isinstance(message, WriteRecord):
        return message.record
    if isinstance(message, WriteEvent):
        return message.event
    return message.forget
