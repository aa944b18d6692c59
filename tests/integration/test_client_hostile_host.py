"""No bytes from a host can crash a client: every decode failure or out-of-range field is
a result code, logged as that host's 12289, and the next host is tried.

Property tests: any bytes -> a response or a ProtocolError (nothing else), and a client
that meets any bytes returns an outcome (``Client.activate()`` never raises for them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkms.client.api import Client
from openkms.client.transport import MemoryTransport, read_response
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.dns.locator import Candidate, Locator
from openkms.errors import ProtocolError
from openkms.host.service import HostService
from openkms.protocol.connection import HEADER, MAGIC, VERSION, Connection, Role
from openkms.protocol.messages import ActivationResponse, ErrorResponse, Message
from openkms.store.memory import MemoryStore

from helpers import Site

FRAME_TYPES = (ActivationResponse.type_id, 4, ErrorResponse.type_id)


def _frame(type_id: int, payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, VERSION, type_id, len(payload)) + payload


def _bad_text(data: bytes) -> bytes:
    """A MessagePack str of ``data`` (which need not be UTF-8)."""
    if len(data) < 32:
        return bytes([0xA0 | len(data)]) + data
    return b"\xd9" + bytes([len(data)]) + data


# Field values of any type a MessagePack array can carry, and text that is not UTF-8.
_VALUE = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.lists(st.integers(-(2**63), 2**63), max_size=3),
).map(msgspec.msgpack.encode)


def _invalid(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_BAD_TEXT = st.binary(min_size=1, max_size=60).filter(_invalid)
_ITEMS = st.lists(st.one_of(_VALUE, _BAD_TEXT.map(_bad_text)), min_size=0, max_size=12)


def _array(items: list[bytes]) -> bytes:
    return bytes([0x90 | len(items)]) + b"".join(items)


def _valid_response_fields() -> list[bytes]:
    fields = (b"\x01" * 16, 0, 5, 120, 10080, 1688, int(time.time()), "host", None)
    return [msgspec.msgpack.encode(v) for v in fields]


@st.composite
def hostile_frames(draw: st.DrawFn) -> bytes:
    """Frames a hostile host could send: framed garbage, wrong types, invalid UTF-8."""
    kind = draw(st.sampled_from(["raw", "array", "mutated"]))
    type_id = draw(st.sampled_from(FRAME_TYPES))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "array":
        return _frame(type_id, _array(draw(_ITEMS)))
    fields = _valid_response_fields()  # a good response with one field replaced
    index = draw(st.integers(0, len(fields) - 1))
    fields[index] = draw(st.one_of(_VALUE, _BAD_TEXT.map(_bad_text)))
    frame = _frame(ActivationResponse.type_id, _array(fields))
    cut = draw(st.integers(0, len(frame)))
    return frame[:cut] if draw(st.booleans()) else frame


@given(st.one_of(st.binary(max_size=300), hostile_frames()))
@settings(max_examples=1500, deadline=None)
def test_any_bytes_decode_to_a_response_or_a_protocol_error(data: bytes) -> None:
    conn = Connection(role=Role.CLIENT)
    try:
        result = read_response(conn, data, "rogue:1688")
    except ProtocolError as exc:
        assert exc.code in (ResultCode.PROTOCOL_ERROR, ResultCode.UNSUPPORTED_VERSION)
        return
    assert result is None or isinstance(result, Message)


def test_invalid_utf8_in_a_text_field_is_a_protocol_error() -> None:
    fields = _valid_response_fields()
    fields[7] = _bad_text(b"\xff\xfehost")
    with pytest.raises(ProtocolError) as caught:
        read_response(Connection(role=Role.CLIENT), _frame(2, _array(fields)), "rogue:1688")
    assert caught.value.code is ResultCode.PROTOCOL_ERROR
    assert "rogue:1688" in caught.value.message


class TwoHosts(Locator):
    """What an SRV set of two hosts gives: the hostile one first."""

    async def locate(self, service: str, domain: str | None) -> list[Candidate]:
        return [Candidate("rogue.test", 1688, "dns"), Candidate("kms.test", 1688, "dns")]


@pytest.fixture
def genuine(site: Site) -> Iterator[HostService]:
    store = MemoryStore()
    asyncio.run(store.open())
    state = site.host_state
    yield HostService(
        store=store,
        activation=state.activation(int(time.time())),
        private_key=state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=time.time,
    )
    asyncio.run(store.close())


def _hostile(answer: bytes | Callable[[Message], bytes]) -> MemoryTransport:
    async def rogue(message: Message, port: int) -> bytes:
        return answer(message) if callable(answer) else answer

    return MemoryTransport({("rogue.test", 1688): rogue})


@given(answer=st.one_of(st.binary(max_size=200), hostile_frames()))
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_a_client_meeting_any_bytes_returns_an_outcome(
    site: Site, tmp_path: Path, answer: bytes
) -> None:
    client = Client.open(
        tmp_path / "pc", transport=_hostile(answer), locator=TwoHosts(), machine_name="pc"
    )
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    outcome = client.activate()  # never raises
    assert not outcome.activated
    assert outcome.tried[0].address == "rogue.test:1688"


@pytest.mark.parametrize(
    "answer",
    [
        _frame(2, _array([*_valid_response_fields()[:7], _bad_text(b"\xc3\x28"), b"\xc0"])),
        _frame(5, _array([msgspec.msgpack.encode(b""), b"\x01", _bad_text(b"\xff")])),
        _frame(2, _array([*_valid_response_fields()[:2], b"\xcf" + b"\xff" * 8])),  # 2^64-1
        _frame(2, _array(_valid_response_fields()[:5])),  # fields missing
        _frame(2, _array(_valid_response_fields()))[:-3],  # truncated, then closed
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        _frame(
            2,
            _array(
                [
                    *_valid_response_fields()[:3],
                    msgspec.msgpack.encode(2**40),
                    *_valid_response_fields()[4:],
                ]
            ),
        ),  # interval out of range
    ],
    ids=["utf8-host-id", "utf8-error", "huge-int", "short", "truncated", "http", "range"],
)
def test_the_next_host_activates_after_a_hostile_one(
    site: Site, genuine: HostService, tmp_path: Path, answer: bytes
) -> None:
    transport = _hostile(answer)
    transport.hosts[("kms.test", 1688)] = genuine.handle
    outcome = None
    for i in range(5):  # Standard: N=5
        client = Client.open(
            tmp_path / f"pc{i}", transport=transport, locator=TwoHosts(), machine_name=f"pc{i}"
        )
        client.install_key(site.product("Standard").setup_key, site.publisher.trust())
        outcome = client.activate()
    assert outcome is not None and outcome.activated, outcome
    first, second = outcome.tried
    assert first.address == "rogue.test:1688"
    assert first.result is ResultCode.PROTOCOL_ERROR
    assert second.address == "kms.test:1688" and second.result is ResultCode.OK
    logged = [(e.event_id, e.hresult) for e in client.events.read()]
    assert logged[:2] == [(12288, 0), (12289, ResultCode.PROTOCOL_ERROR)]
    assert logged[-2:] == [(12288, 0), (12289, 0)]


@pytest.mark.parametrize("field", [2, 3, 4, 5, 6])  # count, intervals, port, host time
@pytest.mark.parametrize("value", [-(2**63), 2**64 - 1])
def test_out_of_range_fields_never_reach_the_state(
    site: Site, tmp_path: Path, field: int, value: int
) -> None:
    def answer(request: Message) -> bytes:  # a well-formed answer to this very request
        fields = _valid_response_fields()
        fields[0] = msgspec.msgpack.encode(request.request_id)
        fields[field] = msgspec.msgpack.encode(value)
        return _frame(2, _array(fields))

    transport = _hostile(answer)
    client = Client.open(tmp_path / "pc", transport=transport, machine_name="pc")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    client.set_kms("rogue.test:1688")
    before = client.state()
    for _ in range(2):  # a poisoned state would make the second attempt raise
        outcome = client.activate()
        assert outcome.tried[0].result is ResultCode.PROTOCOL_ERROR
        assert "out of range" in outcome.tried[0].detail
    after = client.state()
    assert after.registered_host == before.registered_host == "rogue.test:1688"
    assert (after.activation_interval, after.renewal_interval, after.last_count) == (
        before.activation_interval,
        before.renewal_interval,
        before.last_count,
    )


def test_a_rogue_hosts_time_never_moves_the_trusted_time(site: Site, tmp_path: Path) -> None:
    future = int(time.time()) + 10 * 365 * 86400

    def answer(request: Message) -> bytes:  # count reached, a ticket that does not verify
        fields = _valid_response_fields()
        fields[0] = msgspec.msgpack.encode(request.request_id)
        fields[6] = msgspec.msgpack.encode(future)
        fields[8] = msgspec.msgpack.encode(b"\x93\xc4\x01x" + b"\x00" * 40)
        return _frame(2, _array(fields))

    client = Client.open(tmp_path / "pc", transport=_hostile(answer), machine_name="pc")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    client.set_kms("rogue.test:1688")
    outcome = client.activate()
    assert outcome.result is ResultCode.TICKET_INVALID
    assert client.state().trusted_time <= time.time() + 5
    assert client.license().state is LicenseState.INITIAL_GRACE
