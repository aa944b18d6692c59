"""``slmgr``-style text: Windows' labels, in Windows' order, from HostInfo and ClientInfo.

The labels are translated into the current language as a French or German Windows prints
them (``État de la licence : Avec licence``, ``Lizenzstatus: Lizenziert``; docs/i18n.md,
section "slmgr labels"); values that Windows prints in English (the description, channel
names, result codes) and numbers stay as they are, dates follow the language.
"""

from __future__ import annotations

from openkms.client.info import ClientInfo
from openkms.core.codes import ResultCode, describe
from openkms.core.host import HostInfo
from openkms.core.license import LicenseState
from openkms.i18n import DEFAULT_LANGUAGE, N_, _, current_language, pgettext
from openkms.localformat import format_timestamp

__all__ = ["client_text", "host_text", "host_xpr_text", "minutes_text", "xpr_text"]

_STATUS_LABELS = (
    ("unlicensed", N_("Unlicensed")),
    ("licensed", N_("Licensed")),
    ("initial_grace", N_("Initial grace period")),
    ("out_of_tolerance_grace", N_("License expired or Hardware out of tolerance")),
    ("non_genuine_grace", N_("Non-genuine grace period")),
    ("notification", N_("Notification")),
)


def minutes_text(minutes: int) -> str:
    """``43200 minute(s) (30 day(s))`` as Windows prints remaining time (``43200 minute(s)
    (30 jour(s))``, ``43200 Minute(n) (30 Tag(e))``)."""
    return _("{minutes} minute(s) ({days} day(s))").format(minutes=minutes, days=minutes // 1440)


def _when(epoch: int) -> str:
    return format_timestamp(epoch)


def host_text(info: HostInfo, *, verbose: bool = False) -> str:
    """The host's ``dli`` (or ``dlv`` when verbose)."""
    lines = []
    if verbose:
        version = _("Software licensing service version: {version}")
        lines += [version.format(version=info.version), ""]
    lines += [
        _("Name: {name}").format(name=info.name),
        _("Description: {description}").format(description=info.description),
    ]
    if verbose:
        lines += [
            _("Application ID: {id}").format(id=info.application_id or "-"),
            _("Extended PID: {pid}").format(pid=info.extended_pid),
            _("Product Key Channel: {channel}").format(channel="Volume:CSVLK"),
            _("Installation ID: {id}").format(id=info.installation_id),
            _("Certificate serial: {serial}").format(serial=info.certificate_serial or "-"),
        ]
    lines += [
        _("Partial Product Key: {key}").format(key=info.partial_product_key or "-"),
        _("License Status: {status}").format(status=_(info.license_status)),
    ]
    if info.problem:
        code = "0xC004C003" if info.revoked_at is not None else "0xC004F041"
        reason = _("Notification Reason: {code} ({reason}).")
        lines.append(reason.format(code=code, reason=info.problem))
    if info.certificate_expires_at:
        expires = _("Host certificate expiration: {when}")
        lines.append(expires.format(when=_when(info.certificate_expires_at)))
    if verbose:
        lines += [
            _("Trusted time: {when}").format(when=_when(info.trusted_time)),
            _("Catalog serial: {serial}").format(serial=info.catalog_serial),
            _("Revocation list serial: {serial}").format(serial=info.revocations_serial or "-"),
        ]
    return "\n".join(lines + _host_service_lines(info) + _peer_lines(info))


def _host_service_lines(info: HostInfo) -> list[str]:
    """The host's KMS sections: the service, its count and intervals, the requests."""
    lines = [
        "",
        _("Key Management Service is enabled on this machine"),
        "    " + _("Current count: {count}").format(count=info.current_count),
        *_clock_lines(info),
        "    " + _("Listening on Port: {port}").format(port=info.port),
        *_listening_lines(info),
        "    "
        + (_("DNS publishing enabled") if info.dns_publishing else _("DNS publishing disabled")),
        *_dns_status_lines(info),
        "    "
        + _("KMS priority: {priority}").format(
            priority=pgettext("KMS priority", "Low")
            if info.low_priority
            else pgettext("KMS priority", "Normal")
        ),
        "",
        _("Key Management Service current count and intervals"),
        "    "
        + _("Activation interval: {minutes} minutes").format(minutes=info.activation_interval),
        "    " + _("Renewal interval: {minutes} minutes").format(minutes=info.renewal_interval),
        "",
        _("Key Management Service cumulative requests received from clients"),
        "    " + _("Total requests received: {count}").format(count=info.total_requests),
        "    " + _("Failed requests received: {count}").format(count=info.failed_requests),
    ]
    for key, label in _STATUS_LABELS:
        count = info.requests_by_status.get(key, 0)
        line = _("Requests with License Status {status}: {count}")
        lines.append("    " + line.format(status=_(label), count=count))
    return lines


def _peer_lines(info: HostInfo) -> list[str]:
    """The hosts of a shared store (PostgreSQL): none for a store of its own."""
    if not info.peers:
        return []
    heading = _("Peer hosts sharing this store: {count} (one count)")
    lines = ["", heading.format(count=len(info.peers))]
    for peer in info.peers:
        this = _(" (this host)") if peer.this_host else ""
        where = ""
        if peer.listening:
            where = _(", listening on {addresses}").format(addresses=", ".join(peer.listening))
        when = _when(peer.last_request) if peer.last_request else _("never")
        line = _("{host}{this}{where}: last request {when}")
        lines.append("    " + line.format(host=peer.host_id, this=this, where=where, when=when))
    return lines


def _listening_lines(info: HostInfo) -> list[str]:
    """Where a serving host listens; or that none serves and the port is the one set."""
    if not info.listening:
        return ["    " + _("(no host is serving this store: the port is the one set with sprt)")]
    if len(info.listening) == 1:
        return []
    return ["    " + _("Listening on: {addresses}").format(addresses=", ".join(info.listening))]


def _signed_days(seconds: int) -> str:
    """``+1.5`` days; French and German write the decimal comma (``+1,5``)."""
    days = f"{seconds / 86400:+.1f}"
    return days if current_language() == DEFAULT_LANGUAGE else days.replace(".", ",")


def _clock_lines(info: HostInfo) -> list[str]:
    """The host's last clock jump (12321) and its clients dated in the future, if any."""
    clock, lines = info.clock, []
    if clock.future_clients:
        future = _(
            "Clients dated in the future (not counted): {count} (last seen while the host's "
            "clock was ahead; each counts again at its next request)"
        )
        lines.append("    " + future.format(count=clock.future_clients))
    if clock.last_jump_at is not None and clock.last_jump_seconds is not None:
        seconds = clock.last_jump_seconds
        jump = _("Last clock jump: {seconds} seconds ({days} days) at {when} (event 12321)")
        lines.append(
            "    "
            + jump.format(
                seconds=f"{seconds:+d}",
                days=_signed_days(seconds),
                when=_when(clock.last_jump_at),
            )
        )
    return lines


def _dns_status_lines(info: HostInfo) -> list[str]:
    """The last publishing cycle, one line per domain (12294 ok / 12293 failed)."""
    status = info.dns_status
    if status is None or not status.last_run:
        return []
    published = [d.time for d in status.domains if d.result == "0x00000000"]
    if published:
        when = _("published {when}").format(when=_when(max(published)))
    else:
        when = _("not published; last attempt {when}").format(when=_when(status.last_run))
    record = _("DNS record: {record} ({when})")
    lines = ["    " + record.format(record=status.record, when=when)]
    for domain in status.domains:
        if domain.result == "0x00000000":
            done = _("{domain}: published").format(domain=domain.domain)
        else:
            failed = _("{domain}: failed {code} {message}")
            done = failed.format(domain=domain.domain, code=domain.result, message=domain.message)
        lines.append("        " + done)
    return lines


def client_text(info: ClientInfo, *, verbose: bool = False) -> str:
    """The client's ``dli`` (or ``dlv`` when verbose)."""
    lines = []
    if verbose:
        version = _("Software licensing service version: {version}")
        lines += [version.format(version=info.version), ""]
    if info.name is None:
        no_key = _("Error: {code} No product key is installed.")
        return "\n".join([*lines, no_key.format(code="0xC004F014")])
    lines += [
        _("Name: {name}").format(name=info.name),
        _("Description: {description}").format(description=info.description),
    ]
    if verbose:
        channel = _KEY_CHANNELS.get(info.channel, "Volume:GVLK")
        lines += [
            _("Activation ID: {id}").format(id=info.activation_id),
            _("Application ID: {id}").format(id=info.application_id),
            _("Product Key Channel: {channel}").format(channel=channel),
        ]
    lines += [
        _("Partial Product Key: {key}").format(key=info.partial_product_key),
        _("License Status: {status}").format(status=_(info.license_status)),
    ]
    lines += _remaining(info)
    lines += _client_notes(info, verbose=verbose)
    if info.channel == "VOLUME_MAK":  # activated with the publisher: no KMS lines
        return "\n".join(lines)
    return "\n".join(lines + _client_kms_lines(info))


def _client_notes(info: ClientInfo, *, verbose: bool) -> list[str]:
    """A clock set back, the last failed attempt, and (dlv) rearms and the trusted time."""
    lines = []
    if info.clock_rollback_seconds:
        rollback = _(
            "Clock rollback: the clock is {duration} behind the trusted time {when} (0xE0040023)"
        )
        duration = minutes_text(info.clock_rollback_seconds // 60)
        lines.append(rollback.format(duration=duration, when=_when(info.trusted_time)))
    if info.last_result:
        attempt = _("Last activation attempt: {code} ({message})")
        lines.append(attempt.format(code=info.last_result, message=info.last_message))
    if verbose:
        lines += [
            _("Remaining rearm count: {count}").format(count=info.rearms_remaining),
            _("Trusted time: {when}").format(when=_when(info.trusted_time)),
        ]
    return lines


def _client_kms_lines(info: ClientInfo) -> list[str]:
    """The ``Key Management Service client information`` section."""
    lines = ["", _("Key Management Service client information")]
    lines.append("    " + _("Client Machine ID (CMID): {cmid}").format(cmid=info.cmid))
    if info.registered_kms:
        name = _("Registered KMS machine name: {name}").format(name=info.registered_kms)
    elif info.kms_from_dns:
        name = _("KMS machine name from DNS: {name}").format(name=info.kms_from_dns)
    else:
        name = _("DNS auto-discovery: KMS name not available")
    lines.append("    " + name)
    if info.kms_domain:
        lines.append("    " + _("KMS SRV lookup domain: {domain}").format(domain=info.kms_domain))
    unknown = _("not available")
    lines += [
        "    "
        + _("KMS machine IP address: {address}").format(address=info.kms_ip_address or unknown),
        "    " + _("KMS machine extended PID: {pid}").format(pid=info.kms_extended_pid or unknown),
        "    "
        + _("Activation interval: {minutes} minutes").format(minutes=info.activation_interval),
        "    " + _("Renewal interval: {minutes} minutes").format(minutes=info.renewal_interval),
        "    "
        + (
            _("KMS host caching is enabled")
            if info.host_caching
            else _("KMS host caching is disabled")
        ),
    ]
    return lines


_KEY_CHANNELS = {"VOLUME_KMSCLIENT": "Volume:GVLK", "VOLUME_MAK": "Volume:MAK"}


def _remaining(info: ClientInfo) -> list[str]:
    state = LicenseState(info.license_state)
    if state is LicenseState.LICENSED:
        expiration = _("Volume activation expiration: {duration}")
        return [expiration.format(duration=minutes_text(info.minutes_remaining))]
    if state is LicenseState.NOTIFICATION:
        reason = _("Notification Reason: {code} ({reason}).")
        return [reason.format(code=info.reason, reason=_reason_text(info.reason))]
    if info.ends_at is not None:
        remaining = _("Time remaining: {duration}")
        return [remaining.format(duration=minutes_text(info.minutes_remaining))]
    return []


def _reason_text(reason: str | None) -> str:
    if reason is None or reason == ResultCode.GRACE_EXPIRED.hex:
        return _("grace time expired")
    return _(describe(int(reason, 16))[1].message).rstrip(".")


def host_xpr_text(info: HostInfo) -> str:
    """``slmgr /xpr`` on a host: when its own activation (the host certificate) expires."""
    if info.activated and info.certificate_expires_at:
        expires = _("Volume activation will expire {when}")
        return f"{info.name}:\n    " + expires.format(when=_when(info.certificate_expires_at))
    notification = _("The product is in Notification mode ({reason})")
    return f"{info.name}:\n    " + notification.format(reason=info.problem)


def xpr_text(info: ClientInfo) -> str:
    """One line on when activation (or grace) expires, as ``slmgr /xpr``."""
    state = LicenseState(info.license_state)
    name = info.name or _("This product")
    if state is LicenseState.LICENSED and info.ends_at:
        line = _("Volume activation will expire {when}").format(when=_when(info.ends_at))
    elif state is LicenseState.NOTIFICATION:
        line = _("The product is in Notification mode")
    elif info.ends_at:
        ends = _("{status} ends {when}")
        line = ends.format(status=_(info.license_status), when=_when(info.ends_at))
    else:
        line = _("The product is not activated")
    return f"{name}:\n    {line}"
