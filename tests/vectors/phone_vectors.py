"""The phone-activation vectors of docs/protocol.md, computed from fixed inputs."""

from __future__ import annotations

from protocol_vectors import ACT, APP, CMID, host_key

from openkms.core.keys import KeyKind, ProductKey
from openkms.core.phone import (
    InstallationId,
    PhoneFacts,
    PhoneKind,
    confirm,
    host_reference,
    key_reference,
    machine_reference,
    product_tag_number,
    statement_bytes,
)
from openkms.core.shortsig import PhoneSigningKey
from openkms.core.signing import fingerprint, public_bytes

DAY = 20786  # 2026-11-29
HOST_FINGERPRINT_MACHINE = "0123456789abcdef"


def phone_key() -> PhoneSigningKey:
    """The phone key of the vectors' publisher (root seed 0x02 x 32)."""
    return PhoneSigningKey.derive(bytes([2]) * 32)


def mak() -> ProductKey:
    """The MAK of the vectors: for product ACT, from the seed bytes 0x03 x 16."""
    return ProductKey.generate_mak(ACT, lambda n: bytes([3]) * n)


def host_product_key() -> ProductKey:
    """The host key of the vectors, from the seed bytes 0x04 x 16."""
    return ProductKey.generate(KeyKind.HOST, lambda n: bytes([4]) * n)


def host_fingerprint() -> str:
    """The fingerprint of the vectors' host (its public key, then a machine hash)."""
    return f"{fingerprint(public_bytes(host_key()))}:{HOST_FINGERPRINT_MACHINE}"


def vectors() -> dict[str, str]:
    """Name -> text of every phone vector."""
    key = phone_key()
    mak_iid = InstallationId(
        PhoneKind.MAK,
        product_tag_number(mak().product_tag),
        key_reference(mak()),
        machine_reference(CMID),
        DAY,
    )
    mak_facts = PhoneFacts(APP, mak().key_id, activation_id=ACT)
    mak_cid = confirm(key, mak_iid, 3650, 0, mak_facts)
    reference = host_reference(public_bytes(host_key()), host_fingerprint())
    host_iid = InstallationId(PhoneKind.HOST, 0, key_reference(host_product_key()), reference, DAY)
    host_facts = PhoneFacts(APP, host_product_key().key_id, group="B")
    host_cid = confirm(key, host_iid, 730, 2, host_facts)
    return {
        "phone-public-key": key.public_key.hex(),
        "mak": str(mak()),
        "mak-installation-id": str(mak_iid),
        "mak-statement": statement_bytes(mak_iid, mak_cid, mak_facts).hex(),
        "mak-confirmation-id": str(mak_cid),
        "host-key": str(host_product_key()),
        "host-fingerprint": host_fingerprint(),
        "host-installation-id": str(host_iid),
        "host-confirmation-id": str(host_cid),
    }
