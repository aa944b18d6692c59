"""The host certificates the publisher signed, as its audit log records them.

Each certificate signed (online by the service, or ``publisher activate-host``) appends one
``issue-certificate`` line: subject the certificate's serial, detail
``host=<fingerprint> key=<key ID> issued=<time> expires=<time>``. The revocation list uses
them to know when an entry can no longer matter (:mod:`openkms.publisher._revocation_pruning`).
Certificates signed before this line existed are not in it: entries that may concern them
are kept. A host's phone activations are not either (the publisher knows no fingerprint, no
serial of them); each is the audit line of its claim instead (``activate-host``, machine
``phone:<hex>``, granted), read by :func:`phone_grants_from`: a phone grant lasts at most
``MAX_GRANT_DAYS`` from its installation ID's day, at most a day after the claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from openkms.core.certificate import CertificateFile, HostCertificate
from openkms.core.revocation import fingerprint_subject
from openkms.publisher.records import AuditEntry

__all__ = [
    "ISSUE_CERTIFICATE",
    "PHONE_CLAIM_ACTION",
    "IssuedCertificate",
    "PhoneGrant",
    "certificate_audit_entry",
    "issued_from",
    "phone_grants_from",
]

ISSUE_CERTIFICATE = "issue-certificate"
PHONE_CLAIM_ACTION = "activate-host"  # the audit action of every host claim (records.py)
_PHONE_CLAIM = re.compile(r"(?:new-machine|same-machine) machine=(phone:[0-9a-f]{1,32}) ")
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


@dataclass(frozen=True, slots=True)
class PhoneGrant:
    """One host activation granted by phone: the host key, the host's reference, when."""

    key_id: str
    reference: str  # ``phone:<hex>``
    at: int


def phone_grants_from(entries: list[AuditEntry]) -> list[PhoneGrant]:
    """The granted phone claims of hosts among ``entries`` (other lines: skipped)."""
    found: list[PhoneGrant] = []
    for entry in entries:
        parsed = _PHONE_CLAIM.match(entry.detail)
        if entry.action == PHONE_CLAIM_ACTION and parsed is not None:
            found.append(PhoneGrant(entry.subject, parsed.group(1), entry.at))
    return found
