from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.errors import ProtocolError
from openkms.protocol import (
    NEED_DATA,
    ActivationRequest,
    ActivationResponse,
    Connection,
    ProbeRequest,
)
from openkms.protocol.connection import HEADER, MAX_PAYLOAD, encode

requests = st.builds(
    ActivationRequest,
    st.binary(min_size=16, max_size=16),
    st.text(max_size=40),
    st.text(max_size=40),
    st.binary(min_size=16, max_size=16),
    st.text(max_size=64),
    st.integers(0, 2**40),
    st.integers(0, 6),
    st.integers(0, 2**31),
    st.integers(1, 1000),
    st.booleans(),
)


@given(requests, st.integers(1, 50))
def test_messages_survive_any_split_of_the_stream(request: ActivationRequest, chunk: int) -> None:
    data = encode(request) + encode(ProbeRequest(b"x" * 16, "app"))
    conn = Connection()
    out = []
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])
        while (event := conn.next_event()) is not NEED_DATA:
            out.append(event)
    assert out == [request, ProbeRequest(b"x" * 16, "app")]


@given(st.binary(max_size=200))
def test_random_bytes_give_a_protocol_error_or_need_more_data(data: bytes) -> None:
    conn = Connection()
    conn.receive_data(data)
    try:
        while conn.next_event() is not NEED_DATA:
            pass
    except ProtocolError as exc:
        assert exc.code.hex.startswith("0xE004")


def test_oversized_frames_are_refused_from_the_header() -> None:
    conn = Connection()
    conn.receive_data(HEADER.pack(b"OK", 1, 1, MAX_PAYLOAD + 1))
    with pytest.raises(ProtocolError, match="exceeds"):
        conn.next_event()


def test_another_version_is_refused_with_its_code() -> None:
    conn = Connection()
    conn.receive_data(HEADER.pack(b"OK", 2, 1, 3) + b"abc")
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.code.hex == "0xE0040003"


def test_a_truncated_frame_waits_for_more() -> None:
    frame = encode(ActivationResponse(b"r" * 16, 0, 5, 120, 10080, 1688, 1, "OKMS-1"))
    conn = Connection()
    conn.receive_data(frame[:-1])
    assert conn.next_event() is NEED_DATA
    conn.receive_data(frame[-1:])
    assert isinstance(conn.next_event(), ActivationResponse)


def test_a_wrong_payload_for_the_type_is_refused() -> None:
    payload = b"\x91\x01"
    conn = Connection()
    conn.receive_data(HEADER.pack(b"OK", 1, 1, len(payload)) + payload)
    with pytest.raises(ProtocolError, match="malformed"):
        conn.next_event()
