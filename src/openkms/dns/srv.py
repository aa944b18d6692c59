"""SRV discovery: RFC 2782 ordering and a ``Locator`` on dnspython's async resolver.

::

    locator = DnsLocator(nameservers=[DnsServer("192.0.2.53")], search_domains=["corp.example"])
    hosts = await locator.locate("_openkms._tcp", None)   # Candidates in the order to try
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from openkms._address import format_address, parse_address
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.dns.locator import Candidate, Locator
from openkms.errors import DnsError, OpenKMSError
from openkms.i18n import _

__all__ = [
    "DnsLocator",
    "DnsServer",
    "SrvRecord",
    "lookup_error",
    "make_resolver",
    "order_srv",
    "parse_server",
    "resolve_addresses",
    "system_nameservers",
    "system_search_domains",
]

log = logging.getLogger("openkms.dns")

_NOT_FOUND = ResultCode.DNS_NAME_DOES_NOT_EXIST


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """One SRV record: ``priority weight port target``."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class DnsServer:
    """A DNS server to ask: address and port."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        return format_address(self.address, self.port)


def parse_server(text: str) -> DnsServer:
    """``ADDR``, ``ADDR:PORT`` or ``[IPv6]:PORT`` -> DnsServer (port 53 by default)."""
    host, port = parse_address(text, 53)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise OpenKMSError(
            _("DNS server {text!r} is not an IP address").format(text=text),
            code=ResultCode.INVALID_ARGUMENT,
        ) from None
    return DnsServer(host, port)


def order_srv(
    records: Sequence[SrvRecord], rng: random.Random, *, honour_priority: bool = True
) -> list[SrvRecord]:
    """The order in which to try ``records``: RFC 2782, or purely random when not honoured."""
    usable = [r for r in records if r.target not in ("", ".")]
    if not honour_priority:
        shuffled = list(usable)
        rng.shuffle(shuffled)
        return shuffled
    ordered: list[SrvRecord] = []
    for priority in sorted({r.priority for r in usable}):
        ordered += _weighted_order([r for r in usable if r.priority == priority], rng)
    return ordered


def _weighted_order(group: list[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 weighted selection within one priority: zero weights first, then sums."""
    remaining = list(group)
    rng.shuffle(remaining)  # "any order": random, so that equal zero weights share the load
    remaining.sort(key=lambda r: r.weight != 0)
    chosen: list[SrvRecord] = []
    while remaining:
        total = sum(r.weight for r in remaining)
        pick = rng.randint(0, total)
        running = 0
        for index, record in enumerate(remaining):
            running += record.weight
            if running >= pick:
                chosen.append(remaining.pop(index))
                break
    return chosen


def lookup_error(exc: Exception, name: str, servers: str, timeout: float) -> DnsError:
    """Map a dnspython lookup failure to the error a client reports."""
    if isinstance(exc, dns.resolver.NXDOMAIN | dns.resolver.NoAnswer):
        return DnsError(
            _("no SRV record {name} exists").format(name=name),
            code=ResultCode.DNS_NAME_DOES_NOT_EXIST,
        )
    if isinstance(exc, dns.resolver.NoResolverConfiguration):
        return DnsError(code=ResultCode.NO_DNS_SERVERS)
    if isinstance(exc, dns.exception.Timeout):
        return DnsError(
            _(
                "No KMS host could be looked up: no DNS server ({servers}) answered the "
                "SRV query for {name} within {timeout:g}s."
            ).format(servers=servers, name=name, timeout=timeout),
            code=ResultCode.NO_KMS_HOST_CONTACTED,
            fix=_(
                "Check that the DNS server is running and reachable (UDP/TCP 53), or set the "
                "host by hand with 'skms HOST[:PORT]'."
            ),
        )
    if isinstance(exc, dns.resolver.NoNameservers):
        return DnsError(
            _("the DNS server(s) {servers} failed the SRV query for {name}").format(
                servers=servers, name=name
            ),
            code=ResultCode.DNS_SERVER_FAILURE,
        )
    return DnsError(
        _("SRV lookup of {name} failed: {exc}").format(name=name, exc=exc),
        code=ResultCode.DNS_SERVER_FAILURE,
    )


def system_nameservers() -> list[DnsServer]:
    """The machine's DNS servers (resolv.conf); empty when none are configured."""
    try:
        resolver = dns.resolver.Resolver()
    except (dns.resolver.NoResolverConfiguration, OSError):
        return []
    return [DnsServer(str(ns), 53) for ns in resolver.nameservers]


def system_search_domains() -> list[str]:
    """The machine's DNS search list (resolv.conf ``search``/``domain``)."""
    try:
        resolver = dns.resolver.Resolver()
    except (dns.resolver.NoResolverConfiguration, OSError):
        return []
    names = list(resolver.search) or ([resolver.domain] if len(resolver.domain) > 1 else [])
    return [n.to_text(omit_final_dot=True) for n in names if len(n) > 1]


class DnsLocator(Locator):
    """Finds hosts by SRV lookup in the lookup domain, else in each search-list domain."""

    def __init__(
        self,
        *,
        nameservers: Sequence[DnsServer] = (),
        search_domains: Sequence[str] | None = None,
        timeout: float = settings.DNS_TIMEOUT_SECONDS,
        honour_priority: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.nameservers = tuple(nameservers)
        self.search_domains = tuple(search_domains) if search_domains is not None else None
        self.timeout = timeout
        self.honour_priority = honour_priority
        self.rng = rng if rng is not None else random.SystemRandom()

    def _resolver(self) -> dns.asyncresolver.Resolver:
        return make_resolver(self.nameservers, self.timeout)

    def _servers_text(self, resolver: dns.asyncresolver.Resolver) -> str:
        return ", ".join(str(s) for s in self.nameservers) or ", ".join(
            str(ns) for ns in resolver.nameservers
        )

    def _domains(self, domain: str | None) -> list[str]:
        if domain:
            return [domain.rstrip(".")]
        if self.search_domains is not None:
            return [d.rstrip(".") for d in self.search_domains if d.strip(".")]
        return system_search_domains()

    async def locate(self, service: str, domain: str | None) -> list[Candidate]:
        """SRV records of ``service`` in the first domain that has them, in try order."""
        resolver = self._resolver()
        domains = self._domains(domain)
        if not domains:
            raise DnsError(
                _("no DNS domain to look up {service} in (no search list, no skms-domain)").format(
                    service=service
                ),
                code=ResultCode.DNS_NAME_DOES_NOT_EXIST,
                fix=_("Set the lookup domain with 'skms-domain DOMAIN' or a DNS search list."),
            )
        errors: list[DnsError] = []
        for name in (f"{service}.{d}" for d in domains):
            try:
                records = await self._lookup_srv(resolver, name)
            except DnsError as exc:
                errors.append(exc)
                continue
            if records:
                return await self._candidates(resolver, records)
            errors.append(
                DnsError(_("no usable SRV record {name}").format(name=name), code=_NOT_FOUND)
            )
        raise _worst(errors, service, domains)

    async def _lookup_srv(self, resolver: dns.asyncresolver.Resolver, name: str) -> list[SrvRecord]:
        try:
            answer = await resolver.resolve(name, "SRV", search=False)
        except dns.exception.DNSException as exc:
            raise lookup_error(exc, name, self._servers_text(resolver), self.timeout) from None
        records = [
            SrvRecord(rd.priority, rd.weight, rd.port, rd.target.to_text(omit_final_dot=True))
            for rd in answer
        ]
        log.debug("SRV %s: %s", name, records)
        return order_srv(records, self.rng, honour_priority=self.honour_priority)

    async def _candidates(
        self, resolver: dns.asyncresolver.Resolver, records: list[SrvRecord]
    ) -> list[Candidate]:
        addresses = await asyncio.gather(*(resolve_addresses(resolver, r.target) for r in records))
        return [
            Candidate(r.target, r.port, "dns", found)
            for r, found in zip(records, addresses, strict=True)
        ]

    async def resolve(self, host: str) -> tuple[str, ...]:
        """The IPv4 and IPv6 addresses of ``host`` from the configured DNS servers."""
        try:
            resolver = self._resolver()
        except DnsError:
            return ()
        return await resolve_addresses(resolver, host)


async def resolve_addresses(resolver: dns.asyncresolver.Resolver, host: str) -> tuple[str, ...]:
    """The IPv4 and IPv6 addresses of ``host`` (itself if it is an address literal)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return (host,)
    found: list[str] = []
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        try:
            answer = await resolver.resolve(host, rdtype, search=False)
        except dns.exception.DNSException:
            continue
        found += [rd.address for rd in answer]
    return tuple(found)


def _worst(errors: list[DnsError], service: str, domains: list[str]) -> DnsError:
    """One error for a search over several domains: a server problem beats 'not found'."""
    for error in errors:
        if error.code is not ResultCode.DNS_NAME_DOES_NOT_EXIST:
            return error
    return DnsError(
        _("no {service} SRV record in {domains}").format(
            service=service, domains=", ".join(domains)
        ),
        code=ResultCode.DNS_NAME_DOES_NOT_EXIST,
    )


def make_resolver(nameservers: Sequence[DnsServer], timeout: float) -> dns.asyncresolver.Resolver:
    """A resolver asking ``nameservers`` (or resolv.conf's); DnsError 0x8007267C if none."""
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(s.address, s.port) for s in nameservers
        ]
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except (dns.resolver.NoResolverConfiguration, OSError):
            raise DnsError(code=ResultCode.NO_DNS_SERVERS) from None
    if not resolver.nameservers:
        raise DnsError(code=ResultCode.NO_DNS_SERVERS)
    resolver.timeout = resolver.lifetime = timeout
    return resolver
