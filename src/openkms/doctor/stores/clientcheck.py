"""``doctor client``: every check that applies to a KMS client, from its store directory.

Order, as the guides: the key on the machine (a setup key, not a host key), the license
state and time left, rearms, the host the client would use (registered with ``skms``,
cached, or found in DNS) and whether it answers a probe, the count it reports against this
product's N-policy, the clocks, then the client's own 12288/12289 events. A MAK client is
not a KMS client: it gets the checks of :mod:`._clientmak` instead (channel, activation,
license, clock), its license and rearms under the "MAK client" heading, and its events in
the publisher's words. The first step (the store and the key) is :mod:`._clientkeys`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openkms._address import parse_address
from openkms.client.api import Client
from openkms.client.discovery import Candidate
from openkms.client.state import ClientState
from openkms.core import settings
from openkms.core.catalog import Product
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.dns.srv import DnsLocator, DnsServer
from openkms.doctor._i18n import Text, built_in_english_async, error_words
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.network._findings import probe_findings
from openkms.doctor.network.probe import ProbeResult, probe
from openkms.doctor.stores._clientevents import event_findings
from openkms.doctor.stores._clientkeys import key_findings, role_problem
from openkms.doctor.stores._clientmak import is_mak_client, mak_findings
from openkms.doctor.stores._hoststore import store_problem
from openkms.doctor.stores._makcauses import mak_event_findings
from openkms.errors import DnsError, OpenKMSError
from openkms.i18n import N_

__all__ = ["ClientCheckOptions", "check_client_store"]

_DAY_MIN = 1440
_EXPIRY_WARNING_DAYS = 15
_MAX_PROBED = 3


@dataclass(frozen=True, slots=True)
class ClientCheckOptions:
    """What ``doctor client`` needs besides the store directory."""

    timeout: float = 3.0
    clock: Callable[[], float] = time.time
    nameservers: tuple[DnsServer, ...] = ()  # () : resolv.conf
    search_domains: tuple[str, ...] | None = None  # None: resolv.conf
    service: str | None = None  # None: the catalog's
    dns_timeout: float = settings.DNS_TIMEOUT_SECONDS


def _license_finding(client: Client) -> Finding:
    lic = client.license()
    days = lic.minutes_remaining // _DAY_MIN
    left = Text(
        N_("{minutes} minute(s) ({days} day(s)) left"), minutes=lic.minutes_remaining, days=days
    )
    seen = Text(
        N_("{path}: License Status {state}"),
        path=client.directory / "client.json",
        state=Text(lic.state.label),
    )
    if lic.state is LicenseState.LICENSED:
        soon = days < _EXPIRY_WARNING_DAYS
        return Finding(
            procedure=Procedure.CLIENT,
            severity=Severity.WARNING if soon else Severity.OK,
            check="expiry-soon" if soon else "license-status",
            evidence=Text(N_("{seen}, {left} before the activation expires"), seen=seen, left=left),
            meaning=Text(
                N_(
                    "Activated; each renewal (every 7 days) restores the 180-day validity. "
                    "It has not renewed for a long time."
                )
                if soon
                else N_("Activated; each renewal (every 7 days) restores the 180-day validity.")
            ),
            fix=Text(N_("Make the client reach its host and renew ('client ato')."))
            if soon
            else "",
        )
    reason = lic.reason if lic.reason is not ResultCode.OK else ResultCode.GRACE_EXPIRED
    if lic.state in (LicenseState.NOTIFICATION, LicenseState.UNLICENSED):
        return CATALOGUE["license-status"].finding(
            Severity.ERROR,
            Text(N_("{seen} (reason {code})"), seen=seen, code=reason.hex),
            meaning=Text(
                N_("{message} The product runs in reduced functionality."),
                message=Text(reason.info.message),
            ),
            fix=Text(
                N_(
                    "Find what keeps the client from its host (DNS, port, count, events below), "
                    "then 'client ato'."
                )
            ),
            code=reason.hex,
        )
    return CATALOGUE["license-status"].finding(
        Severity.WARNING,
        Text(N_("{seen}, {left} of grace"), seen=seen, left=left),
        meaning=Text(
            N_(
                "Not activated: the client retries every activation interval (120 minutes) "
                "and enters Notification when the grace ends."
            )
        ),
        fix=Text(N_("See the host, port and count findings; then 'client ato'.")),
    )


def _rearm_finding(
    client: Client, state: ClientState, procedure: Procedure = Procedure.CLIENT
) -> Finding:
    left = settings.MAX_REARMS - state.rearms_used
    return CATALOGUE["rearms-left"].finding(
        Severity.OK if left > 0 else Severity.WARNING,
        Text(
            N_("{path}: {left} rearm(s) left of {total}"),
            path=client.directory / "client.json",
            left=left,
            total=settings.MAX_REARMS,
        ),
        meaning=Text(
            N_("A rearm gives the machine a new CMID and restarts the grace period.")
            if left > 0
            else N_(
                "A rearm gives the machine a new CMID and restarts the grace period. "
                "None is left: a clone can no longer be fixed this way."
            )
        ),
        fix="" if left > 0 else Text(N_("Rebuild the machine from a generalized image.")),
        code=None if left > 0 else ResultCode.MAX_REARMS_EXCEEDED.hex,
        procedure=procedure,
    )


async def _targets(
    client: Client, state: ClientState, options: ClientCheckOptions
) -> tuple[list[Candidate], list[Finding]]:
    """The hosts this client would try, as discovery does: skms, cache, then DNS."""
    if state.registered_host:
        host, port = parse_address(state.registered_host, settings.DEFAULT_PORT)
        return [Candidate(host, port, "registered (skms)")], []
    found: list[Candidate] = []
    if state.host_caching and state.cached_host:
        host, port = parse_address(state.cached_host, settings.DEFAULT_PORT)
        cached = (state.cached_address,) if state.cached_address else ()
        found.append(Candidate(host, port, "cached", cached))
    trust = client.trust()
    service = options.service or (trust.catalog.service if trust else settings.SRV_SERVICE)
    locator = DnsLocator(
        nameservers=options.nameservers,
        search_domains=options.search_domains,
        timeout=options.dns_timeout,
    )
    try:
        found += await locator.locate(service, state.kms_domain)
    except DnsError as exc:
        return found, [_discovery_finding(service, state, exc, bool(found))]
    return found, []


def _discovery_finding(service: str, state: ClientState, exc: DnsError, cached: bool) -> Finding:
    domain = state.kms_domain or Text(N_("the DNS search list"))
    message, fix = error_words(exc)
    return CATALOGUE["discovery"].finding(
        Severity.WARNING if cached else Severity.ERROR,
        Text(
            N_("SRV lookup of {service} in {domain}: {message}"),
            service=service,
            domain=domain,
            message=message,
        ),
        meaning=Text(
            N_("{name}: {message} The cached host is tried first, so renewal may still work.")
            if cached
            else "{name}: {message}",
            name=exc.code.name,
            message=Text(exc.code.info.message),
        ),
        fix=Text(N_("{fix} See 'openkms doctor dns'."), fix=fix),
        code=exc.code.hex,
    )


def _count_finding(result: ProbeResult, product: Product) -> Finding | None:
    response = result.response
    if response is None or response.current_count >= product.n_policy:
        return None
    code = ResultCode.COUNT_TOO_LOW
    return CATALOGUE["count-vs-n-policy"].finding(
        Severity.ERROR,
        Text(
            N_("{where}: current count {count} < N-policy {n} of {product}"),
            where=result.where,
            count=response.current_count,
            n=product.n_policy,
            product=product.name,
        ),
        meaning=Text(
            N_("{message} The host counts this client but does not activate it."),
            message=Text(code.info.message),
        ),
        fix=Text(code.info.fix),
        code=code.hex,
    )


async def _host_findings(
    client: Client, state: ClientState, product: Product | None, options: ClientCheckOptions
) -> list[Finding]:
    candidates, findings = await _targets(client, state, options)
    trust = client.trust()
    app_id = trust.catalog.application_id if trust else ""
    for candidate in candidates[:_MAX_PROBED]:
        target = candidate.addresses[0] if candidate.addresses else candidate.host
        result = await probe(
            target, candidate.port, options.timeout, application_id=app_id, clock=options.clock
        )
        findings.append(
            CATALOGUE["kms-host"].finding(
                Severity.OK,
                Text(
                    N_("{source} host {host}:{port} at {target}")
                    if target != candidate.host
                    else N_("{source} host {host}:{port}"),
                    source=candidate.source,
                    host=candidate.host,
                    port=candidate.port,
                    target=target,
                ),
                meaning=Text(
                    N_("The host this client tries (skms, then the cached host, then DNS).")
                ),
            )
        )
        findings += probe_findings(result, Procedure.PORT)
        count = _count_finding(result, product) if product else None
        findings += [count] if count else []
    return findings


@built_in_english_async
async def check_client_store(
    directory: Path, options: ClientCheckOptions | None = None
) -> list[Finding]:
    """All client checks, in the guides' order; a bad store becomes a finding."""
    options = options or ClientCheckOptions()
    stop = role_problem(directory)
    if stop is not None:
        return [stop]
    try:
        client = Client.open(directory, clock=options.clock, machine_name="doctor", read_only=True)
        state = client.state()
        if is_mak_client(state):  # the MAK channel: no KMS host, DNS or count to check
            findings = [*mak_findings(client), _rearm_finding(client, state, Procedure.MAK_CLIENT)]
            return findings + mak_event_findings(event_findings(client, state))
        findings, product = key_findings(client, state)
        if product is not None:
            findings.append(_license_finding(client))
        findings.append(_rearm_finding(client, state))
        findings += await _host_findings(client, state, product, options)
    except OpenKMSError as exc:
        return [store_problem(directory, "client-state-unreadable", *error_words(exc))]
    return findings + event_findings(client, state)
