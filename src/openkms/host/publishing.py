"""The host's DNS publishing configuration, resolved from its settings at each cycle."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

from openkms.core import settings
from openkms.dns.publisher import PublishConfig, PublishDomain, parse_publish_entry
from openkms.dns.srv import parse_server, system_nameservers
from openkms.host.dns_runner import DnsSettings

if TYPE_CHECKING:  # the publishing child gets the settings read, and never reads the store
    from openkms.host.state import HostState

__all__ = ["config_from", "publish_config"]


def publish_config(
    state: HostState,
    *,
    bound: Sequence[tuple[str, int]] = (),
    service: str | None = None,
    port: int | None = None,
) -> PublishConfig:
    """What to publish now: the settings of ``state``, the bound port, the catalog service."""
    dns_settings = DnsSettings.of(state.settings)
    trust = state.trust()
    catalog_service = trust.catalog.service if trust else None
    target = dns_settings.dns_target or socket.getfqdn()
    return config_from(
        dns_settings, catalog_service, target, bound=bound, service=service, port=port
    )


def config_from(
    dns_settings: DnsSettings,
    catalog_service: str | None,
    target: str,
    *,
    bound: Sequence[tuple[str, int]] = (),
    service: str | None = None,
    port: int | None = None,
) -> PublishConfig:
    """What to publish, from settings already read: the catalog's service (None: the
    default), the SRV target (the machine's FQDN unless set), the bound addresses."""
    target = target.rstrip(".")
    domains = _domains(dns_settings, target)
    problems = () if domains else (_no_domain(target),)
    servers = [parse_server(s) for s in dns_settings.dns_servers] or system_nameservers()
    return PublishConfig(
        enabled=dns_settings.dns_publishing,
        service=service or dns_settings.dns_service or catalog_service or settings.SRV_SERVICE,
        target=target,
        port=port or (bound[0][1] if bound else dns_settings.port),
        domains=domains,
        servers=tuple(servers),
        tsig_key_file=dns_settings.dns_tsig_key_file,
        ttl=dns_settings.dns_ttl,
        addresses=_addresses(dns_settings, bound),
        timeout=dns_settings.dns_timeout,
        republish_seconds=dns_settings.dns_republish_hours * 3600.0,
        problems=problems,
    )


def _domains(dns_settings: DnsSettings, target: str) -> tuple[PublishDomain, ...]:
    """The host's own domain, then every domain of the publish list (each once)."""
    prio, weight = dns_settings.dns_priority, dns_settings.dns_weight
    own = dns_settings.dns_domain or target.partition(".")[2]
    entries = [PublishDomain(own.rstrip("."), prio, weight)] if own else []
    entries += [parse_publish_entry(e, prio, weight) for e in dns_settings.dns_publish_list]
    by_domain = {e.domain.lower(): e for e in entries}
    return tuple(by_domain.values())


def _addresses(dns_settings: DnsSettings, bound: Sequence[tuple[str, int]]) -> tuple[str, ...]:
    """A/AAAA to publish: the configured ones, else the specific addresses listened on."""
    if not dns_settings.dns_publish_addresses:
        return ()
    if dns_settings.dns_addresses:
        return tuple(dns_settings.dns_addresses)
    return tuple(host for host, _ in bound if not ipaddress.ip_address(host).is_unspecified)


def _no_domain(target: str) -> str:
    return (
        f"the target {target!r} has no domain and no domain is set: nothing is published "
        "(set one with 'openkms host dns-config --domain DOMAIN')"
    )
