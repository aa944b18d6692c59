"""The revocation vectors of docs/protocol.md: a signed list, and a ticket under a revoked
certificate (a real chain: catalog, certificate, ticket), from fixed inputs."""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms.core.certificate import CERTIFICATE_DOMAIN
from openkms.core.revocation import (
    RevocationEntry,
    RevocationKind,
    RevocationList,
    RevocationListBody,
)
from openkms.core.signing import public_bytes, sign
from openkms.core.ticket import TicketBody, TicketSigner
from openkms.core.trust import CATALOG_DOMAIN
from openkms.protocol import ActivationRequest, ActivationResponse
from openkms.protocol.connection import encode

REQUEST_ID = bytes(range(16))
CMID = bytes.fromhex("6f1c2a4e8b3d4f0a9c7e5b1d2f3a4c5e")
APP = "3a9b5c2e-6d1f-4e8a-9b7c-0d2e4f6a8b1c"
ACT = "b4d6f8a0-1c3e-4a5b-8d7f-9e0a1b2c3d4e"
NOW = 1795300000
SERIAL = "0123456789abcdef"


def _host() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)


def _publisher() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32)


# The catalog and certificate bodies as literal maps (the keys of Catalog and HostCertificate
# in their order): the vectors keep their bytes when a later release adds optional fields.
CATALOG: dict[str, object] = {
    "publisher": "Acme",
    "application_id": APP,
    "service": "_openkms._tcp",
    "groups": ["C"],
    "products": [
        {
            "activation_id": ACT,
            "product": "Acme Server",
            "edition": "Datacenter",
            "group": "C",
            "n_policy": 25,
            "setup_key": "BCDFGHJKMPQRTVWXY23467898",
        }
    ],
    "host_key_max_hosts": 6,
    "host_key_max_activations": 10,
    "certificate_days": 730,
    "serial": 1,
}


def certificate() -> dict[str, object]:
    """The revoked host's certificate body (host key seed 01)."""
    return {
        "serial": SERIAL,
        "application_id": APP,
        "host_fingerprint": "ab" * 16 + ":" + "cd" * 8,
        "host_public_key": public_bytes(_host()),
        "host_key_id": "ef" * 16,
        "group": "C",
        "issued_at": NOW - 86400,
        "expires_at": NOW + 730 * 86400,
    }


def revocation_list() -> RevocationList:
    """Serial 1: the certificate above revoked ten minutes before the list was issued."""
    entry = RevocationEntry(RevocationKind.CERTIFICATE, SERIAL, NOW - 600, "key leaked")
    return RevocationList.sign(_publisher(), RevocationListBody(APP, 1, NOW, (entry,)))


def revocation_vectors() -> dict[str, str]:
    """Name -> hex of the revocation vectors."""
    catalog_envelope = sign(_publisher(), CATALOG_DOMAIN, msgspec.msgpack.encode(CATALOG))
    cert = sign(_publisher(), CERTIFICATE_DOMAIN, msgspec.msgpack.encode(certificate()))
    body = TicketBody(CMID, ACT, 25, 25, NOW, NOW + 180 * 86400)
    ticket = TicketSigner(_host(), cert).issue(body)
    listed = revocation_list()
    request = ActivationRequest(
        REQUEST_ID, APP, ACT, CMID, "pc-042", NOW, 1, 43200, 25, False, 0, 1
    )
    blocked = ActivationResponse(
        REQUEST_ID,
        0xC004C003,
        25,
        120,
        10080,
        1688,
        NOW,
        "OKMS-ABABABABABAB",
        None,
        listed.encoded,
    )
    return {
        "revocation-catalog": msgspec.msgpack.encode(catalog_envelope).hex(),
        "revocation-list": listed.encoded.hex(),
        "revoked-ticket": ticket.hex(),
        "activation-serials-request": encode(request).hex(),
        "activation-response-revoked": encode(blocked).hex(),
    }
