"""Product keys: 25 characters in 5 groups over a 24-letter alphabet, with a check.

Layout (symbol indexes 0..24, each a digit in base 24 over ``ALPHABET``):

* symbol 0 tells the kind: 0..11 is a *setup key* (a client's key), 12..23 a *host key*;
* symbols 1..22 are random;
* symbols 23..24 are a check: SHA-256 of the first 23 symbols, modulo 24**2.

The check catches a mistyped key locally (0xC004F050) with probability 575/576 and
costs nothing to verify. Input is case-insensitive and dashes and spaces are ignored.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from openkms.errors import KeyFormatError

__all__ = ["ALPHABET", "KeyKind", "ProductKey"]

ALPHABET = "BCDFGHJKMPQRTVWXY2346789"
_BASE = len(ALPHABET)
_LENGTH = 25
_CHECK = 2
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


class KeyKind(enum.Enum):
    """What a key makes of the machine that installs it."""

    SETUP = "setup"
    HOST = "host"


def _check_symbols(body: str) -> str:
    digest = hashlib.sha256(b"openkms-key:" + body.encode("ascii")).digest()
    value = int.from_bytes(digest[:4], "big") % (_BASE**_CHECK)
    return ALPHABET[value // _BASE] + ALPHABET[value % _BASE]


@dataclass(frozen=True, slots=True)
class ProductKey:
    """A well-formed product key, stored without dashes."""

    symbols: str

    @classmethod
    def parse(cls, text: str) -> ProductKey:
        """Parse user input; raise KeyFormatError (0xC004F050) naming what is wrong."""
        cleaned = "".join(ch for ch in text.upper() if ch not in "- \t")
        if len(cleaned) != _LENGTH:
            raise KeyFormatError(
                f"The product key has {len(cleaned)} characters; a key has {_LENGTH} "
                "(5 groups of 5)."
            )
        bad = sorted({ch for ch in cleaned if ch not in _INDEX})
        if bad:
            raise KeyFormatError(
                f"The product key contains {''.join(bad)!r}, which never appear in a key "
                f"(the letters used are {ALPHABET})."
            )
        if _check_symbols(cleaned[:-_CHECK]) != cleaned[-_CHECK:]:
            raise KeyFormatError("The product key is mistyped: its check characters do not match.")
        return cls(cleaned)

    @classmethod
    def generate(
        cls, kind: KeyKind, token_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> ProductKey:
        """A new random key of the given kind (``token_bytes`` injectable for tests)."""
        value = int.from_bytes(token_bytes(16), "big")
        first = value % 12 + (12 if kind is KeyKind.HOST else 0)
        value //= 12
        body = [ALPHABET[first]]
        for _ in range(_LENGTH - _CHECK - 1):
            value, digit = divmod(value, _BASE)
            body.append(ALPHABET[digit])
        text = "".join(body)
        return cls(text + _check_symbols(text))

    @property
    def kind(self) -> KeyKind:
        """Setup key or host key, from the first symbol."""
        return KeyKind.HOST if _INDEX[self.symbols[0]] >= 12 else KeyKind.SETUP

    @property
    def partial(self) -> str:
        """The last five characters, as 'Partial Product Key' shows them."""
        return self.symbols[-5:]

    @property
    def key_id(self) -> str:
        """A stable identifier that does not reveal the key (certificates carry this)."""
        return hashlib.sha256(b"openkms-key-id:" + self.symbols.encode()).hexdigest()[:32]

    def __str__(self) -> str:
        return "-".join(self.symbols[i : i + 5] for i in range(0, _LENGTH, 5))
