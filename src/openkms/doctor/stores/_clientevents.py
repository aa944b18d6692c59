"""The client's own events (12288/12289) and its last result, as ``doctor client`` reads them."""

from __future__ import annotations

from openkms.client.api import Client
from openkms.client.state import ClientState
from openkms.core.codes import describe
from openkms.core.events import EventRecord
from openkms.doctor._i18n import Text
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.events._analyzer import EventAnalyzer
from openkms.doctor.events._tally import procedure_of
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.stores._events import to_windows_event
from openkms.i18n import N_

__all__ = ["event_findings"]


def _last_request(records: list[EventRecord], client: Client) -> Finding | None:
    """The guides' first look: does the last 12288 have its 12289?"""
    last = next((i for i in range(len(records) - 1, -1, -1) if records[i].event_id == 12288), None)
    if last is None:
        return None
    request = records[last]
    fields = request.fields()
    where = Text(N_("{path} record {seq}"), path=client.events.path, seq=request.seq)
    server = fields.get("server", "?")
    answered = any(r.event_id == 12289 for r in records[last + 1 :])
    if answered:
        return CATALOGUE["last-request"].finding(
            Severity.OK,
            Text(
                N_("{where}: the last 12288 (to {server}) has its 12289"),
                where=where,
                server=server,
            ),
            meaning=Text(N_("The last request reached a host and got an answer.")),
        )
    hresult = fields.get("hresult", "0x0")
    try:
        code = int(hresult, 16)
    except ValueError:
        code = 0
    name, info = describe(code)
    seen = Text(
        N_("{where}: the last 12288 (to {server}) has no 12289"), where=where, server=server
    )
    if code:
        why = Text(
            N_("{hresult} {name}: {message}"),
            hresult=hresult,
            name=name,
            message=Text(info.message),
        )
        seen = Text("{seen} ({why})", seen=seen, why=why)
    return CATALOGUE["last-request-unanswered"].finding(
        Severity.ERROR,
        seen,
        meaning=Text(
            N_(
                "The host was not reached or did not answer; on the host, no 12290 for this "
                "client means the request never arrived (DNS, firewall on the port, host stopped)."
            )
        ),
        fix=Text(
            info.fix if code else N_("Check the host's port and service ('openkms doctor port').")
        ),
        code=f"0x{code:08X}" if code else None,
    )


def _last_result(client: Client, state: ClientState) -> Finding:
    where = client.directory / "client.json"
    if not state.last_attempt_at:
        return CATALOGUE["last-result"].finding(
            Severity.WARNING,
            Text(N_("{where}: no activation attempt recorded"), where=where),
            meaning=Text(N_("The client never tried to activate (or its state was reset).")),
            fix=Text(N_("Run 'client ato' once, or the agent ('client run').")),
        )
    code = state.last_result & 0xFFFFFFFF
    name, info = describe(code)
    return CATALOGUE["last-result"].finding(
        Severity.OK if code == 0 else Severity.ERROR,
        Text(
            N_("{where}: last attempt returned {code} ({name})"),
            where=where,
            code=f"0x{code:08X}",
            name=name,
        ),
        meaning=Text(info.message),
        fix="" if code == 0 else Text(info.fix),
        code=None if code == 0 else f"0x{code:08X}",
        procedure=Procedure.EVENTS if code == 0 else procedure_of(code),
    )


def event_findings(client: Client, state: ClientState) -> list[Finding]:
    """Last result, last request, then the event analysis of events.jsonl."""
    path = client.events.path
    records = client.events.read()
    findings = [_last_result(client, state)]
    if not records:
        if path.exists() and path.stat().st_size:
            findings.append(
                CATALOGUE["events-unreadable"].finding(
                    Severity.ERROR,
                    Text(
                        N_("{path}: no readable event (not an OpenKMS client event log)"),
                        path=path,
                    ),
                    meaning=Text(N_("The client's event log is damaged or is another file.")),
                    fix=Text(N_("Move it aside; the client starts a new log at its next attempt.")),
                )
            )
        return findings
    last = _last_request(records, client)
    findings += [last] if last else []
    analyzer = EventAnalyzer()
    for record in records:
        analyzer.feed(to_windows_event(record, path))
    # One machine's log: the N-policy mix says nothing about the site.
    return findings + [f for f in analyzer.findings() if f.check != "n-policy-mix"]
