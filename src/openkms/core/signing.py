"""Ed25519 signatures with domain separation, and the signed envelope they travel in.

Signing and verifying run on libsodium (PyNaCl's bindings), which a serving host loads
anyway: the front never imports ``cryptography`` (13 MiB resident; bench/README.md,
"Memory (this wave)"). :class:`Ed25519Key` is the host's key; the publisher's side keeps
``cryptography``'s ``Ed25519PrivateKey``, which satisfies the same :class:`SigningKey`
protocol, and Ed25519 being deterministic, both sign alike.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import msgspec
from nacl import bindings
from nacl.exceptions import CryptoError

__all__ = [
    "SEED_BYTES",
    "Ed25519Key",
    "Envelope",
    "PublicKey",
    "SigningKey",
    "fingerprint",
    "public_bytes",
    "sign",
    "verify",
]

SEED_BYTES = 32
_PUBLIC_BYTES = 32
_SIGNATURE_BYTES = 64


class PublicKey(Protocol):
    """The public half of a :class:`SigningKey`: its 32 raw bytes."""

    def public_bytes_raw(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        ...


class SigningKey(Protocol):
    """An Ed25519 private key: :class:`Ed25519Key` or ``cryptography``'s."""

    def sign(self, data: bytes, /) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        ...

    def public_key(self) -> PublicKey:
        """The public half."""
        ...


class _RawPublicKey:
    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def public_bytes_raw(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._raw


class Ed25519Key:
    """An Ed25519 private key held as its 32-byte seed (RFC 8032), signing with libsodium."""

    __slots__ = ("_public", "_secret", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes, not {len(seed)}")
        self._seed = bytes(seed)
        self._public, self._secret = bindings.crypto_sign_seed_keypair(self._seed)

    @classmethod
    def generate(cls) -> Ed25519Key:
        """A new key from the operating system's random source."""
        return cls(os.urandom(SEED_BYTES))

    def __repr__(self) -> str:
        return f"Ed25519Key(public={self._public.hex()})"

    def seed(self) -> bytes:
        """The 32-byte seed (the private key's raw form, as PKCS#8 stores it)."""
        return self._seed

    def sign(self, data: bytes, /) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        signed: bytes = bindings.crypto_sign(data, self._secret)
        return signed[:_SIGNATURE_BYTES]

    def public_key(self) -> PublicKey:
        """The public half."""
        return _RawPublicKey(self._public)


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """Signed bytes: ``body`` is an encoded struct, ``signature`` covers domain + body."""

    body: bytes
    signature: bytes


def sign(private_key: SigningKey, domain: bytes, body: bytes) -> Envelope:
    """Sign ``body`` under ``domain`` (so a ticket can never pass for a certificate)."""
    return Envelope(body, private_key.sign(domain + b"\0" + body))


def verify(public_key: bytes, domain: bytes, envelope: Envelope) -> bool:
    """True when ``envelope`` was signed under ``domain`` by the holder of ``public_key``.

    Any input may be hostile: a malformed key or signature is False, never an exception.
    libsodium is stricter than OpenSSL on some malformed inputs (small-order public keys,
    non-canonical encodings), which it rejects.
    """
    signature = envelope.signature
    if (
        not isinstance(public_key, bytes)
        or not isinstance(signature, bytes)
        or len(public_key) != _PUBLIC_BYTES
        or len(signature) != _SIGNATURE_BYTES
    ):
        return False
    try:
        bindings.crypto_sign_open(signature + domain + b"\0" + envelope.body, public_key)
    except (CryptoError, ValueError, TypeError):
        return False
    return True


def public_bytes(private_key: SigningKey) -> bytes:
    """The 32 raw bytes of the public half of ``private_key``."""
    return private_key.public_key().public_bytes_raw()


def fingerprint(public_key: bytes) -> str:
    """A short, stable identifier of a public key (hex, 32 characters)."""
    return hashlib.sha256(public_key).hexdigest()[:32]
