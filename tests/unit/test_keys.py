from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openkms.core.keys import ALPHABET, KeyKind, ProductKey, mak_product_tag
from openkms.errors import KeyFormatError


@given(st.sampled_from([KeyKind.SETUP, KeyKind.HOST]), st.binary(min_size=16, max_size=16))
def test_generated_keys_parse_back_and_keep_their_kind(kind: KeyKind, seed: bytes) -> None:
    key = ProductKey.generate(kind, lambda n: seed[:n])
    assert ProductKey.parse(str(key)) == key
    assert ProductKey.parse(str(key).lower().replace("-", " ")) == key
    assert key.kind is kind
    assert len(str(key)) == 29 and str(key).count("-") == 4
    assert key.partial == key.symbols[-5:]


def test_a_single_mistyped_character_is_caught() -> None:
    rng = random.Random(7)
    caught = trials = 0
    for _ in range(2000):
        key = ProductKey.generate(KeyKind.SETUP, rng.randbytes)
        pos = rng.randrange(25)
        wrong = rng.choice([c for c in ALPHABET if c != key.symbols[pos]])
        typo = key.symbols[:pos] + wrong + key.symbols[pos + 1 :]
        trials += 1
        try:
            ProductKey.parse(typo)
        except KeyFormatError as exc:
            assert exc.code.hex == "0xC004F050"
            caught += 1
    assert caught / trials > 0.99


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("BCDFG-HJKMP", "has 10 characters"),
        ("BCDFG-HJKMP-QRTVW-XY234-6789A", "'A'"),
        ("BCDFG-HJKMP-QRTVW-XY234-67890", "'0'"),
    ],
)
def test_malformed_keys_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(KeyFormatError) as info:
        ProductKey.parse(text)
    assert words in info.value.message


def test_key_id_does_not_reveal_the_key() -> None:
    key = ProductKey.generate(KeyKind.HOST)
    assert key.symbols not in key.key_id and len(key.key_id) == 32


@given(st.text(min_size=1, max_size=40), st.binary(min_size=16, max_size=16))
def test_a_mak_parses_back_as_a_mak_of_its_product(activation_id: str, seed: bytes) -> None:
    key = ProductKey.generate_mak(activation_id, lambda n: seed[:n])
    parsed = ProductKey.parse(str(key).lower())
    assert parsed == key and parsed.kind is KeyKind.MAK
    assert parsed.product_tag == mak_product_tag(activation_id)


def test_a_mak_is_never_taken_for_a_setup_key_and_typos_are_caught() -> None:
    rng = random.Random(11)
    caught = 0
    for _ in range(2000):
        key = ProductKey.generate_mak("app-1", rng.randbytes)
        assert key.kind is KeyKind.MAK
        pos = rng.randrange(25)
        wrong = rng.choice([c for c in ALPHABET if c != key.symbols[pos]])
        try:
            ProductKey.parse(key.symbols[:pos] + wrong + key.symbols[pos + 1 :])
        except KeyFormatError:
            caught += 1
    assert caught / 2000 > 0.99


def test_generate_refuses_the_mak_kind() -> None:
    with pytest.raises(ValueError, match="generate_mak"):
        ProductKey.generate(KeyKind.MAK)
