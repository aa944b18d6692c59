"""Batch signing of tickets on the host's event loop: one signature per loop iteration.

The store settles a whole group commit at once, so the requests of one commit reach
``TicketBatcher.add`` within one iteration of the event loop. The batcher collects their
ticket bodies and signs them together at the end of that iteration (one Ed25519 signature
over a Merkle tree head, ``openkms.core.ticket``). Under load, commits grow and signing
cost per ticket falls; a lone request is a batch of one and waits for nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from openkms.core.ticket import TICKET_BATCH_MAX, TicketBody, TicketSigner

__all__ = ["TicketBatcher", "TicketWaiter"]

log = logging.getLogger("openkms.host")

# Called once with the encoded ticket, or with the error that kept it from being signed.
TicketWaiter = Callable[[bytes | BaseException], None]


class TicketBatcher:
    """Collects the tickets asked for in one event-loop iteration and signs them at once."""

    def __init__(self, signer: TicketSigner) -> None:
        self._signer = signer
        self._bodies: list[TicketBody] = []
        self._waiters: list[TicketWaiter] = []
        self.batches = 0  # signatures made
        self.tickets = 0  # tickets issued

    def add(self, body: TicketBody, deliver: TicketWaiter) -> None:
        """Queue ``body``; ``deliver`` gets its ticket once the batch is signed."""
        self._bodies.append(body)
        self._waiters.append(deliver)
        if len(self._bodies) == 1:
            asyncio.get_running_loop().call_soon(self.flush)
        elif len(self._bodies) >= TICKET_BATCH_MAX:
            self.flush()

    def flush(self) -> None:
        """Sign what is queued and hand each ticket to its waiter."""
        bodies, waiters = self._bodies, self._waiters
        if not bodies:
            return
        self._bodies, self._waiters = [], []
        results: Sequence[bytes | BaseException]
        try:
            results = self._signer.issue_batch(bodies)
        except Exception as exc:  # a bug must fail its requests, not the loop
            log.exception("signing a batch of %d tickets failed", len(bodies))
            results = [exc for _ in bodies]
        self.batches += 1
        self.tickets += len(bodies)
        for deliver, result in zip(waiters, results, strict=True):
            deliver(result)
