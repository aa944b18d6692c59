"""The client agent: retries every activation interval until activated, then renews."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from openkms.client.api import AttemptOutcome, Client

__all__ = ["next_delay_minutes", "run_agent"]

log = logging.getLogger("openkms.client")


def next_delay_minutes(
    outcome: AttemptOutcome, activation_interval: int, renewal_interval: int
) -> int:
    """Renewal interval after a success, activation interval after a failure."""
    return renewal_interval if outcome.activated else activation_interval


async def run_agent(
    client: Client,
    *,
    once: bool = False,
    stop: asyncio.Event | None = None,
    on_attempt: Callable[[AttemptOutcome, int], None] | None = None,
) -> AttemptOutcome:
    """Attempt now, then on the host-given schedule, until ``stop`` is set (or once)."""
    stop = stop if stop is not None else asyncio.Event()
    while True:
        outcome = await client.activate_async()
        state = client.state()
        delay = next_delay_minutes(outcome, state.activation_interval, state.renewal_interval)
        log.info("attempt: %s; next in %d minutes", outcome.result.hex, delay)
        if on_attempt is not None:
            on_attempt(outcome, delay)
        if once:
            return outcome
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay * 60)
        if stop.is_set():
            return outcome
