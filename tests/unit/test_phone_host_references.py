"""Hosts known by their phone reference: naming them, refusing them, pruning their entries."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.core.revocation import RevocationEntry, RevocationKind
from openkms.errors import OpenKMSError
from openkms.publisher._host_ids import (
    PhoneOnlyHost,
    RecordedHost,
    parse_phone_ref,
    resolve_phone_ref,
)
from openkms.publisher._issued_certificates import (
    IssuedCertificate,
    PhoneGrant,
    phone_grants_from,
)
from openkms.publisher._phone_refusals import (
    PHONE_REFUSALS_FILE,
    PhoneRefusal,
    add_phone_refusal,
    phone_refusals,
    refused_phone_host,
)
from openkms.publisher._revocation_pruning import PHONE_LIFE, PRUNE_MARGIN, keep_until, prune
from openkms.publisher.records import AuditEntry, IssuedKey, KeyUsage, MachineActivation

DAY = 86400
KEY = "ab" * 16
MAK = "cd" * 16
HOST_A = "0123456789ab" + "0" * 20
REF = "phone:" + "7" * 32


def _key(key_id: str = KEY, kind: KeyKind = KeyKind.HOST) -> IssuedKey:
    group, activation = ("C", None) if kind is KeyKind.HOST else (None, "p")
    return IssuedKey(key_id, "K-" + key_id, kind, group, activation, 6, 10, 0)


def _row(
    machine: str, last_at: int, count: int = 1, key_id: str = KEY, ref: str | None = None
) -> MachineActivation:
    return MachineActivation(key_id, machine, "kms", 0, last_at, count, ref)


def _cert(serial: str, issued: int, days: int) -> IssuedCertificate:
    return IssuedCertificate(serial, HOST_A, KEY, issued - 300, issued + days * DAY)


def _entry(kind: RevocationKind, subject: str, at: int = 0) -> RevocationEntry:
    return RevocationEntry(kind, subject, at, "")


# -- phone references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("phone:00abc", "phone:abc"), (" PHONE:ABC ", "phone:abc"), ("phone:" + "f" * 32, None)],
)
def test_a_phone_reference_is_read_as_the_records_write_it(text: str, expected: str | None) -> None:
    assert parse_phone_ref(text) == (expected or text.strip())


@pytest.mark.parametrize(
    "text", ["phone:", "phone:xyz", "phone:" + "1" * 33, "abc", "OKMS-0123456789AB", "phone: 1"]
)
def test_anything_else_is_not_a_phone_reference(text: str) -> None:
    assert parse_phone_ref(text) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parse_phone_ref_never_raises(text: str) -> None:
    found = parse_phone_ref(text)
    assert found is None or found.startswith("phone:")


def test_a_reference_only_a_phone_row_has_names_that_phone_only_host() -> None:
    usage = [KeyUsage(_key(), (_row(REF, 500), _row(f"{HOST_A}:{'9' * 16}", 900)))]
    assert resolve_phone_ref(usage, REF) == PhoneOnlyHost(REF, (KEY,), 500)


def test_a_reference_recorded_online_names_the_host_by_its_fingerprint() -> None:
    usage = [KeyUsage(_key(), (_row(f"{HOST_A}:{'9' * 16}", 900, ref=REF),))]
    found = resolve_phone_ref(usage, REF)
    assert isinstance(found, RecordedHost) and found.fingerprint == HOST_A


@pytest.mark.parametrize("machines", [(), (_row(REF, 1, key_id=MAK),)])
def test_an_unknown_or_mak_reference_is_an_error_with_a_fix(
    machines: tuple[MachineActivation, ...],
) -> None:
    usage = [KeyUsage(_key(MAK, KeyKind.MAK), machines), KeyUsage(_key(), ())]
    with pytest.raises(OpenKMSError) as caught:
        resolve_phone_ref(usage, REF)
    assert caught.value.code is ResultCode.INVALID_ARGUMENT
    assert "publisher report" in (caught.value.fix or "")


# -- the refusals file --------------------------------------------------------------------------


def test_a_refusal_is_recorded_once_and_found_by_its_reference(tmp_path: Path) -> None:
    assert refused_phone_host(tmp_path, REF) is None
    refusal = PhoneRefusal(REF, 10, "stolen", (KEY,))
    assert add_phone_refusal(tmp_path, refusal)
    assert not add_phone_refusal(tmp_path, PhoneRefusal(REF, 20))
    assert refused_phone_host(tmp_path, REF) == refusal
    assert refused_phone_host(tmp_path, "phone:1") is None


@pytest.mark.parametrize(
    "data",
    [b"", b"{", b"[]", b'{"format": "other/1", "refusals": []}', b'{"format": 1}', b"\xff" * 9],
)
def test_a_damaged_refusals_file_is_a_clear_error(tmp_path: Path, data: bytes) -> None:
    (tmp_path / PHONE_REFUSALS_FILE).write_bytes(data)
    with pytest.raises(OpenKMSError) as caught:
        phone_refusals(tmp_path)
    assert caught.value.code is ResultCode.STATE_CORRUPT


# -- phone claims in the audit log --------------------------------------------------------------


def test_phone_claims_of_hosts_are_read_back_and_others_skipped() -> None:
    lines = [
        AuditEntry(5, "cli:u (phone)", "activate-host", KEY, f"new-machine machine={REF} name=x"),
        AuditEntry(6, "cli:u (phone)", "activate-host", KEY, f"same-machine machine={REF} name=x"),
        AuditEntry(7, "cli:u (phone)", "activate-host", KEY, f"blocked machine={REF} name=x"),
        AuditEntry(8, "svc", "activate-host", KEY, f"new-machine machine={HOST_A}:1 ref={REF}"),
        AuditEntry(9, "cli:u (phone)", "activate-mak", MAK, "new-machine machine=phone:a name=x"),
    ]
    assert phone_grants_from(lines) == [PhoneGrant(KEY, REF, 5), PhoneGrant(KEY, REF, 6)]


# -- entries that used to stay for ever ---------------------------------------------------------


def test_a_host_counted_online_and_by_phone_in_one_record_leaves_after_both() -> None:
    usage = [KeyUsage(_key(), (_row(f"{HOST_A}:{'9' * 16}", 9000, count=2, ref=REF),))]
    certs = [_cert("00" * 8, 1000, 30)]
    entry = _entry(RevocationKind.HOST, HOST_A)
    assert keep_until(entry, certs, usage) is None  # no claim line: the second is unknown
    grants = [PhoneGrant(KEY, REF, 9000)]
    assert keep_until(entry, certs, usage, grants) == 9000 + PHONE_LIFE + PRUNE_MARGIN
    other = [PhoneGrant(KEY, "phone:1", 9000)]  # another host's claim accounts for nothing
    assert keep_until(entry, certs, usage, other) is None


def test_a_host_never_activated_online_lasts_as_long_as_any_phone_grant() -> None:
    usage = [KeyUsage(_key(), (_row(REF, 7000),))]
    entry = _entry(RevocationKind.HOST, HOST_A, at=5000)
    assert keep_until(entry, [], usage) == 7000 + PHONE_LIFE + PRUNE_MARGIN
    assert keep_until(entry, [], []) == 5000 + PHONE_LIFE + PRUNE_MARGIN


def test_a_revoked_host_whose_grant_is_still_valid_stays_listed() -> None:
    usage = [KeyUsage(_key(), (_row(REF, 7000),))]
    entry = _entry(RevocationKind.HOST, HOST_A, at=8000)
    still_valid = 7000 + 4095 * DAY  # the grant may serve until then, tickets after it
    kept, dropped = prune([entry], [], usage, still_valid + PRUNE_MARGIN)
    assert kept == (entry,) and dropped == ()
    kept, dropped = prune([entry], [], usage, 8000 + PHONE_LIFE + PRUNE_MARGIN)
    assert kept == () and dropped == (entry,)


def test_a_host_key_activated_only_by_phone_leaves_after_its_grants() -> None:
    usage = [KeyUsage(_key(), (_row(REF, 7000), _row("phone:2", 9000)))]
    until = keep_until(_entry(RevocationKind.KEY, KEY, at=9500), [], usage)
    assert until == 9500 + PHONE_LIFE + PRUNE_MARGIN


def test_a_blocked_mak_leaves_after_its_phone_grants_and_stays_if_online() -> None:
    entry = _entry(RevocationKind.KEY, MAK, at=3000)
    phone = [KeyUsage(_key(MAK, KeyKind.MAK), (_row("phone:ab", 9000, key_id=MAK),))]
    assert keep_until(entry, [], phone) == 9000 + PHONE_LIFE + PRUNE_MARGIN
    unused = [KeyUsage(_key(MAK, KeyKind.MAK), ())]
    assert keep_until(entry, [], unused) == 3000 + PRUNE_MARGIN
    cmid = "12345678-1234-1234-1234-123456789abc"
    online = [KeyUsage(_key(MAK, KeyKind.MAK), (_row(cmid, 1000, key_id=MAK),))]
    assert keep_until(entry, [], online) is None


def test_a_serial_no_line_records_is_still_kept() -> None:
    usage = [KeyUsage(_key(), (_row(REF, 7000),))]
    assert keep_until(_entry(RevocationKind.CERTIFICATE, "00" * 8), [], usage) is None
