"""Which hosts a client tries, in order: skms, else the cached host, else DNS SRV."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from openkms._address import parse_address
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.errors import DnsError

__all__ = ["Candidate", "Locator", "NoLocator", "candidates"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One host to try, and how it was found ('registered', 'cache' or 'dns').

    ``addresses`` are the IP addresses DNS gave for ``host`` (tried in order); empty means
    the transport resolves ``host`` itself.
    """

    host: str
    port: int
    source: str
    addresses: tuple[str, ...] = ()


class Locator(abc.ABC):
    """Finds hosts for a service in DNS (SRV records)."""

    @abc.abstractmethod
    async def locate(self, service: str, domain: str | None) -> list[Candidate]:
        """Hosts offering ``service``, in the order to try them; DnsError if none."""

    async def resolve(self, host: str) -> tuple[str, ...]:
        """The addresses of ``host`` as this locator sees them (empty: let the system do it)."""
        return ()


class NoLocator(Locator):
    """A locator for machines without DNS discovery: always 'no SRV record'."""

    async def locate(self, service: str, domain: str | None) -> list[Candidate]:
        """Raise DnsError: discovery is not available."""
        raise DnsError(
            f"no {service} SRV record could be looked up",
            code=ResultCode.DNS_NAME_DOES_NOT_EXIST,
            fix="Set the host by hand with 'skms HOST[:PORT]'.",
        )


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
