"""The test vectors of docs/protocol.md, computed from fixed inputs."""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from revocation_vectors import revocation_vectors

from openkms.core.certificate import CERTIFICATE_DOMAIN
from openkms.core.signing import public_bytes, sign
from openkms.core.ticket import TicketBody, TicketSigner
from openkms.protocol import (
    ActivationRequest,
    ActivationResponse,
    ErrorResponse,
    ProbeRequest,
    ProbeResponse,
)
from openkms.protocol.connection import encode

REQUEST_ID = bytes(range(16))
CMID = bytes.fromhex("6f1c2a4e8b3d4f0a9c7e5b1d2f3a4c5e")
APP = "3a9b5c2e-6d1f-4e8a-9b7c-0d2e4f6a8b1c"
ACT = "b4d6f8a0-1c3e-4a5b-8d7f-9e0a1b2c3d4e"


def host_key() -> Ed25519PrivateKey:
    """The host key of the vectors: seed bytes 0x01 x 32."""
    return Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)


def publisher_key() -> Ed25519PrivateKey:
    """The publisher key of the vectors: seed bytes 0x02 x 32."""
    return Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32)


def vectors() -> dict[str, str]:
    """Name -> hex of every vector."""
    request = ActivationRequest(
        REQUEST_ID, APP, ACT, CMID, "pc-042", 1795300000, 2, 43200, 25, False
    )
    body = TicketBody(CMID, ACT, 25, 25, 1795300000, 1795300000 + 180 * 86400)
    certificate = sign(publisher_key(), CERTIFICATE_DOMAIN, b"certificate-body")
    signer = TicketSigner(host_key(), certificate)
    ticket = signer.issue(body)
    # A batch of three: the vector ticket's body with CMIDs ...5e (the vector's), ...5f, ...60.
    batch = signer.issue_batch(
        [msgspec.structs.replace(body, cmid=CMID[:-1] + bytes([CMID[-1] + i])) for i in range(3)]
    )
    response = ActivationResponse(
        REQUEST_ID, 0, 25, 120, 10080, 1688, 1795300002, "OKMS-1A2B3C4D5E6F", ticket
    )
    return {
        "activation-request": encode(request).hex(),
        "activation-response-count-low": encode(
            ActivationResponse(REQUEST_ID, 0, 24, 120, 10080, 1688, 1795300002, "OKMS-1A2B3C4D5E6F")
        ).hex(),
        "activation-response": encode(response).hex(),
        "probe-request": encode(ProbeRequest(REQUEST_ID, APP)).hex(),
        "probe-response": encode(
            ProbeResponse(REQUEST_ID, "0.1.0", True, 25, 1688, 1795300002, "OKMS-1")
        ).hex(),
        "error-response": encode(ErrorResponse(b"", 0xE0040002, "bad magic")).hex(),
        "host-public-key": public_bytes(host_key()).hex(),
        "ticket": ticket.hex(),
        "ticket-batch-3-index-1": batch[1].hex(),
        **revocation_vectors(),
    }
