"""Which procedure a license block is read under, by its channel, and the checks that
follow from it: License Status and the channel.

A KMS host or KMS client (VOLUME_KMSCLIENT) goes to the KMS procedures; a MAK (VOLUME_MAK,
``Product Key Channel: Volume:MAK``) is a ``mak-client``, a RETAIL or OEM license ``retail``:
they activate once with Microsoft, online or by phone, and never ask a KMS host, so no DNS,
port 1688 or count advice is given for them.
"""

from __future__ import annotations

from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.doctor._i18n import Text
from openkms.doctor._mscodes import mak_fix
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.slmgr._parse import SlmgrLicense
from openkms.i18n import N_

__all__ = ["channel_findings", "finding", "grace_ends", "not_kms", "role_of", "status_findings"]


_MAK_FIX = N_(
    "Activate the MAK online with 'slmgr /ato' once the machine reaches Microsoft's "
    "activation servers over the Internet (directly or through its proxy), or by phone with "
    "'slui 4'; a blocked or used-up MAK: install another with 'slmgr /ipk <MAK>'. To use KMS "
    "instead, install the edition's KMS client setup key (GVLK) with 'slmgr /ipk <setup "
    "key>', then 'slmgr /ato'."
)
_RETAIL_FIX = N_(
    "Activate online with 'slmgr /ato' once the machine reaches Microsoft's activation "
    "servers over the Internet, or by phone with 'slui 4'; an OEM license belongs to the "
    "machine it came with (its maker's support), a retail key can be installed with "
    "'slmgr /ipk <key>'. To use KMS instead, install the edition's KMS client setup key "
    "(GVLK) with 'slmgr /ipk <setup key>', then 'slmgr /ato'."
)


def role_of(lic: SlmgrLicense) -> Procedure:
    """The procedure a license block is read under: ``host``, ``client`` (a KMS client),
    ``mak-client`` (the VOLUME_MAK channel) or ``retail`` (RETAIL and OEM channels): a MAK,
    retail or OEM license activates with Microsoft, never with a KMS host."""
    channel = lic.channel or ""
    if lic.is_host:
        return Procedure.HOST
    if channel in ("MAK", "VOLUME_MAK"):
        return Procedure.MAK_CLIENT
    if channel == "RETAIL" or channel.startswith("OEM"):
        return Procedure.RETAIL
    return Procedure.CLIENT


def not_kms(lic: SlmgrLicense) -> bool:
    """A MAK, retail or OEM license: it activates with Microsoft, never with a KMS host."""
    return role_of(lic) in (Procedure.MAK_CLIENT, Procedure.RETAIL)


def _fix_of(role: Procedure) -> str:
    return Text(_MAK_FIX if role is Procedure.MAK_CLIENT else _RETAIL_FIX)


def finding(lic: SlmgrLicense, field: str, severity: Severity, **kw: str | None) -> Finding:
    """A finding of one field of a license block, with its ``file:line`` as evidence."""
    seen = kw.pop("evidence", None) or lic.text(field)
    evidence = Text("{where}: {seen}", where=lic.where(field), seen=seen)
    return Finding(severity=severity, evidence=evidence, **kw)  # type: ignore[arg-type]


def status_findings(lic: SlmgrLicense) -> list[Finding]:
    """License Status under the block's procedure, with the fix of its role."""
    role = role_of(lic)
    state = lic.state
    if state is LicenseState.LICENSED:
        return [
            finding(
                lic,
                "license_status",
                Severity.OK,
                procedure=role,
                check="license-status",
                meaning=Text(N_("The product is activated.")),
            )
        ]
    if state is None and lic.text("license_status") is None:
        return []
    if role == "host":
        fix: str = Text(
            N_("{fix} (Windows: slmgr /ato on the host.)"),
            fix=Text(ResultCode.HOST_NOT_ACTIVATED.info.fix),
        )
        code: str | None = ResultCode.HOST_NOT_ACTIVATED.hex
        meaning = Text(N_("The KMS host is not Licensed: it cannot activate anyone until it is."))
    elif not_kms(lic):
        code = lic.notification_code
        known = mak_fix(int(code, 16)) if code else None
        fix = Text(known) if known and role is Procedure.MAK_CLIENT else _fix_of(role)
        meaning = Text(
            N_(
                "The {channel} product is not activated (grace or Notification); it never "
                "asks a KMS host: it activates once with Microsoft, online or by phone."
            ),
            channel=lic.channel,
        )
    else:
        fix = Text(
            N_(
                "Find what keeps the client from its host: check DNS discovery, the port "
                "(TCP 1688), the count on the host and the client's 12288/12289 events; then "
                "'slmgr /ato'."
            )
        )
        code = lic.notification_code
        meaning = Text(
            N_("The client is not activated; it runs on a grace period or is unlicensed.")
        )
    return [
        finding(
            lic,
            "license_status",
            Severity.ERROR,
            procedure=role,
            check="license-status",
            meaning=meaning,
            fix=fix,
            code=code,
        )
    ]


def channel_findings(lic: SlmgrLicense) -> list[Finding]:
    """The channel: a host key on a client, a machine that is not a KMS client, or fine."""
    channel = lic.channel
    if channel is None or (lic.is_host and channel.startswith("VOLUME_KMS_")):
        return []
    if channel.startswith("VOLUME_KMS_") and lic.is_client:
        return [
            finding(
                lic,
                "description",
                Severity.ERROR,
                procedure=Procedure.KEY,
                check="host-key-on-client",
                meaning=Text(N_("A KMS host key (CSVLK) is installed on a KMS client.")),
                fix=Text(
                    N_(
                        "Install the edition's KMS client setup key (GVLK) with "
                        "'slmgr /ipk <setup key>', remove unneeded SRV records from DNS, "
                        "and restart the machine."
                    )
                ),
            )
        ]
    if not_kms(lic):
        licensed = lic.state is LicenseState.LICENSED
        return [
            finding(
                lic,
                "description",
                Severity.WARNING if licensed else Severity.ERROR,
                procedure=role_of(lic),
                check="not-kms-client",
                meaning=Text(
                    N_(
                        "The {channel} channel: this machine is not a KMS client and never "
                        "asks a KMS host, so KMS checks (DNS, port 1688, the host's count) do "
                        "not apply."
                    )
                    if licensed
                    else N_(
                        "The {channel} channel: this machine is not a KMS client and never "
                        "asks a KMS host, so KMS checks (DNS, port 1688, the host's count) do "
                        "not apply. It activates with Microsoft, online or by phone."
                    ),
                    channel=channel,
                ),
                fix=_fix_of(role_of(lic)),
            )
        ]
    return [
        finding(
            lic,
            "description",
            Severity.OK,
            procedure=Procedure.KEY,
            check="channel",
            meaning=Text(N_("The {channel} channel fits this machine's role."), channel=channel),
        )
    ]


def grace_ends(lic: SlmgrLicense, minutes: int) -> list[Finding]:
    """A MAK, retail or OEM machine's grace about to end: activate with Microsoft."""
    return [
        finding(
            lic,
            "expiration",
            Severity.WARNING,
            procedure=role_of(lic),
            check="expiry-soon",
            meaning=Text(
                N_(
                    "The grace period ends in {days} day(s); then the product enters "
                    "Notification. It is not activated with Microsoft yet."
                ),
                days=minutes // 1440,
            ),
            fix=_fix_of(role_of(lic)),
        )
    ]
