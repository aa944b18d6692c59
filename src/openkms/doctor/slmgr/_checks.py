"""The checks run on parsed slmgr output, in the order the troubleshooting guides follow."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable

from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.doctor._i18n import Text
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.slmgr._parse import SlmgrLicense
from openkms.doctor.slmgr._role import (
    channel_findings,
    finding,
    grace_ends,
    not_kms,
    status_findings,
)
from openkms.i18n import N_

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "FAILED_RATIO_WARNING",
    "check_license",
    "check_snapshots",
    "parse_slmgr_time",
]

EXPIRY_WARNING_DAYS = 15
FAILED_RATIO_WARNING = 0.10
STUCK_COUNT_MIN_REQUESTS = 10
# Trusted time as slmgr prints it in each language (en-US first: its month comes first), and
# OpenKMS's own ISO form; with or without seconds.
_TIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)

Check = Callable[[SlmgrLicense], list[Finding]]


def _expiry(lic: SlmgrLicense) -> list[Finding]:
    minutes = lic.expiration_minutes
    if minutes is None or minutes >= EXPIRY_WARNING_DAYS * 1440:
        return []
    if not_kms(lic):
        return grace_ends(lic, minutes)
    return [
        finding(
            lic,
            "expiration",
            Severity.WARNING,
            procedure=Procedure.CLIENT,
            check="expiry-soon",
            meaning=Text(
                N_(
                    "Activation or grace ends in {days} day(s): renewals "
                    "have not succeeded for a long time."
                ),
                days=minutes // 1440,
            ),
            fix=Text(
                N_(
                    "Make sure the client reaches a host (DNS, TCP 1688) and renews; "
                    "'slmgr /ato' forces an attempt."
                )
            ),
        )
    ]


def _client_discovery(lic: SlmgrLicense) -> list[Finding]:
    if not lic.is_client or lic.is_host or not_kms(lic):
        return []
    out: list[Finding] = []
    if lic.text("kms_registered"):
        out.append(
            finding(
                lic,
                "kms_registered",
                Severity.OK,
                procedure=Procedure.DNS,
                check="kms-set-by-hand",
                meaning=Text(N_("The host was set by hand (slmgr /skms): DNS discovery is off.")),
                fix=Text(N_("If that host is retired, 'slmgr /ckms' returns to DNS discovery.")),
            )
        )
    elif lic.text("dns_autodiscovery") and not lic.text("kms_dns"):
        out.append(
            finding(
                lic,
                "dns_autodiscovery",
                Severity.WARNING,
                procedure=Procedure.DNS,
                check="no-kms-from-dns",
                meaning=Text(N_("No KMS host was found through DNS (_vlmcs._tcp SRV).")),
                fix=Text(ResultCode.DNS_NAME_DOES_NOT_EXIST.info.fix),
                code=ResultCode.DNS_NAME_DOES_NOT_EXIST.hex,
            )
        )
    caching = lic.flag("host_caching")
    if caching is not None:
        state = N_("KMS host caching is enabled") if caching else N_("KMS host caching is disabled")
        out.append(
            finding(
                lic,
                "host_caching",
                Severity.OK,
                procedure=Procedure.CLIENT,
                check="host-caching",
                evidence=Text(state),
                meaning=Text(
                    N_(
                        "With caching the client renews with the host it last "
                        "used and rediscovers through DNS only if that fails; without, "
                        "every renewal starts from DNS."
                    )
                ),
                fix=Text(N_("slmgr /skhc enables caching, /ckhc disables it.")),
            )
        )
    return out


def _host_count(lic: SlmgrLicense) -> list[Finding]:
    count = lic.number("current_count")
    if not lic.is_host or count is None:
        return []
    total = lic.number("total_requests") or 0
    if count == 1 and total >= STUCK_COUNT_MIN_REQUESTS:
        return [
            finding(
                lic,
                "current_count",
                Severity.ERROR,
                procedure=Procedure.CMID,
                check="count-stuck-at-1",
                evidence=Text(N_("Current count: 1 after {total} requests"), total=total),
                meaning=Text(
                    N_(
                        "Many requests but one distinct CMID: the clients were "
                        "cloned from an image that was not generalized and share a CMID."
                    )
                ),
                fix=Text(
                    N_(
                        "Run 'sysprep /generalize' on the image, or 'slmgr /rearm' on "
                        "each cloned client, to give every machine its own CMID."
                    )
                ),
            )
        ]
    desktop, server = settings.DESKTOP_N_POLICY, settings.SERVER_N_POLICY
    if count < server:
        severity = Severity.ERROR
        meaning = Text(N_("Below {server}: no client can activate yet."), server=server)
    elif count < desktop:
        severity = Severity.WARNING
        meaning = Text(
            N_("Server editions (N={server}) activate; desktop editions need {desktop}."),
            server=server,
            desktop=desktop,
        )
    else:
        severity = Severity.OK
        meaning = Text(N_("Enough for both desktop and server clients."))
    fix = "" if severity is Severity.OK else Text(ResultCode.COUNT_TOO_LOW.info.fix)
    code = None if severity is Severity.OK else ResultCode.COUNT_TOO_LOW.hex
    return [
        finding(
            lic,
            "current_count",
            severity,
            procedure=Procedure.COUNT,
            check="current-count",
            evidence=Text(N_("Current count: {count}"), count=count),
            meaning=meaning,
            fix=fix,
            code=code,
        )
    ]


def _host_config(lic: SlmgrLicense) -> list[Finding]:
    if not lic.is_host:
        return []
    out: list[Finding] = []
    if lic.flag("dns_publishing") is False:
        out.append(
            finding(
                lic,
                "dns_publishing",
                Severity.WARNING,
                procedure=Procedure.DNS,
                check="dns-publishing-disabled",
                evidence=Text(N_("DNS publishing disabled")),
                meaning=Text(
                    N_(
                        "The host does not register its _vlmcs._tcp SRV record; "
                        "clients find it only through a record made by hand or /skms."
                    )
                ),
                fix=Text(
                    N_(
                        "'slmgr /sdns' re-enables publishing, or create the SRV "
                        "record by hand (priority 0, weight 0, port 1688)."
                    )
                ),
            )
        )
    port = lic.number("listening_port")
    if port is not None and port != settings.DEFAULT_PORT:
        out.append(
            finding(
                lic,
                "listening_port",
                Severity.WARNING,
                procedure=Procedure.PORT,
                check="non-default-port",
                meaning=Text(
                    N_("The host listens on {port}, not {default}."),
                    port=port,
                    default=settings.DEFAULT_PORT,
                ),
                fix=Text(
                    N_(
                        "Open this port in every firewall between clients and host; "
                        "SRV records and '/skms name:port' must name it."
                    )
                ),
            )
        )
    return out + _failed_requests(lic)


def _failed_requests(lic: SlmgrLicense) -> list[Finding]:
    total, failed = lic.number("total_requests"), lic.number("failed_requests")
    if not total or failed is None or failed / total < FAILED_RATIO_WARNING:
        return []
    return [
        finding(
            lic,
            "failed_requests",
            Severity.WARNING,
            procedure=Procedure.HOST,
            check="failed-requests-high",
            evidence=Text(
                N_("Failed requests received: {failed} of {total}"), failed=failed, total=total
            ),
            meaning=Text(
                N_("Many requests come from products this host key does not cover (0xC004F042).")
            ),
            code=ResultCode.PRODUCT_NOT_COVERED.hex,
            fix=Text(
                N_(
                    "Check the host key's group against the clients' editions; install "
                    "a host key of a higher group if needed."
                )
            ),
        )
    ]


CHECKS: tuple[Check, ...] = (
    status_findings,
    channel_findings,
    _expiry,
    _client_discovery,
    _host_count,
    _host_config,
)


def check_license(lic: SlmgrLicense) -> list[Finding]:
    """All single-file checks of one license block."""
    return [finding for check in CHECKS for finding in check(lic)]


def parse_slmgr_time(raw: str) -> float | None:
    """A trusted time as English, French or German slmgr (or OpenKMS) prints it, as a Unix
    time (the machine's local time, as Windows prints it; OpenKMS's ``... UTC`` in UTC), or
    None: ``11/29/2026 5:12:19 PM``, ``29/11/2026 17:12:19``, ``29.11.2026 17:12:19``."""
    text = " ".join(raw.split())
    zone = None
    if text.upper().endswith(" UTC"):
        text, zone = text[:-4], dt.UTC
    for fmt in _TIME_FORMATS:
        try:
            when = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return (when.replace(tzinfo=zone) if zone else when).timestamp()
    return None


def _when(lic: SlmgrLicense) -> float:
    when = parse_slmgr_time(lic.text("trusted_time") or "")
    if when is not None:
        return when
    try:
        return os.stat(lic.source_file).st_mtime
    except OSError:
        return 0.0


def check_snapshots(groups: list[list[SlmgrLicense]]) -> list[Finding]:
    """Compare several snapshots of one host in time order: failures rising, count stuck."""
    out: list[Finding] = []
    for group in groups:
        ordered = sorted(group, key=_when)
        first, last = ordered[0], ordered[-1]
        failed = [lic.number("failed_requests") or 0 for lic in ordered]
        if failed[-1] > failed[0]:
            out.append(
                finding(
                    last,
                    "failed_requests",
                    Severity.WARNING,
                    procedure=Procedure.HOST,
                    check="failed-requests-rising",
                    evidence=Text(
                        N_("Failed requests {first} ({file}) -> {last}"),
                        first=failed[0],
                        file=first.source_file,
                        last=failed[-1],
                    ),
                    meaning=Text(
                        N_(
                            "Failed requests keep rising: clients of products "
                            "this host key does not cover keep asking."
                        )
                    ),
                    code=ResultCode.PRODUCT_NOT_COVERED.hex,
                    fix=Text(
                        N_(
                            "Check the product key used to activate the host; point "
                            "those clients at a host whose key covers them."
                        )
                    ),
                )
            )
    return out
