"""What ``client dli``/``dlv`` report, gathered once for text and ``--json`` alike."""

from __future__ import annotations

import msgspec

from openkms import __version__
from openkms.client.api import Client
from openkms.client.mak import MAK_CHANNEL
from openkms.client.phone import mak_reference
from openkms.core import settings

__all__ = ["ClientInfo", "gather_client_info"]


class ClientInfo(msgspec.Struct, kw_only=True):
    """A client's licensing information, as ``slmgr /dlv`` shows it on a KMS client."""

    name: str | None
    description: str | None
    partial_product_key: str | None
    license_status: str
    license_state: int
    minutes_remaining: int
    ends_at: int | None
    reason: str | None
    cmid: str
    registered_kms: str | None
    kms_from_dns: str | None
    kms_ip_address: str | None
    kms_extended_pid: str | None
    kms_domain: str | None
    activation_interval: int
    renewal_interval: int
    host_caching: bool
    last_count: int
    version: str = __version__
    activation_id: str | None = None
    application_id: str | None = None
    rearms_remaining: int = 0
    trusted_time: int = 0
    clock_rollback_seconds: int = 0  # the clock is this far behind the trusted time
    state_tampered: bool = False
    publisher_key: str | None = None
    channel: str = "VOLUME_KMSCLIENT"  # VOLUME_MAK: activated with the publisher, no host
    last_result: str | None = None  # the last activation attempt's code, when it failed
    last_message: str = ""


def gather_client_info(client: Client) -> ClientInfo:
    """Read the client's state and verify its ticket offline (each file read once).

    The license is evaluated at the trusted time; a clock set back is reported (and logged
    once, by :meth:`Client.observe_time`).
    """
    snapshot = client.snapshot()
    state = snapshot.state
    reading = client.observe_time(snapshot)
    lic = snapshot.license(reading.trusted)
    product = lic.product
    trust = snapshot.trust
    publisher = trust.catalog.publisher if trust else None
    channel = MAK_CHANNEL if mak_reference(state) else "VOLUME_KMSCLIENT"  # also after cpky
    return ClientInfo(
        channel=channel,
        name=product.name if product else None,
        description=f"{publisher}, {channel} channel" if product else None,
        partial_product_key=state.setup_key[-5:] if state.setup_key else state.partial_key,
        license_status=lic.state.label,
        license_state=int(lic.state),
        minutes_remaining=lic.minutes_remaining,
        ends_at=lic.ends_at,
        reason=lic.reason.hex if lic.reason else None,
        cmid=state.cmid,
        registered_kms=state.registered_host,
        kms_from_dns=state.cached_host,
        kms_ip_address=state.cached_address,
        kms_extended_pid=state.last_host_id,
        kms_domain=state.kms_domain,
        activation_interval=state.activation_interval,
        renewal_interval=state.renewal_interval,
        host_caching=state.host_caching,
        last_count=state.last_count,
        activation_id=state.activation_id,
        application_id=trust.catalog.application_id if trust else None,
        rearms_remaining=settings.MAX_REARMS - state.rearms_used,
        trusted_time=reading.trusted,
        clock_rollback_seconds=reading.behind,
        state_tampered=state.tampered,
        publisher_key=state.publisher_key,
        last_result=f"0x{state.last_result:08X}" if state.last_result & 0x80000000 else None,
        last_message=state.last_message,
    )
