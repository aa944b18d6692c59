"""A host takes the publisher's newer revocation lists and catalogs: as files, or online.

- ``install_revocations`` / ``install_trust``: a file the operator carried (``openkms host
  install-revocations FILE`` / ``install-trust FILE``), verified against the pinned
  publisher, installed only when newer (an older one is refused, the same one is a no-op);
- ``fetch_updates``: the same, from the publisher service (``GET /v1/revocations`` and
  ``GET /v1/trust``);
- ``UpdateWatch``: while serving, the store directory's list and trust are re-read when they
  change (whoever installed them) and fetched every ``revocation_poll_seconds`` when the host
  knows its publisher's URL; a host whose own certificate becomes revoked refuses activations
  from then on and logs event 12330.
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from openkms import __version__
from openkms._files import atomic_write
from openkms.core.codes import ResultCode
from openkms.core.events import host_revoked_event
from openkms.core.host import HostActivation
from openkms.core.revocation import MAX_LIST_BYTES
from openkms.core.signing import SigningKey
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError, StateError
from openkms.host.revocation_file import REVOCATIONS_FILE, parse_revocations, read_revocations
from openkms.host.service import HostService
from openkms.host.state import HostState
from openkms.i18n import _
from openkms.store.base import HostStore

__all__ = [
    "Installed",
    "UpdateWatch",
    "fetch_updates",
    "install_revocations",
    "install_trust",
    "log_revoked",
    "require_update_url",
    "update_url",
]

log = logging.getLogger("openkms.host")

_MAX_TRUST_BYTES: Final = 256 * 1024
_FETCH_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class Installed:
    """What an install did: the serial now installed, and whether it replaced anything."""

    what: str  # "revocation list" or "catalog"
    serial: int
    replaced: bool


def _pinned(state: HostState) -> Trust:
    trust = state.trust()
    if trust is None:
        raise StateError(
            code=ResultCode.TRUST_MISSING,
            fix=_("Pin the publisher first: 'openkms host ipk KEY --trust trust.json'."),
        )
    return trust


def install_revocations(state: HostState, data: bytes, source: str) -> Installed:
    """Verify a revocation list and install it if newer; OpenKMSError if older or invalid."""
    trust = _pinned(state)
    offered = parse_revocations(data, trust, source)
    installed = read_revocations(state.directory, trust)
    if not offered.check_newer_than(installed):
        return Installed("revocation list", offered.serial, replaced=False)
    atomic_write(state.directory / REVOCATIONS_FILE, offered.to_json())
    log.info("revocation list %d installed (%d entries)", offered.serial, len(offered.body.entries))
    return Installed("revocation list", offered.serial, replaced=True)


def install_trust(state: HostState, data: bytes, source: str) -> Installed:
    """Install a trust document that succeeds the installed one (its catalog newer, its root
    key chain continuing the installed one: a rotation is followed)."""
    installed = _pinned(state)
    offered = Trust.from_json(data, source)
    if offered.catalog.application_id != installed.catalog.application_id:
        raise OpenKMSError(
            _("This catalog is for another application than the host's."),
            code=ResultCode.CATALOG_INVALID,
            fix=_("Install the trust.json of the application this host serves."),
        )
    # HostState.install_trust: the rule of Trust.check_newer_than, so a root key rotation
    # travels this way too (the chain must continue the installed one).
    if not state.install_trust(offered):
        return Installed("catalog", offered.catalog.serial, replaced=False)
    log.info("catalog %d installed", offered.catalog.serial)
    return Installed("catalog", offered.catalog.serial, replaced=True)


def update_url(state: HostState, given: str | None) -> str | None:
    """Where a host fetches updates: ``given`` (``--publisher-url``), else the installed
    catalog's ``publisher_url`` (read again each time: a newer catalog may move it), else None.
    """
    if given:
        return given
    try:
        trust = state.trust()
    except OpenKMSError:
        return None
    if trust is None or not trust.catalog.publisher_url:
        return None
    return trust.catalog.publisher_url


def require_update_url(state: HostState, given: str | None) -> str:
    """``update_url``, or an error saying how to name the service or carry the files."""
    url = update_url(state, given)
    if url is None:
        raise OpenKMSError(
            _("The publisher's catalog names no activation service to fetch updates from."),
            code=ResultCode.INVALID_ARGUMENT,
            fix=_(
                "Give the service with --publisher-url URL, or install the files by hand: "
                "'openkms host install-revocations FILE', 'openkms host install-trust FILE'."
            ),
        )
    return url


def fetch_updates(state: HostState, publisher_url: str) -> list[Installed]:
    """Fetch the publisher's latest list and trust from its service; install the newer ones.

    A resource the service does not have (404) is skipped; the service unreachable, or an
    answer that does not verify, raises OpenKMSError.
    """
    results = []
    trust = _fetch(publisher_url, "/v1/trust", _MAX_TRUST_BYTES)
    if trust is not None:
        results.append(install_trust(state, trust, f"{publisher_url}/v1/trust"))
    revocations = _fetch(publisher_url, "/v1/revocations", MAX_LIST_BYTES)
    if revocations is not None:
        source = f"{publisher_url}/v1/revocations"
        results.append(install_revocations(state, revocations, source))
    return results


def _fetch(base_url: str, path: str, limit: int) -> bytes | None:
    """GET ``base_url + path``: its body (at most ``limit`` bytes), None on 404."""
    url = base_url.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise OpenKMSError(
            _("The publisher URL {base_url!r} is not http:// or https://.").format(
                base_url=base_url[:80]
            ),
            code=ResultCode.INVALID_ARGUMENT,
        )
    # http.client and email (about 2 MiB resident) only for a host that fetches updates.
    from urllib.request import Request, urlopen  # noqa: PLC0415

    agent = {"User-Agent": f"openkms-host/{__version__}"}
    request = Request(url, headers=agent)  # noqa: S310 - http(s) checked above
    try:
        with urlopen(request, timeout=_FETCH_TIMEOUT) as response:  # noqa: S310
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise _unreachable(url, f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _unreachable(url, str(exc)) from None
    if len(body) > limit:
        raise _unreachable(url, _("the answer is over {limit} bytes").format(limit=limit))
    return body


def _unreachable(url: str, detail: str) -> OpenKMSError:
    return OpenKMSError(
        _("The publisher service at {url} could not be used: {detail}.").format(
            url=url, detail=detail[:200]
        ),
        code=ResultCode.RPC_SERVER_UNAVAILABLE,
        fix=_(
            "Check the publisher URL and the network path, or install the files by hand: "
            "'openkms host install-revocations FILE' and 'install-trust FILE'."
        ),
    )


class UpdateWatch:
    """While serving: reload the store's list and trust when they change; fetch them."""

    def __init__(
        self,
        *,
        state: HostState,
        service: HostService,
        store: HostStore,
        private_key: SigningKey,
        clock: Callable[[], float],
        publisher_url: str | None,
        poll_seconds: float,
        fetch_seconds: float,
    ) -> None:
        self._state = state
        self._service = service
        self._store = store
        self._private_key = private_key
        self._clock = clock
        self._publisher_url = publisher_url
        self._poll = poll_seconds
        self._fetch_every = fetch_seconds
        self._seen = self._mtimes()
        self._fetched_at = float("-inf")

    def _mtimes(self) -> tuple[float, float]:
        directory: Path = self._state.directory
        times = []
        for name in (REVOCATIONS_FILE, "trust.json"):
            try:
                times.append((directory / name).stat().st_mtime)
            except OSError:
                times.append(0.0)
        return times[0], times[1]

    async def run(self) -> None:
        """Check every ``poll_seconds`` until cancelled; never fails the host."""
        while True:
            url = update_url(self._state, self._publisher_url)
            if url and time.monotonic() - self._fetched_at >= self._fetch_every:
                self._fetched_at = time.monotonic()
                await self._fetch(url)
            await self.reload_if_changed()
            await asyncio.sleep(self._poll)

    async def _fetch(self, url: str) -> None:
        try:
            results = await asyncio.to_thread(fetch_updates, self._state, url)
        except OpenKMSError as exc:
            log.warning("publisher updates not fetched: %s", exc.message)
            return
        for result in results:
            if result.replaced:
                log.info("fetched %s %d from %s", result.what, result.serial, url)

    async def reload_if_changed(self) -> bool:
        """Hand the service the store's activation again if its list or trust changed."""
        seen = self._mtimes()
        if seen == self._seen:
            return False
        self._seen = seen
        was_revoked = self._service.activation.revoked is not None
        try:
            activation = await asyncio.to_thread(self._state.activation, int(self._clock()))
        except OpenKMSError as exc:
            log.warning("the updated list or catalog is not taken: %s", exc.message)
            return False
        self._service.set_activation(activation, self._private_key)
        listed = activation.revocations.serial if activation.revocations else 0
        catalog = activation.trust.catalog.serial if activation.trust else 0
        log.info("serving with catalog %d and revocation list %d", catalog, listed)
        if activation.revoked is not None and not was_revoked:
            await log_revoked(self._store, activation, int(self._clock()))
        return True


async def log_revoked(store: HostStore, activation: HostActivation, now: int) -> None:
    """Log (and record as event 12330) that this host's certificate is revoked."""
    revoked, cert = activation.revoked, activation.certificate
    if revoked is None or cert is None:
        return
    event = host_revoked_event(now, cert.serial, revoked.revoked_at, revoked.reason)
    try:
        await store.log_event(event)
    except OpenKMSError as exc:
        log.warning("the revocation could not be recorded: %s", exc.message)
    # Logged once the event is recorded: whoever reads this line finds the event.
    log.error("%s: refusing activations with 0xC004C003", activation.problem)
