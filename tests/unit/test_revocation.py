"""The signed revocation list: what it revokes, what replaces what, and hostile bytes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.certificate import HostCertificate
from openkms.core.codes import ResultCode
from openkms.core.revocation import (
    MAX_LIST_BYTES,
    REVOCATIONS_DOMAIN,
    RevocationEntry,
    RevocationKind,
    RevocationList,
    RevocationListBody,
)
from openkms.core.signing import Envelope, public_bytes, sign
from openkms.errors import OpenKMSError

APP = "3a9b5c2e-6d1f-4e8a-9b7c-0d2e4f6a8b1c"
KEY = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
PUBLIC = public_bytes(KEY)
HOST_FP = "ab" * 16
KEY_ID = "cd" * 16
CERT = HostCertificate(
    serial="0123456789abcdef",
    application_id=APP,
    host_fingerprint=f"{HOST_FP}:{'ef' * 8}",
    host_public_key=b"\x01" * 32,
    host_key_id=KEY_ID,
    group="C",
    issued_at=1_700_000_000,
    expires_at=1_900_000_000,
)


def _list(serial: int, *entries: RevocationEntry, issued_at: int = 1_800_000_000) -> RevocationList:
    return RevocationList.sign(KEY, RevocationListBody(APP, serial, issued_at, entries))


def _entry(kind: RevocationKind, subject: str, reason: str = "") -> RevocationEntry:
    return RevocationEntry(kind, subject, 1_790_000_000, reason)


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        (RevocationKind.CERTIFICATE, CERT.serial),
        (RevocationKind.HOST, HOST_FP),
        (RevocationKind.KEY, KEY_ID),
    ],
)
def test_an_entry_revokes_a_certificate_by_serial_host_or_host_key(
    kind: RevocationKind, subject: str
) -> None:
    revocations = _list(1, _entry(kind, subject, "leaked"))
    entry = revocations.revocation_of(CERT)
    assert entry is not None and entry.reason == "leaked"


def test_a_list_without_the_certificate_revokes_nothing() -> None:
    revocations = _list(1, _entry(RevocationKind.CERTIFICATE, "ffff"))
    assert revocations.revocation_of(CERT) is None
    assert revocations.blocked_key(KEY_ID) is None


def test_a_list_round_trips_through_bytes_and_json() -> None:
    revocations = _list(3, _entry(RevocationKind.KEY, KEY_ID, "refund"))
    assert RevocationList.decode(revocations.encoded, PUBLIC, APP) == revocations
    again = RevocationList.from_json(revocations.to_json(), PUBLIC, APP, "revocations.json")
    assert again == revocations
    assert again.blocked_key(KEY_ID) is not None


def test_only_a_higher_serial_replaces_a_list() -> None:
    first, second = _list(1), _list(2, _entry(RevocationKind.HOST, HOST_FP))
    assert second.check_newer_than(None)
    assert second.check_newer_than(first)
    assert not second.check_newer_than(second)  # the same list: nothing to do
    with pytest.raises(OpenKMSError) as older:
        first.check_newer_than(second)
    assert older.value.code is ResultCode.REVOCATIONS_NOT_NEWER


def test_another_list_under_the_same_serial_is_refused() -> None:
    installed = _list(2, _entry(RevocationKind.HOST, HOST_FP))
    forged = _list(2)  # same serial, other entries
    with pytest.raises(OpenKMSError) as caught:
        forged.check_newer_than(installed)
    assert caught.value.code is ResultCode.REVOCATIONS_NOT_NEWER


def test_a_list_of_another_publisher_or_application_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    foreign = RevocationList.sign(other, RevocationListBody(APP, 9, 1_800_000_000, ()))
    for data, app in ((foreign.encoded, APP), (_list(1).encoded, "another-app")):
        with pytest.raises(OpenKMSError) as caught:
            RevocationList.decode(data, PUBLIC, app)
        assert caught.value.code is ResultCode.REVOCATIONS_INVALID


def test_a_list_signed_under_another_domain_is_refused() -> None:
    body = msgspec.msgpack.encode(RevocationListBody(APP, 1, 1_800_000_000, ()))
    envelope = sign(KEY, b"openkms/catalog/v1", body)
    with pytest.raises(OpenKMSError, match="signature"):
        RevocationList.decode(msgspec.msgpack.encode(envelope), PUBLIC, APP)


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ((_entry(RevocationKind.HOST, "abc"),), "32 hex"),
        ((_entry(RevocationKind.KEY, KEY_ID), _entry(RevocationKind.KEY, KEY_ID)), "twice"),
        ((RevocationEntry(RevocationKind.KEY, KEY_ID, 1_900_000_000),), "after"),
    ],
)
def test_a_list_that_breaks_its_rules_is_never_signed(
    entries: tuple[RevocationEntry, ...], problem: str
) -> None:
    with pytest.raises(OpenKMSError, match=problem) as caught:
        _list(1, *entries)
    assert caught.value.code is ResultCode.REVOCATIONS_INVALID


def test_a_list_over_the_size_limit_is_refused() -> None:
    entries = tuple(_entry(RevocationKind.CERTIFICATE, f"{i:016x}", "x" * 100) for i in range(400))
    with pytest.raises(OpenKMSError, match="limit"):
        _list(1, *entries)
    with pytest.raises(OpenKMSError, match="limit"):
        RevocationList.decode(b"\x92" + b"\x00" * MAX_LIST_BYTES, PUBLIC, APP)


def _signed_raw(body: Any) -> bytes:
    """``body`` (any value) encoded, signed by the real key: only the content is hostile."""
    return msgspec.msgpack.encode(sign(KEY, REVOCATIONS_DOMAIN, msgspec.msgpack.encode(body)))


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=80)
    | st.binary(max_size=40)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=16,
)
_entry_maps = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["certificate", "host", "key", "other", ""]),
        "subject": st.sampled_from([KEY_ID, "ABCD", "", "0" * 65, "zz"]) | st.text(max_size=70),
        "revoked_at": st.integers(-5, 2**64 - 1),
    },
    optional={"reason": st.text(max_size=210), "extra": _values},
)
_body_maps = st.fixed_dictionaries(
    {
        "application_id": st.just(APP) | st.text(max_size=140),
        "serial": st.integers(-5, 2**64 - 1),
        "issued_at": st.integers(-5, 2**64 - 1),
        "entries": st.lists(_entry_maps, max_size=4),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_list_or_a_clear_error(data: bytes) -> None:
    with pytest.raises(OpenKMSError) as caught:
        RevocationList.decode(data, PUBLIC, APP)
    assert caught.value.code is ResultCode.REVOCATIONS_INVALID


@settings(max_examples=400, deadline=None)
@given(_body_maps | _values)
def test_any_signed_content_gives_a_valid_list_or_a_clear_error(body: Any) -> None:
    try:
        revocations = RevocationList.decode(_signed_raw(body), PUBLIC, APP)
    except OpenKMSError as exc:
        assert exc.code is ResultCode.REVOCATIONS_INVALID
        return
    # Whatever got through keeps every rule.
    assert revocations.body.application_id == APP
    assert 1 <= revocations.serial <= 2**53
    for entry in revocations.body.entries:
        assert entry.revoked_at <= revocations.body.issued_at
        assert len(entry.reason) <= 200


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_file_bytes_give_a_list_or_a_clear_error(data: bytes) -> None:
    with pytest.raises(OpenKMSError) as caught:
        RevocationList.from_json(data, PUBLIC, APP, "revocations.json")
    assert caught.value.code is ResultCode.REVOCATIONS_INVALID


def test_a_tampered_envelope_is_refused() -> None:
    envelope = msgspec.msgpack.decode(_list(1).encoded, type=Envelope)
    tampered = Envelope(envelope.body.replace(b"\x01", b"\x02", 1), envelope.signature)
    with pytest.raises(OpenKMSError, match="signature"):
        RevocationList.decode(msgspec.msgpack.encode(tampered), PUBLIC, APP)
