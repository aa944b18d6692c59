"""Turn the tallies of an :class:`EventAnalyzer` into findings, in the guides' order."""

from __future__ import annotations

from openkms.core import settings
from openkms.core.codes import ResultCode, describe
from openkms.doctor._i18n import Text, joined
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.events._model import WindowsEvent, parse_int
from openkms.doctor.events._spp import SPP_FAILURES, spp_counts_text
from openkms.doctor.events._tally import (
    EventTallies,
    Tally,
    code_finding,
    evidence,
    n_policy_label,
    short_name,
    spp_code_finding,
)
from openkms.doctor.findings import Finding, Severity
from openkms.i18n import N_

__all__ = ["CLONE_MIN_INTERLEAVINGS", "build_findings"]

CLONE_MIN_INTERLEAVINGS = 2
CLONE_WINDOW_MINUTES = 15


def _codes(analyzer: EventTallies) -> list[Finding]:
    return [
        spp_code_finding(tally, event_id, code)
        if event_id in SPP_FAILURES
        else code_finding(tally, event_id, code)
        for (event_id, code), tally in sorted(analyzer.failures.items())
    ]


def _unanswered(analyzer: EventTallies) -> list[Finding]:
    out: list[Finding] = []
    for name, state in sorted(analyzer.machines.items()):
        tally = state.unanswered
        if tally is None:
            continue
        servers = ", ".join(sorted(tally.extra))
        arrived = analyzer.host_seen.get(short_name(name), 0)
        if arrived:
            out.append(_arrived(name, tally, arrived))
            continue
        out.append(
            CATALOGUE["request-unanswered"].finding(
                Severity.WARNING if state.answered else Severity.ERROR,
                Text(
                    N_(
                        "{name}: {count} 12288 without a 12289 within 5 minutes "
                        "(host(s) tried: {servers}; {answered} answered); first {first}"
                    ),
                    name=name,
                    count=tally.count,
                    servers=servers or Text(N_("unknown")),
                    answered=state.answered,
                    first=evidence(tally.first),
                ),
                meaning=Text(
                    N_(
                        "The client sent a request and got no response: the host was not "
                        "reached, did not answer, or the response was lost."
                    )
                ),
                fix=Text(
                    N_(
                        "Check that the host is discoverable (SRV record) and reachable on TCP "
                        "1688 from the client, and that its service runs; look for the matching "
                        "12290 on the host."
                    )
                ),
                code=ResultCode.NO_KMS_HOST_CONTACTED.hex,
            )
        )
    return out


def _arrived(name: str, tally: Tally, arrived: int) -> Finding:
    """12288 without 12289 on the client, but the host logged the requests: they arrived."""
    return CATALOGUE["response-not-in-client-log"].finding(
        Severity.WARNING,
        Text(
            N_(
                "{name}: {count} 12288 without a 12289 in the client's export, but "
                "the host's log has {arrived} 12290 for this machine; first {first}"
            ),
            name=name,
            count=tally.count,
            arrived=arrived,
            first=evidence(tally.first),
        ),
        meaning=Text(
            N_(
                "The requests reached the host and it answered them; the client's export "
                "lacks the 12289 (a filter, another log) or the response was lost on the way "
                "back."
            )
        ),
        fix=Text(
            N_(
                "Read the result codes of the host's 12290 for this machine; export the "
                "client's Application log with both 12288 and 12289."
            )
        ),
    )


def _clones(analyzer: EventTallies) -> list[Finding]:
    out: list[Finding] = []
    for cmid in sorted(analyzer.cmid_interleaved.keys() | analyzer.cmid_bursts.keys()):
        names = analyzer.cmid_names.get(cmid, {})
        if len(names) > 1:
            continue  # duplicate-cmid names them
        name = next(iter(names), "?")
        tally = analyzer.cmid_interleaved.get(cmid)
        if tally is not None and tally.count >= CLONE_MIN_INTERLEAVINGS:
            seen = Text(
                N_(
                    "{count} requests within minutes of each other with license states "
                    "or remaining times one machine cannot have"
                ),
                count=tally.count + 1,
            )
        elif cmid in analyzer.cmid_bursts:
            tally = analyzer.cmid_bursts[cmid]
            seen = Text(
                N_(
                    "{count} requests within {minutes} minutes (one machine "
                    "retries every 2 hours and renews every 7 days)"
                ),
                count=tally.count,
                minutes=CLONE_WINDOW_MINUTES,
            )
        else:
            continue
        out.append(
            CATALOGUE["cmid-clones-one-name"].finding(
                Severity.ERROR,
                Text(
                    N_("CMID {cmid} ({name}): {seen}; e.g. {first}"),
                    cmid=cmid,
                    name=name,
                    seen=seen,
                    first=evidence(tally.first),
                ),
                meaning=Text(
                    N_(
                        "Several machines share one CMID and one name: a cloned image that was "
                        "not generalized. The host counts them as one machine, so the count "
                        "stays low."
                    )
                ),
            )
        )
    return out


def _low_count(analyzer: EventTallies) -> list[Finding]:
    out: list[Finding] = []
    for name, state in sorted(analyzer.machines.items()):
        last = state.last_count
        count = parse_int(last.info_fields.get("current_count")) if last else None
        if last is None or count is None or not state.max_n or count >= state.max_n:
            continue
        out.append(
            CATALOGUE["count-below-n-policy"].finding(
                Severity.ERROR,
                Text(
                    N_("{name}: host count {count} < N-policy {n}; {last}"),
                    name=name,
                    count=count,
                    n=state.max_n,
                    last=evidence(last),
                ),
                meaning=Text(
                    N_("The host answered, but its count is below what this client needs.")
                ),
                fix=Text(ResultCode.COUNT_TOO_LOW.info.fix),
                code=ResultCode.COUNT_TOO_LOW.hex,
            )
        )
    return out


def _cmids(analyzer: EventTallies) -> list[Finding]:
    out: list[Finding] = []
    for cmid, names in sorted(analyzer.cmid_names.items()):
        if len(names) < 2:
            continue
        first = next(iter(names.values()))
        out.append(
            CATALOGUE["duplicate-cmid"].finding(
                Severity.ERROR,
                Text(
                    N_("CMID {cmid} used by {count} machines ({names}); first {first}"),
                    cmid=cmid,
                    count=len(names),
                    names=", ".join(sorted(names)),
                    first=evidence(first),
                ),
                meaning=Text(
                    N_(
                        "Several machines share one CMID: they were cloned from an image that "
                        "was not generalized, and the host counts them as one."
                    )
                ),
                fix=Text(
                    N_("Run 'sysprep /generalize' on the image, or 'slmgr /rearm' on each clone.")
                ),
            )
        )
    return out


def _policies(analyzer: EventTallies) -> list[Finding]:
    known = {settings.DESKTOP_N_POLICY, settings.SERVER_N_POLICY}
    mix = joined(
        [
            Text("{label} x{count}", label=n_policy_label(n), count=c)
            for n, c in sorted(analyzer.n_policies.items())
        ]
    )
    if not mix:
        return []
    odd = sorted(set(analyzer.n_policies) - known)
    if odd:
        first = analyzer.n_examples[odd[0]]
        return [
            CATALOGUE["n-policy-unexpected"].finding(
                Severity.WARNING,
                Text(
                    N_("N-policies seen: {mix}; first unusual {first}"),
                    mix=mix,
                    first=evidence(first),
                ),
                meaning=Text(
                    N_(
                        "Clients ask for a minimum count other than 25 (desktop) or 5 "
                        "(server); the host keeps 2 x the largest N it has seen."
                    )
                ),
                fix=Text(N_("Check which products these clients run and their N-policy.")),
            )
        ]
    server_only = set(analyzer.n_policies) == {settings.SERVER_N_POLICY}
    meaning = Text(
        N_("Only server clients: the count never exceeds 10 and desktops could not activate.")
        if server_only
        else N_("Desktop clients need a count of 25, server clients 5.")
    )
    return [
        CATALOGUE["n-policy-mix"].finding(
            Severity.OK,
            Text(N_("N-policies seen: {mix}"), mix=mix),
            meaning=meaning,
        )
    ]


def _servers(analyzer: EventTallies) -> list[Finding]:
    if len(analyzer.servers) < 2:
        return []
    listed = ", ".join(f"{s} x{t.count}" for s, t in sorted(analyzer.servers.items()))
    return [
        CATALOGUE["several-kms-hosts"].finding(
            Severity.WARNING,
            Text(
                N_("12288 requests went to {count} hosts: {listed}"),
                count=len(analyzer.servers),
                listed=listed,
            ),
            meaning=Text(
                N_(
                    "The count is split: clients activate against several KMS hosts, each "
                    "counts only the machines that ask it, so each may stay below 25; a rogue "
                    "or retired host may still be published."
                )
            ),
            fix=Text(
                N_(
                    "Keep only the hosts you need (or give every client the same host with "
                    "'slmgr /skms'); remove stale _vlmcs._tcp SRV records."
                )
            ),
        )
    ]


def _dns(analyzer: EventTallies) -> list[Finding]:
    out: list[Finding] = []
    for domain, (success, failures) in sorted(analyzer.dns.items()):
        if failures is None and success is not None:
            out.append(
                CATALOGUE["dns-publishing"].finding(
                    Severity.OK,
                    Text(N_("12294 for {domain}: {first}"), domain=domain, first=evidence(success)),
                    meaning=Text(N_("The host published its SRV record in this domain.")),
                )
            )
            continue
        if failures is not None:
            out.append(_dns_failure(domain, success, failures))
    return out


def _dns_failure(domain: str, success: WindowsEvent | None, failures: Tally) -> Finding:
    code = failures.first.hresult or 0
    name, info = describe(code)
    latest = failures.last or failures.first
    recovered = success is not None and _after(success, latest)
    return CATALOGUE["dns-publishing-failed"].finding(
        Severity.WARNING if recovered else Severity.ERROR,
        Text(
            N_("{count} 12293 for {domain} (a later 12294 succeeded); first {first}")
            if recovered
            else N_("{count} 12293 for {domain}; first {first}"),
            count=failures.count,
            domain=domain,
            first=evidence(failures.first),
        ),
        meaning=Text(
            N_("The host could not publish its SRV record in {domain} ({name}: {message})"),
            domain=domain,
            name=name,
            message=Text(info.message),
        ),
        fix=Text(
            N_("{fix} Or create the SRV record by hand (priority 0, weight 0, port 1688)."),
            fix=Text(info.fix),
        ),
        code=f"0x{code & 0xFFFFFFFF:08X}",
    )


def _after(a: WindowsEvent, b: WindowsEvent) -> bool:
    return a.time is not None and b.time is not None and a.time > b.time


def _summary(analyzer: EventTallies) -> list[Finding]:
    answered = sum(state.answered for state in analyzer.machines.values())
    if analyzer.total == 0 and not analyzer.spp_counts:
        return []
    kms = Text(
        N_(
            "{total} KMS event(s) read; {answered} request(s) paired with "
            "a response on clients, {processed} processed by a host "
            "(12290), {cmids} CMID(s) seen by the host"
        ),
        total=analyzer.total,
        answered=answered,
        processed=sum(analyzer.host_seen.values()),
        cmids=len(analyzer.cmid_names),
    )
    meaning = Text(
        N_(
            "Success is a 12288 followed by a 12289 with result 0 on the client, and "
            "a 12290 on the host."
        )
    )
    seen: str = kms
    if analyzer.spp_counts:
        spp = spp_counts_text(analyzer.spp_counts)
        seen = Text("{kms}; {spp}", kms=kms, spp=spp) if analyzer.total else spp
        meaning = (
            Text("{meaning} {spp}", meaning=meaning, spp=Text(_SPP_MEANING))
            if analyzer.total
            else Text(_SPP_MEANING)
        )
    return [CATALOGUE["events-read"].finding(Severity.OK, seen, meaning=meaning)]


_SPP_MEANING = N_(
    "Windows' licensing service (Security-SPP) events are counted by ID: 8198, 8200 and 8208 "
    "carry a failure code, explained in their own finding; the others are informational, or "
    "of a meaning the doctor does not read, and are only counted."
)


def build_findings(analyzer: EventTallies) -> list[Finding]:
    """All event findings of one analysis."""
    return [
        *_summary(analyzer),
        *_codes(analyzer),
        *_unanswered(analyzer),
        *_low_count(analyzer),
        *_servers(analyzer),
        *_policies(analyzer),
        *_cmids(analyzer),
        *_clones(analyzer),
        *_dns(analyzer),
    ]
