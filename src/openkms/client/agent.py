"""The client agent: retries every activation interval until activated, then renews."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from openkms.client.api import AttemptOutcome, Client
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError

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
    """Attempt now, then on the host-given schedule, until ``stop`` is set (or once).

    An attempt that fails with an error (no trust, a state that cannot be written, ...) is
    logged and retried after the activation interval: the agent keeps running.
    """
    stop = stop if stop is not None else asyncio.Event()
    while True:
        outcome = await _attempt(client)
        delay = _delay(client, outcome)
        log.info("attempt: %s; next in %d minutes", outcome.result.hex, delay)
        if on_attempt is not None:
            on_attempt(outcome, delay)
        if once:
            return outcome
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay * 60)
        if stop.is_set():
            return outcome


async def _attempt(client: Client) -> AttemptOutcome:
    try:
        return await client.activate_async()
    except OpenKMSError as exc:
        log.error("attempt failed: %s", exc)
        return AttemptOutcome(exc.code, exc.message)
    except Exception as exc:  # a bug must not stop the agent: log it whole, retry later
        log.exception("attempt failed with an internal error")
        return AttemptOutcome(ResultCode.INTERNAL_ERROR, f"internal error: {exc!r}"[:300])


def _delay(client: Client, outcome: AttemptOutcome) -> int:
    try:
        state = client.state()
    except OpenKMSError:
        return settings.ACTIVATION_INTERVAL_MIN
    return next_delay_minutes(outcome, state.activation_interval, state.renewal_interval)
