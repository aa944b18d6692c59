"""The client agent: retries every activation interval until activated, then renews.

A KMS client renews with its KMS hosts. A MAK client never looks for KMS hosts: it renews
with the publisher's service when it knows one (``--publisher-url`` or the catalog's
``publisher_url``); a MAK client without one (activated by phone) has nothing to renew
with, so the agent makes no attempt and only looks again at the renewal interval or when
the license ends, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from openkms.client.api import AttemptOutcome, Client
from openkms.client.mak import installed_mak
from openkms.client.phone import mak_reference
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError
from openkms.i18n import N_, _

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


_PHONE_ONLY_FIX = N_(
    "Activate by phone: 'client dti', read the installation ID to the publisher, then "
    "'client atp CONFIRMATION-ID' (or give the publisher's service with --publisher-url)."
)


def phone_only_outcome(client: Client) -> AttemptOutcome | None:
    """For a MAK client with nothing to renew with (no service, or cpky): the license only.

    None for every other client (a KMS client, a MAK client that knows the service, a store
    that cannot be read: the attempt reports those).
    """
    try:
        snapshot = client.snapshot()
    except OpenKMSError:
        return None
    trust = snapshot.trust
    if mak_reference(snapshot.state) is None or trust is None:
        return None
    service = client.publisher_url or trust.catalog.publisher_url
    if service and installed_mak(snapshot.state.setup_key) is not None:
        return None  # renews online (a MAK cleared with cpky cannot: its text is gone)
    license = client.license()
    if license.licensed and license.ends_at is not None:
        until = dt.datetime.fromtimestamp(license.ends_at, dt.UTC).date()
        message = _(
            "MAK licensed until {until}; nothing to renew with (activated by phone)"
        ).format(until=until)
        return AttemptOutcome(ResultCode.OK, message, license=license)
    return AttemptOutcome(
        ResultCode.INVALID_ARGUMENT,
        _("this MAK is not activated and the catalog names no publisher service"),
        license=license,
        fix=_(_PHONE_ONLY_FIX),
    )


async def _attempt(client: Client) -> AttemptOutcome:
    phone_only = phone_only_outcome(client)
    if phone_only is not None:
        return phone_only
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
    delay = next_delay_minutes(outcome, state.activation_interval, state.renewal_interval)
    license = outcome.license
    if outcome.activated and license is not None and license.minutes_remaining > 0:
        delay = min(delay, license.minutes_remaining)  # look again when the license ends
    return delay
