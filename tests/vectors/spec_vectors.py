"""The client vectors of docs/protocol.md section 13: product keys, a trust.json and its
publisher key, and the end-to-end chain of section 12.1 seen from a client."""

from __future__ import annotations

import hashlib

import msgspec
from phone_vectors import host_product_key, mak
from protocol_vectors import ACT, publisher_key
from revocation_vectors import CATALOG
from rotation_vectors import catalog

from openkms.core.keys import KeyKind, ProductKey
from openkms.core.license import evaluate
from openkms.core.signing import public_bytes, sign
from openkms.core.trust import CATALOG_DOMAIN, Trust, format_publisher_key

CHAIN_NOW = 1795300000  # the client's clock when it verifies the chain (section 12.1's time)


def setup_key() -> ProductKey:
    """The setup key of the rotation vectors' catalog: random bytes 0x05 x 16."""
    return ProductKey.generate(KeyKind.SETUP, lambda n: bytes([5]) * n)


def mistyped_key() -> str:
    """The setup key with its sixth symbol changed to the next one of the alphabet."""
    text = str(setup_key())
    alphabet = "BCDFGHJKMPQRTVWXY2346789"
    wrong = alphabet[(alphabet.index(text[6]) + 1) % len(alphabet)]
    return text[:6] + wrong + text[7:]


def _check_worked(symbols: str, domain: bytes) -> str:
    body = symbols[:23]
    digest = hashlib.sha256(domain + body.encode()).digest()
    value = int.from_bytes(digest[:4], "big")
    rest = value % 576
    return f"{domain.decode()}{body} {digest[:4].hex()} {value} {rest} {symbols[23:]}"


def chain_trust() -> Trust:
    """The trust document of section 12.1's catalog (publisher seed 0x02 x 32, serial 1)."""
    envelope = sign(publisher_key(), CATALOG_DOMAIN, msgspec.msgpack.encode(CATALOG))
    return Trust.create(public_bytes(publisher_key()), envelope)


def compact_json(trust: Trust) -> str:
    """``trust.json`` without the indentation (the same JSON value)."""
    return msgspec.json.encode(msgspec.json.decode(trust.to_json())).decode()


DAY = 86400
TIMELINE_DAYS = (0, 10, 29, 30, 189, 190, 219, 220)


def timeline(activated_day: int | None) -> str:
    """The license state on each day of TIMELINE_DAYS after the key was installed at
    CHAIN_NOW, never activated (None) or activated once on ``activated_day``."""
    valid_until = None if activated_day is None else CHAIN_NOW + (activated_day + 180) * DAY
    lines = []
    for day in TIMELINE_DAYS:
        now = CHAIN_NOW + day * DAY
        if activated_day is not None and day < activated_day:
            continue
        status = evaluate(
            key_installed=True, grace_started_at=CHAIN_NOW, valid_until=valid_until, now=now
        )
        ends = "-" if status.ends_at is None else str((status.ends_at - CHAIN_NOW) // DAY)
        lines.append(f"{day} {int(status.state)} {ends} {status.minutes_remaining(now)}")
    return "\n".join(lines)


def vectors() -> dict[str, str]:
    """Name -> text of every client vector."""
    setup, host, the_mak = setup_key(), host_product_key(), mak()
    vector_catalog = catalog(1, publisher_key())
    return {
        "setup-key": str(setup),
        "setup-key-check": _check_worked(setup.symbols, b"openkms-key:"),
        "setup-key-id": setup.key_id,
        "setup-key-partial": setup.partial,
        "host-key": str(host),
        "mak": str(the_mak),
        "mak-check": _check_worked(the_mak.symbols, b"openkms-mak:"),
        "mak-product-tag": f"{ACT} {the_mak.product_tag}",
        "mistyped-key": mistyped_key(),
        "catalog-body": msgspec.msgpack.encode(vector_catalog).hex(),
        "publisher-key": format_publisher_key(public_bytes(publisher_key())),
        "trust": compact_json(chain_trust()),
        "timeline-never-activated": timeline(None),
        "timeline-activated-day-10": timeline(10),
    }
