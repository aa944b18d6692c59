"""Short Schnorr signatures over edwards25519, for confirmation IDs read over the phone.

An Ed25519 signature is 64 bytes (about 155 decimal digits): too long to dictate. A Schnorr
signature whose challenge is half the length of the group order (Neven, Smart, Warinschi,
"Hash function requirements for Schnorr signatures", 2009) keeps 128-bit security with a
128-bit challenge ``c`` and a 253-bit response ``s``: 381 bits, 115 digits.

With ``B`` the edwards25519 base point, ``L`` its prime order, ``x`` the secret scalar and
``P = x*B`` the public key (32 bytes, the Ed25519 point encoding)::

    sign:    k = SHA-512(nonce_key || domain || 0x00 || message) mod L     (never 0)
             R = k*B
             c = first 16 bytes of SHA-512(domain || 0x00 || R || P || message),
                 read as a little-endian integer
             s = (k + c*x) mod L
    verify:  0 < s < L, 0 <= c < 2**128, R' = s*B - c*P,
             accept when the challenge of R' equals c

The key pair is derived from the publisher's root key with HKDF-SHA-512 under its own
domain (:meth:`PhoneSigningKey.derive`), so the root scalar itself never signs anything but
Ed25519, and the nonce is derived deterministically (as in RFC 8032): the same message gives
the same signature. The group operations are libsodium's (PyNaCl), constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from nacl import bindings
from nacl.exceptions import CryptoError

__all__ = [
    "CHALLENGE_BITS",
    "GROUP_ORDER",
    "PhoneSigningKey",
    "ShortSignature",
    "hkdf_sha512",
    "verify_short",
]

GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
CHALLENGE_BITS = 128
_SCALAR_BYTES = 32
_KEY_INFO = b"openkms/phone-signing-key/v1"
_NONCE_INFO = b"openkms/phone-nonce-key/v1"


@dataclass(frozen=True, slots=True)
class ShortSignature:
    """A short Schnorr signature: the challenge (< 2**128) and the response (< L)."""

    challenge: int
    response: int

    def well_formed(self) -> bool:
        """True when both numbers are in range (a zero response never verifies)."""
        return 0 <= self.challenge < 2**CHALLENGE_BITS and 0 < self.response < GROUP_ORDER


def _scalar(value: int) -> bytes:
    return value.to_bytes(_SCALAR_BYTES, "little")


def _challenge(domain: bytes, point: bytes, public_key: bytes, message: bytes) -> int:
    digest = hashlib.sha512(domain + b"\0" + point + public_key + message).digest()
    return int.from_bytes(digest[: CHALLENGE_BITS // 8], "little")


def hkdf_sha512(seed: bytes, info: bytes) -> bytes:
    """64 bytes of HKDF-SHA-512 (RFC 5869) of ``seed`` under ``info``, with no salt.

    No salt means a salt of 64 zero bytes; 64 bytes of output are the first block of the
    expansion, ``T(1) = HMAC(PRK, info || 0x01)``.
    """
    prk = hmac.digest(bytes(hashlib.sha512().digest_size), seed, "sha512")
    return hmac.digest(prk, info + b"\x01", "sha512")


class PhoneSigningKey:
    """The publisher's phone-signing key: a scalar derived from the root key's seed."""

    def __init__(self, scalar: bytes, nonce_key: bytes) -> None:
        self._scalar = scalar
        self._nonce_key = nonce_key
        self.public_key = bindings.crypto_scalarmult_ed25519_base_noclamp(scalar)

    @classmethod
    def derive(cls, root_seed: bytes) -> PhoneSigningKey:
        """The phone key of the root key whose 32-byte Ed25519 seed is ``root_seed``."""
        scalar = bindings.crypto_core_ed25519_scalar_reduce(hkdf_sha512(root_seed, _KEY_INFO))
        if scalar == bytes(_SCALAR_BYTES):  # probability 2**-252; never a usable key
            raise ValueError("the derived phone-signing scalar is zero")
        return cls(scalar, hkdf_sha512(root_seed, _NONCE_INFO))

    def sign(self, domain: bytes, message: bytes) -> ShortSignature:
        """Sign ``message`` under ``domain`` (deterministic)."""
        wide = hashlib.sha512(self._nonce_key + domain + b"\0" + message).digest()
        nonce = bindings.crypto_core_ed25519_scalar_reduce(wide)
        if nonce == bytes(_SCALAR_BYTES):  # probability 2**-252
            raise ValueError("the derived nonce is zero")
        point = bindings.crypto_scalarmult_ed25519_base_noclamp(nonce)
        challenge = _challenge(domain, point, self.public_key, message)
        product = bindings.crypto_core_ed25519_scalar_mul(_scalar(challenge), self._scalar)
        response = bindings.crypto_core_ed25519_scalar_add(nonce, product)
        return ShortSignature(challenge, int.from_bytes(response, "little"))


def verify_short(
    public_key: bytes, domain: bytes, message: bytes, signature: ShortSignature
) -> bool:
    """True when ``signature`` is the holder of ``public_key``'s over ``domain``, ``message``.

    Any input may be hostile: a malformed key or signature is False, never an exception.
    """
    if not signature.well_formed() or len(public_key) != _SCALAR_BYTES:
        return False
    try:
        if not bindings.crypto_core_ed25519_is_valid_point(public_key):
            return False
        s_b = bindings.crypto_scalarmult_ed25519_base_noclamp(_scalar(signature.response))
        if signature.challenge == 0:
            point = s_b
        else:
            c_p = bindings.crypto_scalarmult_ed25519_noclamp(
                _scalar(signature.challenge), public_key
            )
            point = bindings.crypto_core_ed25519_sub(s_b, c_p)
    except CryptoError:
        return False
    return _challenge(domain, point, public_key, message) == signature.challenge
