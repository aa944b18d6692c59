"""The publisher's signed revocation list: revoked host certificates, hosts and blocked keys.

A list is a MessagePack map signed by the publisher root key under its own domain::

    {application_id, serial, issued_at, entries: [{kind, subject, revoked_at, reason}, ...]}

``kind`` says what ``subject`` names: ``certificate`` (a host certificate's serial),
``host`` (a host's public-key fingerprint, 32 hex digits: every certificate of that host)
or ``key`` (a key ID, 32 hex digits: a host key and every certificate issued under it, or a
MAK). Each list carries every entry of the one before it: a list replaces its predecessor
whole, and only a list of a higher serial does (an older list never replaces a newer one;
the same serial with other bytes is refused too).

The encoded list (``RevocationList.encoded``) is the envelope ``[body, signature]`` as a
MessagePack array: the bytes a host passes to its clients and ``GET /v1/revocations``
returns. ``revocations.json`` holds the same envelope in JSON, for people to carry.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Annotated, Final

import msgspec

from openkms.core.certificate import HostCertificate
from openkms.core.codes import ResultCode
from openkms.core.signing import Envelope, SigningKey, sign, verify
from openkms.errors import OpenKMSError
from openkms.i18n import _

__all__ = [
    "MAX_LIST_BYTES",
    "MAX_REVOCATIONS",
    "REVOCATIONS_DOMAIN",
    "REVOCATIONS_FORMAT",
    "RevocationEntry",
    "RevocationKind",
    "RevocationList",
    "RevocationListBody",
    "fingerprint_subject",
]

REVOCATIONS_DOMAIN: Final = b"openkms/revocations/v1"
REVOCATIONS_FORMAT: Final = "openkms-revocations/1"
# An encoded list must fit in an activation response beside a ticket and a catalog (the
# frame holds 64 KiB): 24 KiB is about 300 entries with reasons, 450 without.
MAX_LIST_BYTES: Final = 24 * 1024
MAX_REVOCATIONS: Final = 2000
_MAX_TIME: Final = 253402300799  # 9999-12-31T23:59:59Z, as the protocol's times
_MAX_SERIAL: Final = 2**53

Subject = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{1,64}$")]
Reason = Annotated[str, msgspec.Meta(max_length=200, pattern="^[^\\x00-\\x1f\\x7f]*$")]
Time = Annotated[int, msgspec.Meta(ge=0, le=_MAX_TIME)]
Serial = Annotated[int, msgspec.Meta(ge=1, le=_MAX_SERIAL)]
Identifier = Annotated[str, msgspec.Meta(max_length=128)]
_HEX32 = re.compile(r"[0-9a-f]{32}")


class RevocationKind(enum.Enum):
    """What an entry's subject names."""

    CERTIFICATE = "certificate"  # a host certificate's serial
    HOST = "host"  # a host's public-key fingerprint: all its certificates
    KEY = "key"  # a key ID: a host key (all its certificates) or a MAK


class RevocationEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One revoked certificate or host, or one blocked key, with when and why."""

    kind: RevocationKind
    subject: Subject
    revoked_at: Time
    reason: Reason = ""


class RevocationListBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The signed content of a revocation list."""

    application_id: Identifier
    serial: Serial
    issued_at: Time
    entries: Annotated[tuple[RevocationEntry, ...], msgspec.Meta(max_length=MAX_REVOCATIONS)]


class _RevocationFile(msgspec.Struct, frozen=True):
    format: str
    revocations: Envelope


_ENVELOPE = msgspec.msgpack.Decoder(Envelope)
_BODY = msgspec.msgpack.Decoder(RevocationListBody)
_FILE = msgspec.json.Decoder(_RevocationFile)
# What msgspec raises on bytes it cannot read (as protocol/connection.py lists them).
_UNREADABLE = (msgspec.DecodeError, UnicodeDecodeError, ValueError, TypeError, OverflowError)


def fingerprint_subject(host_fingerprint: str) -> str:
    """The subject of a ``host`` entry: the public-key part of a host fingerprint."""
    return host_fingerprint.partition(":")[0]


def _invalid(reason: str) -> OpenKMSError:
    return OpenKMSError(
        _("The revocation list is not valid: {reason}.").format(reason=reason),
        code=ResultCode.REVOCATIONS_INVALID,
    )


@dataclass(frozen=True, slots=True)
class RevocationList:
    """A verified revocation list of the pinned publisher, and its encoded bytes."""

    body: RevocationListBody
    encoded: bytes

    @property
    def serial(self) -> int:
        """The list's serial (a later list has a higher one)."""
        return self.body.serial

    @classmethod
    def sign(cls, private_key: SigningKey, body: RevocationListBody) -> RevocationList:
        """Sign ``body`` with the publisher root key; OpenKMSError if it is not a valid list."""
        envelope = sign(private_key, REVOCATIONS_DOMAIN, msgspec.msgpack.encode(body))
        encoded = msgspec.msgpack.encode(envelope)
        _check_body(body)
        if len(encoded) > MAX_LIST_BYTES:
            raise _invalid(
                _(
                    "it takes {count} bytes, over the limit of {max_list_bytes} ({entries} entries)"
                ).format(
                    count=len(encoded), max_list_bytes=MAX_LIST_BYTES, entries=len(body.entries)
                )
            )
        return cls(body, encoded)

    @classmethod
    def decode(cls, data: bytes, publisher_key: bytes, application_id: str) -> RevocationList:
        """Verify and decode an encoded list (any bytes); OpenKMSError (0xE004000B) if not."""
        if len(data) > MAX_LIST_BYTES:
            raise _invalid(
                _("{count} bytes, over the limit of {max_list_bytes}").format(
                    count=len(data), max_list_bytes=MAX_LIST_BYTES
                )
            )
        try:
            envelope = _ENVELOPE.decode(data)
        except _UNREADABLE:
            raise _invalid(_("it cannot be decoded")) from None
        if not verify(publisher_key, REVOCATIONS_DOMAIN, envelope):
            raise _invalid(_("its signature does not verify against the publisher key"))
        try:
            body = _BODY.decode(envelope.body)
        except _UNREADABLE as exc:
            raise _invalid(_("its content is malformed ({exc})").format(exc=exc)) from None
        _check_body(body)
        if body.application_id != application_id:
            raise _invalid(
                _("it is for another application ({application_id!r})").format(
                    application_id=body.application_id[:40]
                )
            )
        return cls(body, bytes(data))

    @classmethod
    def from_json(
        cls, data: bytes, publisher_key: bytes, application_id: str, source: str
    ) -> RevocationList:
        """Read a ``revocations.json`` file; OpenKMSError naming ``source`` if it is not one."""
        try:
            raw = _FILE.decode(data)
        except _UNREADABLE as exc:
            raise _invalid(
                _("{source} is not a revocation list file ({exc})").format(source=source, exc=exc)
            ) from None
        if raw.format != REVOCATIONS_FORMAT:
            raise _invalid(
                _("{source} has format {format!r}, not {revocations_format!r}").format(
                    source=source, format=raw.format[:40], revocations_format=REVOCATIONS_FORMAT
                )
            )
        return cls.decode(msgspec.msgpack.encode(raw.revocations), publisher_key, application_id)

    def to_json(self) -> bytes:
        """The ``revocations.json`` bytes (JSON, indented)."""
        raw = _RevocationFile(REVOCATIONS_FORMAT, _ENVELOPE.decode(self.encoded))
        return msgspec.json.format(msgspec.json.encode(raw), indent=2) + b"\n"

    def check_newer_than(self, installed: RevocationList | None) -> bool:
        """True if this list replaces ``installed`` (False: the same list, nothing to do).

        OpenKMSError (0xE0040024) when it is older, or another list under the same serial.
        """
        if installed is None:
            return True
        if self.encoded == installed.encoded:
            return False
        if self.serial > installed.serial:
            return True
        raise OpenKMSError(
            _(
                "This revocation list (serial {serial}) is not newer than the installed "
                "one (serial {installed_serial})."
            ).format(serial=self.serial, installed_serial=installed.serial),
            code=ResultCode.REVOCATIONS_NOT_NEWER,
        )

    def revocation_of(self, certificate: HostCertificate) -> RevocationEntry | None:
        """The entry that revokes ``certificate`` (its serial, its host or its host key)."""
        wanted = {
            (RevocationKind.CERTIFICATE, certificate.serial),
            (RevocationKind.HOST, fingerprint_subject(certificate.host_fingerprint)),
            (RevocationKind.KEY, certificate.host_key_id),
        }
        for entry in self.body.entries:
            if (entry.kind, entry.subject) in wanted:
                return entry
        return None

    def blocked_key(self, key_id: str) -> RevocationEntry | None:
        """The entry that blocks the key with ID ``key_id``, if any."""
        for entry in self.body.entries:
            if entry.kind is RevocationKind.KEY and entry.subject == key_id:
                return entry
        return None


def _check_body(body: RevocationListBody) -> None:
    """What the decoder's limits cannot say: subjects' shapes, times, no repeats."""
    seen: set[tuple[RevocationKind, str]] = set()
    for entry in body.entries:
        if entry.kind is not RevocationKind.CERTIFICATE and not _HEX32.fullmatch(entry.subject):
            raise _invalid(
                _("a {kind} entry's subject is not 32 hex digits").format(kind=entry.kind.value)
            )
        if entry.revoked_at > body.issued_at:
            raise _invalid(_("an entry is dated after the list was issued"))
        if (entry.kind, entry.subject) in seen:
            raise _invalid(
                _("the {kind} {subject} is listed twice").format(
                    kind=entry.kind.value, subject=entry.subject
                )
            )
        seen.add((entry.kind, entry.subject))
