"""Ed25519 on libsodium (core/signing.py) against ``cryptography``'s: the same signatures,
each verifying the other's, and every malformed input False, never an exception.

libsodium is stricter than OpenSSL on some malformed inputs (small-order public keys,
non-canonical encodings): docs/security.md says so; honest keys and signatures agree.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.shortsig import hkdf_sha512
from openkms.core.signing import Ed25519Key, Envelope, public_bytes, sign, verify

SEEDS = st.binary(min_size=32, max_size=32)
DOMAINS = st.binary(max_size=40)
BODIES = st.binary(max_size=600)


@settings(max_examples=300, deadline=None)
@given(seed=SEEDS, domain=DOMAINS, body=BODIES)
def test_libsodium_and_cryptography_sign_alike_and_verify_each_other(
    seed: bytes, domain: bytes, body: bytes
) -> None:
    ours = Ed25519Key(seed)
    theirs = Ed25519PrivateKey.from_private_bytes(seed)
    assert public_bytes(ours) == public_bytes(theirs)
    ours_signed, theirs_signed = sign(ours, domain, body), sign(theirs, domain, body)
    assert ours_signed == theirs_signed  # Ed25519 is deterministic (RFC 8032)
    assert verify(public_bytes(ours), domain, theirs_signed)
    # and cryptography accepts what libsodium signed
    public = Ed25519PublicKey.from_public_bytes(public_bytes(theirs))
    public.verify(ours_signed.signature, domain + b"\0" + body)


@settings(max_examples=300, deadline=None)
@given(seed=SEEDS, domain=DOMAINS, body=BODIES, data=st.data())
def test_a_changed_envelope_or_key_does_not_verify(
    seed: bytes, domain: bytes, body: bytes, data: st.DataObject
) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = public_bytes(key)
    envelope = sign(key, domain, body)
    signature = bytearray(envelope.signature)
    signature[data.draw(st.integers(0, 63))] ^= data.draw(st.integers(1, 255))
    assert not verify(public, domain, Envelope(envelope.body, bytes(signature)))
    assert not verify(public, domain + b"x", envelope)
    assert not verify(public, domain, Envelope(body + b"x", envelope.signature))
    other = public_bytes(Ed25519Key(bytes(b ^ 1 for b in seed)))
    assert not verify(other, domain, envelope)


@settings(max_examples=500, deadline=None)
@given(public=st.binary(max_size=40), signature=st.binary(max_size=80), body=BODIES)
def test_hostile_keys_and_signatures_are_false_as_with_cryptography(
    public: bytes, signature: bytes, body: bytes
) -> None:
    envelope = Envelope(body, signature)
    ours = verify(public, b"d", envelope)
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, b"d\0" + body)
        theirs = True
    except (InvalidSignature, ValueError):
        theirs = False
    # libsodium may refuse more (small-order keys), never accept what OpenSSL refuses
    assert not ours or theirs
    assert not ours  # random bytes are never a valid signature


def test_small_order_keys_and_wrong_types_are_false() -> None:
    key = Ed25519Key(bytes(range(32)))
    envelope = sign(key, b"d", b"body")
    identity_point = bytes([1]) + bytes(31)  # order 1: libsodium refuses it
    assert not verify(identity_point, b"d", envelope)
    assert not verify(public_bytes(key)[:31], b"d", envelope)
    assert not verify(public_bytes(key), b"d", Envelope(b"body", envelope.signature + b"\0"))
    assert not verify("not bytes", b"d", envelope)  # type: ignore[arg-type]
    assert verify(public_bytes(key), b"d", envelope)


def test_a_key_is_its_seed_and_its_repr_shows_only_the_public_half() -> None:
    seed = bytes(range(32))
    key = Ed25519Key(seed)
    assert key.seed() == seed and seed.hex() not in repr(key)
    assert public_bytes(key).hex() in repr(key)
    assert Ed25519Key.generate().seed() != Ed25519Key.generate().seed()
    for wrong in (b"", bytes(31), bytes(33)):
        try:
            Ed25519Key(wrong)
        except ValueError:
            continue
        raise AssertionError(f"a {len(wrong)}-byte seed was accepted")


@settings(max_examples=300, deadline=None)
@given(seed=st.binary(max_size=200), info=st.binary(max_size=100))
def test_the_stdlib_hkdf_is_cryptography_s(seed: bytes, info: bytes) -> None:
    expected = HKDF(algorithm=hashes.SHA512(), length=64, salt=None, info=info).derive(seed)
    assert hkdf_sha512(seed, info) == expected
