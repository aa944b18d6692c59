"""Which hosts a client tries, in order: skms, else the cached host, else DNS SRV.

``Candidate``, ``Locator`` and ``NoLocator`` live in :mod:`openkms.dns.locator` (re-exported
here for the client's callers).
"""

from __future__ import annotations

from openkms._address import parse_address
from openkms.core import settings
from openkms.dns.locator import Candidate, Locator, NoLocator
from openkms.errors import DnsError

__all__ = ["Candidate", "Locator", "NoLocator", "candidates"]


async def candidates(
    *,
    registered: str | None,
    cached: str | None,
    caching: bool,
    cached_address: str | None = None,
    locator: Locator,
    service: str,
    domain: str | None,
) -> tuple[list[Candidate], DnsError | None]:
    """The hosts to try in order, and the DNS error if discovery failed."""
    if registered:
        host, port = parse_address(registered, settings.DEFAULT_PORT)
        return [Candidate(host, port, "registered")], None
    found: list[Candidate] = []
    if caching and cached:
        host, port = parse_address(cached, settings.DEFAULT_PORT)
        addresses = await locator.resolve(host)
        if not addresses and cached_address:
            # The name no longer resolves: go straight to the address it had (renewal).
            addresses = (cached_address,)
        found.append(Candidate(host, port, "cache", addresses))
    try:
        for candidate in await locator.locate(service, domain):
            if (candidate.host, candidate.port) not in {(c.host, c.port) for c in found}:
                found.append(candidate)
    except DnsError as exc:
        return found, exc
    return found, None
