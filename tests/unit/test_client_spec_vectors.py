"""docs/protocol.md section 13 (writing a client): its vectors are what the code produces,
and its algorithms, implemented here from the text alone, agree with the code."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from pathlib import Path

import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "vectors"))

from protocol_vectors import ACT, APP, CMID
from spec_vectors import CHAIN_NOW, vectors

from openkms.core.catalog import Catalog, Product
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.revocation import RevocationList
from openkms.core.ticket import verify_ticket
from openkms.core.trust import Trust, parse_publisher_key
from openkms.errors import KeyFormatError, OpenKMSError, SignatureError

DOC = Path(__file__).parent.parent.parent / "docs" / "protocol.md"
ALPHABET = "BCDFGHJKMPQRTVWXY2346789"


def _blocks(label: str) -> dict[str, str]:
    pattern = rf"#### {label} `([\w-]+)`\n+```text\n(.*?)```"
    return dict(re.findall(pattern, DOC.read_text(), re.DOTALL))


def _compact(text: str) -> str:
    return "".join(text.split())


def client_vectors() -> dict[str, str]:
    return _blocks("Client vector")


def _section_12(name: str) -> bytes:
    return bytes.fromhex(_compact(_blocks("Vector")[name]))


# -- the key algorithm of section 13.3, written from the text ------------------------------


def _normalise(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch not in "- \t")


def _check(domain: str, body: str) -> str:
    v = int.from_bytes(hashlib.sha256((domain + body).encode()).digest()[:4], "big")
    c = v % 576
    return ALPHABET[c // 24] + ALPHABET[c % 24]


def _kind(text: str) -> str:
    key = _normalise(text)
    if len(key) != 25 or any(ch not in ALPHABET for ch in key):
        return "refused"
    if key[23:] == _check("openkms-key:", key[:23]):
        return "host" if ALPHABET.index(key[0]) >= 12 else "setup"
    if key[23:] == _check("openkms-mak:", key[:23]):
        return "mak"
    return "refused"


def _tag(activation_id: str) -> str:
    digest = hashlib.sha256(b"openkms-mak-product:" + activation_id.encode()).digest()
    t = int.from_bytes(digest[:4], "big") % 13824
    return ALPHABET[t // 576] + ALPHABET[(t // 24) % 24] + ALPHABET[t % 24]


# -- tests ---------------------------------------------------------------------------------


def test_every_client_vector_is_documented_exactly() -> None:
    documented = {name: _compact(body) for name, body in client_vectors().items()}
    assert documented == {name: _compact(value) for name, value in vectors().items()}


def test_the_documented_keys_have_the_documented_kinds() -> None:
    doc = {name: body.strip() for name, body in client_vectors().items()}
    expected = {"setup-key": "setup", "host-key": "host", "mak": "mak", "mistyped-key": "refused"}
    for name, kind in expected.items():
        assert _kind(doc[name]) == kind, name
        if kind != "refused":
            assert ProductKey.parse(doc[name]).kind is KeyKind(kind)
    with pytest.raises(KeyFormatError) as caught:
        ProductKey.parse(doc["mistyped-key"])
    assert caught.value.code is ResultCode.INVALID_PRODUCT_KEY


def test_the_worked_checks_follow_the_documented_algorithm() -> None:
    doc = client_vectors()
    for name, domain in (("setup-key-check", "openkms-key:"), ("mak-check", "openkms-mak:")):
        text, digest, value, rest, check = doc[name].split()
        body = text.removeprefix(domain)
        assert len(body) == 23
        assert hashlib.sha256(text.encode()).digest()[:4].hex() == digest
        assert int(digest, 16) == int(value) and int(value) % 576 == int(rest)
        assert _check(domain, body) == check


def test_key_id_partial_key_product_tag_and_normalised_input() -> None:
    doc = {name: body.strip() for name, body in client_vectors().items()}
    symbols = _normalise(doc["setup-key"])
    key_id = hashlib.sha256(b"openkms-key-id:" + symbols.encode()).hexdigest()[:32]
    assert doc["setup-key-id"] == key_id == ProductKey.parse(symbols).key_id
    assert doc["setup-key-partial"] == symbols[-5:]
    activation_id, tag = doc["mak-product-tag"].split()
    assert activation_id == ACT and _tag(ACT) == tag == _normalise(doc["mak"])[:3]
    sloppy = " " + doc["setup-key"].lower().replace("-", " - ") + "\t"
    assert ProductKey.parse(sloppy) == ProductKey.parse(doc["setup-key"])


def test_the_documented_catalog_body_omits_its_defaults_and_decodes() -> None:
    body = bytes.fromhex(_compact(client_vectors()["catalog-body"]))
    keys = list(msgspec.msgpack.decode(body))
    fields = list(Catalog.__struct_fields__)
    assert keys == [f for f in fields if f in keys]  # in the documented order
    assert not {"host_key_max_hosts", "certificate_days", "publisher_url"} & set(keys)
    catalog = msgspec.msgpack.decode(body, type=Catalog)
    assert (catalog.certificate_days, catalog.serial, catalog.publisher_url) == (730, 1, "")


def _table_keys(heading: str) -> list[str]:
    text = DOC.read_text()
    section = text[text.index(heading) :]
    table = section[: section.index("\n\n", section.index("|---"))]
    return re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)


def test_the_documented_tables_name_every_field_of_the_catalog_and_product() -> None:
    assert _table_keys("The catalog body is a MessagePack") == list(Catalog.__struct_fields__)
    assert _table_keys("A **product** is a map") == list(Product.__struct_fields__)


def test_a_catalog_with_an_unknown_field_is_refused() -> None:
    body = bytes.fromhex(_compact(client_vectors()["catalog-body"]))
    raw = msgspec.msgpack.decode(body)
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode({**raw, "extra": 1}), type=Catalog)
    raw["products"][0]["extra"] = 1
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.decode(msgspec.msgpack.encode(raw), type=Catalog)


def _documented_trust() -> Trust:
    return Trust.from_json(_compact(client_vectors()["trust"]).encode())


def test_the_documented_trust_is_pinned_by_the_documented_key() -> None:
    doc = client_vectors()
    raw = json.loads(_compact(doc["trust"]))
    pin = parse_publisher_key(doc["publisher-key"].strip())
    assert base64.b64decode(raw["publisher_key"]) == pin
    body = base64.urlsafe_b64decode(doc["publisher-key"].strip().removeprefix("okpk1:") + "=")
    assert body == pin
    trust = _documented_trust()
    trust.require_publisher(pin, "the application")
    # The trust wraps section 12.1's signed catalog, byte for byte.
    assert msgspec.msgpack.encode(trust.catalog_envelope) == _section_12("revocation-catalog")


def test_a_mangled_publisher_key_text_is_refused() -> None:
    text = client_vectors()["publisher-key"].strip()
    for bad in (text[6:], text[:-1], text + "A", "okpk2:" + text[6:], text[:-1] + "R"):
        with pytest.raises(OpenKMSError) as caught:
            parse_publisher_key(bad)
        assert caught.value.code is ResultCode.INVALID_ARGUMENT, bad


def test_the_chain_verifies_then_the_revocation_list_refuses_it() -> None:
    trust = _documented_trust()
    ticket = _section_12("revoked-ticket")
    verified = verify_ticket(ticket, trust, cmid=CMID, activation_id=ACT, now=CHAIN_NOW)
    assert verified.certificate.serial == "0123456789abcdef"
    assert verified.body.valid_until == 1810852000
    listed = RevocationList.decode(_section_12("revocation-list"), trust.publisher_key, APP)
    entry = listed.revocation_of(verified.certificate)
    assert entry is not None and entry.subject == "0123456789abcdef"


def test_the_chain_refuses_another_machine_and_a_tampered_ticket() -> None:
    trust = _documented_trust()
    ticket = _section_12("revoked-ticket")
    with pytest.raises(SignatureError):
        verify_ticket(ticket, trust, cmid=bytes(16), activation_id=ACT, now=CHAIN_NOW)
    tampered = bytearray(ticket)
    tampered[10] ^= 1
    with pytest.raises(SignatureError):
        verify_ticket(bytes(tampered), trust, cmid=CMID, activation_id=ACT, now=CHAIN_NOW)


def test_the_timelines_follow_the_documented_timers() -> None:
    doc = client_vectors()
    never = [line.split() for line in doc["timeline-never-activated"].strip().splitlines()]
    for day, state, ends, minutes in never:
        grace = int(day) < 30
        assert (state, ends) == (("2", "30") if grace else ("5", "-"))
        assert int(minutes) == ((30 - int(day)) * 1440 if grace else 0)
    activated = [line.split() for line in doc["timeline-activated-day-10"].strip().splitlines()]
    for day, state, ends, _ in activated:
        expected = (
            ("1", "190") if int(day) < 190 else ("3", "220") if int(day) < 220 else ("5", "-")
        )
        assert (state, ends) == expected
