"""The root key rotation vectors of docs/protocol.md, computed from fixed inputs."""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from protocol_vectors import ACT, APP, CMID, host_key, publisher_key

from openkms.core.catalog import Catalog, Product
from openkms.core.certificate import CERTIFICATE_DOMAIN, HostCertificate
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.rotation import make_link
from openkms.core.shortsig import PhoneSigningKey
from openkms.core.signing import public_bytes, sign
from openkms.core.ticket import TicketBody, TicketSigner
from openkms.core.trust import CATALOG_DOMAIN, Trust, format_publisher_key

ROTATED_AT = 1795300000
CERT_ISSUED = ROTATED_AT - 30 * 86400  # the host was activated a month before the rotation
TICKET_ISSUED = ROTATED_AT + 86400  # the old certificate keeps serving after it


def new_publisher_key() -> Ed25519PrivateKey:
    """The root key after the rotation: seed bytes 0x07 x 32."""
    return Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)


def forger_key() -> Ed25519PrivateKey:
    """A key unrelated to the publisher: seed bytes 0x09 x 32."""
    return Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32)


def _phone_key(root: Ed25519PrivateKey) -> bytes:
    return PhoneSigningKey.derive(root.private_bytes_raw()).public_key


def catalog(serial: int, root: Ed25519PrivateKey) -> Catalog:
    """The vectors' catalog: one product (ACT, group A, N 25) under ``serial``."""
    setup = ProductKey.generate(KeyKind.SETUP, lambda n: bytes([5]) * n)
    product = Product(ACT, "Vector Suite", "Volume", "A", 25, setup.symbols)
    return Catalog(
        publisher="Vectors",
        application_id=APP,
        service="_openkms._tcp",
        groups=("A", "B"),
        products=(product,),
        serial=serial,
        phone_key=_phone_key(root),
    )


def _signed(catalog_value: Catalog, root: Ed25519PrivateKey) -> Trust:
    envelope = sign(root, CATALOG_DOMAIN, msgspec.msgpack.encode(catalog_value))
    return Trust.create(public_bytes(root), envelope)


def original_trust() -> Trust:
    """The trust document before the rotation: serial 1, signed by the 0x02 key."""
    return _signed(catalog(1, publisher_key()), publisher_key())


def rotated_trust(successor: Ed25519PrivateKey | None = None, at: int = ROTATED_AT) -> Trust:
    """Serial 2 signed by the 0x07 key, with the transition 0x02 -> 0x07 at ROTATED_AT.

    ``successor`` replaces the 0x07 key (the forged and broken cases), ``at`` the time.
    """
    new = successor or new_publisher_key()
    link = make_link(
        publisher_key(),
        new,
        sequence=1,
        at=at,
        catalog_serial=2,
        previous_phone_key=_phone_key(publisher_key()),
    )
    envelope = sign(new, CATALOG_DOMAIN, msgspec.msgpack.encode(catalog(2, new)))
    return Trust.create(public_bytes(new), envelope, (link,))


def broken_trust_json() -> bytes:
    """The rotated document with the transition's signature replaced by the forger's."""
    rotated = rotated_trust()
    link = rotated.rotations[0]
    forged = sign(forger_key(), b"openkms/root-rotation/v1", link.body).signature
    raw = msgspec.json.decode(rotated.to_json())
    raw["rotations"][0]["signature"] = msgspec.json.decode(msgspec.json.encode(forged))
    return msgspec.json.encode(raw)


def old_certificate() -> HostCertificate:
    """The host's certificate, signed by the old key before the rotation (730 days)."""
    return HostCertificate(
        serial="00112233445566ff",
        application_id=APP,
        host_fingerprint="8a88e3dd7409f195fd52db2d3cba5d72:0123456789abcdef",
        host_public_key=public_bytes(host_key()),
        host_key_id="vector-host-key",
        group="A",
        issued_at=CERT_ISSUED,
        expires_at=CERT_ISSUED + 730 * 86400,
    )


def old_chain_ticket() -> bytes:
    """A ticket issued after the rotation under the certificate the old key signed."""
    certificate = sign(
        publisher_key(), CERTIFICATE_DOMAIN, msgspec.msgpack.encode(old_certificate())
    )
    body = TicketBody(CMID, ACT, 25, 25, TICKET_ISSUED, TICKET_ISSUED + 180 * 86400)
    return TicketSigner(host_key(), certificate).issue(body)


def vectors() -> dict[str, str]:
    """Name -> text of every rotation vector."""
    rotated = rotated_trust()
    return {
        "old-publisher-key": format_publisher_key(public_bytes(publisher_key())),
        "new-publisher-key": format_publisher_key(public_bytes(new_publisher_key())),
        "transition-body": rotated.rotations[0].body.hex(),
        "rotated-trust": msgspec.json.encode(msgspec.json.decode(rotated.to_json())).decode(),
        "old-chain-ticket": old_chain_ticket().hex(),
        "broken-trust": broken_trust_json().decode(),
    }
