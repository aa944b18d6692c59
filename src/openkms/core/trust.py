"""Trust: the pinned publisher key and the catalog it signed (``trust.json``).

A publisher key travels as text, for pasting into an application's code::

    okpk1:<43 characters: the 32-byte Ed25519 public key, base64url without padding>

``openkms publisher init`` prints it and ``openkms publisher key DIR`` prints it again;
``Client.open(directory, publisher_key=KEY)`` pins it.

A publisher that rotated its root key (``openkms publisher rotate-root``) ships a trust
document signed by the new key that carries the chain of transitions from its first key
(:mod:`openkms.core.rotation`): a holder pinned to any key of the chain accepts it, and the
retired keys verify only the certificates issued before their transition.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import msgspec

from openkms.core.catalog import Catalog
from openkms.core.codes import ResultCode
from openkms.core.rotation import RootKey, RootTransition, RotationLink, verify_chain
from openkms.core.signing import Envelope, fingerprint, verify
from openkms.errors import OpenKMSError, SignatureError, StateError
from openkms.i18n import _

__all__ = [
    "CATALOG_DOMAIN",
    "PUBLISHER_KEY_PREFIX",
    "TRUST_FORMAT",
    "CatalogUpdate",
    "Trust",
    "format_publisher_key",
    "parse_publisher_key",
]

CATALOG_DOMAIN = b"openkms/catalog/v1"
TRUST_FORMAT = "openkms-trust/1"
PUBLISHER_KEY_PREFIX = "okpk1:"
_KEY_BYTES = 32


def format_publisher_key(public_key: bytes) -> str:
    """The text form of a publisher's Ed25519 public key: ``okpk1:`` and base64url."""
    return PUBLISHER_KEY_PREFIX + base64.urlsafe_b64encode(public_key).rstrip(b"=").decode()


def parse_publisher_key(text: str) -> bytes:
    """The 32 key bytes of ``okpk1:...`` (spaces around are ignored); OpenKMSError if not."""
    text = text.strip()
    error = OpenKMSError(
        _(
            "{text!r} is not a publisher key (expected {publisher_key_prefix} and 43 "
            "base64url characters)"
        ).format(text=text[:60], publisher_key_prefix=PUBLISHER_KEY_PREFIX),
        code=ResultCode.INVALID_ARGUMENT,
        fix=_("Copy the key that 'openkms publisher key DIR' prints, whole."),
    )
    body = text.removeprefix(PUBLISHER_KEY_PREFIX)
    if body == text or len(body) != 43:
        raise error
    try:
        raw = base64.urlsafe_b64decode(body + "=")
    except (binascii.Error, ValueError):
        raise error from None
    if len(raw) != _KEY_BYTES or format_publisher_key(raw) != text:
        raise error
    return raw


class _TrustFile(msgspec.Struct, frozen=True, omit_defaults=True):
    format: str
    publisher: str
    publisher_key: bytes
    catalog: Envelope
    # Root key transitions, oldest first; omitted (not written) when the key never rotated,
    # so a document without rotation keeps its exact bytes.
    rotations: tuple[RotationLink, ...] = ()


class CatalogUpdate(msgspec.Struct, array_like=True, frozen=True):
    """A catalog as a host passes it to its clients (the response's ``catalog`` field).

    Without rotation it is written as the catalog envelope ``[body, signature]`` exactly;
    after a root key rotation a third element carries the chain of transitions, so that a
    client pinned to a retired key can follow it (an older reader ignores the element).
    """

    body: bytes
    signature: bytes
    rotations: tuple[RotationLink, ...] = ()


@dataclass(frozen=True, slots=True)
class Trust:
    """A publisher key and its verified catalog (and the verified chain of its rotations)."""

    publisher_key: bytes
    catalog_envelope: Envelope
    catalog: Catalog
    rotations: tuple[RotationLink, ...] = ()
    transitions: tuple[RootTransition, ...] = ()

    @classmethod
    def create(
        cls,
        publisher_key: bytes,
        catalog_envelope: Envelope,
        rotations: tuple[RotationLink, ...] = (),
    ) -> Trust:
        """Verify the catalog signature (and the rotation chain) and decode the catalog.

        SignatureError if the catalog does not verify or the chain is broken.
        """
        if not verify(publisher_key, CATALOG_DOMAIN, catalog_envelope):
            raise SignatureError(
                _("The catalog signature does not verify against the publisher key."),
                fix=_("Obtain trust.json again from the publisher."),
            )
        try:
            catalog = msgspec.msgpack.decode(catalog_envelope.body, type=Catalog)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(
                _("The signed catalog cannot be decoded: {exc}").format(exc=exc)
            ) from None
        transitions = verify_chain(rotations, publisher_key, catalog.serial)
        return cls(publisher_key, catalog_envelope, catalog, rotations, transitions)

    @classmethod
    def from_json(cls, data: bytes, source: str = "trust.json") -> Trust:
        """Load a trust file; a garbage or tampered file raises a clear OpenKMSError."""
        try:
            raw = msgspec.json.decode(data, type=_TrustFile)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(
                _("{source} is not an OpenKMS trust file: {exc}").format(source=source, exc=exc)
            ) from None
        if raw.format != TRUST_FORMAT:
            raise StateError(
                _("{source}: format {format!r}, expected {trust_format!r}").format(
                    source=source, format=raw.format, trust_format=TRUST_FORMAT
                )
            )
        return cls.create(raw.publisher_key, raw.catalog, raw.rotations)

    def to_json(self) -> bytes:
        """The trust file's bytes (JSON, indented)."""
        raw = _TrustFile(
            TRUST_FORMAT,
            self.catalog.publisher,
            self.publisher_key,
            self.catalog_envelope,
            self.rotations,
        )
        return msgspec.json.format(msgspec.json.encode(raw), indent=2) + b"\n"

    def catalog_update(self) -> bytes:
        """This trust as a host passes it on (:class:`CatalogUpdate`, MessagePack)."""
        if not self.rotations:
            return msgspec.msgpack.encode(self.catalog_envelope)
        envelope = self.catalog_envelope
        return msgspec.msgpack.encode(
            CatalogUpdate(envelope.body, envelope.signature, self.rotations)
        )

    @classmethod
    def from_catalog_update(cls, data: bytes, pinned: Trust) -> Trust:
        """The trust a host passed on, verified; its key is the chain's last key if it carries
        a chain, else ``pinned``'s. Whether it replaces ``pinned`` is ``check_newer_than``'s
        to say. SignatureError / StateError when it does not verify or decode."""
        try:
            update = msgspec.msgpack.decode(data, type=CatalogUpdate)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(
                _("The catalog a host sent cannot be decoded: {exc}").format(exc=exc)
            ) from None
        key = pinned.publisher_key
        if update.rotations:
            try:
                last = msgspec.msgpack.decode(update.rotations[-1].body, type=RootTransition)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise StateError(
                    _("A root key transition cannot be decoded: {exc}").format(exc=exc)
                ) from None
            key = last.next_key
        envelope = Envelope(update.body, update.signature)
        return cls.create(key, envelope, update.rotations)

    @property
    def publisher_id(self) -> str:
        """Fingerprint of the publisher key."""
        return fingerprint(self.publisher_key)

    @property
    def publisher_key_text(self) -> str:
        """The publisher key as applications pin it (``okpk1:...``)."""
        return format_publisher_key(self.publisher_key)

    @property
    def lineage(self) -> tuple[bytes, ...]:
        """Every root key of this publisher, oldest first; the last is ``publisher_key``."""
        if not self.transitions:
            return (self.publisher_key,)
        return (self.transitions[0].previous_key, *(t.next_key for t in self.transitions))

    @property
    def root_keys(self) -> tuple[RootKey, ...]:
        """The keys that verify certificates: the current one, then the retired ones.

        A retired key verifies only certificates issued before its transition (and each
        certificate only until its own expiry, as always).
        """
        current = RootKey(self.publisher_key, self.catalog.phone_key)
        retired = (
            RootKey(t.previous_key, t.previous_phone_key, t.at) for t in reversed(self.transitions)
        )
        return (current, *retired)

    def descends_from(self, public_key: bytes) -> bool:
        """True when ``public_key`` is this publisher's key or one it rotated from."""
        return public_key in self.lineage

    def require_publisher(self, public_key: bytes, pinned_by: str) -> None:
        """SignatureError (PUBLISHER_MISMATCH) unless this trust chains to ``public_key``.

        The chain starts at the pin: a document signed by a later root key is accepted when
        its rotation chain passes through ``public_key``.
        """
        if not self.descends_from(public_key):
            raise SignatureError(
                _(
                    "This trust document is signed by publisher {publisher_key_text} "
                    "({publisher}), not by {key}, the publisher {pinned_by} is pinned to, "
                    "and its root key chain does not start there."
                ).format(
                    publisher_key_text=self.publisher_key_text,
                    publisher=self.catalog.publisher,
                    key=format_publisher_key(public_key),
                    pinned_by=pinned_by,
                ),
                code=ResultCode.PUBLISHER_MISMATCH,
            )

    def check_newer_than(self, installed: Trust) -> bool:
        """True if this trust replaces ``installed`` (False: the same one, nothing to do).

        The acceptance rule of every path that installs a newer trust: the installed chain of
        root key transitions must be a prefix of this one (so this document descends from the
        installed key: a rotation is followed, a retired key never comes back), else
        SignatureError (PUBLISHER_MISMATCH); the catalog serial must be higher, else
        OpenKMSError (CATALOG_NOT_NEWER: an older catalog, or another one under the same
        serial).
        """
        if (
            self.catalog_envelope == installed.catalog_envelope
            and self.rotations == installed.rotations
        ):
            return False
        self._require_successor_chain(installed)
        if self.catalog.serial > installed.catalog.serial:
            return True
        raise OpenKMSError(
            _(
                "This catalog (serial {serial}) is not newer than the installed one "
                "(serial {installed_serial})."
            ).format(serial=self.catalog.serial, installed_serial=installed.catalog.serial),
            code=ResultCode.CATALOG_NOT_NEWER,
        )

    def _require_successor_chain(self, installed: Trust) -> None:
        known = installed.rotations
        if self.rotations[: len(known)] == known and self.descends_from(installed.publisher_key):
            return
        if self.publisher_key in installed.lineage[:-1]:
            reason = _("it is signed by a root key this publisher has retired")
        else:
            reason = _("its root key chain does not continue the installed one")
        raise SignatureError(
            _(
                "This trust document (publisher key {publisher_key_text}) does not "
                "succeed the installed one (publisher key {other_key}): {reason}."
            ).format(
                publisher_key_text=self.publisher_key_text,
                other_key=installed.publisher_key_text,
                reason=reason,
            ),
            code=ResultCode.PUBLISHER_MISMATCH,
            fix=_(
                "Install the latest trust.json from the publisher; after a root key rotation "
                "only documents signed by the new key, with the full chain, are accepted."
            ),
        )
