"""Trust: the pinned publisher key and the catalog it signed (``trust.json``)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from openkms.core.catalog import Catalog
from openkms.core.signing import Envelope, fingerprint, verify
from openkms.errors import SignatureError, StateError

__all__ = ["CATALOG_DOMAIN", "TRUST_FORMAT", "Trust"]

CATALOG_DOMAIN = b"openkms/catalog/v1"
TRUST_FORMAT = "openkms-trust/1"


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
        except msgspec.DecodeError as exc:
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
