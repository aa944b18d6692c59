"""The checks of ``doctor host`` that read the host's database: count, failures, DNS, CMIDs."""

from __future__ import annotations

from pathlib import Path

from openkms.core import settings
from openkms.core.codes import ResultCode, describe
from openkms.core.trust import Trust
from openkms.dns.publisher import DomainStatus, PublishStatus, read_status
from openkms.doctor._i18n import Text, error_words
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.events._analyzer import EventAnalyzer, evidence, n_policy_label
from openkms.doctor.events._tally import procedure_of
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.doctor.stores._events import CodeTally, host_events, to_windows_event
from openkms.doctor.stores._hostclock import clock_findings
from openkms.doctor.stores._hostcount import falling_count, stuck_at_one
from openkms.errors import OpenKMSError
from openkms.host.state import HostState
from openkms.i18n import N_
from openkms.store import open_reader, sqlite_path
from openkms.store.base import Counters, HostStoreReader

__all__ = ["store_findings", "store_problem"]

_DAY = 86400
# Findings of the event analysis that apply to a host's own log; failures are grouped here.
_FROM_ANALYZER = frozenset(
    {
        "duplicate-cmid",
        "cmid-clones-one-name",
        "n-policy-unexpected",
        "dns-publishing",
        "dns-publishing-failed",
    }
)
_FAILED_RATIO_WARNING = 0.10


def store_problem(directory: Path, check: str, message: str, fix: str = "") -> Finding:
    """A store that is not what it claims: an ``input`` error, never a traceback."""
    return CATALOGUE[check].finding(
        Severity.ERROR,
        Text("{directory}: {message}", directory=directory, message=message),
        meaning=Text(
            N_("The doctor cannot read this store; the checks that need it were skipped.")
        ),
        fix=fix,
        procedure=Procedure.INPUT,
    )


class _HostEvents:
    """One pass over the window's events: the analyzer, failures by code, N-policies."""

    def __init__(self) -> None:
        self.analyzer = EventAnalyzer()
        self.failures: dict[int, CodeTally] = {}
        self.requests = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None

    async def read(self, reader: HostStoreReader, path: Path, since: int) -> None:
        async for record in host_events(reader, (12290, 12293, 12294), since):
            event = to_windows_event(record, path)
            self.analyzer.feed(event)
            self.first_seq = self.first_seq or record.seq
            self.last_seq = record.seq
            if record.event_id != 12290:
                continue
            self.requests += 1
            code = (event.hresult or 0) & 0xFFFFFFFF
            if code:
                tally = self.failures.get(code)
                if tally is None:
                    name = event.info_fields.get("machine_name")
                    self.failures[code] = CodeTally(
                        event, event, machines={name} if name else set()
                    )
                else:
                    tally.add(event)


def _count_findings(
    count: int, events: _HostEvents, trust: Trust | None, days: int
) -> list[Finding]:
    policies = events.analyzer.n_policies
    catalog = trust.catalog if trust else None
    seen = Text(
        N_("{requests} request(s) (12290) in the last {days} day(s)"),
        requests=events.requests,
        days=days,
    )
    if not policies:
        return [
            CATALOGUE["current-count"].finding(
                Severity.WARNING if catalog else Severity.OK,
                Text(N_("current count {count}; no N-policy seen: {seen}"), count=count, seen=seen),
                meaning=Text(
                    N_(
                        "No client asked this host recently, so its count only falls; clients "
                        "may not find it (DNS) or may not reach it (port)."
                    )
                ),
                fix=Text(
                    N_("Check DNS publishing and the port; look at the clients' 12288 events.")
                ),
            )
        ]
    out: list[Finding] = []
    for n, requests in sorted(policies.items()):
        example = events.analyzer.n_examples[n]
        label = n_policy_label(n)
        if count >= n:
            out.append(
                CATALOGUE["count-vs-n-policy"].finding(
                    Severity.OK,
                    Text(
                        N_("current count {count} >= N-policy {label} ({requests} request(s))"),
                        count=count,
                        label=label,
                        requests=requests,
                    ),
                    meaning=Text(N_("Clients with N-policy {n} get activated."), n=n),
                )
            )
            continue
        code = ResultCode.COUNT_TOO_LOW
        out.append(
            CATALOGUE["count-vs-n-policy"].finding(
                Severity.ERROR,
                Text(
                    N_(
                        "current count {count} < N-policy {label}: {requests} request(s) "
                        "with this N, e.g. {example}"
                    ),
                    count=count,
                    label=label,
                    requests=requests,
                    example=evidence(example),
                ),
                meaning=Text(
                    N_(
                        "Clients that need {n} are counted but not activated ({code}); "
                        "the count is the distinct CMIDs of the last {window} days."
                    ),
                    n=n,
                    code=code.hex,
                    window=settings.COUNT_WINDOW_DAYS,
                ),
                fix=Text(
                    N_(
                        "{fix} Too many hosts can also split the count between them ('doctor dns')."
                    ),
                    fix=Text(code.info.fix),
                ),
                code=code.hex,
            )
        )
    return out


def _failed_findings(counters: Counters, events: _HostEvents, days: int) -> list[Finding]:
    ratio = counters.failed / counters.total if counters.total else 0.0
    summary = CATALOGUE["failed-requests"].finding(
        Severity.WARNING if ratio >= _FAILED_RATIO_WARNING else Severity.OK,
        Text(
            N_("cumulative requests: {total} total, {failed} failed ({ratio})"),
            total=counters.total,
            failed=counters.failed,
            ratio=f"{ratio:.0%}",
        ),
        meaning=Text(
            N_(
                "Failed requests are refused and do not raise the count; the counters reset "
                "only when the host is reinstalled."
            )
        ),
        fix=Text(N_("See why below (the 12290 events by result code).")) if counters.failed else "",
    )
    out = [summary]
    for code, tally in sorted(events.failures.items(), key=lambda item: -item[1].count):
        name, info = describe(code)
        machines = ", ".join(sorted(tally.machines)) or Text(N_("unknown"))
        severity = Severity.ERROR if code == ResultCode.HOST_NOT_ACTIVATED else Severity.WARNING
        out.append(
            CATALOGUE["failed-requests-why"].finding(
                severity,
                Text(
                    N_(
                        "{count} request(s) failed with {code} in the last {days} "
                        "day(s) (machines: {machines}); first {first}, last {last}"
                    ),
                    count=tally.count,
                    code=f"0x{code:08X}",
                    days=days,
                    machines=machines,
                    first=evidence(tally.first),
                    last=evidence(tally.last),
                ),
                meaning=Text("{name}: {message}", name=name, message=Text(info.message)),
                fix=Text(info.fix),
                code=f"0x{code:08X}",
                procedure=procedure_of(code),
            )
        )
    return out


def _dns_findings(state: HostState, status: PublishStatus | None) -> list[Finding]:
    where = state.directory / "host.json"
    if not state.settings.dns_publishing:
        return [
            CATALOGUE["dns-publishing-disabled"].finding(
                Severity.WARNING,
                Text("{where}: {seen}", where=where, seen=Text(N_("DNS publishing disabled"))),
                meaning=Text(
                    N_(
                        "The host does not register its SRV record: clients find it only "
                        "through a record made by hand or 'client skms HOST:PORT'."
                    )
                ),
                fix=Text(
                    N_(
                        "Enable it with 'host sdns', or create the SRV record by hand (priority "
                        "0, weight 0, the host's port)."
                    )
                ),
            )
        ]
    if status is None or not status.last_run:
        return [
            CATALOGUE["dns-publishing-status"].finding(
                Severity.WARNING,
                Text(
                    N_("{where}: DNS publishing enabled, but it never ran (no dns-status.json)"),
                    where=state.directory,
                ),
                meaning=Text(
                    N_(
                        "The host has not published since it was set up: it never ran, or ran "
                        "with --no-dns."
                    )
                ),
                fix=Text(
                    N_(
                        "Start the host with publishing ('host serve'); configure it with "
                        "'host dns-config' (docs/dns.md)."
                    )
                ),
            )
        ]
    return [_domain_finding(state.directory, status, d) for d in status.domains]


def _domain_finding(directory: Path, status: PublishStatus, domain: DomainStatus) -> Finding:
    where = Text(
        N_("{path}: {record} in {domain}"),
        path=directory / "dns-status.json",
        record=status.record or Text(N_("SRV record")),
        domain=domain.domain,
    )
    try:
        code = int(domain.result, 16)
    except ValueError:
        code = int(ResultCode.DNS_SERVER_FAILURE)
    if code == 0:
        return CATALOGUE["dns-publishing-status"].finding(
            Severity.OK,
            Text(N_("{where}: published (12294)"), where=where),
            meaning=Text(N_("The host's last publishing cycle succeeded in this domain.")),
        )
    name, info = describe(code)
    return CATALOGUE["dns-publishing-status"].finding(
        Severity.ERROR,
        Text(
            N_("{where}: failed {result} {message} (12293)"),
            where=where,
            result=domain.result,
            message=domain.message,
        ),
        meaning=Text(
            N_("{name}: {message} Clients of this domain cannot discover the host."),
            name=name,
            message=Text(info.message),
        ),
        fix=Text(
            N_(
                "{fix} BIND needs 'allow-update' for the host's key; only the host that "
                "created a record may change it. Or create the record by hand."
            ),
            fix=Text(info.fix),
        ),
        code=f"0x{code:08X}",
    )


def _events_summary(path: Path, events: _HostEvents, days: int) -> Finding:
    span = (
        Text(N_("records {first}..{last}"), first=events.first_seq, last=events.last_seq)
        if events.first_seq
        else Text(N_("no records"))
    )
    return CATALOGUE["events-read"].finding(
        Severity.OK,
        Text(
            N_(
                "{path}: {total} event(s) 12290/12293/12294 of the "
                "last {days} day(s) read ({span}); {cmids} CMID(s)"
            ),
            path=path,
            total=events.analyzer.total,
            days=days,
            span=span,
            cmids=len(events.analyzer.cmid_names),
        ),
        meaning=Text(
            N_(
                "The Key Management Service log: one 12290 per request, 12293/12294 per "
                "publishing attempt."
            )
        ),
    )


async def store_findings(
    state: HostState, trust: Trust | None, now: int, days: int
) -> list[Finding]:
    """Count, failed requests, DNS publishing and event findings from the host's store."""
    path = sqlite_path(state.directory)
    dns = _dns_findings(state, read_status(state.directory))
    if not path.exists():
        return [
            CATALOGUE["store-missing"].finding(
                Severity.WARNING,
                Text(N_("{path}: no database"), path=path),
                meaning=Text(
                    N_("The host has never run: it creates its database when it first starts.")
                ),
                fix=Text(
                    N_("Start the host: 'openkms host --store {store} serve'."),
                    store=state.directory,
                ),
            ),
            *dns,
        ]
    events = _HostEvents()
    try:
        async with open_reader(state.directory) as reader:  # reads only: no writer, no file
            app_id = trust.catalog.application_id if trust else None
            count = await reader.current_count(app_id, now) if app_id else 0
            counters = await reader.counters(state.host_id)
            await events.read(reader, path, now - days * _DAY)
            summary = _events_summary(path, events, days)
            policies = list(events.analyzer.n_policies)
            falling = await falling_count(reader, app_id, count, policies, now) if app_id else []
            clock = await clock_findings(reader, app_id, count, now, days)
    except OpenKMSError as exc:
        return [store_problem(path, "store-unreadable", *error_words(exc)), *dns]
    analyzed = [f for f in events.analyzer.findings() if f.check in _FROM_ANALYZER]
    return [
        *clock,
        *stuck_at_one(count, events.requests, events.analyzer.cmid_names),
        *_count_findings(count, events, trust, days),
        *falling,
        *_failed_findings(counters, events, days),
        *dns,
        *analyzed,
        summary,
    ]
