"""host.key read and written without ``cryptography`` (core/key_pem.py), against it.

Existing host directories must load unchanged, a new host.key must be byte for byte what
``cryptography`` wrote, and anything else must give the same StateError as when
``cryptography`` read the file (never a traceback).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.key_pem import PemKeyError, PemProblem, decode_private_key, encode_private_key
from openkms.core.signing import Ed25519Key
from openkms.errors import StateError
from openkms.host.state import HostState

SEEDS = st.binary(min_size=32, max_size=32)
NONE = ser.NoEncryption()
PKCS8, TRADITIONAL = ser.PrivateFormat.PKCS8, ser.PrivateFormat.TraditionalOpenSSL


def _pem(seed: bytes) -> bytes:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return key.private_bytes(ser.Encoding.PEM, PKCS8, NONE)


def _armor(der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN PRIVATE KEY-----\n" + body + b"-----END PRIVATE KEY-----\n"


def _others() -> list[bytes]:
    keys = [
        x25519.X25519PrivateKey.generate(),
        x448.X448PrivateKey.generate(),
        ed448.Ed448PrivateKey.generate(),
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(65537, 1024),
        dsa.generate_private_key(1024),
    ]
    pems = [k.private_bytes(ser.Encoding.PEM, PKCS8, NONE) for k in keys]
    pems += [k.private_bytes(ser.Encoding.PEM, TRADITIONAL, NONE) for k in keys[3:]]
    ed = ed25519.Ed25519PrivateKey.generate()
    pems.append(ed.private_bytes(ser.Encoding.PEM, PKCS8, ser.BestAvailableEncryption(b"pw")))
    pems.append(ed.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, NONE))
    pub = ed.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    return [*pems, pub]


OTHERS = _others()


def _today(data: bytes) -> bytes | PemProblem | None:
    """What reading ``data`` with ``cryptography`` gave: the seed, the problem, or None for a
    traceback (an exception the host did not catch)."""
    try:
        loaded = ser.load_pem_private_key(data, None)
    except (ValueError, TypeError):
        return PemProblem.NOT_A_PRIVATE_KEY
    except (UnsupportedAlgorithm, Exception):
        return None
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        return PemProblem.NOT_ED25519
    return loaded.private_bytes_raw()


def _now(data: bytes) -> bytes | PemProblem:
    try:
        return decode_private_key(data).seed()
    except PemKeyError as exc:
        return exc.problem


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS)
def test_a_written_key_is_cryptography_s_pem_and_reads_back(seed: bytes) -> None:
    pem = encode_private_key(Ed25519Key(seed))
    assert pem == _pem(seed)
    assert decode_private_key(pem).seed() == seed


@settings(max_examples=300, deadline=None)
@given(seed=SEEDS, data=st.data())
def test_truncated_and_reformatted_pems_read_as_they_did(seed: bytes, data: st.DataObject) -> None:
    pem = _pem(seed)
    variant = data.draw(
        st.sampled_from(["truncate", "crlf", "around", "split", "spaces", "no-newline"])
    )
    if variant == "truncate":
        pem = pem[: data.draw(st.integers(0, len(pem)))]
    elif variant == "crlf":
        pem = pem.replace(b"\n", b"\r\n")
    elif variant == "around":
        junk = st.text(st.characters(codec="ascii", exclude_characters="-"), max_size=30)
        pem = data.draw(junk).encode() + b"\n" + pem + data.draw(junk).encode()
    elif variant in ("split", "spaces"):
        head, body, tail = pem.split(b"\n", 2)
        cut = data.draw(st.integers(1, len(body) - 1))
        gap = b"\n" if variant == "split" else b" "
        pem = b"\n".join((head, body[:cut] + gap + body[cut:], tail))
    else:
        pem = pem.rstrip(b"\n")
    assert _now(pem) == _today(pem)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
def test_garbage_reads_as_it_did(data: bytes) -> None:
    assert _now(data) == _today(data) == PemProblem.NOT_A_PRIVATE_KEY


@pytest.mark.parametrize("index", range(len(OTHERS)))
def test_other_algorithms_encrypted_and_public_keys_read_as_they_did(index: int) -> None:
    assert _now(OTHERS[index]) == _today(OTHERS[index])


@settings(max_examples=500, deadline=None)
@given(seed=SEEDS, data=st.data())
def test_a_changed_der_loads_only_what_cryptography_loaded(
    seed: bytes, data: st.DataObject
) -> None:
    der = bytearray(base64.b64decode(_pem(seed).split(b"\n")[1]))
    how = data.draw(st.sampled_from(["replace", "cut", "extend"]))
    if how == "replace":
        der[data.draw(st.integers(0, 15))] = data.draw(st.integers(0, 255))
    elif how == "cut":
        del der[data.draw(st.integers(0, len(der) - 1)) :]
    else:
        der += data.draw(st.binary(min_size=1, max_size=40))
    pem = _armor(bytes(der))
    now, today = _now(pem), _today(pem)
    if isinstance(today, bytes) or isinstance(now, bytes):
        assert now == today
    else:  # both refused (cryptography's reason, or its traceback, may differ)
        assert isinstance(now, PemProblem)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key", "not a PEM private key"),
        (_pem(bytes(32))[:40], "not a PEM private key"),
        (OTHERS[0], "not an Ed25519 key"),
        (OTHERS[-3], "not a PEM private key"),  # encrypted
    ],
)
def test_the_host_says_what_is_wrong_with_its_key_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "host.key").write_bytes(content)
    with pytest.raises(StateError, match=message):
        HostState(tmp_path).private_key()


def test_an_existing_host_key_loads_unchanged(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "host.key").write_bytes(key.private_bytes(ser.Encoding.PEM, PKCS8, NONE))
    loaded = HostState(tmp_path).private_key()
    assert isinstance(loaded, Ed25519Key) and loaded.seed() == key.private_bytes_raw()
