"""What ``host dli``/``dlv`` report, gathered once for text and ``--json`` alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import msgspec

from openkms import __version__
from openkms.core.keys import ProductKey
from openkms.core.license import LicenseState
from openkms.dns.publisher import PublishStatus, read_status
from openkms.host.state import HostActivation, HostSettings, HostState
from openkms.store.base import HostStoreReader

__all__ = ["HostInfo", "gather_host_info"]


class HostInfo(msgspec.Struct, kw_only=True):
    """A host's licensing information, as ``slmgr /dlv`` shows it on a KMS host."""

    name: str
    description: str
    partial_product_key: str | None
    license_status: str
    activated: bool
    problem: str | None
    certificate_group: str | None
    certificate_expires_at: int | None
    current_count: int
    port: int
    dns_publishing: bool
    low_priority: bool
    activation_interval: int
    renewal_interval: int
    total_requests: int
    failed_requests: int
    requests_by_status: dict[str, int]
    version: str = __version__
    application_id: str | None = None
    extended_pid: str = ""
    installation_id: str = ""
    trusted_time: int = 0
    dns_status: PublishStatus | None = None


@dataclass(frozen=True, slots=True)
class _Files:
    """What the host's files say, read in one go off the event loop."""

    activation: HostActivation
    key: ProductKey | None
    settings: HostSettings
    fingerprint: str
    host_id: str
    dns_status: PublishStatus | None


def _read_files(state: HostState, now: int) -> _Files:
    # Certificate and trust verification, host.key and host.json: file reads and signature
    # checks that must not run on the host's event loop (the admin server calls this).
    return _Files(
        state.activation(now),
        state.host_key(),
        state.settings,
        state.fingerprint,
        state.host_id,
        read_status(state.directory),
    )


async def gather_host_info(state: HostState, store: HostStoreReader, now: int) -> HostInfo:
    """Read the host's state and store (store must be open)."""
    files = await asyncio.to_thread(_read_files, state, now)
    activation, key, host_settings = files.activation, files.key, files.settings
    trust = activation.trust
    group = activation.certificate.group if activation.certificate else None
    publisher = trust.catalog.publisher if trust else "OpenKMS"
    app_id = trust.catalog.application_id if trust else None
    count = await store.current_count(app_id, now) if app_id else 0
    counters = await store.counters(files.host_id)
    return HostInfo(
        name=f"{publisher}, KMS host" + (f" (license group {group})" if group else ""),
        description=f"{publisher}, VOLUME_KMS_{group or 'HOST'} channel",
        partial_product_key=key.partial if key else None,
        license_status="Licensed" if activation.activated else "Notification",
        activated=activation.activated,
        problem=activation.problem,
        certificate_group=group,
        certificate_expires_at=activation.certificate.expires_at
        if activation.certificate
        else None,
        current_count=count,
        port=host_settings.port,
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
        extended_pid=files.host_id,
        installation_id=files.fingerprint,
        trusted_time=now,
        dns_status=files.dns_status,
    )
