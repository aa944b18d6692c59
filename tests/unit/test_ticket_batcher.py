"""The host's ticket batcher: one signature per event-loop iteration, errors per request."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import msgspec

from openkms.core.ticket import Ticket, TicketBody, TicketSigner, verify_ticket
from openkms.host.tickets import TicketBatcher

from helpers import Site


def _batcher(site: Site) -> TicketBatcher:
    activation = site.host_state.activation(int(time.time()))
    assert activation.envelope is not None
    return TicketBatcher(TicketSigner(site.host_state.private_key(), activation.envelope))


def _body(site: Site, cmid: bytes) -> TicketBody:
    product = site.product("Standard")
    now = int(time.time())
    return TicketBody(cmid, product.activation_id, 5, product.n_policy, now, now + 180 * 86400)


def test_tickets_asked_for_in_one_iteration_share_one_signature(site: Site) -> None:
    batcher = _batcher(site)
    cmids = [uuid.uuid4().bytes for _ in range(7)]
    got: dict[bytes, bytes | BaseException] = {}

    async def scenario() -> None:
        for cmid in cmids:
            batcher.add(_body(site, cmid), lambda t, cmid=cmid: got.__setitem__(cmid, t))
        assert got == {}  # nothing is signed before the iteration ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        batcher.add(_body(site, cmids[0]), lambda t: got.__setitem__(b"late", t))
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert (batcher.batches, batcher.tickets) == (2, 8)
    for cmid in cmids:
        data = got[cmid]
        assert isinstance(data, bytes)
        assert msgspec.msgpack.decode(data, type=Ticket).proof.size == 7
        verify_ticket(
            data,
            site.publisher.trust(),
            cmid=cmid,
            activation_id=site.product("Standard").activation_id,
            now=int(time.time()),
        )
    late = got[b"late"]
    assert isinstance(late, bytes)
    assert msgspec.msgpack.decode(late, type=Ticket).proof.size == 1


def test_a_signing_failure_reaches_every_waiter_and_the_next_batch_works(site: Site) -> None:
    activation = site.host_state.activation(int(time.time()))
    assert activation.envelope is not None

    class FailsOnce(TicketSigner):
        failed = False

        def issue_batch(self, bodies: Sequence[TicketBody]) -> list[bytes]:
            if not self.failed:
                self.failed = True
                raise RuntimeError("no key")
            return super().issue_batch(bodies)

    batcher = TicketBatcher(FailsOnce(site.host_state.private_key(), activation.envelope))
    got: list[bytes | BaseException] = []

    async def scenario() -> None:
        for _ in range(3):
            batcher.add(_body(site, uuid.uuid4().bytes), got.append)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        batcher.add(_body(site, uuid.uuid4().bytes), got.append)
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(scenario())
    assert [type(x) for x in got] == [RuntimeError, RuntimeError, RuntimeError, bytes]
