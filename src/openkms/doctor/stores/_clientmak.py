"""``doctor client`` on a MAK client: its channel, how it was activated, its license, clocks.

The guides' first step is "is this machine a KMS client at all?" (``slmgr /dlv``: the
VOLUME_MAK channel, or VOLUME_KMSCLIENT). A MAK client (``client ipk MAK``) activates with
the publisher's service (``client ato``, :mod:`openkms.client.mak`) or by phone (``client
dti``/``atp``, :mod:`openkms.client.phone`) and never asks a KMS host: the host, DNS and
count checks do not apply and are not run. What is checked instead: the license from the
verified MAK ticket or phone grant and its time left, why a MAK is not activated (the last
attempt's result code), the clock against the trusted time, and (in ``clientcheck``) the
client's events in the publisher's words.
"""

from __future__ import annotations

from pathlib import Path

from openkms.client.api import Client
from openkms.client.mak import MAK_CHANNEL
from openkms.client.phone import VerifiedPhoneTicket, mak_reference, verify_phone_ticket
from openkms.client.records import License
from openkms.client.snapshot import ClientSnapshot
from openkms.client.state import ClientState
from openkms.client.timekeeping import TimeReading
from openkms.core.codes import ResultCode, describe
from openkms.core.license import LicenseState
from openkms.doctor._i18n import Decimal, Stamp, Text
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.events._tally import procedure_of
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.stores._makcauses import ACTIVATE_FIX, cleared_activation, mak_cause
from openkms.i18n import N_

__all__ = ["EXPIRY_WARNING_DAYS", "is_mak_client", "mak_findings"]

EXPIRY_WARNING_DAYS = 15  # as for a KMS client's activation and slmgr's expiry-soon
_DAY_MIN = 1440
_ONLINE, _PHONE = "online", "phone"
_PHONE_FIX = N_(
    "Activate again before the grant ends: 'client dti', read the installation ID to the "
    "publisher, then 'client atp CONFIRMATION-ID' (or online: 'client ato')."
)
_RENEW_FIX = N_(
    "Make the client reach the publisher's service and renew: 'client ato' (or 'client "
    "--publisher-url URL ato'); without a way to it, activate by phone: 'client dti', then "
    "'client atp CONFIRMATION-ID'."
)


def is_mak_client(state: ClientState) -> bool:
    """True when the installed key is a MAK (also after ``cpky`` cleared its text)."""
    return mak_reference(state) is not None


def _quoted(message: str) -> str:
    """The service's words as the client recorded them: printable, bounded."""
    return "".join(c if c.isprintable() else "?" for c in message[:200]) or "-"


def _when(epoch: int) -> Stamp:
    return Stamp.utc(epoch, "%Y-%m-%d %H:%M UTC")


def _where(client: Client) -> Path:
    return client.directory / "client.json"


def _how(lic: License, phone: VerifiedPhoneTicket | None) -> str | None:
    """What licenses the machine: ``online`` (a MAK ticket), ``phone`` (a grant), or None."""
    if not lic.licensed:
        return None
    online = lic.ticket.body.valid_until if lic.ticket is not None and lic.ticket.mak else None
    if phone is not None and (online is None or phone.valid_until > online):
        return _PHONE
    return _ONLINE if online is not None else None


def _channel(client: Client, snapshot: ClientSnapshot, how: str | None) -> Finding:
    state = snapshot.state
    product = snapshot.product
    activated = {
        _ONLINE: Text(N_("activated online with the publisher's service")),
        _PHONE: Text(N_("activated by phone")),
    }.get(how or "", Text(N_("not activated")))
    return CATALOGUE["not-kms-client"].finding(
        Severity.OK,
        Text(
            N_("{where}: MAK installed (partial {partial}): {product}, {channel} channel, {how}"),
            where=_where(client),
            partial=state.setup_key[-5:] if state.setup_key else state.partial_key or "?",
            product=product.name if product else "?",
            channel=MAK_CHANNEL,
            how=activated,
        ),
        meaning=Text(
            N_(
                "The {channel} channel: this machine is not a KMS client and never asks a KMS "
                "host, so the KMS checks (host, DNS, port, the host's count) do not apply and "
                "are not run. It activates with the publisher, online or by phone."
            ),
            channel=MAK_CHANNEL,
        ),
        fix="",
    )


def _left(lic: License) -> Text:
    return Text(
        N_("{minutes} minute(s) ({days} day(s)) left"),
        minutes=lic.minutes_remaining,
        days=lic.minutes_remaining // _DAY_MIN,
    )


def _licensed(client: Client, lic: License, how: str) -> Finding:
    days = lic.minutes_remaining // _DAY_MIN
    proof = Text(N_("the MAK ticket") if how == _ONLINE else N_("the phone activation"))
    evidence = Text(
        N_("{where}: License Status {state}, {left}: {proof} is valid until {until}"),
        where=_where(client),
        state=Text(lic.state.label),
        left=_left(lic),
        proof=proof,
        until=_when(lic.ends_at or 0),
    )
    if days < EXPIRY_WARNING_DAYS:
        return CATALOGUE["expiry-soon"].finding(
            Severity.WARNING,
            evidence,
            meaning=Text(
                N_(
                    "Activated online with a MAK; the ticket ends in {days} day(s): renewals "
                    "with the publisher's service have not succeeded for a long time."
                )
                if how == _ONLINE
                else N_(
                    "Activated by phone; the publisher's grant ends in {days} day(s) and a "
                    "phone activation does not renew by itself."
                ),
                days=days,
            ),
            fix=Text(_RENEW_FIX if how == _ONLINE else _PHONE_FIX),
            procedure=Procedure.MAK_CLIENT,
        )
    return CATALOGUE["license-status"].finding(
        Severity.OK,
        evidence,
        meaning=Text(
            N_(
                "Activated online: the MAK ticket of the publisher's service, verified against "
                "the pinned publisher key, licenses this machine; the agent renews it with the "
                "service."
            )
            if how == _ONLINE
            else N_(
                "Activated by phone: the confirmation ID, verified against the publisher's "
                "phone key, licenses this machine until the grant ends."
            )
        ),
        fix="",
        procedure=Procedure.MAK_CLIENT,
    )


def _unlicensed(client: Client, lic: License) -> Finding:
    stopped = lic.state in (LicenseState.NOTIFICATION, LicenseState.UNLICENSED)
    reason = lic.reason if lic.reason is not ResultCode.OK else ResultCode.GRACE_EXPIRED
    seen = Text(
        N_("{where}: License Status {state}"), where=_where(client), state=Text(lic.state.label)
    )
    return CATALOGUE["license-status"].finding(
        Severity.ERROR if stopped else Severity.WARNING,
        Text(N_("{seen} (reason {code})"), seen=seen, code=reason.hex)
        if stopped
        else Text(N_("{seen}, {left} of grace"), seen=seen, left=_left(lic)),
        meaning=Text(
            N_(
                "Not activated: a MAK client activates with the publisher (online or by phone), "
                "never with a KMS host; the product enters Notification when the grace ends."
            )
        ),
        fix=Text(ACTIVATE_FIX),
        code=reason.hex if stopped else None,
        procedure=Procedure.MAK_CLIENT,
    )


def _ended(
    where: Path, lic: License, phone: VerifiedPhoneTicket | None
) -> tuple[Text, Text] | None:
    """The activation that ended last, online or by phone: what was seen, and the fix.

    Both are verified (signature and chain good), so each has ended, else it would license;
    a ticket that does not verify is not an ended activation and is not reported here.
    """
    online = lic.ticket.body.valid_until if lic.ticket is not None and lic.ticket.mak else None
    if phone is not None and (online is None or phone.valid_until > online):
        evidence = Text(
            N_("{where}: the phone activation of this MAK ended on {until}"),
            where=where,
            until=_when(phone.valid_until),
        )
        return evidence, Text(_PHONE_FIX)
    if online is None:
        return None
    evidence = Text(
        N_("{where}: the online activation of this MAK ended on {until}"),
        where=where,
        until=_when(online),
    )
    return evidence, Text(ACTIVATE_FIX)


def _not_activated(
    client: Client,
    state: ClientState,
    lic: License,
    phone: VerifiedPhoneTicket | None,
    service: str | None,
) -> Finding:
    """The real cause: the last attempt's code, a phone grant that ended, or no activation."""
    where = _where(client)
    check = CATALOGUE["mak-not-activated"]
    code = state.last_result & 0xFFFFFFFF
    if state.last_attempt_at and code:
        name, _info = describe(code)
        cause = mak_cause(code)
        return check.finding(
            Severity.ERROR,
            Text(
                N_(
                    "{where}: the MAK is not activated; the last attempt ({when}) returned "
                    "{code} ({name}): {message}"
                ),
                where=where,
                when=_when(state.last_attempt_at),
                code=f"0x{code:08X}",
                name=name,
                message=_quoted(state.last_message),
            ),
            meaning=cause.meaning,
            fix=cause.fix,
            code=f"0x{code:08X}",
        )
    stopped = lic.state in (LicenseState.NOTIFICATION, LicenseState.UNLICENSED)
    ended = _ended(where, lic, phone)
    if ended is not None:
        evidence, fix = ended
        return check.finding(Severity.ERROR if stopped else Severity.WARNING, evidence, fix=fix)
    if state.last_attempt_at:  # it succeeded (code 0), and nothing licenses the MAK now
        seen, meaning = cleared_activation(where, state)
        return check.finding(
            Severity.ERROR if stopped else Severity.WARNING,
            seen,
            meaning=meaning,
            fix=Text(ACTIVATE_FIX),
        )
    seen = Text(
        N_("{where}: the MAK is installed but not activated (no activation attempt recorded)"),
        where=where,
    )
    if not service:  # then 'client ato' cannot work without --publisher-url
        cause = mak_cause(ResultCode.INVALID_ARGUMENT)
        return check.finding(
            Severity.ERROR if stopped else Severity.WARNING,
            seen,
            meaning=cause.meaning,
            fix=cause.fix,
        )
    return check.finding(Severity.ERROR if stopped else Severity.WARNING, seen)


def _last_attempt(client: Client, state: ClientState, lic: License) -> Finding | None:
    """A licensed MAK client's last renewal: ok, or refused while the license still runs."""
    code = state.last_result & 0xFFFFFFFF
    if not state.last_attempt_at or not lic.licensed:
        return None  # never tried (phone), or the activation finding names the code
    name, _info = describe(code)
    seen = Text(
        N_("{where}: last attempt with the publisher's service ({when}) returned {code} ({name})"),
        where=_where(client),
        when=_when(state.last_attempt_at),
        code=f"0x{code:08X}",
        name=name,
    )
    if code == 0:
        return CATALOGUE["last-result"].finding(
            Severity.OK, seen, meaning=Text(N_("The publisher's service activated this MAK."))
        )
    cause = mak_cause(code)
    return CATALOGUE["last-result"].finding(
        Severity.WARNING,
        seen,
        meaning=Text(
            N_("{cause} The license holds until {until}; the renewals are refused."),
            cause=cause.meaning,
            until=_when(lic.ends_at or 0),
        ),
        fix=cause.fix,
        code=f"0x{code:08X}",
        procedure=cause.procedure or procedure_of(code),
    )


def _clock(client: Client, reading: TimeReading) -> Finding:
    """The clock against the trusted time (the only clock a MAK client has to agree with)."""
    trusted = _when(reading.trusted)
    if not reading.rolled_back:
        return CATALOGUE["clock-rollback"].finding(
            Severity.OK,
            Text(
                N_("{where}: the clock is not behind the trusted time ({trusted})"),
                where=_where(client),
                trusted=trusted,
            ),
            fix="",
        )
    code = ResultCode.CLOCK_ROLLBACK
    return CATALOGUE["clock-rollback"].finding(
        Severity.WARNING,
        Text(
            N_("{where}: the clock is {hours} hour(s) behind the trusted time ({trusted})"),
            where=_where(client),
            hours=Decimal(reading.behind / 3600),
            trusted=trusted,
        ),
        meaning=Text(code.info.message),
        fix=Text(code.info.fix),
        code=code.hex,
    )


def _trust_missing(client: Client) -> Finding:
    code = ResultCode.TRUST_MISSING
    return CATALOGUE["trust-missing"].finding(
        Severity.ERROR,
        Text(N_("{path}: missing"), path=client.directory / "trust.json"),
        meaning=Text(code.info.message),
        fix=Text(code.info.fix),
        code=code.hex,
    )


def _license_findings(client: Client, snapshot: ClientSnapshot, lic: License) -> list[Finding]:
    state = snapshot.state
    phone = verify_phone_ticket(state, snapshot.trust)
    how = _how(lic, phone)
    findings = [_channel(client, snapshot, how)]
    if how is not None:
        findings.append(_licensed(client, lic, how))
    elif snapshot.distrust is None:
        catalog = snapshot.trust.catalog if snapshot.trust else None
        service = client.publisher_url or (catalog.publisher_url if catalog else None)
        findings += [
            _not_activated(client, state, lic, phone, service),
            _unlicensed(client, lic),
        ]
    else:  # a tampered state or another publisher's trust: that is the cause
        findings.append(_unlicensed(client, lic))
    last = _last_attempt(client, state, lic)
    return findings + ([last] if last else [])


def mak_findings(client: Client) -> list[Finding]:
    """The checks of a MAK client, read only: channel, activation, license, clock."""
    snapshot = client.snapshot()
    reading = client.observe_time(snapshot)  # read-only client: nothing is written
    if snapshot.trust is None and snapshot.foreign is None:
        return [_trust_missing(client), _clock(client, reading)]
    lic = snapshot.license(reading.trusted)
    return [*_license_findings(client, snapshot, lic), _clock(client, reading)]
