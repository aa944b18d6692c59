"""``doctor dns``: the SRV records clients would find, each target resolved and its port tested.

For the OpenKMS service (``_openkms._tcp`` unless told otherwise) and for Windows KMS
(``_vlmcs._tcp``), in the domain given or in each domain of the machine's search list:
the records (priority, weight, port, TTL), how many hosts (several split the count, unless
they share the PostgreSQL store examined with ``--store``: ``_shared.py``), each target's
addresses, a TCP connect to each (short timeout) and, for OpenKMS targets, a probe
that is never counted. Windows KMS targets are only connected to: the doctor does not speak
Microsoft's protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from openkms.core import settings
from openkms.dns.srv import (
    DnsServer,
    SrvRecord,
    lookup_error,
    make_resolver,
    resolve_addresses,
    system_search_domains,
)
from openkms.doctor._i18n import Text, built_in_english_async, error_words
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.network._findings import probe_findings
from openkms.doctor.network._shared import read_peers, several_hosts_finding
from openkms.doctor.network.probe import probe, tcp_connect
from openkms.errors import DnsError
from openkms.i18n import N_

__all__ = ["WINDOWS_SERVICE", "DnsCheckOptions", "check_dns"]

WINDOWS_SERVICE = "_vlmcs._tcp"


@dataclass(frozen=True, slots=True)
class DnsCheckOptions:
    """What ``doctor dns`` asks, and of whom."""

    domain: str | None = None  # None: each domain of the search list
    service: str = settings.SRV_SERVICE
    nameservers: tuple[DnsServer, ...] = ()  # (): resolv.conf
    search_domains: tuple[str, ...] | None = None  # None: resolv.conf
    timeout: float = 3.0  # per DNS query and per TCP connect
    probe: bool = True
    # A host store whose peers (hosts sharing its PostgreSQL database) share one count.
    store_dir: Path | None = None
    database: str | None = None  # its DSN; None: $OPENKMS_DATABASE, else its SQLite file


def _servers(resolver: dns.asyncresolver.Resolver) -> str:
    return ", ".join(str(ns) for ns in resolver.nameservers) or "none"


async def _srv(
    resolver: dns.asyncresolver.Resolver, name: str, timeout: float
) -> tuple[list[SrvRecord], int]:
    """The SRV records of ``name`` and their TTL; DnsError when there are none."""
    try:
        answer = await resolver.resolve(name, "SRV", search=False)
    except dns.exception.DNSException as exc:
        raise lookup_error(exc, name, _servers(resolver), timeout) from None
    records = [
        SrvRecord(rd.priority, rd.weight, rd.port, rd.target.to_text(omit_final_dot=True))
        for rd in answer
    ]
    ttl = answer.rrset.ttl if answer.rrset is not None else 0
    return sorted(records, key=lambda r: (r.priority, -r.weight, r.target)), ttl


def _search_list_finding(options: DnsCheckOptions, domains: Sequence[str]) -> Finding:
    search = list(
        options.search_domains if options.search_domains is not None else system_search_domains()
    )
    listed = ", ".join(search) or Text(N_("empty"))
    if options.domain is None:
        return CATALOGUE["dns-search-list"].finding(
            Severity.OK if search else Severity.ERROR,
            Text(N_("this machine's DNS search list: {listed}"), listed=listed),
            meaning=Text(
                N_(
                    "Clients look for SRV records in these domains (primary DNS suffix, DHCP "
                    "option 15)."
                )
                if search
                else N_(
                    "Clients look for SRV records in these domains (primary DNS suffix, DHCP "
                    "option 15). With none, discovery cannot work."
                )
            ),
            fix=""
            if search
            else Text(
                N_(
                    "Give the domain ('doctor dns DOMAIN'); on clients set "
                    "'client skms-domain DOMAIN' or a search list."
                )
            ),
            code=None if search else "0x8007232B",
        )
    domain = domains[0].lower()
    inside = any(d.lower().rstrip(".") == domain for d in search)
    return CATALOGUE["dns-search-list"].finding(
        Severity.OK if inside else Severity.WARNING,
        Text(
            N_("this machine's DNS search list: {listed}; {domain} is in it")
            if inside
            else N_("this machine's DNS search list: {listed}; {domain} is not in it"),
            listed=listed,
            domain=domain,
        ),
        meaning=Text(
            N_(
                "Clients look for SRV records only in their search list unless a lookup "
                "domain is set."
            )
            if inside
            else N_(
                "Clients look for SRV records only in their search list unless a lookup "
                "domain is set. This machine would not look in {domain}."
            ),
            domain=domain,
        ),
        fix=""
        if inside
        else Text(
            N_(
                "Set 'client skms-domain {domain}' on the clients, or add "
                "{domain} to their DNS search list (DHCP option 15)."
            ),
            domain=domain,
        ),
    )


async def _service_findings(
    resolver: dns.asyncresolver.Resolver,
    service: str,
    domain: str,
    options: DnsCheckOptions,
    peers: frozenset[str] | None = None,
) -> list[Finding]:
    name = f"{service}.{domain}"
    windows = service == WINDOWS_SERVICE
    try:
        records, ttl = await _srv(resolver, name, options.timeout)
    except DnsError as exc:
        return [_missing(name, exc, windows)]
    usable = [r for r in records if r.target not in ("", ".")]
    listed = "; ".join(f"{r.priority} {r.weight} {r.port} {r.target}" for r in records)
    findings = [
        CATALOGUE["srv-records"].finding(
            Severity.OK,
            Text(
                N_("{name} SRV (priority weight port target, TTL {ttl} s): {listed}"),
                name=name,
                ttl=ttl,
                listed=listed,
            ),
            meaning=Text(
                N_("{count} host(s) published for Windows KMS.")
                if windows
                else N_("{count} host(s) published for OpenKMS clients."),
                count=len(usable),
            ),
        )
    ]
    answered: dict[SrvRecord, set[str]] = {}
    targets: list[Finding] = []
    for record in usable:
        targets += await _target_findings(resolver, record, windows, options, answered)
    if len(usable) > 1:
        findings.append(several_hosts_finding(name, usable, answered, peers))
    return findings + targets


def _missing(name: str, exc: DnsError, windows: bool) -> Finding:
    not_found = exc.code.hex == "0x8007232B"
    if windows and not_found:
        return CATALOGUE["srv-records"].finding(
            Severity.OK,
            Text(N_("{name}: no SRV record ({code})"), name=name, code=exc.code.hex),
            meaning=Text(
                N_(
                    "No Windows KMS host is published in this domain (fine without Windows "
                    "volume activation)."
                )
            ),
        )
    message, fix = error_words(exc)
    return CATALOGUE["srv-records"].finding(
        Severity.ERROR,
        Text("{name}: {message}", name=name, message=message),
        meaning=Text(
            N_("{name}: {message} Clients cannot discover a host."),
            name=exc.code.name,
            message=Text(exc.code.info.message),
        ),
        fix=Text(
            N_(
                "Turn publishing on ('host sdns') and check its 12293 events, allow dynamic "
                "updates (BIND: 'allow-update'), or create the record by hand; else set hosts "
                "by hand ('client skms HOST:PORT')."
            )
        )
        if not_found
        else fix,
        code=exc.code.hex,
    )


async def _target_findings(
    resolver: dns.asyncresolver.Resolver,
    record: SrvRecord,
    windows: bool,
    options: DnsCheckOptions,
    answered: dict[SrvRecord, set[str]],
) -> list[Finding]:
    """Resolve, connect and probe one target; the host IDs that answered go to ``answered``."""
    addresses = await resolve_addresses(resolver, record.target)
    if not addresses:
        return [
            CATALOGUE["srv-target"].finding(
                Severity.ERROR,
                Text(N_("{target}: no A or AAAA record"), target=record.target),
                meaning=Text(
                    N_(
                        "The SRV record names a host that does not resolve: a stale record, "
                        "or a host without an address record."
                    )
                ),
                fix=Text(N_("Remove the stale SRV record, or add the host's A/AAAA record.")),
                code="0x8007232B",
            )
        ]
    findings = [
        CATALOGUE["srv-target"].finding(
            Severity.OK,
            f"{record.target} -> {', '.join(addresses)}",
            meaning=Text(N_("The SRV target resolves.")),
        )
    ]
    for address in addresses:
        if windows or not options.probe:
            result = await tcp_connect(address, record.port, options.timeout)
            findings += probe_findings(result, Procedure.PORT, activation=False, clock=False)
        else:
            result = await probe(address, record.port, options.timeout)
            findings += probe_findings(result, Procedure.PORT, clock=False)
            if result.response is not None:
                answered.setdefault(record, set()).add(result.response.host_id)
    return findings


@built_in_english_async
async def check_dns(options: DnsCheckOptions | None = None) -> list[Finding]:
    """SRV records of OpenKMS and Windows KMS in the domain(s), targets and ports."""
    options = options or DnsCheckOptions()
    if options.domain:
        domains: list[str] = [options.domain.rstrip(".")]
    elif options.search_domains is not None:
        domains = [d.rstrip(".") for d in options.search_domains if d.strip(".")]
    else:
        domains = system_search_domains()
    findings = [_search_list_finding(options, domains)]
    try:
        resolver = make_resolver(options.nameservers, options.timeout)
    except DnsError:
        code = "0x8007267C"
        return [
            *findings,
            CATALOGUE["dns-servers"].finding(
                Severity.ERROR,
                Text(N_("no DNS server configured (resolv.conf)")),
                meaning=Text(N_("Without a DNS server clients cannot look up SRV records.")),
                fix=Text(N_("Configure a DNS server, or give one with --dns-server ADDR[:PORT].")),
                code=code,
            ),
        ]
    peers: frozenset[str] | None = None
    if options.store_dir is not None:
        read = await read_peers(options.store_dir, options.database)
        if isinstance(read, Finding):
            findings.append(read)
        else:
            peers = read
    for domain in domains:
        for service in dict.fromkeys((options.service, WINDOWS_SERVICE)):
            peers_here = None if service == WINDOWS_SERVICE else peers
            findings += await _service_findings(resolver, service, domain, options, peers_here)
    return findings
