"""Trust chain: publisher key -> catalog / certificate -> ticket. Forgeries never verify."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from openkms.core import merkle
from openkms.core.certificate import CERTIFICATE_DOMAIN, CertificateFile, HostCertificate
from openkms.core.signing import Envelope, public_bytes, sign
from openkms.core.ticket import (
    TICKET_DOMAIN,
    Ticket,
    TicketBody,
    TicketProof,
    TicketSigner,
    tree_head,
    verify_ticket,
)
from openkms.core.trust import Trust
from openkms.errors import SignatureError, StateError
from openkms.host.state import HostState

from helpers import Site, make_site

CMID = uuid.uuid4().bytes


def _signer(site: Site) -> tuple[TicketSigner, Envelope]:
    activation = site.host_state.activation(int(time.time()))
    assert activation.envelope is not None
    return TicketSigner(site.host_state.private_key(), activation.envelope), activation.envelope


def _body(site: Site, edition: str = "Standard", count: int = 5, cmid: bytes = CMID) -> TicketBody:
    product = site.product(edition)
    now = int(time.time())
    return TicketBody(cmid, product.activation_id, count, product.n_policy, now, now + 180 * 86400)


def test_a_genuine_ticket_verifies(site: Site) -> None:
    signer, _ = _signer(site)
    trust = site.publisher.trust()
    verified = verify_ticket(
        signer.issue(_body(site)),
        trust,
        cmid=CMID,
        activation_id=site.product("Standard").activation_id,
        now=int(time.time()),
    )
    assert verified.body.count == 5 and verified.certificate.group == "C"


@pytest.mark.parametrize("field", ["count", "cmid", "valid_until", "activation_id"])
def test_a_tampered_ticket_is_rejected(site: Site, field: str) -> None:
    signer, _ = _signer(site)
    ticket = msgspec.msgpack.decode(signer.issue(_body(site)), type=Ticket)
    body = msgspec.msgpack.decode(ticket.body, type=TicketBody)
    changed = {
        "count": {"count": 50},
        "cmid": {"cmid": uuid.uuid4().bytes},
        "valid_until": {"valid_until": body.valid_until + 10**8},
        "activation_id": {"activation_id": site.product("Datacenter").activation_id},
    }[field]
    forged_body = msgspec.structs.replace(body, **changed)
    forged = msgspec.structs.replace(ticket, body=msgspec.msgpack.encode(forged_body))
    with pytest.raises(SignatureError) as info:
        verify_ticket(
            msgspec.msgpack.encode(forged),
            site.publisher.trust(),
            cmid=CMID,
            activation_id=site.product("Standard").activation_id,
            now=int(time.time()),
        )
    assert info.value.code.hex == "0xE0040001"


def test_a_ticket_from_a_self_made_certificate_is_rejected(site: Site) -> None:
    rogue_root = Ed25519PrivateKey.generate()
    rogue_host = Ed25519PrivateKey.generate()

    trust = site.publisher.trust()
    cert = HostCertificate(
        "x",
        trust.catalog.application_id,
        "f",
        public_bytes(rogue_host),
        "k",
        "C",
        int(time.time()) - 10,
        int(time.time()) + 10**6,
    )
    envelope = sign(rogue_root, CERTIFICATE_DOMAIN, msgspec.msgpack.encode(cert))
    data = TicketSigner(rogue_host, envelope).issue(_body(site))
    with pytest.raises(SignatureError):
        verify_ticket(
            data,
            trust,
            cmid=CMID,
            activation_id=site.product("Standard").activation_id,
            now=int(time.time()),
        )


def test_a_ticket_for_another_machine_or_product_is_rejected(site: Site) -> None:
    signer, _ = _signer(site)
    data = signer.issue(_body(site))
    trust = site.publisher.trust()
    with pytest.raises(SignatureError, match="another machine"):
        verify_ticket(
            data,
            trust,
            cmid=uuid.uuid4().bytes,
            activation_id=site.product("Standard").activation_id,
            now=int(time.time()),
        )
    with pytest.raises(SignatureError, match="another product"):
        verify_ticket(
            data,
            trust,
            cmid=CMID,
            activation_id=site.product("Web").activation_id,
            now=int(time.time()),
        )


def test_a_ticket_below_the_n_policy_is_rejected(site: Site) -> None:
    signer, _ = _signer(site)
    data = signer.issue(_body(site, "Desktop Standard", count=24))
    with pytest.raises(SignatureError, match="below"):
        verify_ticket(
            data,
            site.publisher.trust(),
            cmid=CMID,
            activation_id=site.product("Desktop Standard").activation_id,
            now=int(time.time()),
        )


def test_a_group_b_host_cannot_sign_for_group_c(tmp_path: Path) -> None:
    site = make_site(tmp_path, group="B")
    signer, _ = _signer(site)
    data = signer.issue(_body(site, "Datacenter"))
    with pytest.raises(SignatureError, match="does not cover"):
        verify_ticket(
            data,
            site.publisher.trust(),
            cmid=CMID,
            activation_id=site.product("Datacenter").activation_id,
            now=int(time.time()),
        )


def test_a_certificate_cannot_pass_for_a_ticket(site: Site) -> None:
    """Domain separation: the same key signing two kinds of document never confuses them."""
    _, envelope = _signer(site)
    key = site.host_state.private_key()
    body = msgspec.msgpack.encode(_body(site))
    head = tree_head(1, merkle.leaf_hash(body))
    wrong_domain = sign(key, CERTIFICATE_DOMAIN, head)
    forged = msgspec.msgpack.encode(
        Ticket(body, TicketProof(0, 1, (), wrong_domain.signature), envelope)
    )
    with pytest.raises(SignatureError):
        verify_ticket(
            forged,
            site.publisher.trust(),
            cmid=CMID,
            activation_id=site.product("Standard").activation_id,
            now=int(time.time()),
        )
    assert sign(key, TICKET_DOMAIN, head).signature != wrong_domain.signature


def test_every_ticket_of_a_batch_verifies_and_shares_one_signature(site: Site) -> None:
    signer, _ = _signer(site)
    cmids = [uuid.uuid4().bytes for _ in range(13)]
    tickets = signer.issue_batch([_body(site, cmid=cmid) for cmid in cmids])
    proofs = [msgspec.msgpack.decode(data, type=Ticket).proof for data in tickets]
    assert len({proof.signature for proof in proofs}) == 1
    assert [(proof.index, proof.size) for proof in proofs] == [(i, 13) for i in range(13)]
    for cmid, data in zip(cmids, tickets, strict=True):
        verified = verify_ticket(
            data,
            site.publisher.trust(),
            cmid=cmid,
            activation_id=site.product("Standard").activation_id,
            now=int(time.time()),
        )
        assert verified.body.cmid == cmid


@pytest.mark.parametrize(
    "change",
    ["index", "size", "path-hash", "path-short", "path-long", "huge-size", "other-ticket-body"],
)
def test_a_ticket_with_a_forged_batch_proof_is_rejected(site: Site, change: str) -> None:
    """Moving a ticket elsewhere in its tree, or another body onto its path, never verifies."""
    signer, _ = _signer(site)
    bodies = [_body(site, cmid=uuid.uuid4().bytes) for _ in range(6)]
    tickets = [msgspec.msgpack.decode(t, type=Ticket) for t in signer.issue_batch(bodies)]
    ticket = tickets[2]
    proof = ticket.proof
    replace = msgspec.structs.replace
    forged = {
        "index": lambda: replace(ticket, proof=replace(proof, index=3)),
        "size": lambda: replace(ticket, proof=replace(proof, size=7)),
        "path-hash": lambda: replace(
            ticket, proof=replace(proof, path=(bytes(32), *proof.path[1:]))
        ),
        "path-short": lambda: replace(ticket, proof=replace(proof, path=proof.path[:-1])),
        "path-long": lambda: replace(ticket, proof=replace(proof, path=(*proof.path, bytes(32)))),
        "huge-size": lambda: replace(ticket, proof=replace(proof, index=0, size=2**40)),
        "other-ticket-body": lambda: replace(ticket, body=tickets[3].body),
    }[change]()
    with pytest.raises(SignatureError) as info:
        verify_ticket(
            msgspec.msgpack.encode(forged),
            site.publisher.trust(),
            cmid=msgspec.msgpack.decode(forged.body, type=TicketBody).cmid,
            activation_id=site.product("Standard").activation_id,
            now=int(time.time()),
        )
    assert info.value.code.hex == "0xE0040001"


def test_a_tampered_trust_file_is_refused(site: Site) -> None:
    data = (site.publisher.directory / "trust.json").read_bytes()
    raw = msgspec.json.decode(data)
    raw["catalog"][0] = raw["catalog"][0][:-8] + "AAAAAAA="
    with pytest.raises((SignatureError, StateError)):
        Trust.from_json(msgspec.json.encode(raw))
    with pytest.raises(StateError):
        Trust.from_json(b"\x00\xff garbage")


def test_a_certificate_for_another_machine_is_refused(site: Site, tmp_path: Path) -> None:

    moved = HostState(site.host_dir, machine="another-machine-id")
    activation = moved.activation(int(time.time()))
    assert not activation.activated and "another machine" in (activation.problem or "")
    data = (site.host_dir / "certificate.json").read_bytes()
    assert msgspec.json.decode(data, type=CertificateFile).format.startswith(
        "openkms-host-certificate"
    )
