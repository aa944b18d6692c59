"""Host certificates: "host H (public key K) may activate groups <= G until T"."""

from __future__ import annotations

import hashlib

import msgspec

from openkms.core.codes import ResultCode
from openkms.core.signing import Envelope, verify
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError, SignatureError
from openkms.i18n import _

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
    "PHONE_CERTIFICATE_FORMAT",
    "PhoneCertificate",
    "phone_certificate_envelope",
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
    """Check a certificate's signature and application against the pinned trust.

    An envelope with an empty signature is the phone form (:class:`PhoneCertificate`): its
    confirmation ID is the publisher's signature.
    """
    error = SignatureError(
        _("The host certificate does not verify against the pinned publisher key."),
        code=ResultCode.CERTIFICATE_INVALID,
    )
    if not envelope.signature:
        cert = _verify_phone_form(envelope.body, trust, error)
    else:
        cert = _verify_signed_form(envelope, trust, error)
    if (
        cert.application_id != trust.catalog.application_id
        or cert.group not in trust.catalog.groups
        or cert.role not in _ROLES
    ):
        raise SignatureError(
            _("The host certificate is for another application or an unknown license group."),
            code=ResultCode.CERTIFICATE_INVALID,
        )
    return cert


def _verify_signed_form(envelope: Envelope, trust: Trust, error: SignatureError) -> HostCertificate:
    # The current root key, else a retired one (root key rotation) for a certificate it
    # signed before its transition.
    for root in trust.root_keys:
        if not verify(root.public_key, CERTIFICATE_DOMAIN, envelope):
            continue
        try:
            cert = msgspec.msgpack.decode(envelope.body, type=HostCertificate)
        except (msgspec.DecodeError, ValueError):
            raise error from None
        if root.honours(cert.issued_at):
            return cert
    raise error


PHONE_CERTIFICATE_FORMAT = "openkms-phone-certificate/1"


class PhoneCertificate(msgspec.Struct, frozen=True, array_like=True):
    """A host certificate activated by phone: the IDs and what the host fills in itself.

    The host rebuilds it deterministically from its installation ID and the confirmation
    ID; see docs/protocol.md, section 9.4.
    """

    format: str
    installation_id: str  # data digits, no check digits
    confirmation_id: str  # data digits, no check digits
    group: str
    host_public_key: bytes
    host_fingerprint: str
    host_key_id: str


def phone_certificate_envelope(cert: PhoneCertificate) -> Envelope:
    """The envelope of a phone certificate: its body, and an empty signature."""
    return Envelope(msgspec.msgpack.encode(cert), b"")


def _verify_phone_form(body: bytes, trust: Trust, error: SignatureError) -> HostCertificate:
    # The telephone IDs and their short signatures (libsodium through PyNaCl, about 1 MiB
    # resident) only for a certificate in phone form: a host activated online never loads
    # them (docs/architecture.md, "Imports at the top of modules").
    from openkms.core.phone import (  # noqa: PLC0415
        ConfirmationId,
        InstallationId,
        PhoneFacts,
        PhoneKind,
        host_reference,
        verify_confirmation,
    )

    try:
        phone = msgspec.msgpack.decode(body, type=PhoneCertificate)
        iid = InstallationId.from_data_digits(phone.installation_id, PhoneKind.HOST)
        cid = ConfirmationId.from_data_digits(phone.confirmation_id)
    except (msgspec.DecodeError, ValueError, OpenKMSError):
        raise error from None
    catalog = trust.catalog
    facts = PhoneFacts(catalog.application_id, phone.host_key_id, group=phone.group)
    if (
        phone.format != PHONE_CERTIFICATE_FORMAT
        or iid.machine != host_reference(phone.host_public_key, phone.host_fingerprint)
        or not any(
            root.phone_key
            and root.honours(iid.day * 86400)
            and verify_confirmation(root.phone_key, iid, cid, facts)
            for root in trust.root_keys
        )
    ):
        raise error
    return HostCertificate(
        serial=hashlib.sha256(body).hexdigest()[:16],
        application_id=catalog.application_id,
        host_fingerprint=phone.host_fingerprint,
        host_public_key=phone.host_public_key,
        host_key_id=phone.host_key_id,
        group=phone.group,
        issued_at=iid.day * 86400,
        expires_at=(iid.day + cid.days) * 86400,
    )


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
