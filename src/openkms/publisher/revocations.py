"""The publisher's revocation list: block a key, revoke a host, write the next signed list.

``DIR/revocations.json`` holds the latest list (public: hosts fetch it from the service or
take it as a file, and pass it to their clients). Each change writes the whole list again
under the next serial, so a list carries every entry of the lists before it that can still
matter: entries whose certificates are long expired are dropped when the next list is
written (the rule and its margin: :mod:`openkms.publisher._revocation_pruning`). A host or
client holding an older list takes the newer one (a higher serial, signed as ever).

``revoke-host`` names a host by its fingerprint (all its certificates), one certificate by
its serial, or a host by the ID it shows, ``OKMS-`` and 12 hex digits, resolved against the
publisher's records (:mod:`openkms.publisher._host_ids`: never a guess).
``revoke_phone_host`` takes the phone reference (``phone:<hex>``) the records and the report
show for a host activated by phone: the host recorded online under it is revoked by its
fingerprint; a host known only by it cannot be named in the list (its installation ID
carries no fingerprint), so it is refused a new certificate on every channel
(:mod:`openkms.publisher._phone_refusals`), and the list is left as it is.

``block_key`` and ``revoke_host`` are what ``openkms publisher block-key`` and
``revoke-host`` call. The publisher's records are the one source of truth for "is this key
blocked" (the service and ``publisher confirm`` refuse a blocked key from them, 0xC004C003):
``block_key`` records the block first, then publishes it in the list, which is what hosts
and clients see. Both actions are in the records' audit log.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from openkms._files import atomic_write, read_bytes
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.revocation import (
    RevocationEntry,
    RevocationKind,
    RevocationList,
    RevocationListBody,
)
from openkms.errors import OpenKMSError
from openkms.i18n import _
from openkms.publisher._host_ids import (
    PhoneOnlyHost,
    RecordedHost,
    parse_okms_id,
    parse_phone_ref,
    resolve_host_id,
    resolve_phone_ref,
)
from openkms.publisher._issued_certificates import (
    ISSUE_CERTIFICATE,
    PHONE_CLAIM_ACTION,
    issued_from,
    phone_grants_from,
)
from openkms.publisher._phone_refusals import PhoneRefusal, add_phone_refusal
from openkms.publisher._revocation_pruning import prune
from openkms.publisher._revoked_hosts import REVOCATIONS_FILE
from openkms.publisher.publisher import Publisher
from openkms.publisher.records import IssuedKey

__all__ = [
    "REVOCATIONS_FILE",
    "PhoneHostRevocation",
    "RevocationUpdate",
    "block_key",
    "latest_revocations",
    "parse_host_id",
    "revoke_host",
    "revoke_named",
    "revoke_phone_host",
]

_FINGERPRINT = re.compile(r"([0-9a-f]{32})(:[0-9a-f]{16})?")
_SERIAL = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class RevocationUpdate:
    """The list after a change, the entry concerned, and whether the change was new."""

    revocations: RevocationList
    entry: RevocationEntry
    added: bool
    path: Path
    blocked: IssuedKey | None = None  # the key as the records now hold it (block_key)
    host: RecordedHost | None = None  # the host an OKMS- ID named (revoke_host)
    dropped: tuple[RevocationEntry, ...] = ()  # entries past their certificates' life


@dataclass(frozen=True, slots=True)
class PhoneHostRevocation:
    """What ``revoke-host phone:<hex>`` did: revoked the host recorded online under the
    reference in the list (``update``), or refused the host known only by it (``refused``)."""

    reference: str
    update: RevocationUpdate | None = None
    refused: PhoneOnlyHost | None = None
    added: bool = True  # False: the reference was already refused


def latest_revocations(publisher: Publisher) -> RevocationList | None:
    """The publisher's current list (``DIR/revocations.json``), verified; None before any."""
    path = publisher.directory / REVOCATIONS_FILE
    if not path.exists():
        return None
    trust = publisher.trust()
    data = read_bytes(path, _("revocation list"))
    return RevocationList.from_json(
        data, trust.publisher_key, trust.catalog.application_id, str(path)
    )


def block_key(publisher: Publisher, key_text: str, reason: str = "") -> RevocationUpdate:
    """Block a host key or a MAK: hosts certified under it refuse to serve, clients leave."""
    key = ProductKey.parse(key_text)
    if key.kind is KeyKind.SETUP:
        raise OpenKMSError(
            _("This is a setup key: it is public, printed in the catalog, and cannot be blocked."),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Give the host key or the MAK to block."),
        )
    blocked = publisher.block_key(key_text)  # the records first: the service refuses it now
    update = _add(publisher, RevocationKind.KEY, key.key_id, reason)
    return dataclasses.replace(update, blocked=blocked)


def revoke_host(publisher: Publisher, host_id: str, reason: str = "") -> RevocationUpdate:
    """Revoke a host: its fingerprint or its ``OKMS-`` ID (all its certificates), or one
    certificate's serial. An ``OKMS-`` ID that names no recorded host, or several, is an
    error (0x80070057) and nothing is revoked."""
    host: RecordedHost | None = None
    digits = parse_okms_id(host_id)
    if digits is not None:
        host = resolve_host_id(publisher.usage(), digits)
        kind, subject = RevocationKind.HOST, host.fingerprint
    else:
        kind, subject = parse_host_id(host_id)
    update = _add(publisher, kind, subject, reason)
    if update.added:
        detail = f"{kind.value} list={update.revocations.serial} {update.entry.reason}"
        publisher.audit("revoke-host", subject, detail.rstrip())
    return dataclasses.replace(update, host=host)


def revoke_named(
    publisher: Publisher, text: str, reason: str = ""
) -> RevocationUpdate | PhoneHostRevocation:
    """What ``revoke-host`` does with what the operator typed: a phone reference
    (``revoke_phone_host``), else an ``OKMS-`` ID, a fingerprint or a serial (``revoke_host``)."""
    if parse_phone_ref(text) is not None:
        return revoke_phone_host(publisher, text, reason)
    return revoke_host(publisher, text, reason)


def revoke_phone_host(publisher: Publisher, text: str, reason: str = "") -> PhoneHostRevocation:
    """Revoke the host the records show under the phone reference ``text`` (see the module);
    OpenKMSError (0x80070057) when it names no recorded host, and nothing is revoked."""
    reference = parse_phone_ref(text)
    if reference is None:
        raise _not_a_host(text)
    found = resolve_phone_ref(publisher.usage(), reference)
    if isinstance(found, RecordedHost):
        update = _add(publisher, RevocationKind.HOST, found.fingerprint, reason)
        if update.added:
            detail = f"host list={update.revocations.serial} ref={reference} {update.entry.reason}"
            publisher.audit("revoke-host", found.fingerprint, detail.rstrip())
        return PhoneHostRevocation(reference, dataclasses.replace(update, host=found))
    refusal = PhoneRefusal(reference, publisher.now(), _reason(reason), found.key_ids)
    added = add_phone_refusal(publisher.directory, refusal)
    if added:
        detail = f"phone-only keys={','.join(found.key_ids)} {refusal.reason}"
        publisher.audit("revoke-host", reference, detail.rstrip())
    return PhoneHostRevocation(reference, refused=found, added=added)


def parse_host_id(text: str) -> tuple[RevocationKind, str]:
    """What ``revoke-host`` names besides an ``OKMS-`` ID: a host fingerprint (``host dli``'s
    Installation ID, with or without its machine part) or a certificate serial (16 hex)."""
    cleaned = text.strip().lower()
    fingerprint = _FINGERPRINT.fullmatch(cleaned)
    if fingerprint is not None:
        return RevocationKind.HOST, fingerprint.group(1)
    if _SERIAL.fullmatch(cleaned):
        return RevocationKind.CERTIFICATE, cleaned
    raise _not_a_host(text)


def _not_a_host(text: str) -> OpenKMSError:
    return OpenKMSError(
        _(
            "{text!r} names no host: give the host's ID (OKMS- and 12 hex digits), its "
            "fingerprint (32 hex digits, as 'openkms host dli' shows its Installation ID), "
            "a certificate serial (16 hex digits) or, for a host activated by phone, its "
            "phone reference (phone: and up to 32 hex digits, as 'publisher report' shows it)."
        ).format(text=text[:80]),
        code=ResultCode.INVALID_ARGUMENT,
        fix=_("Copy the Installation ID or the Certificate serial from the host's 'dli'."),
    )


def _add(publisher: Publisher, kind: RevocationKind, subject: str, reason: str) -> RevocationUpdate:
    """Write the next list with the entry ``(kind, subject)`` (the same list if it is in)."""
    path = publisher.directory / REVOCATIONS_FILE
    current = latest_revocations(publisher)
    entries = current.body.entries if current is not None else ()
    for entry in entries:
        if entry.kind is kind and entry.subject == subject:
            assert current is not None
            return RevocationUpdate(current, entry, added=False, path=path)
    now = publisher.now()
    entry = RevocationEntry(kind, subject, now, _reason(reason))
    kept, dropped = _pruned(publisher, entries, now)
    body = RevocationListBody(
        application_id=publisher.trust().catalog.application_id,
        serial=(current.serial if current is not None else 0) + 1,
        issued_at=max(now, current.body.issued_at if current is not None else 0),
        entries=(*kept, entry),
    )
    signed = RevocationList.sign(publisher.root_key(), body)
    atomic_write(path, signed.to_json())
    if dropped:
        gone = " ".join(f"{e.kind.value}:{e.subject}" for e in dropped)
        publisher.audit("drop-revocations", f"list={signed.serial}", gone)
    return RevocationUpdate(signed, entry, added=True, path=path, dropped=dropped)


def _pruned(
    publisher: Publisher, entries: tuple[RevocationEntry, ...], now: int
) -> tuple[tuple[RevocationEntry, ...], tuple[RevocationEntry, ...]]:
    """``entries`` split into those the next list keeps and those it may forget."""
    if not entries:
        return (), ()
    with publisher.records(readonly=True) as db:
        certificates = issued_from(db.run(db.records.audit_entries(ISSUE_CERTIFICATE)))
        grants = phone_grants_from(db.run(db.records.audit_entries(PHONE_CLAIM_ACTION)))
        usage = db.run(db.records.usage())
    return prune(entries, certificates, usage, now, grants)


def _reason(text: str) -> str:
    """A reason as a list may carry it: one printable line of at most 200 characters."""
    cleaned = " ".join(text.split())
    if len(cleaned) > 200 or not cleaned.isprintable():
        raise OpenKMSError(
            _("The reason must be one printable line of at most 200 characters."),
            code=ResultCode.INVALID_ARGUMENT,
        )
    return cleaned
