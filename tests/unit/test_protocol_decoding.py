"""Whatever the bytes, the decoder yields a message, NEED_DATA or a ProtocolError: nothing else."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.errors import ProtocolError
from openkms.protocol import NEED_DATA, ActivationRequest, Connection, Message, Role
from openkms.protocol.connection import HEADER, InvalidRequestError, encode

VALID = ActivationRequest(b"r" * 16, "app", "act", b"c" * 16, "pc", 1795300000, 2, 43200, 25)

# Any MessagePack value: what a hostile peer can put in a well-framed payload.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=300)
    | st.binary(max_size=40)
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=12), max_leaves=20)


def _drain(conn: Connection) -> list[Message]:
    """Every event of ``conn``; a ProtocolError ends the stream, as it ends a connection."""
    out: list[Message] = []
    while True:
        try:
            event = conn.next_event()
        except InvalidRequestError as exc:  # well framed: the stream goes on
            assert isinstance(exc.request, msgspec.Struct)
            continue
        except ProtocolError:
            return out
        if event is NEED_DATA:
            return out
        out.append(event)


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=600), st.sampled_from(list(Role)))
def test_any_bytes_give_messages_or_a_protocol_error(data: bytes, role: Role) -> None:
    conn = Connection(role=role)
    conn.receive_data(data)
    _drain(conn)


@settings(max_examples=600, deadline=None)
@given(_values, st.integers(1, 5), st.sampled_from(list(Role)))
def test_any_payload_in_a_good_header_gives_a_message_or_a_protocol_error(
    value: Any, type_id: int, role: Role
) -> None:
    payload = msgspec.msgpack.encode(value)
    conn = Connection(role=role)
    conn.receive_data(HEADER.pack(b"OK", 1, type_id, len(payload)) + payload)
    _drain(conn)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 9), _values)
def test_a_request_with_one_field_replaced_is_a_request_or_a_protocol_error(
    position: int, value: Any
) -> None:
    fields = list(msgspec.structs.astuple(VALID))
    fields[position] = value
    payload = msgspec.msgpack.encode(fields)
    conn = Connection(role=Role.SERVER)
    conn.receive_data(HEADER.pack(b"OK", 1, 1, len(payload)) + payload)
    _drain(conn)


def _frame_with(position: int, raw: bytes) -> bytes:
    """VALID's frame with the field at ``position`` replaced by raw MessagePack ``raw``."""
    fields = list(msgspec.structs.astuple(VALID))
    parts = [msgspec.msgpack.encode(f) for f in fields]
    parts[position] = raw
    payload = bytes([0x90 | len(parts)]) + b"".join(parts)
    return HEADER.pack(b"OK", 1, 1, len(payload)) + payload


@pytest.mark.parametrize(
    ("position", "value", "field"),
    [
        (6, 2**64 - 1, "license_status"),
        (6, 7, "license_status"),
        (6, -1, "license_status"),
        (3, b"short", "cmid"),
        (0, b"x" * 17, "request_id"),
        (4, "n" * 256, "machine_name"),
        (8, 1001, "n_policy"),
        (7, -5, "minutes_to_expiration"),
        (1, "a" * 129, "application_id"),
    ],
)
def test_a_value_out_of_range_is_an_invalid_request_naming_its_field(
    position: int, value: object, field: str
) -> None:
    conn = Connection(role=Role.SERVER)
    conn.receive_data(_frame_with(position, msgspec.msgpack.encode(value)) + encode(VALID))
    with pytest.raises(InvalidRequestError) as caught:
        conn.next_event()
    assert caught.value.code == ResultCode.REQUEST_INVALID
    assert field in caught.value.message
    assert getattr(caught.value.request, field) == value  # the values as sent
    assert conn.next_event() == VALID  # the stream is still in step


@pytest.mark.parametrize("position", [1, 2, 4])
def test_invalid_utf8_in_a_text_field_is_a_protocol_error(position: int) -> None:
    conn = Connection(role=Role.SERVER)
    conn.receive_data(_frame_with(position, b"\xa2\xff\xfe"))
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert not isinstance(caught.value, InvalidRequestError)
    assert caught.value.code == ResultCode.PROTOCOL_ERROR


def test_a_wrong_type_is_a_protocol_error() -> None:
    conn = Connection(role=Role.SERVER)
    conn.receive_data(_frame_with(6, msgspec.msgpack.encode("two")))
    with pytest.raises(ProtocolError) as caught:
        conn.next_event()
    assert not isinstance(caught.value, InvalidRequestError)
