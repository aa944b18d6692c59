"""What ``host dli``/``dlv`` report, gathered once for text and ``--json`` alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from openkms.core.host import HostInfo, HostSnapshot, PeerHostInfo
from openkms.core.license import LicenseState
from openkms.host.clock import ClockReader, read_host_clock
from openkms.store.base import Counters
from openkms.store.database import PeerHost

# HostInfo lives in core/ (the admin server serves it without the host); it stays
# importable from here.
__all__ = ["CountReader", "HostInfo", "gather_host_info", "peer_infos"]


class CountReader(ClockReader, Protocol):
    """The store reads ``gather_host_info`` makes (any store, or a read-only reader)."""

    async def current_count(self, application_id: str, now: int) -> int:
        """The current count of ``application_id`` at ``now``."""
        ...

    async def counters(self, host_id: str) -> Counters:
        """The cumulative request counters of ``host_id``."""
        ...

    async def peer_hosts(self) -> list[PeerHost]:
        """The hosts sharing the store (none for a store of one host)."""
        ...


async def gather_host_info(
    snapshot: HostSnapshot, store: CountReader, now: int, listening: Sequence[str] = ()
) -> HostInfo:
    """The ``dlv`` data of a host: its snapshot (read once), two store reads, and where a
    serving host listens (``store.lock.serving_host``), which then gives the port shown."""
    activation, key, host_settings = snapshot.activation, snapshot.host_key, snapshot.settings
    trust, cert = activation.trust, activation.certificate
    group = cert.group if cert else None
    publisher = trust.catalog.publisher if trust else "OpenKMS"
    app_id = trust.catalog.application_id if trust else None
    count = await store.current_count(app_id, now) if app_id else 0
    counters = await store.counters(snapshot.host_id) if snapshot.host_id else Counters()
    peers = peer_infos(await store.peer_hosts(), snapshot.host_id, listening)
    return HostInfo(
        name=f"{publisher}, KMS host" + (f" (license group {group})" if group else ""),
        description=f"{publisher}, VOLUME_KMS_{group or 'HOST'} channel",
        partial_product_key=key.partial if key else None,
        license_status="Licensed" if activation.activated else "Notification",
        activated=activation.activated,
        problem=activation.problem,
        certificate_group=group,
        certificate_expires_at=cert.expires_at if cert else None,
        current_count=count,
        port=_port(listening[0]) if listening else host_settings.port,
        dns_publishing=host_settings.dns_publishing,
        low_priority=host_settings.low_priority,
        activation_interval=host_settings.activation_interval,
        renewal_interval=host_settings.renewal_interval,
        total_requests=counters.total,
        failed_requests=counters.failed,
        requests_by_status={
            LicenseState(s).name.lower(): counters.by_status.get(s, 0) for s in range(6)
        },
        application_id=app_id,
        extended_pid=snapshot.host_id or "",
        installation_id=snapshot.fingerprint or "",
        trusted_time=now,
        dns_status=snapshot.dns_status,
        listening=list(listening),
        certificate_serial=cert.serial if cert else None,
        revoked_at=activation.revoked.revoked_at if activation.revoked else None,
        revocation_reason=activation.revoked.reason if activation.revoked else "",
        revocations_serial=activation.revocations.serial if activation.revocations else 0,
        catalog_serial=trust.catalog.serial if trust else 0,
        peers=peers,
        clock=await read_host_clock(store, app_id, now),
    )


def peer_infos(
    peers: Sequence[PeerHost], host_id: str | None, listening: Sequence[str]
) -> list[PeerHostInfo]:
    """The peers of a shared store as ``dli`` shows them: which one is this host, and where
    this host listens (the others' addresses are not in the database)."""
    return [
        PeerHostInfo(
            host_id=peer.host_id,
            first_request=peer.first_request,
            last_request=peer.last_request,
            this_host=peer.host_id == host_id,
            listening=list(listening) if peer.host_id == host_id else [],
        )
        for peer in peers
    ]


def _port(address: str) -> int:
    return int(address.rpartition(":")[2])
