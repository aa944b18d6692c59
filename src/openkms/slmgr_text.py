"""``slmgr``-style text: Windows' labels, in Windows' order, from HostInfo and ClientInfo."""

from __future__ import annotations

import datetime as dt

from openkms.client.info import ClientInfo
from openkms.core.codes import ResultCode, describe
from openkms.core.host import HostInfo
from openkms.core.license import LicenseState

__all__ = ["client_text", "host_text", "host_xpr_text", "minutes_text", "xpr_text"]

_STATUS_LABELS = (
    ("unlicensed", "Unlicensed"),
    ("licensed", "Licensed"),
    ("initial_grace", "Initial grace period"),
    ("out_of_tolerance_grace", "License expired or Hardware out of tolerance"),
    ("non_genuine_grace", "Non-genuine grace period"),
    ("notification", "Notification"),
)


def minutes_text(minutes: int) -> str:
    """``43200 minute(s) (30 day(s))`` as Windows prints remaining time."""
    return f"{minutes} minute(s) ({minutes // 1440} day(s))"


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def host_text(info: HostInfo, *, verbose: bool = False) -> str:
    """The host's ``dli`` (or ``dlv`` when verbose)."""
    lines = []
    if verbose:
        lines += [f"Software licensing service version: {info.version}", ""]
    lines += [f"Name: {info.name}", f"Description: {info.description}"]
    if verbose:
        lines += [
            f"Application ID: {info.application_id or '-'}",
            f"Extended PID: {info.extended_pid}",
            "Product Key Channel: Volume:CSVLK",
            f"Installation ID: {info.installation_id}",
            f"Certificate serial: {info.certificate_serial or '-'}",
        ]
    lines += [
        f"Partial Product Key: {info.partial_product_key or '-'}",
        f"License Status: {info.license_status}",
    ]
    if info.problem:
        code = "0xC004C003" if info.revoked_at is not None else "0xC004F041"
        lines.append(f"Notification Reason: {code} ({info.problem}).")
    if info.certificate_expires_at:
        lines.append(f"Host certificate expiration: {_when(info.certificate_expires_at)}")
    if verbose:
        lines.append(f"Trusted time: {_when(info.trusted_time)}")
        lines.append(f"Catalog serial: {info.catalog_serial}")
        lines.append(f"Revocation list serial: {info.revocations_serial or '-'}")
    lines += [
        "",
        "Key Management Service is enabled on this machine",
        f"    Current count: {info.current_count}",
        *_clock_lines(info),
        f"    Listening on Port: {info.port}",
        *_listening_lines(info),
        f"    DNS publishing {'enabled' if info.dns_publishing else 'disabled'}",
        *_dns_status_lines(info),
        f"    KMS priority: {'Low' if info.low_priority else 'Normal'}",
        "",
        "Key Management Service current count and intervals",
        f"    Activation interval: {info.activation_interval} minutes",
        f"    Renewal interval: {info.renewal_interval} minutes",
        "",
        "Key Management Service cumulative requests received from clients",
        f"    Total requests received: {info.total_requests}",
        f"    Failed requests received: {info.failed_requests}",
    ]
    for key, label in _STATUS_LABELS:
        count = info.requests_by_status.get(key, 0)
        lines.append(f"    Requests with License Status {label}: {count}")
    lines += _peer_lines(info)
    return "\n".join(lines)


def _peer_lines(info: HostInfo) -> list[str]:
    """The hosts of a shared store (PostgreSQL): none for a store of its own."""
    if not info.peers:
        return []
    lines = ["", f"Peer hosts sharing this store: {len(info.peers)} (one count)"]
    for peer in info.peers:
        this = " (this host)" if peer.this_host else ""
        where = f", listening on {', '.join(peer.listening)}" if peer.listening else ""
        when = _when(peer.last_request) if peer.last_request else "never"
        lines.append(f"    {peer.host_id}{this}{where}: last request {when}")
    return lines


def _listening_lines(info: HostInfo) -> list[str]:
    """Where a serving host listens; or that none serves and the port is the one set."""
    if not info.listening:
        return ["    (no host is serving this store: the port is the one set with sprt)"]
    if len(info.listening) == 1:
        return []
    return [f"    Listening on: {', '.join(info.listening)}"]


def _clock_lines(info: HostInfo) -> list[str]:
    """The host's last clock jump (12321) and its clients dated in the future, if any."""
    clock, lines = info.clock, []
    if clock.future_clients:
        lines.append(
            f"    Clients dated in the future (not counted): {clock.future_clients} "
            "(last seen while the host's clock was ahead; each counts again at its next request)"
        )
    if clock.last_jump_at is not None and clock.last_jump_seconds is not None:
        seconds = clock.last_jump_seconds
        lines.append(
            f"    Last clock jump: {seconds:+d} seconds ({seconds / 86400:+.1f} days) "
            f"at {_when(clock.last_jump_at)} (event 12321)"
        )
    return lines


def _dns_status_lines(info: HostInfo) -> list[str]:
    """The last publishing cycle, one line per domain (12294 ok / 12293 failed)."""
    status = info.dns_status
    if status is None or not status.last_run:
        return []
    published = [d.time for d in status.domains if d.result == "0x00000000"]
    when = (
        f"published {_when(max(published))}"
        if published
        else f"not published; last attempt {_when(status.last_run)}"
    )
    lines = [f"    DNS record: {status.record} ({when})"]
    for domain in status.domains:
        if domain.result == "0x00000000":
            lines.append(f"        {domain.domain}: published")
        else:
            lines.append(f"        {domain.domain}: failed {domain.result} {domain.message}")
    return lines


def client_text(info: ClientInfo, *, verbose: bool = False) -> str:
    """The client's ``dli`` (or ``dlv`` when verbose)."""
    lines = []
    if verbose:
        lines += [f"Software licensing service version: {info.version}", ""]
    if info.name is None:
        return "\n".join([*lines, "Error: 0xC004F014 No product key is installed."])
    lines += [f"Name: {info.name}", f"Description: {info.description}"]
    if verbose:
        lines += [
            f"Activation ID: {info.activation_id}",
            f"Application ID: {info.application_id}",
            f"Product Key Channel: {_KEY_CHANNELS.get(info.channel, 'Volume:GVLK')}",
        ]
    lines += [
        f"Partial Product Key: {info.partial_product_key}",
        f"License Status: {info.license_status}",
    ]
    lines += _remaining(info)
    if info.clock_rollback_seconds:
        lines.append(
            f"Clock rollback: the clock is {minutes_text(info.clock_rollback_seconds // 60)} "
            f"behind the trusted time {_when(info.trusted_time)} (0xE0040023)"
        )
    if info.last_result:
        lines.append(f"Last activation attempt: {info.last_result} ({info.last_message})")
    if verbose:
        lines += [
            f"Remaining rearm count: {info.rearms_remaining}",
            f"Trusted time: {_when(info.trusted_time)}",
        ]
    if info.channel == "VOLUME_MAK":  # activated with the publisher: no KMS lines
        return "\n".join(lines)
    lines += ["", "Key Management Service client information"]
    lines.append(f"    Client Machine ID (CMID): {info.cmid}")
    if info.registered_kms:
        lines.append(f"    Registered KMS machine name: {info.registered_kms}")
    elif info.kms_from_dns:
        lines.append(f"    KMS machine name from DNS: {info.kms_from_dns}")
    else:
        lines.append("    DNS auto-discovery: KMS name not available")
    if info.kms_domain:
        lines.append(f"    KMS SRV lookup domain: {info.kms_domain}")
    lines += [
        f"    KMS machine IP address: {info.kms_ip_address or 'not available'}",
        f"    KMS machine extended PID: {info.kms_extended_pid or 'not available'}",
        f"    Activation interval: {info.activation_interval} minutes",
        f"    Renewal interval: {info.renewal_interval} minutes",
        f"    KMS host caching is {'enabled' if info.host_caching else 'disabled'}",
    ]
    return "\n".join(lines)


_KEY_CHANNELS = {"VOLUME_KMSCLIENT": "Volume:GVLK", "VOLUME_MAK": "Volume:MAK"}


def _remaining(info: ClientInfo) -> list[str]:
    state = LicenseState(info.license_state)
    if state is LicenseState.LICENSED:
        return [f"Volume activation expiration: {minutes_text(info.minutes_remaining)}"]
    if state is LicenseState.NOTIFICATION:
        return [f"Notification Reason: {info.reason} ({_reason_text(info.reason)})."]
    if info.ends_at is not None:
        return [f"Time remaining: {minutes_text(info.minutes_remaining)}"]
    return []


def _reason_text(reason: str | None) -> str:
    if reason is None or reason == ResultCode.GRACE_EXPIRED.hex:
        return "grace time expired"
    return describe(int(reason, 16))[1].message.rstrip(".")


def host_xpr_text(info: HostInfo) -> str:
    """``slmgr /xpr`` on a host: when its own activation (the host certificate) expires."""
    if info.activated and info.certificate_expires_at:
        return (
            f"{info.name}:\n    Volume activation will expire {_when(info.certificate_expires_at)}"
        )
    return f"{info.name}:\n    The product is in Notification mode ({info.problem})"


def xpr_text(info: ClientInfo) -> str:
    """One line on when activation (or grace) expires, as ``slmgr /xpr``."""
    state = LicenseState(info.license_state)
    name = info.name or "This product"
    if state is LicenseState.LICENSED and info.ends_at:
        return f"{name}:\n    Volume activation will expire {_when(info.ends_at)}"
    if state is LicenseState.NOTIFICATION:
        return f"{name}:\n    The product is in Notification mode"
    if info.ends_at:
        return f"{name}:\n    {info.license_status} ends {_when(info.ends_at)}"
    return f"{name}:\n    The product is not activated"
