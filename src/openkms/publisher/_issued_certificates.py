"""The host certificates the publisher signed, as its audit log records them.

Each certificate signed (online by the service, or ``publisher activate-host``) appends one
``issue-certificate`` line: subject the certificate's serial, detail
``host=<fingerprint> key=<key ID> issued=<time> expires=<time>``. The revocation list uses
them to know when an entry can no longer matter (:mod:`openkms.publisher._revocation_pruning`).
Certificates signed before this line existed, and phone activations (the records keep no
fingerprint, no serial), are not in it: entries that may concern them are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from openkms.core.certificate import CertificateFile, HostCertificate
from openkms.core.revocation import fingerprint_subject
from openkms.publisher.records import AuditEntry

__all__ = ["ISSUE_CERTIFICATE", "IssuedCertificate", "certificate_audit_entry", "issued_from"]

ISSUE_CERTIFICATE = "issue-certificate"
_DETAIL = re.compile(
    r"host=([0-9a-f]{32}) key=([0-9a-f]{32}) issued=([0-9]{1,15}) expires=([0-9]{1,15})"
)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """One host certificate the publisher signed."""

    serial: str
    fingerprint: str  # the key part (32 hex digits), as a ``host`` revocation names it
    key_id: str
    issued_at: int
    expires_at: int


def certificate_audit_entry(certificate_file: bytes, actor: str, at: int) -> AuditEntry:
    """The audit line of a certificate file the publisher has just signed."""
    envelope = msgspec.json.decode(certificate_file, type=CertificateFile).certificate
    cert = msgspec.msgpack.decode(envelope.body, type=HostCertificate)
    detail = (
        f"host={fingerprint_subject(cert.host_fingerprint)} key={cert.host_key_id} "
        f"issued={cert.issued_at} expires={cert.expires_at}"
    )
    return AuditEntry(at, actor, ISSUE_CERTIFICATE, cert.serial, detail)


def issued_from(entries: list[AuditEntry]) -> list[IssuedCertificate]:
    """The certificates of ``issue-certificate`` lines (other or malformed lines: skipped)."""
    found: list[IssuedCertificate] = []
    for entry in entries:
        parsed = _DETAIL.fullmatch(entry.detail)
        if entry.action != ISSUE_CERTIFICATE or parsed is None:
            continue
        host, key_id, issued, expires = parsed.groups()
        found.append(IssuedCertificate(entry.subject, host, key_id, int(issued), int(expires)))
    return found
