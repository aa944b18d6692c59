"""When a revocation list may forget an entry, and which host an OKMS- ID names (pure rules)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind
from openkms.core.revocation import RevocationEntry, RevocationKind
from openkms.errors import OpenKMSError
from openkms.publisher._host_ids import hosts_with_id, parse_okms_id, resolve_host_id
from openkms.publisher._issued_certificates import IssuedCertificate, issued_from
from openkms.publisher._revocation_pruning import PHONE_LIFE, PRUNE_MARGIN, keep_until, prune
from openkms.publisher.records import AuditEntry, IssuedKey, KeyUsage, MachineActivation

DAY = 86400
KEY = "ab" * 16
MAK = "cd" * 16
HOST_A = "0123456789ab" + "0" * 20
HOST_B = "0123456789ab" + "1" * 20  # the same OKMS- ID as HOST_A: 48 bits collide
HOST_C = "fedcba987654" + "2" * 20


def _key(key_id: str = KEY, kind: KeyKind = KeyKind.HOST) -> IssuedKey:
    group, activation = ("C", None) if kind is KeyKind.HOST else (None, "p")
    return IssuedKey(key_id, "K-" + key_id, kind, group, activation, 6, 10, 0)


def _row(machine: str, last_at: int, count: int = 1, key_id: str = KEY) -> MachineActivation:
    return MachineActivation(key_id, machine, "kms-" + machine[:4], 0, last_at, count)


def _usage(*rows: MachineActivation, key_id: str = KEY) -> list[KeyUsage]:
    return [KeyUsage(_key(key_id), rows)]


def _cert(serial: str, host: str, issued: int, days: int, key_id: str = KEY) -> IssuedCertificate:
    return IssuedCertificate(serial, host, key_id, issued - 300, issued + days * DAY)


def _entry(kind: RevocationKind, subject: str) -> RevocationEntry:
    return RevocationEntry(kind, subject, 0, "")


# -- the margin ---------------------------------------------------------------------------------


def test_the_margin_covers_a_ticket_s_life_its_grace_and_the_clock_skew() -> None:
    assert PRUNE_MARGIN == (180 + 30) * DAY + 4 * 3600


# -- certificate entries ------------------------------------------------------------------------


def test_a_recorded_certificate_s_entry_leaves_after_its_expiry_and_the_margin() -> None:
    certs = [_cert("00" * 8, HOST_A, 1000, 30)]
    entry = _entry(RevocationKind.CERTIFICATE, "00" * 8)
    until = keep_until(entry, certs, [])
    assert until == 1000 + 30 * DAY + PRUNE_MARGIN
    assert prune([entry], certs, [], until - 1) == ((entry,), ())
    assert prune([entry], certs, [], until) == ((), (entry,))


def test_a_serial_the_publisher_never_recorded_is_kept_for_good() -> None:
    entry = _entry(RevocationKind.CERTIFICATE, "11" * 8)
    assert keep_until(entry, [_cert("00" * 8, HOST_A, 1000, 30)], []) is None


# -- host entries -------------------------------------------------------------------------------


def test_a_host_s_entry_lasts_as_long_as_its_last_certificate_could() -> None:
    """Re-activated after the revocation: the newer, longer certificate keeps it revoked."""
    certs = [_cert("00" * 8, HOST_A, 1000, 30), _cert("01" * 8, HOST_A, 5000, 700)]
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 5000, count=2))
    entry = _entry(RevocationKind.HOST, HOST_A)
    assert keep_until(entry, certs, usage) == 5000 + 700 * DAY + PRUNE_MARGIN


def test_a_host_activation_no_certificate_line_accounts_for_keeps_the_entry() -> None:
    """An activation signed before certificates were recorded could still be valid."""
    certs = [_cert("00" * 8, HOST_A, 5000, 30)]
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 5000, count=2))  # two activations, one line
    assert keep_until(_entry(RevocationKind.HOST, HOST_A), certs, usage) is None


def test_a_host_with_no_recorded_certificate_is_kept() -> None:
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 5000))
    assert keep_until(_entry(RevocationKind.HOST, HOST_A), [], usage) is None


def test_a_phone_activation_of_the_host_s_key_counts_for_its_longest_grant() -> None:
    """The records keep no fingerprint for a phone activation: it may be this host."""
    certs = [_cert("00" * 8, HOST_A, 1000, 30)]
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 1000), _row("phone:abc", 2000))
    until = keep_until(_entry(RevocationKind.HOST, HOST_A), certs, usage)
    assert until == 2000 + PHONE_LIFE + PRUNE_MARGIN


def test_other_hosts_certificates_do_not_count() -> None:
    certs = [_cert("00" * 8, HOST_A, 1000, 30), _cert("01" * 8, HOST_C, 9000, 700)]
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 1000), _row(f"{HOST_C}:{'9' * 16}", 9000))
    assert keep_until(_entry(RevocationKind.HOST, HOST_A), certs, usage) == (
        1000 + 30 * DAY + PRUNE_MARGIN
    )


# -- key entries --------------------------------------------------------------------------------


def test_a_host_key_s_entry_lasts_as_long_as_any_certificate_under_it() -> None:
    certs = [_cert("00" * 8, HOST_A, 1000, 30), _cert("01" * 8, HOST_C, 3000, 60)]
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 1000), _row(f"{HOST_C}:{'9' * 16}", 3000))
    until = keep_until(_entry(RevocationKind.KEY, KEY), certs, usage)
    assert until == 3000 + 60 * DAY + PRUNE_MARGIN


def test_a_mak_s_entry_and_an_unknown_key_s_are_kept() -> None:
    usage = [KeyUsage(_key(MAK, KeyKind.MAK), (_row("some-cmid", 1000, key_id=MAK),))]
    assert keep_until(_entry(RevocationKind.KEY, MAK), [], usage) is None
    assert keep_until(_entry(RevocationKind.KEY, "ef" * 16), [], usage) is None


def test_prune_keeps_the_order_of_what_it_keeps() -> None:
    certs = [_cert("00" * 8, HOST_A, 1000, 1)]
    entries = [
        _entry(RevocationKind.KEY, "ef" * 16),
        _entry(RevocationKind.CERTIFICATE, "00" * 8),
        _entry(RevocationKind.HOST, HOST_C),
    ]
    usage = _usage(_row(f"{HOST_C}:{'9' * 16}", 5000))  # no certificate line: kept
    kept, dropped = prune(entries, certs, usage, 10**9)
    assert kept == (entries[0], entries[2]) and dropped == (entries[1],)


# -- the audit lines ----------------------------------------------------------------------------


def test_issue_certificate_lines_are_read_back_and_others_skipped() -> None:
    detail = f"host={HOST_A} key={KEY} issued=700 expires=9000"
    lines = [
        AuditEntry(1, "cli:x", "issue-certificate", "00" * 8, detail),
        AuditEntry(2, "cli:x", "issue-certificate", "01" * 8, "host=garbage"),
        AuditEntry(3, "cli:x", "revoke-host", "02" * 8, detail),
    ]
    assert issued_from(lines) == [IssuedCertificate("00" * 8, HOST_A, KEY, 700, 9000)]


# -- OKMS- host IDs -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["OKMS-0123456789AB", "okms-0123456789ab", " Okms-0123456789aB "])
def test_an_okms_id_is_read_in_any_case(text: str) -> None:
    assert parse_okms_id(text) == "0123456789ab"


@pytest.mark.parametrize("text", ["0123456789AB", "OKMS-0123", "OKMS-0123456789ABC", "OKMS-xyz"])
def test_anything_else_is_not_an_okms_id(text: str) -> None:
    assert parse_okms_id(text) is None


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_parse_okms_id_never_raises(text: str) -> None:
    digits = parse_okms_id(text)
    assert digits is None or (len(digits) == 12 and int(digits, 16) >= 0)


def test_an_okms_id_names_the_one_recorded_host_with_its_fingerprint() -> None:
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 1), _row(f"{HOST_C}:{'9' * 16}", 1))
    host = resolve_host_id(usage, "fedcba987654")
    assert host.fingerprint == HOST_C and host.host_id == "OKMS-FEDCBA987654"


def test_an_okms_id_two_hosts_share_lists_both_and_names_neither() -> None:
    usage = _usage(_row(f"{HOST_A}:{'9' * 16}", 1), _row(f"{HOST_B}:{'8' * 16}", 1))
    with pytest.raises(OpenKMSError) as caught:
        resolve_host_id(usage, "0123456789ab")
    assert caught.value.code is ResultCode.INVALID_ARGUMENT
    assert HOST_A in caught.value.message and HOST_B in caught.value.message
    assert caught.value.fix


def test_an_okms_id_no_host_has_is_an_error_with_a_fix() -> None:
    with pytest.raises(OpenKMSError) as caught:
        resolve_host_id(_usage(_row(f"{HOST_A}:{'9' * 16}", 1)), "aaaaaaaaaaaa")
    assert caught.value.code is ResultCode.INVALID_ARGUMENT
    assert "OKMS-AAAAAAAAAAAA" in caught.value.message and "phone" in (caught.value.fix or "")


def test_phone_rows_and_mak_machines_are_no_hosts() -> None:
    usage = [
        *_usage(_row("phone:0123456789ab", 1)),
        KeyUsage(_key(MAK, KeyKind.MAK), (_row(f"{HOST_A}:{'9' * 16}", 1, key_id=MAK),)),
    ]
    assert hosts_with_id(usage, "0123456789ab") == []


def test_one_host_on_two_machines_or_keys_is_one_host() -> None:
    usage = [
        *_usage(_row(f"{HOST_A}:{'9' * 16}", 1), _row(f"{HOST_A}:{'8' * 16}", 2)),
        *_usage(_row(f"{HOST_A}:{'9' * 16}", 3, key_id=MAK), key_id=MAK),
    ]
    (host,) = hosts_with_id(usage, "0123456789ab")
    assert host.key_ids == (KEY, MAK)


def test_a_host_activated_online_and_by_phone_in_one_record_is_kept() -> None:
    """One record counts both ways: the phone grant has no certificate line to date it."""
    certs = [_cert("00" * 8, HOST_A, 1000, 30)]
    row = MachineActivation(KEY, f"{HOST_A}:{'9' * 16}", "kms", 0, 2000, 2, "phone:abc")
    assert keep_until(_entry(RevocationKind.HOST, HOST_A), certs, _usage(row)) is None
