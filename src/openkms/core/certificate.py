"""Host certificates: "host H (public key K) may activate groups <= G until T"."""

from __future__ import annotations

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.signing import Envelope, verify
from openkms.core.trust import Trust
from openkms.errors import SignatureError

__all__ = [
    "ACTIVATION_REQUEST_DOMAIN",
    "CERTIFICATE_DOMAIN",
    "CERTIFICATE_FORMAT",
    "REQUEST_FORMAT",
    "ActivationRequestFile",
    "CertificateFile",
    "HostActivationRequest",
    "ROLE_HOST",
    "ROLE_MAK",
    "HostCertificate",
    "verify_certificate",
]

CERTIFICATE_DOMAIN = b"openkms/host-certificate/v1"
# A certificate's role: a KMS host (the default, never encoded, so the certificates made
# before roles existed encode and verify unchanged), or the publisher's own MAK service,
# whose tickets license one machine without a count.
ROLE_HOST = ""
ROLE_MAK = "mak"
_ROLES = (ROLE_HOST, ROLE_MAK)


class HostCertificate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """What the publisher vouches for about one host (or, role "mak", its MAK service)."""

    serial: str
    application_id: str
    host_fingerprint: str
    host_public_key: bytes
    host_key_id: str
    group: str
    issued_at: int
    expires_at: int
    role: str = ROLE_HOST

    @property
    def mak(self) -> bool:
        """True for the certificate of the publisher's MAK service."""
        return self.role == ROLE_MAK

    def valid_at(self, when: int) -> bool:
        """True when ``when`` (epoch seconds) falls in the validity period."""
        return self.issued_at <= when < self.expires_at


def verify_certificate(envelope: Envelope, trust: Trust) -> HostCertificate:
    """Check a certificate's signature and application against the pinned trust."""
    error = SignatureError(
        "The host certificate does not verify against the pinned publisher key.",
        code=ResultCode.CERTIFICATE_INVALID,
    )
    if not verify(trust.publisher_key, CERTIFICATE_DOMAIN, envelope):
        raise error
    try:
        cert = msgspec.msgpack.decode(envelope.body, type=HostCertificate)
    except msgspec.DecodeError:
        raise error from None
    if (
        cert.application_id != trust.catalog.application_id
        or cert.group not in trust.catalog.groups
        or cert.role not in _ROLES
    ):
        raise SignatureError(
            "The host certificate is for another application or an unknown license group.",
            code=ResultCode.CERTIFICATE_INVALID,
        )
    return cert


class HostActivationRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a host sends its publisher to be activated (online or as a file carried by hand)."""

    host_key: str
    host_public_key: bytes
    host_fingerprint: str
    machine_name: str
    created_at: int


ACTIVATION_REQUEST_DOMAIN = b"openkms/host-activation-request/v1"
REQUEST_FORMAT = "openkms-host-activation-request/1"
CERTIFICATE_FORMAT = "openkms-host-certificate/1"


class ActivationRequestFile(msgspec.Struct, frozen=True):
    """The request file: the request, signed by the host's own key (proof of possession)."""

    format: str
    request: Envelope


class CertificateFile(msgspec.Struct, frozen=True):
    """The certificate file: the signed certificate and the publisher's trust document."""

    format: str
    certificate: Envelope
    trust: bytes
