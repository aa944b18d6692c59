"""The host ID administrators see (``OKMS-`` and 12 hex digits), resolved to a host.

A host shows itself as ``OKMS-`` + the first 12 hex digits of its fingerprint, upper case
(``host dli``/``dlv``, the dashboard, the publisher's report). Those 48 bits name a host only
together with the publisher's records of the hosts it activated (online or with a request
file: the records keep each host's full fingerprint). :func:`resolve_host_id` finds the one
host an ID names, or says why it cannot: no recorded host has it (hosts activated by phone
are recorded without their fingerprint), or several do (the candidates are listed, so that
the operator names one by its fingerprint). It never guesses.

A host activated only by phone is recorded as ``phone:<hex>``, its *phone reference* (a
128-bit hash of its public key and fingerprint: the installation ID carries nothing more),
which ``publisher report`` shows. :func:`resolve_phone_ref` finds what such a reference
names: the host recorded online under it (then its fingerprint is known), or a host known
only by the reference (:class:`PhoneOnlyHost`), never a MAK client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.errors import OpenKMSError
from openkms.i18n import _
from openkms.publisher.records import PHONE_PREFIX, KeyUsage, phone_machine

__all__ = [
    "HOST_ID_PREFIX",
    "PhoneOnlyHost",
    "RecordedHost",
    "hosts_with_id",
    "parse_okms_id",
    "parse_phone_ref",
    "resolve_host_id",
    "resolve_phone_ref",
]

HOST_ID_PREFIX = "OKMS-"
_OKMS_ID = re.compile(r"okms-([0-9a-f]{12})")
_FINGERPRINT = re.compile(r"([0-9a-f]{32})(:[0-9a-f]{16})?")
_PHONE_REF = re.compile(r"phone:([0-9a-f]{1,32})")


@dataclass(frozen=True, slots=True)
class RecordedHost:
    """A host the records show activated: its fingerprint's key part, names, host keys."""

    fingerprint: str  # 32 hex digits: the subject of a ``host`` revocation
    machine_names: tuple[str, ...]
    key_ids: tuple[str, ...]

    @property
    def host_id(self) -> str:
        """The ID the host shows (``OKMS-`` + 12 hex digits, upper case)."""
        return HOST_ID_PREFIX + self.fingerprint[:12].upper()


def parse_okms_id(text: str) -> str | None:
    """The 12 hex digits (lower case) of ``OKMS-XXXXXXXXXXXX`` (any case), else None."""
    found = _OKMS_ID.fullmatch(text.strip().lower())
    return found.group(1) if found is not None else None


@dataclass(frozen=True, slots=True)
class PhoneOnlyHost:
    """A host the records know only by its phone reference: the host keys it used, when."""

    reference: str  # ``phone:<hex>``
    key_ids: tuple[str, ...]
    last_at: int


def parse_phone_ref(text: str) -> str | None:
    """The phone reference ``phone:<hex>`` (any case, leading zeros dropped) as the records
    write it, else None."""
    found = _PHONE_REF.fullmatch(text.strip().lower())
    return phone_machine(int(found.group(1), 16)) if found is not None else None


def hosts_with_id(usage: list[KeyUsage], digits: str) -> list[RecordedHost]:
    """The recorded hosts whose fingerprint starts with ``digits``, by fingerprint."""
    found: dict[str, tuple[list[str], list[str]]] = {}
    for key_usage in usage:
        if key_usage.key.kind is not KeyKind.HOST:
            continue
        for machine in key_usage.machines:
            parsed = _FINGERPRINT.fullmatch(machine.machine)
            if parsed is None or not parsed.group(1).startswith(digits):
                continue  # a phone activation ("phone:..."), or another host
            names, keys = found.setdefault(parsed.group(1), ([], []))
            if machine.machine_name and machine.machine_name not in names:
                names.append(machine.machine_name)
            if machine.key_id not in keys:
                keys.append(machine.key_id)
    return [RecordedHost(fp, tuple(n), tuple(k)) for fp, (n, k) in sorted(found.items())]


def resolve_host_id(usage: list[KeyUsage], digits: str) -> RecordedHost:
    """The one recorded host ``OKMS-`` + ``digits`` names; OpenKMSError if none or several."""
    shown = HOST_ID_PREFIX + digits.upper()
    hosts = hosts_with_id(usage, digits)
    if len(hosts) == 1:
        return hosts[0]
    if not hosts:
        raise OpenKMSError(
            _("No host with ID {host_id} is in the publisher's records.").format(host_id=shown),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_(
                "Check the ID against 'openkms publisher report DIR'. A host activated only "
                "by phone is recorded without its fingerprint, so without its ID: give its "
                "fingerprint (the Installation ID of its 'dli') to revoke it in the list, and "
                "its phone reference (phone:<hex>, its line in the report) to refuse it a new "
                "activation; or block its host key ('block-key'), which revokes every host "
                "of the key."
            ),
        )
    candidates = "; ".join(
        f"{host.fingerprint} ({', '.join(host.machine_names) or '?'})" for host in hosts
    )
    raise OpenKMSError(
        _("The host ID {host_id} names {count} hosts: {candidates}.").format(
            host_id=shown, count=len(hosts), candidates=candidates
        ),
        code=ResultCode.INVALID_ARGUMENT,
        fix=_(
            "Give the fingerprint of the one to revoke (the Installation ID of its 'dli'); "
            "nothing was revoked."
        ),
    )


def _unknown_reference(reference: str) -> OpenKMSError:
    return OpenKMSError(
        _("No host with phone reference {reference} is in the publisher's records.").format(
            reference=reference
        ),
        code=ResultCode.INVALID_ARGUMENT,
        fix=_(
            "Copy the reference from the host's line of 'openkms publisher report DIR' (a "
            "MAK client's reference names no host); nothing was revoked."
        ),
    )


def resolve_phone_ref(usage: list[KeyUsage], reference: str) -> RecordedHost | PhoneOnlyHost:
    """What the phone reference ``reference`` names among the recorded hosts: the host
    recorded online under it, else the host known only by it; OpenKMSError if neither (or,
    against all odds, several hosts recorded online share it)."""
    fingerprints: set[str] = set()
    keys: list[str] = []
    last_at = 0
    for key_usage in usage:
        if key_usage.key.kind is not KeyKind.HOST:
            continue
        for machine in key_usage.machines:
            if machine.machine == reference:
                keys.append(machine.key_id)
                last_at = max(last_at, machine.last_at)
            elif machine.phone_ref == reference and not machine.machine.startswith(PHONE_PREFIX):
                parsed = _FINGERPRINT.fullmatch(machine.machine)
                if parsed is not None:
                    fingerprints.add(parsed.group(1))
    if len(fingerprints) > 1:
        raise OpenKMSError(
            _("The phone reference {reference} names {count} hosts: {candidates}.").format(
                reference=reference,
                count=len(fingerprints),
                candidates="; ".join(sorted(fingerprints)),
            ),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_("Give the fingerprint of the one to revoke; nothing was revoked."),
        )
    if fingerprints:
        (fingerprint,) = fingerprints
        return hosts_with_id(usage, fingerprint)[0]
    if not keys:
        raise _unknown_reference(reference)
    return PhoneOnlyHost(reference, tuple(dict.fromkeys(keys)), last_at)
