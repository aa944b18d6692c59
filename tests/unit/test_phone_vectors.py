"""docs/protocol.md's phone-activation vectors are what the code produces, and verify."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "vectors"))

from phone_vectors import host_product_key, mak, vectors
from protocol_vectors import ACT, APP

from openkms.core.phone import ConfirmationId, InstallationId, PhoneFacts, verify_confirmation

DOC = Path(__file__).parent.parent.parent / "docs" / "protocol.md"


def documented() -> dict[str, str]:
    text = DOC.read_text()
    blocks = re.findall(r"#### Phone vector `([\w-]+)`\n+```text\n(.*?)```", text, re.DOTALL)
    return {name: " ".join(body.split()) for name, body in blocks}


def _compact(values: dict[str, str]) -> dict[str, str]:
    return {name: "".join(value.split()) for name, value in values.items()}


def test_every_phone_vector_is_documented_exactly() -> None:
    assert _compact(documented()) == _compact(vectors())


def test_the_documented_confirmations_verify_against_the_documented_phone_key() -> None:
    doc = documented()
    phone_key = bytes.fromhex(_compact(doc)["phone-public-key"])
    mak_iid = InstallationId.parse(doc["mak-installation-id"])
    mak_cid = ConfirmationId.parse(doc["mak-confirmation-id"])
    facts = PhoneFacts(APP, mak().key_id, activation_id=ACT)
    assert verify_confirmation(phone_key, mak_iid, mak_cid, facts)
    assert (mak_cid.days, mak_cid.group_rank) == (3650, 0)
    host_iid = InstallationId.parse(doc["host-installation-id"])
    host_cid = ConfirmationId.parse(doc["host-confirmation-id"])
    host_facts = PhoneFacts(APP, host_product_key().key_id, group="B")
    assert verify_confirmation(phone_key, host_iid, host_cid, host_facts)
    wrong_group = PhoneFacts(APP, host_product_key().key_id, group="C")
    assert not verify_confirmation(phone_key, host_iid, host_cid, wrong_group)
