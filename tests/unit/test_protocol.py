from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.errors import ProtocolError
from openkms.protocol import (
    NEED_DATA,
    ActivationRequest,
    ActivationResponse,
    Connection,
    ErrorResponse,
    Message,
    ProbeRequest,
    ProbeResponse,
    Role,
)
from openkms.protocol.connection import HEADER, MAX_PAYLOAD, encode
from openkms.protocol.messages import MAX_CLIENT_TIME

requests = st.builds(
    ActivationRequest,
    st.binary(min_size=16, max_size=16),
    st.text(max_size=40),
    st.text(max_size=40),
    st.binary(min_size=16, max_size=16),
    st.text(max_size=64),
    st.integers(0, MAX_CLIENT_TIME),
    st.integers(0, 6),
    st.integers(0, 2**31),
    st.integers(1, 1000),
    st.booleans(),
)


@given(requests, st.integers(1, 50))
def test_messages_survive_any_split_of_the_stream(request: ActivationRequest, chunk: int) -> None:
    data = encode(request) + encode(ProbeRequest(b"x" * 16, "app"))
    conn = Connection(role=Role.SERVER)
    out = []
    for i in range(0, len(data), chunk):
        conn.receive_data(data[i : i + chunk])
        while (event := conn.next_event()) is not NEED_DATA:
            out.append(event)
    assert out == [request, ProbeRequest(b"x" * 16, "app")]


@given(st.binary(max_size=200), st.sampled_from(Role))
def test_random_bytes_give_a_protocol_error_or_need_more_data(data: bytes, role: Role) -> None:
    conn = Connection(role=role)
    conn.receive_data(data)
    try:
        while conn.next_event() is not NEED_DATA:
            pass
    except ProtocolError as exc:
        assert exc.code.hex.startswith("0xE004")


def test_oversized_frames_are_refused_from_the_header() -> None:
    conn = Connection(role=Role.SERVER)
    conn.receive_data(HEADER.pack(b"OK", 1, 1, MAX_PAYLOAD + 1))
    with pytest.raises(ProtocolError, match="exceeds"):
        conn.next_event()


def test_another_version_is_refused_with_its_code() -> None:
    conn = Connection(role=Role.SERVER)
    conn.receive_data(HEADER.pack(b"OK", 2, 1, 3) + b"abc")
    with pytest.raises(ProtocolError) as info:
        conn.next_event()
    assert info.value.code.hex == "0xE0040003"


def test_a_truncated_frame_waits_for_more() -> None:
    frame = encode(ActivationResponse(b"r" * 16, 0, 5, 120, 10080, 1688, 1, "OKMS-1"))
    conn = Connection(role=Role.CLIENT)
    conn.receive_data(frame[:-1])
    assert conn.next_event() is NEED_DATA
    conn.receive_data(frame[-1:])
    assert isinstance(conn.next_event(), ActivationResponse)


def test_a_wrong_payload_for_the_type_is_refused() -> None:
    payload = b"\x91\x01"
    conn = Connection(role=Role.SERVER)
    conn.receive_data(HEADER.pack(b"OK", 1, 1, len(payload)) + payload)
    with pytest.raises(ProtocolError, match="malformed"):
        conn.next_event()


RESPONSE = ActivationResponse(b"r" * 16, 0, 5, 120, 10080, 1688, 1, "OKMS-1")
PROBE_RESPONSE = ProbeResponse(b"r" * 16, "1.0", True, 5, 1688, 1, "OKMS-1")
ERROR = ErrorResponse(b"", 0xE0040002, "bad magic")
REQUEST = ActivationRequest(b"r" * 16, "app", "act", b"c" * 16, "pc", 1, 2, 43200, 25)
PROBE = ProbeRequest(b"r" * 16, "app")


@pytest.mark.parametrize("message", [RESPONSE, PROBE_RESPONSE, ERROR])
def test_a_server_refuses_a_response_frame_from_its_header(message: Message) -> None:
    conn = Connection(role=Role.SERVER)
    frame = encode(message)
    conn.receive_data(frame[: HEADER.size])  # the payload need not arrive
    with pytest.raises(ProtocolError, match="a server does not accept") as info:
        conn.next_event()
    assert info.value.code.hex == "0xE0040002"


@pytest.mark.parametrize("message", [REQUEST, PROBE])
def test_a_client_refuses_a_request_frame(message: Message) -> None:
    conn = Connection(role=Role.CLIENT)
    conn.receive_data(encode(message))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="a client does not accept") as info:
        conn.next_event()
    assert info.value.code.hex == "0xE0040002"


def test_each_role_decodes_what_the_other_sends() -> None:
    client, server = Connection(role=Role.CLIENT), Connection(role=Role.SERVER)
    server.receive_data(client.send(REQUEST) + client.send(PROBE))
    assert [server.next_event(), server.next_event()] == [REQUEST, PROBE]
    client.receive_data(server.send(RESPONSE) + server.send(PROBE_RESPONSE) + server.send(ERROR))
    assert [client.next_event() for _ in range(3)] == [RESPONSE, PROBE_RESPONSE, ERROR]
    assert client.next_event() is NEED_DATA


def test_a_role_refuses_to_send_what_it_should_receive() -> None:
    with pytest.raises(ProtocolError, match="a server does not send ActivationRequest"):
        Connection(role=Role.SERVER).send(REQUEST)
    with pytest.raises(ProtocolError, match="a client does not send ErrorResponse"):
        Connection(role=Role.CLIENT).send(ERROR)


def test_the_role_is_required() -> None:
    with pytest.raises(TypeError):
        Connection()  # type: ignore[call-arg]


def _fields_sent(message: ActivationRequest | ActivationResponse, receiver: Role) -> int:
    """How many fields ``message`` goes out with; the receiver decodes it unchanged."""
    frame = encode(message)
    fields = msgspec.msgpack.decode(frame[HEADER.size :])
    peer = Connection(role=receiver)
    peer.receive_data(frame)
    assert peer.next_event() == message
    return len(fields)


@pytest.mark.parametrize("ticket", [None, b"t" * 40])
@pytest.mark.parametrize("revocations", [None, b"r" * 8])
@pytest.mark.parametrize("catalog", [None, b"c" * 8])
def test_a_response_leaves_out_only_its_trailing_nil_fields_after_version_1_0(
    ticket: bytes | None, revocations: bytes | None, catalog: bytes | None
) -> None:
    """Nine fields (version 1.0, the ticket's nil included), then up to the last non-nil one."""
    response = ActivationResponse(
        b"r" * 16, 0, 25, 120, 10080, 1688, 1_800_000_000, "host", ticket, revocations, catalog
    )
    expected = 11 if catalog is not None else 10 if revocations is not None else 9
    assert _fields_sent(response, Role.CLIENT) == expected


@pytest.mark.parametrize("catalog_serial", [None, 3])
@pytest.mark.parametrize("revocations_serial", [None, 2])
def test_a_request_leaves_out_only_its_trailing_nil_serials(
    revocations_serial: int | None, catalog_serial: int | None
) -> None:
    request = ActivationRequest(
        b"q" * 16,
        "app",
        "act",
        b"c" * 16,
        "pc",
        1_800_000_000,
        1,
        0,
        25,
        False,
        revocations_serial,
        catalog_serial,
    )
    expected = 12 if catalog_serial is not None else 11 if revocations_serial is not None else 10
    assert _fields_sent(request, Role.SERVER) == expected
