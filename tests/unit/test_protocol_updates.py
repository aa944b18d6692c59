"""The list and catalog fields of protocol version 1: older and newer peers interoperate,
the limits hold, and a client takes only what the pinned publisher signed and is newer."""

from __future__ import annotations

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.client.state import ClientState
from openkms.client.updates import take_updates
from openkms.core.catalog import Catalog
from openkms.core.revocation import RevocationList, RevocationListBody
from openkms.core.signing import public_bytes, sign
from openkms.core.trust import CATALOG_DOMAIN, Trust
from openkms.errors import ProtocolError
from openkms.protocol import ActivationRequest, ActivationResponse, Connection, Role
from openkms.protocol.connection import InvalidRequestError, encode
from openkms.protocol.messages import MAX_REVOCATIONS_BYTES

KEY = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
APP = "3a9b5c2e-6d1f-4e8a-9b7c-0d2e4f6a8b1c"
REQUEST = ActivationRequest(b"r" * 16, APP, "act", b"c" * 16, "pc", 1795300000, 2, 43200, 25)
RESPONSE = ActivationResponse(b"r" * 16, 0, 25, 120, 10080, 1688, 1795300000, "OKMS-1")


class _RequestV10(msgspec.Struct, array_like=True):
    """An ActivationRequest as a host of the first release decodes it."""

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


def _trust(serial: int, key: Ed25519PrivateKey = KEY, app: str = APP) -> Trust:
    catalog = Catalog("Acme", app, "_openkms._tcp", ("C",), (), serial=serial)
    envelope = sign(key, CATALOG_DOMAIN, msgspec.msgpack.encode(catalog))
    return Trust.create(public_bytes(key), envelope)


def _decode(data: bytes, role: Role) -> object:
    conn = Connection(role=role)
    conn.receive_data(data)
    return conn.next_event()


def test_a_request_with_serials_is_read_by_a_first_release_host() -> None:
    frame = encode(msgspec.structs.replace(REQUEST, revocations_serial=3, catalog_serial=7))
    old = msgspec.msgpack.decode(frame[8:], type=_RequestV10)
    assert old.cmid == REQUEST.cmid and old.n_policy == 25


def test_a_first_release_request_names_no_serial() -> None:
    decoded = _decode(encode(REQUEST), Role.SERVER)
    assert isinstance(decoded, ActivationRequest)
    assert decoded.revocations_serial is None and decoded.catalog_serial is None


def test_a_serial_out_of_range_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="revocations_serial"):
        _decode(encode(msgspec.structs.replace(REQUEST, revocations_serial=-1)), Role.SERVER)


def test_a_list_over_the_limit_makes_the_response_unreadable() -> None:
    big = msgspec.structs.replace(RESPONSE, revocations=b"x" * (MAX_REVOCATIONS_BYTES + 1))
    with pytest.raises(ProtocolError):
        _decode(encode(big), Role.CLIENT)


def test_a_client_takes_a_newer_catalog_of_its_publisher_only() -> None:
    pinned = _trust(2)
    for offered, taken in (
        (_trust(3), True),
        (_trust(2), False),  # the same: nothing to do
        (_trust(1), False),  # older
        (_trust(5, Ed25519PrivateKey.generate()), False),  # another publisher's
        (_trust(5, app="another-app"), False),
    ):
        catalog = msgspec.msgpack.encode(offered.catalog_envelope)
        response = msgspec.structs.replace(RESPONSE, catalog=catalog)
        result = take_updates(ClientState(), pinned, response)
        assert (result is not None) is taken
        if taken:
            assert result == offered


def test_a_client_never_trades_its_list_for_an_older_one() -> None:
    pinned = _trust(1)
    first = RevocationList.sign(KEY, RevocationListBody(APP, 1, 1795300000, ()))
    second = RevocationList.sign(KEY, RevocationListBody(APP, 2, 1795300001, ()))
    state = ClientState(revocations=second.encoded)
    take_updates(state, pinned, msgspec.structs.replace(RESPONSE, revocations=first.encoded))
    assert state.revocations == second.encoded


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_whatever_a_host_sends_as_list_or_catalog_changes_nothing(
    revocations: bytes, catalog: bytes
) -> None:
    state = ClientState()
    response = msgspec.structs.replace(RESPONSE, revocations=revocations, catalog=catalog)
    assert take_updates(state, _trust(1), response) is None
    assert state.revocations is None
