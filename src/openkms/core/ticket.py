"""Activation tickets: "CMID c, product p, count n, valid until t", signed by the host.

A ticket carries the host's certificate, so a client (or the application embedding it) can
verify the whole chain offline: pinned publisher key -> certificate -> ticket.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms.core import settings
from openkms.core.certificate import HostCertificate, verify_certificate
from openkms.core.codes import ResultCode
from openkms.core.signing import Envelope, sign, verify
from openkms.core.trust import Trust
from openkms.errors import SignatureError

__all__ = [
    "TICKET_DOMAIN",
    "Ticket",
    "TicketBody",
    "TicketSigner",
    "VerifiedTicket",
    "verify_ticket",
]

TICKET_DOMAIN = b"openkms/ticket/v1"
_SKEW = settings.MAX_CLOCK_SKEW_HOURS * 3600


class TicketBody(msgspec.Struct, frozen=True, array_like=True):
    """The facts a host vouches for when it activates a client."""

    cmid: bytes
    activation_id: str
    count: int
    n_policy: int
    issued_at: int
    valid_until: int


class Ticket(msgspec.Struct, frozen=True, array_like=True):
    """A signed ticket body with the certificate of the host that signed it."""

    ticket: Envelope
    certificate: Envelope


@dataclass(frozen=True, slots=True)
class VerifiedTicket:
    """A ticket whose whole chain verified."""

    body: TicketBody
    certificate: HostCertificate


class TicketSigner:
    """Signs tickets with a host's private key; the certificate is encoded once."""

    def __init__(self, private_key: Ed25519PrivateKey, certificate: Envelope) -> None:
        self._key = private_key
        self._certificate = certificate
        self._encoder = msgspec.msgpack.Encoder()

    def issue(self, body: TicketBody) -> bytes:
        """The encoded ticket for ``body``."""
        envelope = sign(self._key, TICKET_DOMAIN, self._encoder.encode(body))
        return self._encoder.encode(Ticket(envelope, self._certificate))


def _invalid(reason: str) -> SignatureError:
    return SignatureError(
        f"The activation ticket is not valid: {reason}.", code=ResultCode.TICKET_INVALID
    )


def verify_ticket(
    data: bytes, trust: Trust, *, cmid: bytes, activation_id: str, now: int
) -> VerifiedTicket:
    """Verify a ticket for this machine and product; SignatureError saying why if not."""
    try:
        ticket = msgspec.msgpack.decode(data, type=Ticket)
        body = msgspec.msgpack.decode(ticket.ticket.body, type=TicketBody)
    except msgspec.DecodeError:
        raise _invalid("it cannot be decoded") from None
    cert = verify_certificate(ticket.certificate, trust)
    if not verify(cert.host_public_key, TICKET_DOMAIN, ticket.ticket):
        raise _invalid("its signature does not match the host certificate")
    _check_claims(body, cert, trust, cmid=cmid, activation_id=activation_id, now=now)
    return VerifiedTicket(body, cert)


def _check_claims(
    body: TicketBody,
    cert: HostCertificate,
    trust: Trust,
    *,
    cmid: bytes,
    activation_id: str,
    now: int,
) -> None:
    if body.cmid != cmid:
        raise _invalid("it was issued to another machine (CMID)")
    if body.activation_id != activation_id:
        raise _invalid("it was issued for another product")
    product = trust.catalog.product(activation_id)
    if product is None or not trust.catalog.covers(cert.group, product.group):
        raise _invalid("the host's certificate does not cover this product")
    if body.count < product.n_policy:
        raise _invalid(f"the count {body.count} is below the product's N-policy {product.n_policy}")
    if not cert.valid_at(body.issued_at):
        raise _invalid("it was issued outside the host certificate's validity")
    if body.issued_at > now + _SKEW:
        raise _invalid("it was issued in the future")
