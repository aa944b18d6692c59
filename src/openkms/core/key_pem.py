"""The host's Ed25519 private key as a PKCS#8 PEM file (host.key), without ``cryptography``.

An unencrypted PKCS#8 Ed25519 key (RFC 8410) is always the same 16-byte DER prefix followed
by the 32-byte seed, and the PEM armor of those 48 bytes is one line of base64: that is what
:func:`encode_private_key` writes, byte for byte what ``cryptography`` and OpenSSL write, and
all :func:`decode_private_key` accepts. The PEM armor is read as leniently as ``cryptography``
reads it (text around the block, line breaks and spaces in the base64, missing padding), so
every existing host.key loads unchanged. Anything else is a :class:`PemKeyError` saying
whether the file holds no private key at all or a private key of another algorithm.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re

from openkms.core.signing import SEED_BYTES, Ed25519Key

__all__ = ["PemKeyError", "PemProblem", "decode_private_key", "encode_private_key"]

# SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_LABEL = "PRIVATE KEY"
_PRIVATE_LABELS = frozenset(
    {_LABEL, "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"}
)
_TRADITIONAL_LABELS = frozenset({"RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"})
# The DER of the algorithm OIDs (RFC 8017, 5480, 8410, 3279) of other private keys.
_OTHER_ALGORITHMS = frozenset(
    bytes.fromhex(oid)
    for oid in (
        "2a864886f70d010101",  # rsaEncryption
        "2a864886f70d01010a",  # RSASSA-PSS
        "2a8648ce3d0201",  # id-ecPublicKey
        "2a8648ce380401",  # id-dsa
        "2b656e",  # X25519
        "2b656f",  # X448
        "2b6571",  # Ed448
    )
)
_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_WHITESPACE = re.compile(r"[ \t\r\n]+")


class PemProblem(enum.Enum):
    """Why a PEM file gave no Ed25519 key."""

    NOT_A_PRIVATE_KEY = "not a PEM private key"
    NOT_ED25519 = "not an Ed25519 key"


class PemKeyError(ValueError):
    """The data is not an unencrypted PKCS#8 PEM Ed25519 private key."""

    def __init__(self, problem: PemProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def encode_private_key(key: Ed25519Key) -> bytes:
    """``key`` as an unencrypted PKCS#8 PEM file (as ``cryptography`` writes it)."""
    body = base64.b64encode(_ED25519_PKCS8_PREFIX + key.seed())
    return b"-----BEGIN PRIVATE KEY-----\n" + body + b"\n-----END PRIVATE KEY-----\n"


def decode_private_key(data: bytes) -> Ed25519Key:
    """The Ed25519 key of a PKCS#8 PEM file; :class:`PemKeyError` for anything else."""
    label, der = _first_private_block(data)
    if label in _TRADITIONAL_LABELS:
        raise PemKeyError(PemProblem.NOT_ED25519)
    if label != _LABEL:  # encrypted: this host never writes one, and has no password
        raise PemKeyError(PemProblem.NOT_A_PRIVATE_KEY)
    prefix_length = len(_ED25519_PKCS8_PREFIX)
    if len(der) == prefix_length + SEED_BYTES and der.startswith(_ED25519_PKCS8_PREFIX):
        return Ed25519Key(der[prefix_length:])
    if _algorithm(der) in _OTHER_ALGORITHMS:
        raise PemKeyError(PemProblem.NOT_ED25519)
    raise PemKeyError(PemProblem.NOT_A_PRIVATE_KEY)


def _first_private_block(data: bytes) -> tuple[str, bytes]:
    """The label and DER of the first PEM block that holds a private key."""
    text = data.decode("latin-1")
    for match in _BLOCK.finditer(text):
        label = match.group(1)
        if label not in _PRIVATE_LABELS:
            continue
        body = _WHITESPACE.sub("", match.group(2))
        body += "=" * (-len(body) % 4)
        try:
            return label, base64.b64decode(body.encode("latin-1"), validate=True)
        except (binascii.Error, ValueError):
            raise PemKeyError(PemProblem.NOT_A_PRIVATE_KEY) from None
    raise PemKeyError(PemProblem.NOT_A_PRIVATE_KEY)


def _algorithm(der: bytes) -> bytes | None:
    """The DER content of the algorithm OID of a version-0 PKCS#8 structure, or None."""
    body = _contents(der, 0x30)
    if body is None or not body.startswith(b"\x02\x01\x00\x30"):
        return None
    identifier = body[3:]  # SEQUENCE { OID, parameters }: skip its tag and length
    if len(identifier) < 2:
        return None
    header = 2 if identifier[1] < 0x80 else 2 + (identifier[1] & 0x7F)
    if len(identifier) < header + 2 or identifier[header] != 0x06:
        return None
    oid = identifier[header + 2 : header + 2 + identifier[header + 1]]
    return oid if len(oid) == identifier[header + 1] else None


def _contents(der: bytes, tag: int) -> bytes | None:
    """The contents of ``der`` when it is exactly one TLV of ``tag`` (DER lengths)."""
    if len(der) < 2 or der[0] != tag:
        return None
    first = der[1]
    if first < 0x80:
        length, start = first, 2
    else:
        size = first & 0x7F
        if not 1 <= size <= 2 or len(der) < 2 + size:
            return None
        length, start = int.from_bytes(der[2 : 2 + size], "big"), 2 + size
    return der[start:] if len(der) - start == length else None
