"""Whether the publisher's own revocation list revokes a host asking to be activated.

A host revoked by ``publisher revoke-host`` (all its certificates, by fingerprint) is refused
a new certificate, online, by request file and by phone (0xC004C003), instead of being
certified again under a list that revokes it: the operator who revoked it meant it. Apart
from ``revocations.py`` so that ``authority.py`` and ``phone.py`` import it without
importing ``publisher.py``.

A host known only by its phone reference cannot be named by a list entry (the list names
fingerprints): ``revoke-host phone:<hex>`` refuses it through
:mod:`openkms.publisher._phone_refusals` instead, recognised by that reference on every
channel (:func:`refused_by_phone_ref` by phone, :func:`refused_online` online).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from openkms._files import read_bytes
from openkms.core.codes import ResultCode
from openkms.core.revocation import (
    RevocationEntry,
    RevocationKind,
    RevocationList,
    fingerprint_subject,
)
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.i18n import _
from openkms.publisher._phone_refusals import PhoneRefusal, refused_phone_host
from openkms.publisher.records import PHONE_PREFIX, PublisherRecords

__all__ = [
    "REVOCATIONS_FILE",
    "refuse_revoked",
    "refused_by_phone_ref",
    "refused_online",
    "revoked_host",
]

REVOCATIONS_FILE: Final = "revocations.json"


def revoked_host(directory: Path, trust: Trust, host_fingerprint: str) -> RevocationEntry | None:
    """The entry of ``DIR/revocations.json`` that revokes the host ``host_fingerprint``."""
    return _revoked_subjects(directory, trust).get(fingerprint_subject(host_fingerprint))


async def _revoked_by_phone_ref(
    directory: Path, trust: Trust, records: PublisherRecords, phone_ref: str
) -> RevocationEntry | None:
    """The entry revoking the host recorded (online) with the phone reference ``phone_ref``
    (the records are read only when the list revokes some host)."""
    subjects = _revoked_subjects(directory, trust)
    if not subjects or not phone_ref.startswith(PHONE_PREFIX):
        return None
    for key in await records.usage():
        for machine in key.machines:
            if machine.phone_ref == phone_ref and not machine.machine.startswith(PHONE_PREFIX):
                entry = subjects.get(fingerprint_subject(machine.machine))
                if entry is not None:
                    return entry
    return None


def refused_online(
    directory: Path, trust: Trust, host_fingerprint: str, phone_ref: str
) -> RevocationEntry | PhoneRefusal | None:
    """Why a host asking online (or with a request file) is not certified again: its
    fingerprint's entry in the list, or its phone reference's refusal; None if neither."""
    return revoked_host(directory, trust, host_fingerprint) or refused_phone_host(
        directory, phone_ref
    )


async def refused_by_phone_ref(
    directory: Path, trust: Trust, records: PublisherRecords, phone_ref: str
) -> RevocationEntry | PhoneRefusal | None:
    """Why a host asking by phone is not certified again: its reference's refusal, or the
    list's entry of the host recorded online under it; None if neither."""
    refused = refused_phone_host(directory, phone_ref)
    if refused is not None:
        return refused
    return await _revoked_by_phone_ref(directory, trust, records, phone_ref)


def _revoked_subjects(directory: Path, trust: Trust) -> dict[str, RevocationEntry]:
    """The hosts the publisher's current list revokes, by fingerprint subject."""
    path = directory / REVOCATIONS_FILE
    if not path.exists():
        return {}
    revocations = RevocationList.from_json(
        read_bytes(path, _("revocation list")),
        trust.publisher_key,
        trust.catalog.application_id,
        str(path),
    )
    return {
        entry.subject: entry
        for entry in revocations.body.entries
        if entry.kind is RevocationKind.HOST
    }


def refuse_revoked(entry: RevocationEntry | PhoneRefusal | None) -> None:
    """Raise 0xC004C003 when ``entry`` revokes (or refuses) the host asking."""
    if entry is None:
        return
    reason = f": {entry.reason}" if entry.reason else ""
    raise OpenKMSError(
        _("The publisher revoked this host{reason}; it is not certified again.").format(
            reason=reason
        ),
        code=ResultCode.KEY_BLOCKED,
        fix=_(
            "Install a new host (a new identity) with a host key from the publisher; the "
            "revoked one stays revoked."
        ),
    )
