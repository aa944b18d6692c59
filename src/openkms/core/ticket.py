"""Activation tickets: "CMID c, product p, count n, valid until t", signed by the host.

A ticket carries the host's certificate, so a client (or the application embedding it) can
verify the whole chain offline: pinned publisher key -> certificate -> ticket.

A host signs tickets in batches: the tickets it issues together are the leaves of a Merkle
tree (``openkms.core.merkle``, RFC 9162), the host signs the tree's head (its size and root)
once, and each ticket carries its audit path and that signature. Verifying one ticket costs
one signature check and a few hashes; issuing ``k`` tickets costs one signature, not ``k``.
A batch of one is a tree of one leaf with an empty path.

A *MAK ticket* is a batch-of-one ticket signed by the publisher's MAK service, whose
certificate (issued by the root, role ``"mak"``) covers every product: it licenses one
machine for one product and the count does not apply (its ``count`` is 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from openkms.core import merkle, settings
from openkms.core.certificate import HostCertificate, verify_certificate
from openkms.core.codes import ResultCode
from openkms.core.signing import Envelope, SigningKey, sign, verify
from openkms.core.trust import Trust
from openkms.errors import SignatureError
from openkms.i18n import _

__all__ = [
    "TICKET_BATCH_MAX",
    "TICKET_DOMAIN",
    "Ticket",
    "TicketBody",
    "TicketProof",
    "TicketSigner",
    "VerifiedTicket",
    "tree_head",
    "verify_ticket",
]

TICKET_DOMAIN = b"openkms/ticket-tree/v1"
# The most tickets one signature covers (audit paths of at most 10 hashes).
TICKET_BATCH_MAX = 1024
_SKEW = settings.MAX_CLOCK_SKEW_HOURS * 3600
# A host signs a ticket valid for ACTIVATION_VALIDITY_DAYS while its certificate is valid:
# no genuine ticket lasts longer than that past the certificate's expiry.
_MAX_VALIDITY = settings.ACTIVATION_VALIDITY_DAYS * 86400


class TicketBody(msgspec.Struct, frozen=True, array_like=True):
    """The facts a host vouches for when it activates a client."""

    cmid: bytes
    activation_id: str
    count: int
    n_policy: int
    issued_at: int
    valid_until: int


class TicketProof(msgspec.Struct, frozen=True, array_like=True):
    """Where a ticket sits in its batch's Merkle tree, and the host's signature of the head."""

    index: int
    size: int
    path: tuple[bytes, ...]
    signature: bytes


class Ticket(msgspec.Struct, frozen=True, array_like=True):
    """An encoded ticket body, its proof and the certificate of the host that signed it."""

    body: bytes
    proof: TicketProof
    certificate: Envelope


@dataclass(frozen=True, slots=True)
class VerifiedTicket:
    """A ticket whose whole chain verified."""

    body: TicketBody
    certificate: HostCertificate

    @property
    def mak(self) -> bool:
        """True for a MAK ticket (the publisher activated this machine directly)."""
        return self.certificate.mak


def tree_head(size: int, root: bytes) -> bytes:
    """The signed bytes of a batch: its size (4 bytes, big-endian) and its Merkle root."""
    return size.to_bytes(4, "big") + root


class TicketSigner:
    """Signs tickets with a host's private key; the certificate is encoded once."""

    def __init__(self, private_key: SigningKey, certificate: Envelope) -> None:
        self._key = private_key
        self._certificate = certificate
        self._encoder = msgspec.msgpack.Encoder()

    def issue(self, body: TicketBody) -> bytes:
        """The encoded ticket for ``body`` alone (a batch of one)."""
        return self.issue_batch([body])[0]

    def issue_batch(self, bodies: Sequence[TicketBody]) -> list[bytes]:
        """The encoded tickets for ``bodies``, in order, under one signature."""
        if not 0 < len(bodies) <= TICKET_BATCH_MAX:
            raise ValueError(f"a ticket batch holds 1 to {TICKET_BATCH_MAX} tickets")
        encode = self._encoder.encode
        encoded = [encode(body) for body in bodies]
        root, paths = merkle.audit_paths([merkle.leaf_hash(data) for data in encoded])
        size = len(encoded)
        signature = sign(self._key, TICKET_DOMAIN, tree_head(size, root)).signature
        certificate = self._certificate
        return [
            encode(Ticket(data, TicketProof(index, size, tuple(path), signature), certificate))
            for index, (data, path) in enumerate(zip(encoded, paths, strict=True))
        ]


def _invalid(reason: str) -> SignatureError:
    return SignatureError(
        _("The activation ticket is not valid: {reason}.").format(reason=reason),
        code=ResultCode.TICKET_INVALID,
    )


def verify_ticket(
    data: bytes, trust: Trust, *, cmid: bytes, activation_id: str, now: int
) -> VerifiedTicket:
    """Verify a ticket for this machine and product; SignatureError saying why if not.

    ``data`` may be any bytes (a hostile host's): nothing else is ever raised. The chain is
    anchored at ``trust.publisher_key``, so a client passes only the trust of the publisher
    it is pinned to.
    """
    try:
        ticket = msgspec.msgpack.decode(data, type=Ticket)
        body = msgspec.msgpack.decode(ticket.body, type=TicketBody)
    except (msgspec.DecodeError, ValueError):  # ValueError: UnicodeDecodeError in a text field
        raise _invalid(_("it cannot be decoded")) from None
    cert = verify_certificate(ticket.certificate, trust)
    proof = ticket.proof
    root = merkle.root_from_path(merkle.leaf_hash(ticket.body), proof.index, proof.size, proof.path)
    if root is None or proof.size > TICKET_BATCH_MAX:
        raise _invalid(_("its batch proof is malformed"))
    head = Envelope(tree_head(proof.size, root), proof.signature)
    if not verify(cert.host_public_key, TICKET_DOMAIN, head):
        raise _invalid(_("its signature does not match the host certificate"))
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
        raise _invalid(_("it was issued to another machine (CMID)"))
    if body.activation_id != activation_id:
        raise _invalid(_("it was issued for another product"))
    product = trust.catalog.product(activation_id)
    if product is None or not trust.catalog.covers(cert.group, product.group):
        raise _invalid(_("the host's certificate does not cover this product"))
    if not cert.mak and body.count < product.n_policy:
        raise _invalid(
            _("the count {count} is below the product's N-policy {n_policy}").format(
                count=body.count, n_policy=product.n_policy
            )
        )
    if not cert.valid_at(body.issued_at):
        raise _invalid(_("it was issued outside the host certificate's validity"))
    if body.valid_until > cert.expires_at + _MAX_VALIDITY:  # bounds a revoked chain's reach
        raise _invalid(_("it lasts longer past its host certificate than a ticket may"))
    if body.issued_at > now + _SKEW:
        raise _invalid(_("it was issued in the future"))
