"""Ed25519 signatures with domain separation, and the signed envelope they travel in."""

from __future__ import annotations

import hashlib

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "Envelope",
    "fingerprint",
    "public_bytes",
    "sign",
    "verify",
]


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """Signed bytes: ``body`` is an encoded struct, ``signature`` covers domain + body."""

    body: bytes
    signature: bytes


def sign(private_key: Ed25519PrivateKey, domain: bytes, body: bytes) -> Envelope:
    """Sign ``body`` under ``domain`` (so a ticket can never pass for a certificate)."""
    return Envelope(body, private_key.sign(domain + b"\0" + body))


def verify(public_key: bytes, domain: bytes, envelope: Envelope) -> bool:
    """True when ``envelope`` was signed under ``domain`` by the holder of ``public_key``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
        key.verify(envelope.signature, domain + b"\0" + envelope.body)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public half of ``private_key``."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(public_key: bytes) -> str:
    """A short, stable identifier of a public key (hex, 32 characters)."""
    return hashlib.sha256(public_key).hexdigest()[:32]
