"""docs/protocol.md's test vectors are what the code produces (the doc cannot drift)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent.parent / "vectors"))

from protocol_vectors import CMID, host_key, vectors

from openkms.core import merkle
from openkms.core.signing import Envelope, public_bytes, verify
from openkms.core.ticket import TICKET_DOMAIN, Ticket, TicketBody, tree_head
from openkms.protocol import NEED_DATA, Connection, Role

DOC = Path(__file__).parent.parent.parent / "docs" / "protocol.md"


def documented() -> dict[str, str]:
    text = DOC.read_text()
    blocks = re.findall(r"#### Vector `([\w-]+)`\n+```text\n(.*?)```", text, re.DOTALL)
    return {name: "".join(body.split()) for name, body in blocks}


def test_every_vector_is_documented_exactly() -> None:
    assert documented() == vectors()


def test_documented_frames_decode() -> None:
    for name, value in documented().items():
        if not value.startswith("4f4b01"):  # tickets, keys, lists: not frames
            continue
        role = Role.SERVER if name.endswith("-request") else Role.CLIENT
        conn = Connection(role=role)
        conn.receive_data(bytes.fromhex(value))
        assert conn.next_event() is not NEED_DATA, name


def test_the_documented_ticket_verifies_with_the_documented_host_key() -> None:
    ticket = msgspec.msgpack.decode(bytes.fromhex(documented()["ticket"]), type=Ticket)
    proof = ticket.proof
    assert (proof.index, proof.size, proof.path) == (0, 1, ())
    head = tree_head(1, merkle.leaf_hash(ticket.body))
    assert verify(public_bytes(host_key()), TICKET_DOMAIN, Envelope(head, proof.signature))
    assert msgspec.msgpack.decode(ticket.body, type=TicketBody).cmid == CMID
    tampered = tree_head(1, merkle.leaf_hash(ticket.body + b"x"))
    assert not verify(public_bytes(host_key()), TICKET_DOMAIN, Envelope(tampered, proof.signature))


def test_the_documented_batch_ticket_verifies_through_its_path() -> None:
    ticket = msgspec.msgpack.decode(
        bytes.fromhex(documented()["ticket-batch-3-index-1"]), type=Ticket
    )
    proof = ticket.proof
    assert (proof.index, proof.size, len(proof.path)) == (1, 3, 2)
    root = merkle.root_from_path(merkle.leaf_hash(ticket.body), 1, 3, proof.path)
    assert root is not None
    head = tree_head(3, root)
    assert verify(public_bytes(host_key()), TICKET_DOMAIN, Envelope(head, proof.signature))
    body = msgspec.msgpack.decode(ticket.body, type=TicketBody)
    assert body.cmid == CMID[:-1] + bytes([CMID[-1] + 1])
