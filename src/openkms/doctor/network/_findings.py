"""Findings from a probe: the TCP connect (the guides' telnet test), the host's answer, clocks.

Shared by ``doctor port``, ``doctor host`` (listening), ``doctor client`` (the registered or
cached host) and ``doctor dns`` (each SRV target).
"""

from __future__ import annotations

from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.doctor._i18n import Decimal, Stamp, Text
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.network.probe import ProbeOutcome, ProbeResult
from openkms.i18n import N_

__all__ = [
    "SKEW_ERROR_SECONDS",
    "SKEW_WARNING_SECONDS",
    "connect_finding",
    "probe_findings",
    "skew_finding",
]

SKEW_ERROR_SECONDS = settings.MAX_CLOCK_SKEW_HOURS * 3600
SKEW_WARNING_SECONDS = 5 * 60

_CONNECT_FIXES = {
    ProbeOutcome.REFUSED: N_(
        "Nothing listens there: start the host ('openkms host --store DIR "
        "serve'), and check the port it listens on ('Listening on Port' in 'host dli', 'sprt') "
        "against the SRV record and any 'skms HOST:PORT'."
    ),
    ProbeOutcome.TIMEOUT: N_(
        "A firewall drops the connection: open the port (TCP 1688 by "
        "default) on the host and on the path, then repeat the telnet test "
        "('openkms doctor port HOST:PORT')."
    ),
    ProbeOutcome.UNREACHABLE: N_(
        "Check the name and the route; an SRV record or a cached host "
        "that points to a retired machine gives 0x800706BA: remove the stale record, or clear "
        "the client's cache ('client ckms')."
    ),
}


def connect_finding(
    result: ProbeResult, procedure: Procedure = Procedure.PORT, label: str = ""
) -> Finding:
    """The telnet test: did the TCP connection open?"""
    what = f"{label} " if label else ""
    if result.connected:
        peer = f" ({result.address})" if result.address and result.address != result.host else ""
        seen = Text(
            N_("{what}{where}{peer}: TCP connection established"),
            what=what,
            where=result.where,
            peer=peer,
        )
        if result.connect_ms is not None:
            took = Text(N_("in {ms} ms"), ms=f"{result.connect_ms:.0f}")
            seen = Text("{seen} {took}", seen=seen, took=took)
        return CATALOGUE["tcp-connect"].finding(
            Severity.OK,
            seen,
            meaning=Text(N_("Something listens on this port and the network path is open.")),
            procedure=procedure,
        )
    return CATALOGUE["tcp-connect"].finding(
        Severity.ERROR,
        Text("{what}{detail}", what=what, detail=result.detail),
        meaning=Text(
            "{name}: {message}", name=result.code.name, message=Text(result.code.info.message)
        ),
        fix=Text(_CONNECT_FIXES.get(result.outcome, result.code.info.fix)),
        code=result.code.hex,
        procedure=procedure,
    )


def _when(epoch: float) -> Stamp:
    return Stamp.utc(epoch, "%Y-%m-%d %H:%M:%S UTC")


def _answer_finding(result: ProbeResult, procedure: Procedure) -> Finding:
    response = result.response
    assert response is not None
    return CATALOGUE["openkms-host"].finding(
        Severity.OK,
        Text(
            N_(
                "{where}: OpenKMS {version}, host {host}, activated {activated}, current count "
                "{count}, listening on port {port}, host clock {clock}"
            ),
            where=result.where,
            version=response.version,
            host=response.host_id,
            activated=Text(N_("yes")) if response.activated else Text(N_("no")),
            count=response.current_count,
            port=response.port,
            clock=_when(response.host_time),
        ),
        meaning=Text(
            N_("An OpenKMS host answered the probe; a probe is never counted and logs no 12290.")
        ),
        procedure=procedure,
    )


def _not_openkms(result: ProbeResult, procedure: Procedure) -> Finding:
    meaning = Text(N_("The port is open, but what listens there is not an OpenKMS host."))
    if result.port == settings.DEFAULT_PORT:
        windows = Text(
            N_(
                "On port 1688 this may be a Windows KMS host, which speaks Microsoft's RPC "
                "protocol: that is fine for Windows clients, but OpenKMS clients cannot use it."
            )
        )
        meaning = Text("{meaning} {windows}", meaning=meaning, windows=windows)
    return CATALOGUE["not-openkms"].finding(
        Severity.ERROR if result.outcome is not ProbeOutcome.SILENT else Severity.WARNING,
        result.detail,
        meaning=meaning,
        fix=Text(
            N_(
                "Point OpenKMS clients at the OpenKMS host's address and port (SRV record of "
                "the OpenKMS service, or 'client skms HOST:PORT'); keep Windows KMS and OpenKMS "
                "on different ports or machines."
            )
        ),
        code=result.code.hex,
        procedure=procedure,
    )


def _refused_probe(result: ProbeResult, procedure: Procedure) -> Finding:
    name, info = result.code.name, result.code.info
    return CATALOGUE["openkms-host"].finding(
        Severity.ERROR,
        result.detail,
        meaning=Text("{name}: {message}", name=name, message=Text(info.message)),
        fix=Text(info.fix),
        code=result.code.hex,
        procedure=procedure,
    )


def _activation_finding(result: ProbeResult) -> Finding | None:
    response = result.response
    if response is None or response.activated:
        return None
    code = ResultCode.HOST_NOT_ACTIVATED
    return CATALOGUE["host-activated"].finding(
        Severity.ERROR,
        Text(N_("{where}: the host says it is not activated"), where=result.where),
        meaning=Text(
            N_("{message} It counts requests but refuses every activation ({code})."),
            message=Text(code.info.message),
            code=code.hex,
        ),
        fix=Text(code.info.fix),
        code=code.hex,
    )


def skew_finding(result: ProbeResult) -> Finding | None:
    """Host clock against this machine's clock: > 5 min warning, > 4 h error."""
    skew = result.skew_seconds
    if skew is None:
        return None
    size = abs(skew)
    evidence = Text(
        N_("{where}: the host's clock is {duration} ahead of this machine's")
        if skew > 0
        else N_("{where}: the host's clock is {duration} behind this machine's"),
        where=result.where,
        duration=_duration(size),
    )
    if size > SKEW_ERROR_SECONDS:
        code = ResultCode.CLOCK_SKEW
        return CATALOGUE["clock-skew"].finding(
            Severity.ERROR,
            evidence,
            meaning=Text(
                N_(
                    "Clocks more than {hours} hours apart: the host refuses this machine's "
                    "requests ({code})."
                ),
                hours=settings.MAX_CLOCK_SKEW_HOURS,
                code=code.hex,
            ),
            fix=Text(N_("Synchronise both clocks (NTP, or the domain's time source).")),
            code=code.hex,
        )
    if size > SKEW_WARNING_SECONDS:
        return CATALOGUE["clock-skew"].finding(
            Severity.WARNING,
            evidence,
            meaning=Text(
                N_(
                    "Within the {hours}-hour tolerance, but the clocks drift: one of them is "
                    "not synchronised."
                ),
                hours=settings.MAX_CLOCK_SKEW_HOURS,
            ),
            fix=Text(N_("Synchronise both clocks (NTP).")),
        )
    return CATALOGUE["clock-skew"].finding(
        Severity.OK,
        evidence,
        meaning=Text(
            N_("Clocks agree (tolerance {hours} hours)."), hours=settings.MAX_CLOCK_SKEW_HOURS
        ),
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return Text("{hours} h", hours=Decimal(seconds / 3600))


def probe_findings(
    result: ProbeResult,
    procedure: Procedure = Procedure.PORT,
    *,
    activation: bool = True,
    clock: bool = True,
) -> list[Finding]:
    """Everything a probe tells: connect, who answers, activation and clock."""
    findings = [connect_finding(result, procedure)]
    if not result.connected:
        return findings
    if result.outcome is ProbeOutcome.ERROR:
        return [*findings, _refused_probe(result, procedure)]
    if result.response is None:
        return [*findings, _not_openkms(result, procedure)]
    findings.append(_answer_finding(result, procedure))
    extra = [
        _activation_finding(result) if activation else None,
        skew_finding(result) if clock else None,
    ]
    return findings + [f for f in extra if f is not None]
