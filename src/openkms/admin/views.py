"""What the dashboard shows, computed from the host's state and store (no HTTP here).

The forecast answers "when would the count fall below N if no new machine appeared?": the
count at time t is the number of clients seen at or after ``t - window``, so it falls below N
one second after the N-th most recently seen client leaves the window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from openkms.admin.host_view import HostView
from openkms.core.catalog import Catalog
from openkms.core.events import EventRecord
from openkms.core.host import HostActivation, HostSnapshot
from openkms.core.host_settings import HostSettings
from openkms.store.base import (
    ActivityBucket,
    ClientSearch,
    EventSearch,
    HostStore,
    HostStoreReader,
)

__all__ = [
    "AdminContext",
    "CertificateStatus",
    "DnsStatus",
    "Overview",
    "Threshold",
    "dns_status",
    "forecast_below",
    "overview",
]

_DAY = 86400


@dataclass(frozen=True, slots=True)
class AdminContext:
    """What the admin server reads and changes: the host (through its view), store and clock."""

    host: HostView
    store: HostStore
    clock: Callable[[], float]

    @property
    def host_id(self) -> str:
        """The host's identifier, the key of its request counters."""
        return self.host.host_id

    def now(self) -> int:
        """The current time, from the host's clock."""
        return int(self.clock())

    async def snapshot(self, now: int | None = None) -> HostSnapshot:
        """The host's files read at ``now``, in a worker thread (file reads, signature checks)."""
        return await asyncio.to_thread(self.host.snapshot, self.now() if now is None else now)

    async def catalog(self) -> Catalog | None:
        """The publisher's catalog, if the host has a trust."""
        trust = (await self.snapshot()).trust
        return trust.catalog if trust is not None else None


class Threshold(msgspec.Struct):
    """The count against one N-policy in use."""

    n_policy: int
    reached: bool
    missing: int
    falls_below_at: int | None


class CertificateStatus(msgspec.Struct):
    """The host certificate: may the host sign, and until when."""

    activated: bool
    problem: str | None
    group: str | None
    expires_at: int | None
    days_left: int | None


class DnsStatus(msgspec.Struct):
    """DNS publishing: the setting and the last 12294 (success) and 12293 (failure) events."""

    enabled: bool
    state: str
    last_success: int | None = None
    last_success_domain: str | None = None
    last_failure: int | None = None
    last_failure_domain: str | None = None
    last_failure_hresult: str | None = None
    own_domain: str | None = None  # None: the domain of the host's own name (its FQDN)
    publish_list: list[str] = msgspec.field(default_factory=list)  # the other domains


class Overview(msgspec.Struct):
    """The dashboard's overview."""

    now: int
    application_id: str | None
    publisher: str | None
    current_count: int
    clients_in_window: int
    clients_total: int
    window_days: int
    thresholds: list[Threshold]
    certificate: CertificateStatus
    dns: DnsStatus
    total_requests: int
    failed_requests: int


class ActivitySeries(msgspec.Struct):
    """Activation requests over time, by bucket."""

    since: int
    until: int
    bucket: int
    buckets: list[ActivityBucket]


def forecast_below(last_seen_desc: list[int], n_policy: int, window: int, now: int) -> int | None:
    """When the count falls below ``n_policy`` if no new machine appears; None if it is below."""
    if n_policy < 1 or len(last_seen_desc) < n_policy:
        return None
    nth = last_seen_desc[n_policy - 1]
    if nth < now - window:
        return None
    return nth + window + 1


def _certificate(activation: HostActivation, now: int) -> CertificateStatus:
    cert = activation.certificate
    expires = cert.expires_at if cert is not None else None
    return CertificateStatus(
        activated=activation.activated,
        problem=activation.problem,
        group=cert.group if cert is not None else None,
        expires_at=expires,
        days_left=(expires - now) // _DAY if expires is not None else None,
    )


async def _latest(store: HostStoreReader, event_id: int) -> EventRecord | None:
    events = await store.search_events(EventSearch(event_ids=(event_id,), limit=1))
    return events[0] if events else None


async def dns_status(store: HostStoreReader, host_settings: HostSettings) -> DnsStatus:
    """DNS publishing state from the settings and the latest 12293/12294 events."""
    success, failure = await asyncio.gather(_latest(store, 12294), _latest(store, 12293))
    enabled = host_settings.dns_publishing
    status = DnsStatus(
        enabled=enabled,
        state="disabled" if not enabled else "never",
        own_domain=host_settings.dns_domain,
        publish_list=[entry.split(",")[0].strip() for entry in host_settings.dns_publish_list],
    )
    if success is not None:
        status.last_success = success.time
        status.last_success_domain = success.fields().get("domain")
    if failure is not None:
        fields = failure.fields()
        status.last_failure = failure.time
        status.last_failure_domain = fields.get("domain")
        status.last_failure_hresult = fields.get("hresult")
    if enabled and (success or failure):
        newest_ok = success is not None and (failure is None or success.seq > failure.seq)
        status.state = "ok" if newest_ok else "failing"
    return status


def n_policies(catalog: Catalog | None) -> list[int]:
    """The N-policies in use: those of the catalog's products (5 and 25 when unknown)."""
    if catalog is None or not catalog.products:
        return [5, 25]
    return sorted({product.n_policy for product in catalog.products})


async def overview(context: AdminContext) -> Overview:
    """The overview: count against every N-policy, forecast, certificate, DNS, totals."""
    now = context.now()
    snapshot = await context.snapshot(now)
    activation, host_settings = snapshot.activation, snapshot.settings
    catalog = activation.trust.catalog if activation.trust is not None else None
    app_id = catalog.application_id if catalog is not None else None
    policies = n_policies(catalog)
    store = context.store
    window = store.policy.window_seconds
    count, recent, dns, counters, everyone, in_window = await asyncio.gather(
        store.current_count(app_id, now) if app_id else _zero(),
        store.recent_last_seen(app_id, max(policies)) if app_id else _nothing(),
        dns_status(store, host_settings),
        store.counters(context.host_id),
        store.search_clients(ClientSearch(application_id=app_id, limit=0)),
        store.search_clients(ClientSearch(application_id=app_id, seen_since=now - window, limit=0)),
    )
    thresholds = [
        Threshold(n, count >= n, max(n - count, 0), forecast_below(recent, n, window, now))
        for n in policies
    ]
    return Overview(
        now=now,
        application_id=app_id,
        publisher=catalog.publisher if catalog is not None else None,
        current_count=count,
        clients_in_window=in_window.total,
        clients_total=everyone.total,
        window_days=store.policy.window_days,
        thresholds=thresholds,
        certificate=_certificate(activation, now),
        dns=dns,
        total_requests=counters.total,
        failed_requests=counters.failed,
    )


async def _zero() -> int:
    return 0


async def _nothing() -> list[int]:
    return []
