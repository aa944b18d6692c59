"""The discovery seam: a ``Locator`` finds the hosts of a service, as ``Candidate``s.

It lives in ``dns/`` because the DNS locator implements it; the client only uses it.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from openkms.core.codes import ResultCode
from openkms.errors import DnsError
from openkms.i18n import _

__all__ = ["Candidate", "Locator", "NoLocator"]


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
            _("no {service} SRV record could be looked up").format(service=service),
            code=ResultCode.DNS_NAME_DOES_NOT_EXIST,
            fix=_("Set the host by hand with 'skms HOST[:PORT]'."),
        )
