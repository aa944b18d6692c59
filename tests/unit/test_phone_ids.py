"""Installation and confirmation IDs: digits, check digits, layout and the short signature."""

from __future__ import annotations

import itertools
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.codes import ResultCode
from openkms.core.phone import (
    ConfirmationId,
    InstallationId,
    PhoneFacts,
    PhoneKind,
    confirm,
    verify_confirmation,
)
from openkms.core.phone_digits import _DAMM, damm, format_groups, parse_groups
from openkms.core.shortsig import GROUP_ORDER, PhoneSigningKey, ShortSignature, verify_short
from openkms.core.signing import public_bytes
from openkms.errors import OpenKMSError

KEY = PhoneSigningKey.derive(bytes([2]) * 32)
FACTS = PhoneFacts("3a9b5c2e-6d1f-4e8a-9b7c-0d2e4f6a8b1c", "ab" * 16, activation_id="act")


def mak_iid(rng: random.Random) -> InstallationId:
    return InstallationId(
        PhoneKind.MAK, rng.randrange(13824), rng.getrandbits(48), rng.getrandbits(40), 20786
    )


def host_iid(rng: random.Random) -> InstallationId:
    return InstallationId(PhoneKind.HOST, 0, rng.getrandbits(48), rng.getrandbits(128), 20786)


def test_the_damm_table_is_a_quasigroup_with_a_zero_diagonal() -> None:
    for i in range(10):
        assert sorted(_DAMM[i]) == list(range(10))
        assert sorted(row[i] for row in _DAMM) == list(range(10))
        assert _DAMM[i][i] == 0


def test_every_single_digit_error_and_neighbour_swap_in_a_group_is_caught() -> None:
    rng = random.Random(1)
    for _ in range(300):
        data = f"{rng.randrange(10**6):06d}"
        good = data + str(damm("04" + data))
        for pos, digit in itertools.product(range(7), "0123456789"):
            if good[pos] != digit:
                assert damm("04" + good[:pos] + digit + good[pos + 1 :]) != 0
        for pos in range(6):
            swapped = good[:pos] + good[pos + 1] + good[pos] + good[pos + 2 :]
            if swapped != good:
                assert damm("04" + swapped) != 0


@pytest.mark.parametrize("make", [mak_iid, host_iid])
def test_installation_ids_parse_back_with_or_without_separators(make: object) -> None:
    rng = random.Random(2)
    for _ in range(50):
        iid = make(rng)  # type: ignore[operator]
        text = str(iid)
        assert InstallationId.parse(text) == iid
        assert InstallationId.parse(text.replace(" ", "")) == iid
        assert InstallationId.parse(text.replace(" ", "-")) == iid


def test_the_lengths_are_49_and_77_digits_and_the_confirmation_140() -> None:
    rng = random.Random(3)
    assert len(str(mak_iid(rng)).replace(" ", "")) == 49
    assert len(str(host_iid(rng)).replace(" ", "")) == 77
    cid = confirm(KEY, mak_iid(rng), 4095, 63, FACTS)
    assert len(str(cid).replace(" ", "")) == 140
    assert max(ConfirmationId(4095, 63, ShortSignature(2**128 - 1, GROUP_ORDER - 1)).value, 0) < (
        10**120
    )


@pytest.mark.parametrize("group", [1, 4, 7])
def test_a_mistyped_group_is_named(group: int) -> None:
    text = str(mak_iid(random.Random(4))).split()
    wrong = text[group - 1]
    text[group - 1] = wrong[:2] + str((int(wrong[2]) + 3) % 10) + wrong[3:]
    with pytest.raises(OpenKMSError) as info:
        InstallationId.parse(" ".join(text))
    assert info.value.code is ResultCode.PHONE_ID_MISTYPED
    assert f"group {group} is mistyped" in info.value.message


def test_two_mistyped_groups_of_a_confirmation_are_both_named() -> None:
    text = str(confirm(KEY, mak_iid(random.Random(5)), 10, 0, FACTS)).split()
    for n in (2, 17):
        text[n - 1] = str((int(text[n - 1][0]) + 1) % 10) + text[n - 1][1:]
    with pytest.raises(OpenKMSError, match="groups 2 and 17 are mistyped"):
        ConfirmationId.parse(" ".join(text))


def test_two_groups_swapped_are_caught() -> None:
    text = str(host_iid(random.Random(6))).split()
    text[2], text[3] = text[3], text[2]
    with pytest.raises(OpenKMSError, match="groups 3 and 4 are mistyped"):
        InstallationId.parse(" ".join(text))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "has 0 digits"),
        ("1234567 1234", "group 2 has 4 digits"),
        ("12a4567", "contains 'a'"),
        ("١٢٣٤٥٦٧", "digits only"),
        ("1" * 56, "has 56 digits"),
    ],
)
def test_malformed_ids_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(OpenKMSError) as info:
        InstallationId.parse(text)
    assert words in info.value.message
    assert info.value.code is ResultCode.PHONE_ID_MISTYPED


def test_an_id_whose_groups_check_but_whose_whole_does_not_is_refused() -> None:
    iid = mak_iid(random.Random(8))
    with pytest.raises(OpenKMSError, match="does not check as a whole") as info:
        InstallationId.parse(format_groups(iid.value ^ 1, 7))
    assert info.value.code is ResultCode.PHONE_ID_MISTYPED


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=160))
def test_any_text_is_an_id_or_a_clear_error(text: str) -> None:
    for parse in (InstallationId.parse, ConfirmationId.parse):
        try:
            parse(text)
        except OpenKMSError as exc:
            assert exc.code in (ResultCode.PHONE_ID_MISTYPED, ResultCode.UNSUPPORTED_VERSION)
            assert exc.message and exc.fix


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([7, 11, 20]), st.data())
def test_any_well_checked_digits_are_an_id_or_a_clear_error(
    groups: int, data: st.DataObject
) -> None:
    value = data.draw(st.integers(min_value=0, max_value=10 ** (6 * groups) - 1))
    text = format_groups(value, groups)
    assert parse_groups(text, "ID", (groups,)) == (value, groups)
    parse = ConfirmationId.parse if groups == 20 else InstallationId.parse
    try:
        parsed = parse(text)
    except OpenKMSError as exc:
        assert exc.code in (ResultCode.PHONE_ID_MISTYPED, ResultCode.UNSUPPORTED_VERSION)
    else:
        assert parsed.value == value


def test_a_confirmation_verifies_only_for_its_installation_and_facts() -> None:
    rng = random.Random(9)
    iid = mak_iid(rng)
    cid = confirm(KEY, iid, 3650, 0, FACTS)
    assert verify_confirmation(KEY.public_key, iid, cid, FACTS)
    assert verify_confirmation(KEY.public_key, iid, ConfirmationId.parse(str(cid)), FACTS)
    other_machine = InstallationId(iid.kind, iid.product_tag, iid.key_ref, iid.machine ^ 1, iid.day)
    assert not verify_confirmation(KEY.public_key, other_machine, cid, FACTS)
    longer = ConfirmationId(3651, 0, cid.signature)
    assert not verify_confirmation(KEY.public_key, iid, longer, FACTS)
    assert not verify_confirmation(
        KEY.public_key, iid, ConfirmationId(3650, 1, cid.signature), FACTS
    )
    other_product = PhoneFacts(FACTS.application_id, FACTS.key_id, activation_id="other")
    assert not verify_confirmation(KEY.public_key, iid, cid, other_product)
    other_publisher = PhoneSigningKey.derive(bytes([3]) * 32)
    assert not verify_confirmation(other_publisher.public_key, iid, cid, FACTS)


def test_the_short_signature_is_deterministic_and_rejects_hostile_values() -> None:
    sig = KEY.sign(b"d", b"m")
    assert sig == KEY.sign(b"d", b"m") and verify_short(KEY.public_key, b"d", b"m", sig)
    assert not verify_short(KEY.public_key, b"e", b"m", sig)
    for hostile in (
        ShortSignature(sig.challenge, 0),
        ShortSignature(sig.challenge, GROUP_ORDER),
        ShortSignature(sig.challenge, sig.response + GROUP_ORDER),
        ShortSignature(2**128, sig.response),
        ShortSignature(0, 1),
        ShortSignature(-1, sig.response),
    ):
        assert not verify_short(KEY.public_key, b"d", b"m", hostile)
    for bad_key in (bytes(32), b"\xff" * 32, b"\x01" + bytes(31), KEY.public_key[:31]):
        assert not verify_short(bad_key, b"d", b"m", sig)


def test_the_phone_key_is_not_the_root_key() -> None:
    root = public_bytes(Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32))
    assert KEY.public_key != root
    assert PhoneSigningKey.derive(bytes([2]) * 32).public_key == KEY.public_key
