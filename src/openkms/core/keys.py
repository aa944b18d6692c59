"""Product keys: 25 characters in 5 groups over a 24-letter alphabet, with a check.

Layout (symbol indexes 0..24, each a digit in base 24 over ``ALPHABET``):

* symbol 0 tells the kind: 0..11 is a *setup key* (a client's key), 12..23 a *host key*;
* symbols 1..22 are random;
* symbols 23..24 are a check: SHA-256 of ``openkms-key:`` and the first 23 symbols, modulo
  24**2.

A *MAK* (multiple activation key: a client activating with the publisher directly, no host)
has the same length and alphabet but its check is computed under ``openkms-mak:``; its
symbols 0..2 are a product tag (SHA-256 of ``openkms-mak-product:`` and the activation ID,
modulo 24**3) so a client finds its product in the catalog, and symbols 3..22 are random
(about 91 bits). A MAK is generated so that it never also passes the setup/host check: the
kind of any key is decided by which check it passes.

The check catches a mistyped key locally (0xC004F050) with probability about 574/576 and
costs nothing to verify. Input is case-insensitive and dashes and spaces are ignored.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from openkms.errors import KeyFormatError
from openkms.i18n import _

__all__ = ["ALPHABET", "KeyKind", "ProductKey", "mak_product_tag"]

ALPHABET = "BCDFGHJKMPQRTVWXY2346789"
_BASE = len(ALPHABET)
_LENGTH = 25
_CHECK = 2
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


class KeyKind(enum.Enum):
    """What a key makes of the machine that installs it."""

    SETUP = "setup"
    HOST = "host"
    MAK = "mak"


_KEY_DOMAIN = b"openkms-key:"
_MAK_DOMAIN = b"openkms-mak:"
_TAG = 3  # symbols of a MAK's product tag


def _check_symbols(body: str, domain: bytes = _KEY_DOMAIN) -> str:
    digest = hashlib.sha256(domain + body.encode("ascii")).digest()
    value = int.from_bytes(digest[:4], "big") % (_BASE**_CHECK)
    return ALPHABET[value // _BASE] + ALPHABET[value % _BASE]


def mak_product_tag(activation_id: str) -> str:
    """The three symbols a MAK for the product ``activation_id`` starts with."""
    digest = hashlib.sha256(b"openkms-mak-product:" + activation_id.encode()).digest()
    value = int.from_bytes(digest[:4], "big") % (_BASE**_TAG)
    return "".join(ALPHABET[value // _BASE**i % _BASE] for i in reversed(range(_TAG)))


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
                _(
                    "The product key has {count} characters; a key has {length} (5 groups of 5)."
                ).format(count=len(cleaned), length=_LENGTH)
            )
        bad = sorted({ch for ch in cleaned if ch not in _INDEX})
        if bad:
            raise KeyFormatError(
                _(
                    "The product key contains {bad!r}, which never appear in a key (the "
                    "letters used are {alphabet})."
                ).format(bad="".join(bad), alphabet=ALPHABET)
            )
        check = cleaned[-_CHECK:]
        if check not in (
            _check_symbols(cleaned[:-_CHECK]),
            _check_symbols(cleaned[:-_CHECK], _MAK_DOMAIN),
        ):
            raise KeyFormatError(
                _("The product key is mistyped: its check characters do not match.")
            )
        return cls(cleaned)

    @classmethod
    def generate(
        cls, kind: KeyKind, token_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> ProductKey:
        """A new random setup or host key (``token_bytes`` injectable for tests)."""
        if kind is KeyKind.MAK:
            raise ValueError("a MAK names its product: use ProductKey.generate_mak()")
        value = int.from_bytes(token_bytes(16), "big")
        first = value % 12 + (12 if kind is KeyKind.HOST else 0)
        value //= 12
        body = [ALPHABET[first]]
        for _index in range(_LENGTH - _CHECK - 1):
            value, digit = divmod(value, _BASE)
            body.append(ALPHABET[digit])
        text = "".join(body)
        return cls(text + _check_symbols(text))

    @classmethod
    def generate_mak(
        cls, activation_id: str, token_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> ProductKey:
        """A new MAK for the product ``activation_id`` (never also a valid setup/host key)."""
        seed = token_bytes(16)
        for attempt in range(1 << 16):  # 1 in 576 draws also passes the other check
            value = int.from_bytes(hashlib.sha256(seed + attempt.to_bytes(4, "big")).digest())
            body = [mak_product_tag(activation_id)]
            for _index in range(_LENGTH - _CHECK - _TAG):
                value, digit = divmod(value, _BASE)
                body.append(ALPHABET[digit])
            text = "".join(body)
            check = _check_symbols(text, _MAK_DOMAIN)
            if check != _check_symbols(text):
                return cls(text + check)
        raise AssertionError("unreachable: 65,536 draws all passed both checks")

    @property
    def kind(self) -> KeyKind:
        """Setup key, host key (from the first symbol) or MAK (from its check)."""
        if self.symbols[-_CHECK:] != _check_symbols(self.symbols[:-_CHECK]):
            return KeyKind.MAK
        return KeyKind.HOST if _INDEX[self.symbols[0]] >= 12 else KeyKind.SETUP

    @property
    def product_tag(self) -> str:
        """A MAK's product tag (its first three symbols); compare with mak_product_tag()."""
        return self.symbols[:_TAG]

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
