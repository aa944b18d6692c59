"""The revocation vectors of docs/protocol.md: the list verifies, and the ticket under the
revoked certificate verifies as a chain but is refused by a client holding the list."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent.parent / "vectors"))

from revocation_vectors import APP, CMID, NOW, SERIAL, revocation_vectors

from openkms.client.state import ClientState
from openkms.client.updates import revocation_of, take_updates
from openkms.core.revocation import RevocationKind, RevocationList
from openkms.core.signing import Envelope
from openkms.core.ticket import verify_ticket
from openkms.core.trust import Trust
from openkms.protocol import ActivationRequest, ActivationResponse, Connection, Role

PUBLISHER = bytes.fromhex("8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394")
VECTORS = {name: bytes.fromhex(value) for name, value in revocation_vectors().items()}


def _trust() -> Trust:
    envelope = msgspec.msgpack.decode(VECTORS["revocation-catalog"], type=Envelope)
    return Trust.create(PUBLISHER, envelope)


def test_the_publisher_key_of_the_vectors_is_the_seed_02_key() -> None:
    assert _trust().catalog.serial == 1


def test_the_documented_list_verifies_and_revokes_the_certificate_serial() -> None:
    listed = RevocationList.decode(VECTORS["revocation-list"], PUBLISHER, APP)
    assert listed.serial == 1 and listed.body.issued_at == NOW
    [entry] = listed.body.entries
    assert (entry.kind, entry.subject, entry.reason) == (
        RevocationKind.CERTIFICATE,
        SERIAL,
        "key leaked",
    )


def test_a_ticket_under_the_revoked_certificate_is_refused_at_renewal() -> None:
    trust = _trust()
    activation_id = trust.catalog.products[0].activation_id
    verified = verify_ticket(
        VECTORS["revoked-ticket"], trust, cmid=CMID, activation_id=activation_id, now=NOW
    )  # the chain itself is sound ...
    state = ClientState(cmid=str(uuid.UUID(bytes=CMID)))
    assert revocation_of(state, trust, verified.certificate) is None
    state.revocations = VECTORS["revocation-list"]  # ... until the client holds the list
    entry = revocation_of(state, trust, verified.certificate)
    assert entry is not None and entry.subject == verified.certificate.serial


def test_the_documented_frames_carry_the_serials_and_the_list() -> None:
    server = Connection(role=Role.SERVER)
    server.receive_data(VECTORS["activation-serials-request"])
    request = server.next_event()
    assert isinstance(request, ActivationRequest)
    assert (request.revocations_serial, request.catalog_serial) == (0, 1)
    client = Connection(role=Role.CLIENT)
    client.receive_data(VECTORS["activation-response-revoked"])
    response = client.next_event()
    assert isinstance(response, ActivationResponse)
    assert response.result == 0xC004C003 and response.revocations == VECTORS["revocation-list"]
    state = ClientState()
    assert take_updates(state, _trust(), response) is None  # no catalog in it
    assert state.revocations == VECTORS["revocation-list"]
