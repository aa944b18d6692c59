"""The tallies an event analysis keeps, and the helpers findings are built with.

State grows with distinct machines, CMIDs, hosts and codes, never with events.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from openkms.core import settings
from openkms.doctor._codewords import code_fix, code_meaning, code_procedure, mak_words
from openkms.doctor._i18n import Text
from openkms.doctor.events._model import WindowsEvent
from openkms.doctor.events._spp import SPP_FAILURES
from openkms.doctor.explain import explain
from openkms.doctor.findings import Finding, Procedure, Severity
from openkms.i18n import N_

__all__ = [
    "MAX_TRACKED",
    "EventTallies",
    "MachineTally",
    "Tally",
    "code_finding",
    "short_name",
    "evidence",
    "n_policy_label",
    "procedure_of",
    "spp_code_finding",
]

MAX_TRACKED = 100_000


def evidence(event: WindowsEvent, extra: str = "") -> Text:
    """Where an event is, when, on which machine."""
    when = event.time.isoformat() if event.time else Text(N_("time unknown"))
    machine = f", {event.machine}" if event.machine else ""
    tail = f": {extra}" if extra else ""
    return Text(
        N_("{where} (event {event_id}, {when}{machine}){tail}"),
        where=event.where(),
        event_id=event.event_id,
        when=when,
        machine=machine,
        tail=tail,
    )


@dataclass
class Tally:
    """How many events of one kind, the first and last, a few names."""

    first: WindowsEvent
    count: int = 1
    extra: set[str] = field(default_factory=set)
    last: WindowsEvent | None = None

    def __post_init__(self) -> None:
        self.last = self.first


@dataclass
class MachineTally:
    """One client machine: its pending request, answered and unanswered requests."""

    pending: WindowsEvent | None = None
    answered: int = 0
    unanswered: Tally | None = None
    last_count: WindowsEvent | None = None
    max_n: int = 0


@dataclass
class EventTallies:
    """Everything an analysis has counted so far."""

    total: int = 0
    failures: dict[tuple[int, int], Tally] = field(default_factory=dict)
    machines: dict[str, MachineTally] = field(default_factory=dict)
    servers: dict[str, Tally] = field(default_factory=dict)
    cmid_names: dict[str, dict[str, WindowsEvent]] = field(default_factory=dict)
    n_policies: Counter[int] = field(default_factory=Counter)
    n_examples: dict[int, WindowsEvent] = field(default_factory=dict)
    dns: dict[str, tuple[WindowsEvent | None, Tally | None]] = field(default_factory=dict)
    host_seen: Counter[str] = field(default_factory=Counter)
    spp_counts: Counter[int] = field(default_factory=Counter)
    spp_failed: int = 0
    cmid_last: dict[str, WindowsEvent] = field(default_factory=dict)
    cmid_interleaved: dict[str, Tally] = field(default_factory=dict)
    cmid_window: dict[str, tuple[dt.datetime, int]] = field(default_factory=dict)
    cmid_bursts: dict[str, Tally] = field(default_factory=dict)


def short_name(machine: str) -> str:
    """The first label of a machine name, lower case: how a host's 12290 and a client's
    export name the same machine (``CLIENT1.contoso.com`` and ``client1``)."""
    return machine.strip().lower().partition(".")[0]


def procedure_of(code: int) -> Procedure:
    """The troubleshooting procedure a result code points to first."""
    return code_procedure(explain(code & 0xFFFFFFFF))


def code_finding(tally: Tally, event_id: int, code: int) -> Finding:
    """A failing HRESULT seen in events, explained (OpenKMS or published Windows code)."""
    words = explain(code & 0xFFFFFFFF)
    return Finding(
        procedure=code_procedure(words),
        severity=Severity.ERROR,
        check=f"event-{event_id}-failed",
        evidence=Text(
            N_("{count} event(s), first {first}"), count=tally.count, first=evidence(tally.first)
        ),
        meaning=code_meaning(words),
        fix=Text(words.fix),
        code=words.code,
    )


def spp_code_finding(tally: Tally, event_id: int, code: int) -> Finding:
    """A failure code of Windows' licensing service (8198, 8200, 8208), explained by the
    doctor's code table; on an 8198 (a failed online activation) a MAK cause (0xC004C008...)
    gets Microsoft's MAK fix under ``mak-client``, a KMS cause (0x8007232B...) keeps its
    procedure and fix. 8200 and 8208 concern a genuine ticket: no MAK wording."""
    words = explain(code & 0xFFFFFFFF)
    mak = mak_words(code) if event_id == 8198 else None
    what: str
    fix: str
    if mak is not None:
        (what, fix), procedure = mak, Procedure.MAK_CLIENT
    else:
        what, fix, procedure = code_meaning(words), code_fix(words), code_procedure(words)
    return Finding(
        procedure=procedure,
        # 8200 and 8208 are about a genuine ticket (KB 2958281), not the activation itself.
        severity=Severity.ERROR if event_id == 8198 else Severity.WARNING,
        check=f"event-{event_id}-failed",
        evidence=Text(
            N_("{count} event(s), first {first}"), count=tally.count, first=evidence(tally.first)
        ),
        meaning=Text(N_("{event}: {what}"), event=Text(SPP_FAILURES[event_id]), what=what),
        fix=fix,
        code=words.code,
    )


def n_policy_label(n: int) -> str:
    """'25 (desktop)', '5 (server)' or the bare number."""
    if n == settings.DESKTOP_N_POLICY:
        return Text(N_("{n} (desktop)"), n=n)
    if n == settings.SERVER_N_POLICY:
        return Text(N_("{n} (server)"), n=n)
    return str(n)
