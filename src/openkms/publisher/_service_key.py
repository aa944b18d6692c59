"""The MAK service's own signing key and its certificate (role "mak"), issued by the root.

Layout in the publisher directory::

    service.key               Ed25519 private key of the MAK service, PEM, 0600
    service-certificate.json  its certificate (signed by the root key), JSON

The certificate covers every product of the catalog (its group is the highest) and lasts
the catalog's ``certificate_days``; it is renewed when less than half of that is left, or
when it no longer verifies against the current trust (another application ID, groups
renamed). A MAK ticket is valid until its certificate's expiry, so at least half of
``certificate_days`` (365 days by default).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms._files import atomic_write, read_bytes
from openkms.core.certificate import (
    CERTIFICATE_DOMAIN,
    ROLE_MAK,
    HostCertificate,
    verify_certificate,
)
from openkms.core.signing import Envelope, fingerprint, public_bytes, sign
from openkms.core.trust import Trust
from openkms.errors import SignatureError, StateError
from openkms.i18n import _

__all__ = ["MakSigner", "load_mak_signer"]

SERVICE_KEY = "service.key"
SERVICE_CERTIFICATE = "service-certificate.json"


@dataclass(frozen=True, slots=True)
class MakSigner:
    """The MAK service's key and its verified certificate."""

    private_key: Ed25519PrivateKey
    envelope: Envelope
    certificate: HostCertificate


def load_mak_signer(
    directory: Path, root: Ed25519PrivateKey, trust: Trust, now: int
) -> tuple[MakSigner, bool]:
    """The MAK signer of ``directory``, its certificate renewed if needed (True if it was)."""
    key = _service_key(directory)
    current = _current(directory, trust, now)
    if current is not None:
        return MakSigner(key, *current), False
    catalog = trust.catalog
    public = public_bytes(key)
    cert = HostCertificate(
        serial=secrets.token_hex(8),
        application_id=catalog.application_id,
        host_fingerprint="mak-service:" + fingerprint(public),
        host_public_key=public,
        host_key_id="",
        group=catalog.groups[-1],
        issued_at=now - 300,
        expires_at=now + catalog.certificate_days * 86400,
        role=ROLE_MAK,
    )
    envelope = sign(root, CERTIFICATE_DOMAIN, msgspec.msgpack.encode(cert))
    atomic_write(directory / SERVICE_CERTIFICATE, msgspec.json.encode(envelope) + b"\n")
    return MakSigner(key, envelope, cert), True


def _current(directory: Path, trust: Trust, now: int) -> tuple[Envelope, HostCertificate] | None:
    """The stored certificate if it verifies, is the MAK role's and has half its life left."""
    path = directory / SERVICE_CERTIFICATE
    if not path.exists():
        return None
    try:
        envelope = msgspec.json.decode(read_bytes(path, _("service certificate")), type=Envelope)
        cert = verify_certificate(envelope, trust)
    except (msgspec.DecodeError, UnicodeDecodeError, SignatureError):
        return None
    half = (cert.expires_at - cert.issued_at) // 2
    if not cert.mak or cert.group != trust.catalog.groups[-1] or now >= cert.expires_at - half:
        return None
    return envelope, cert


def _service_key(directory: Path) -> Ed25519PrivateKey:
    path = directory / SERVICE_KEY
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(path, pem, mode=0o600)
        return key
    try:
        loaded = serialization.load_pem_private_key(read_bytes(path, _("service key")), None)
    except (ValueError, TypeError):
        raise StateError(_("{path} is not a PEM private key").format(path=path)) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise StateError(_("{path} is not an Ed25519 key").format(path=path))
    return loaded
