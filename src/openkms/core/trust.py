"""Trust: the pinned publisher key and the catalog it signed (``trust.json``).

A publisher key travels as text, for pasting into an application's code::

    okpk1:<43 characters: the 32-byte Ed25519 public key, base64url without padding>

``openkms publisher init`` prints it and ``openkms publisher key DIR`` prints it again;
``Client.open(directory, publisher_key=KEY)`` pins it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import msgspec

from openkms.core.catalog import Catalog
from openkms.core.codes import ResultCode
from openkms.core.signing import Envelope, fingerprint, verify
from openkms.errors import OpenKMSError, SignatureError, StateError

__all__ = [
    "CATALOG_DOMAIN",
    "PUBLISHER_KEY_PREFIX",
    "TRUST_FORMAT",
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
        f"{text[:60]!r} is not a publisher key (expected {PUBLISHER_KEY_PREFIX} and 43 "
        "base64url characters)",
        code=ResultCode.INVALID_ARGUMENT,
        fix="Copy the key that 'openkms publisher key DIR' prints, whole.",
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


class _TrustFile(msgspec.Struct, frozen=True):
    format: str
    publisher: str
    publisher_key: bytes
    catalog: Envelope


@dataclass(frozen=True, slots=True)
class Trust:
    """A publisher key and its verified catalog."""

    publisher_key: bytes
    catalog_envelope: Envelope
    catalog: Catalog

    @classmethod
    def create(cls, publisher_key: bytes, catalog_envelope: Envelope) -> Trust:
        """Verify the catalog signature and decode it; SignatureError if it does not verify."""
        if not verify(publisher_key, CATALOG_DOMAIN, catalog_envelope):
            raise SignatureError(
                "The catalog signature does not verify against the publisher key.",
                fix="Obtain trust.json again from the publisher.",
            )
        try:
            catalog = msgspec.msgpack.decode(catalog_envelope.body, type=Catalog)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(f"The signed catalog cannot be decoded: {exc}") from None
        return cls(publisher_key, catalog_envelope, catalog)

    @classmethod
    def from_json(cls, data: bytes, source: str = "trust.json") -> Trust:
        """Load a trust file; a garbage or tampered file raises a clear OpenKMSError."""
        try:
            raw = msgspec.json.decode(data, type=_TrustFile)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise StateError(f"{source} is not an OpenKMS trust file: {exc}") from None
        if raw.format != TRUST_FORMAT:
            raise StateError(f"{source}: format {raw.format!r}, expected {TRUST_FORMAT!r}")
        return cls.create(raw.publisher_key, raw.catalog)

    def to_json(self) -> bytes:
        """The trust file's bytes (JSON, indented)."""
        raw = _TrustFile(
            TRUST_FORMAT, self.catalog.publisher, self.publisher_key, self.catalog_envelope
        )
        return msgspec.json.format(msgspec.json.encode(raw), indent=2) + b"\n"

    @property
    def publisher_id(self) -> str:
        """Fingerprint of the publisher key."""
        return fingerprint(self.publisher_key)

    @property
    def publisher_key_text(self) -> str:
        """The publisher key as applications pin it (``okpk1:...``)."""
        return format_publisher_key(self.publisher_key)

    def require_publisher(self, public_key: bytes, pinned_by: str) -> None:
        """SignatureError (PUBLISHER_MISMATCH) unless this trust is signed by ``public_key``."""
        if self.publisher_key != public_key:
            raise SignatureError(
                f"This trust document is signed by publisher {self.publisher_key_text} "
                f"({self.catalog.publisher}), not by {format_publisher_key(public_key)}, the "
                f"publisher {pinned_by} is pinned to.",
                code=ResultCode.PUBLISHER_MISMATCH,
            )

    def check_newer_than(self, installed: Trust) -> bool:
        """True if this catalog replaces ``installed`` (False: the same one, nothing to do).

        OpenKMSError (CATALOG_NOT_NEWER) when it is older, or another
        catalog under the same serial.
        """
        if self.catalog_envelope == installed.catalog_envelope:
            return False
        if self.catalog.serial > installed.catalog.serial:
            return True
        raise OpenKMSError(
            f"This catalog (serial {self.catalog.serial}) is not newer than the installed one "
            f"(serial {installed.catalog.serial}).",
            code=ResultCode.CATALOG_NOT_NEWER,
        )
