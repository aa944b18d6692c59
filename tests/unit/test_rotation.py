"""Root key rotation: the chain of transitions in trust.json and the acceptance rule."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent.parent / "vectors"))

from phone_vectors import host_fingerprint, host_product_key
from phone_vectors import vectors as phone_vectors
from protocol_vectors import ACT, CMID, host_key, publisher_key
from rotation_vectors import (
    CERT_ISSUED,
    ROTATED_AT,
    TICKET_ISSUED,
    catalog,
    forger_key,
    new_publisher_key,
    old_certificate,
    original_trust,
    rotated_trust,
    vectors,
)

from openkms.core.certificate import (
    CERTIFICATE_DOMAIN,
    PHONE_CERTIFICATE_FORMAT,
    PhoneCertificate,
    phone_certificate_envelope,
    verify_certificate,
)
from openkms.core.codes import ResultCode
from openkms.core.phone import ConfirmationId, InstallationId
from openkms.core.rotation import MAX_TRANSITIONS, RotationLink, make_link
from openkms.core.signing import Envelope, public_bytes, sign
from openkms.core.ticket import verify_ticket
from openkms.core.trust import CATALOG_DOMAIN, Trust, parse_publisher_key
from openkms.errors import OpenKMSError, SignatureError

DOC = Path(__file__).parent.parent.parent / "docs" / "protocol.md"
OLD = public_bytes(publisher_key())
NEW = public_bytes(new_publisher_key())


def documented() -> dict[str, str]:
    text = DOC.read_text()
    blocks = re.findall(r"#### Rotation vector `([\w-]+)`\n+```text\n(.*?)```", text, re.DOTALL)
    return {name: "".join(body.split()) for name, body in blocks}


def _code(exc: pytest.ExceptionInfo[OpenKMSError]) -> ResultCode:
    return exc.value.code


# -- the vectors ------------------------------------------------------------------------


def test_every_rotation_vector_is_documented_exactly() -> None:
    assert documented() == {name: "".join(v.split()) for name, v in vectors().items()}


def test_the_documented_rotated_trust_chains_to_the_documented_old_key() -> None:
    doc = documented()
    trust = Trust.from_json(doc["rotated-trust"].encode())
    assert trust.publisher_key == parse_publisher_key(doc["new-publisher-key"])
    trust.require_publisher(parse_publisher_key(doc["old-publisher-key"]), "the application")
    assert trust.rotations[0].body.hex() == doc["transition-body"]


def test_the_documented_old_chain_ticket_verifies_under_the_rotated_trust() -> None:
    doc = documented()
    trust = Trust.from_json(doc["rotated-trust"].encode())
    verified = verify_ticket(
        bytes.fromhex(doc["old-chain-ticket"]),
        trust,
        cmid=CMID,
        activation_id=ACT,
        now=TICKET_ISSUED + 3600,
    )
    assert verified.certificate.issued_at == CERT_ISSUED < ROTATED_AT < verified.body.issued_at


def test_the_documented_broken_trust_is_refused_with_publisher_mismatch() -> None:
    with pytest.raises(SignatureError) as exc:
        Trust.from_json(documented()["broken-trust"].encode())
    assert _code(exc) is ResultCode.PUBLISHER_MISMATCH
    assert "transition 1" in exc.value.message


# -- documents without rotation ----------------------------------------------------------


def test_a_trust_without_rotation_is_written_without_a_rotations_field() -> None:
    data = original_trust().to_json()
    assert b"rotations" not in data
    assert Trust.from_json(data).to_json() == data
    assert original_trust().lineage == (OLD,)


def test_a_rotated_trust_round_trips_byte_for_byte() -> None:
    data = rotated_trust().to_json()
    assert Trust.from_json(data).to_json() == data
    assert Trust.from_json(data).lineage == (OLD, NEW)


# -- acceptance: the chain starts at the pin ---------------------------------------------


def test_a_holder_pinned_to_the_old_key_accepts_the_rotated_trust() -> None:
    rotated = rotated_trust()
    rotated.require_publisher(OLD, "the application")
    assert rotated.check_newer_than(original_trust()) is True


def test_after_the_rotation_the_old_keys_trust_is_refused_as_retired() -> None:
    with pytest.raises(SignatureError) as exc:
        original_trust().check_newer_than(rotated_trust())
    assert _code(exc) is ResultCode.PUBLISHER_MISMATCH
    assert "retired" in exc.value.message


def test_a_leaked_old_key_cannot_sign_a_newer_catalog_once_the_holder_moved_on() -> None:
    newer_under_old = Trust.create(
        OLD,
        sign(publisher_key(), CATALOG_DOMAIN, msgspec.msgpack.encode(catalog(9, publisher_key()))),
    )
    with pytest.raises(SignatureError) as exc:
        newer_under_old.check_newer_than(rotated_trust())
    assert _code(exc) is ResultCode.PUBLISHER_MISMATCH


def test_a_successor_signed_by_an_unrelated_key_is_refused() -> None:
    forged = Trust.create(
        public_bytes(forger_key()),
        sign(forger_key(), CATALOG_DOMAIN, msgspec.msgpack.encode(catalog(2, forger_key()))),
    )
    with pytest.raises(SignatureError) as exc:
        forged.require_publisher(OLD, "the application")
    assert _code(exc) is ResultCode.PUBLISHER_MISMATCH
    with pytest.raises(SignatureError):
        forged.check_newer_than(original_trust())


def test_a_fork_of_the_chain_by_a_leaked_old_key_is_refused_after_the_rotation() -> None:
    """A leaked old key can name another successor; a holder already on the new key refuses."""
    fork = rotated_trust(successor=forger_key())
    assert fork.check_newer_than(original_trust()) is True  # indistinguishable before
    with pytest.raises(SignatureError) as exc:
        fork.check_newer_than(rotated_trust())
    assert _code(exc) is ResultCode.PUBLISHER_MISMATCH


def test_an_older_catalog_of_the_new_key_is_refused_as_not_newer() -> None:
    newer = _second_catalog_under_new_key(3)
    with pytest.raises(OpenKMSError) as exc:
        rotated_trust().check_newer_than(newer)
    assert _code(exc) is ResultCode.CATALOG_NOT_NEWER
    assert newer.check_newer_than(rotated_trust()) is True
    assert rotated_trust().check_newer_than(rotated_trust()) is False


def _second_catalog_under_new_key(serial: int) -> Trust:
    body = msgspec.msgpack.encode(catalog(serial, new_publisher_key()))
    return Trust.create(
        NEW, sign(new_publisher_key(), CATALOG_DOMAIN, body), rotated_trust().rotations
    )


# -- broken chains -------------------------------------------------------------------------


def _link(old: Ed25519PrivateKey, new: Ed25519PrivateKey, **changes: int) -> RotationLink:
    values = {"sequence": 1, "at": ROTATED_AT, "catalog_serial": 2, **changes}
    return make_link(old, new, **values)


def _create(key: Ed25519PrivateKey, serial: int, links: tuple[RotationLink, ...]) -> Trust:
    body = msgspec.msgpack.encode(catalog(serial, key))
    return Trust.create(public_bytes(key), sign(key, CATALOG_DOMAIN, body), links)


def _refused(
    key: Ed25519PrivateKey, serial: int, links: tuple[RotationLink, ...], reason: str
) -> None:
    with pytest.raises(SignatureError) as exc:
        _create(key, serial, links)
    assert _code(exc) is ResultCode.PUBLISHER_MISMATCH
    assert reason in exc.value.message


def test_a_link_without_the_new_keys_countersignature_is_refused() -> None:
    link = _link(publisher_key(), new_publisher_key())
    bad = msgspec.structs.replace(link, countersignature=link.signature)
    _refused(new_publisher_key(), 2, (bad,), "countersignature")


def test_a_chain_that_does_not_end_at_the_signing_key_is_refused() -> None:
    link = _link(publisher_key(), new_publisher_key())
    _refused(forger_key(), 2, (link,), "does not end at the key that signed")


def test_a_chain_with_a_gap_is_refused() -> None:
    first = _link(publisher_key(), new_publisher_key())
    other = Ed25519PrivateKey.from_private_bytes(bytes([11]) * 32)
    second = _link(forger_key(), other, sequence=2, at=ROTATED_AT + 1, catalog_serial=3)
    _refused(other, 3, (first, second), "does not start at")


def test_a_transition_back_to_a_retired_key_is_refused() -> None:
    first = _link(publisher_key(), new_publisher_key())
    back = _link(
        new_publisher_key(), publisher_key(), sequence=2, at=ROTATED_AT + 1, catalog_serial=3
    )
    _refused(publisher_key(), 3, (first, back), "retired key")


def test_misnumbered_and_backward_transitions_are_refused() -> None:
    _refused(
        new_publisher_key(),
        2,
        (_link(publisher_key(), new_publisher_key(), sequence=2),),
        "numbered",
    )
    first = _link(publisher_key(), new_publisher_key())
    late = _link(new_publisher_key(), forger_key(), sequence=2, at=ROTATED_AT - 1, catalog_serial=3)
    _refused(forger_key(), 3, (first, late), "goes back")


def test_a_catalog_older_than_its_transition_is_refused() -> None:
    _refused(new_publisher_key(), 1, (_link(publisher_key(), new_publisher_key()),), "older")


def test_more_transitions_than_the_limit_are_refused_before_any_signature_check() -> None:
    link = _link(publisher_key(), new_publisher_key())
    _refused(new_publisher_key(), 2, (link,) * (MAX_TRANSITIONS + 1), "more than")


# -- certificates under a retired key ---------------------------------------------------------


def _certificate(issued_at: int, key: Ed25519PrivateKey | None = None) -> Envelope:
    cert = msgspec.structs.replace(old_certificate(), issued_at=issued_at)
    return sign(key or publisher_key(), CERTIFICATE_DOMAIN, msgspec.msgpack.encode(cert))


def test_a_certificate_the_old_key_signed_before_the_rotation_verifies() -> None:
    cert = verify_certificate(_certificate(CERT_ISSUED), rotated_trust())
    assert cert.issued_at == CERT_ISSUED


def test_a_certificate_the_old_key_signed_after_the_rotation_is_refused() -> None:
    with pytest.raises(SignatureError) as exc:
        verify_certificate(_certificate(ROTATED_AT), rotated_trust())
    assert _code(exc) is ResultCode.CERTIFICATE_INVALID


def test_a_certificate_the_new_key_signed_verifies_whenever_issued() -> None:
    envelope = _certificate(ROTATED_AT + 10, new_publisher_key())
    assert verify_certificate(envelope, rotated_trust()).issued_at == ROTATED_AT + 10


def test_a_phone_certificate_under_the_retired_phone_key_verifies_until_the_transition() -> None:
    iid = InstallationId.parse(phone_vectors()["host-installation-id"])
    cid = ConfirmationId.parse(phone_vectors()["host-confirmation-id"])
    phone = PhoneCertificate(
        PHONE_CERTIFICATE_FORMAT,
        iid.data_digits,
        cid.data_digits,
        "B",
        public_bytes(host_key()),
        host_fingerprint(),
        host_product_key().key_id,
    )
    envelope = phone_certificate_envelope(phone)
    confirmed_at = iid.day * 86400
    cert = verify_certificate(envelope, rotated_trust(at=confirmed_at + 1))
    assert cert.issued_at == confirmed_at and cert.group == "B"
    with pytest.raises(SignatureError):  # confirmed by the old phone key after its retirement
        verify_certificate(envelope, rotated_trust(at=confirmed_at))


# -- hostile bytes -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_hostile_trust_bytes_raise_only_openkms_errors(data: st.DataObject) -> None:
    original = bytearray(rotated_trust().to_json())
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(original) - 1))
        original[index] = data.draw(st.integers(0, 255))
    try:
        trust = Trust.from_json(bytes(original))
    except OpenKMSError:
        return
    assert trust.publisher_key in trust.lineage


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_hostile_transition_bodies_are_refused_cleanly(body: bytes) -> None:
    link = RotationLink(body, b"\0" * 64, b"\0" * 64)
    with pytest.raises(SignatureError):
        _create(new_publisher_key(), 2, (link,))
