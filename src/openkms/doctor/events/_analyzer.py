"""Streaming analysis of KMS events: state grows with distinct machines, not with events."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from openkms.doctor.events._findings import CLONE_WINDOW_MINUTES, build_findings
from openkms.doctor.events._model import WindowsEvent, parse_int
from openkms.doctor.events._spp import SPP_FAILURES
from openkms.doctor.events._tally import (
    MAX_TRACKED,
    EventTallies,
    MachineTally,
    Tally,
    evidence,
    n_policy_label,
    short_name,
)
from openkms.doctor.findings import Finding

__all__ = [
    "CLONE_BURST",
    "MAX_TRACKED",
    "PAIR_WINDOW",
    "EventAnalyzer",
    "evidence",
    "n_policy_label",
]

PAIR_WINDOW = dt.timedelta(minutes=5)
CLONE_WINDOW = dt.timedelta(minutes=CLONE_WINDOW_MINUTES)
CLONE_TOLERANCE_MINUTES = 60
# One machine retries every 2 hours and renews every 7 days: this many requests of one CMID
# within CLONE_WINDOW come from several machines (or from 'slmgr /ato' run again and again).
CLONE_BURST = 5
_NAMES_PER_CMID = 10
K = TypeVar("K")


class EventAnalyzer(EventTallies):
    """Feed events one by one, then ask for findings."""

    def feed(self, event: WindowsEvent) -> None:
        """Account for one event."""
        if event.spp:
            self._spp(event)
            return
        self.total += 1
        hresult = event.hresult
        if hresult and hresult & 0x80000000 and event.event_id != 12293:
            self._tally(self.failures, (event.event_id, hresult), event)
        handler = {12288: self._request, 12289: self._response, 12290: self._host_request}
        if event.event_id in handler:
            handler[event.event_id](event)
        elif event.event_id in (12293, 12294):
            self._dns(event)

    def _spp(self, event: WindowsEvent) -> None:
        """A Security-SPP event: counted by ID; a failure code of 8198/8200/8208 tallied."""
        self.spp_counts[event.event_id] += 1
        code = event.hresult
        if code and event.event_id in SPP_FAILURES:
            self.spp_failed += 1
            self._tally(self.failures, (event.event_id, code), event)

    @staticmethod
    def _tally(table: dict[K, Tally], key: K, event: WindowsEvent, extra: str = "") -> None:
        entry = table.get(key)
        if entry is None:
            if len(table) >= MAX_TRACKED:
                return
            table[key] = entry = Tally(event)
        else:
            entry.count += 1
        if extra and len(entry.extra) < _NAMES_PER_CMID:
            entry.extra.add(extra)

    def _machine(self, event: WindowsEvent) -> MachineTally:
        key = event.machine or event.source_file
        state = self.machines.get(key)
        if state is None:
            state = self.machines[key] = MachineTally()
        return state

    def _policy(self, event: WindowsEvent) -> int | None:
        n = parse_int(event.info_fields.get("n_policy"))
        if n is not None:
            self.n_policies[n] += 1
            self.n_examples.setdefault(n, event)
        return n

    def _request(self, event: WindowsEvent) -> None:
        state = self._machine(event)
        state.max_n = max(state.max_n, self._policy(event) or 0)
        server = event.info_fields.get("server")
        if server:
            self._tally(self.servers, server.lower(), event)
        self._pair(state, event)

    def _response(self, event: WindowsEvent) -> None:
        state = self._machine(event)
        if parse_int(event.info_fields.get("current_count")) is not None:
            state.last_count = event
        self._pair(state, event)

    def _pair(self, state: MachineTally, event: WindowsEvent) -> None:
        """Pair 12288 with 12289 on one machine, whichever order the export uses."""
        pending, state.pending = state.pending, event
        if pending is None:
            return
        if pending.event_id != event.event_id and _close(pending, event):
            state.answered += 1
            state.pending = None
        elif pending.event_id == 12288:
            self._unanswered(state, pending)

    def _unanswered(self, state: MachineTally, request: WindowsEvent) -> None:
        server = request.info_fields.get("server", "")
        if state.unanswered is None:
            state.unanswered = Tally(request, extra={server} if server else set())
        else:
            state.unanswered.count += 1
            if server and len(state.unanswered.extra) < _NAMES_PER_CMID:
                state.unanswered.extra.add(server)

    def _host_request(self, event: WindowsEvent) -> None:
        self._policy(event)
        cmid = (event.info_fields.get("cmid") or "").lower()
        name = (event.info_fields.get("machine_name") or "").lower()
        if name and (name in self.host_seen or len(self.host_seen) < MAX_TRACKED):
            self.host_seen[short_name(name)] += 1
        if not cmid or not name:
            return
        self._interleaving(cmid, event)
        names = self.cmid_names.get(cmid)
        if names is None:
            if len(self.cmid_names) >= MAX_TRACKED:
                return
            names = self.cmid_names[cmid] = {}
        if name not in names and len(names) < _NAMES_PER_CMID:
            names[name] = event

    def _interleaving(self, cmid: str, event: WindowsEvent) -> None:
        """Count requests of one CMID, minutes apart, that one machine cannot have sent."""
        previous = self.cmid_last.get(cmid)
        if previous is None and len(self.cmid_last) >= MAX_TRACKED:
            return
        self.cmid_last[cmid] = event
        if previous is not None and _two_machines(previous, event):
            self._tally(self.cmid_interleaved, cmid, event)
        self._burst(cmid, event)

    def _burst(self, cmid: str, event: WindowsEvent) -> None:
        """Count the requests of one CMID within CLONE_WINDOW of the first of them."""
        if event.time is None:
            return
        start, seen = self.cmid_window.get(cmid, (event.time, 0))
        if event.time - start > CLONE_WINDOW:
            start, seen = event.time, 0
        self.cmid_window[cmid] = (start, seen + 1)
        if seen + 1 < CLONE_BURST:
            return
        burst = self.cmid_bursts.get(cmid)
        if burst is None:
            self.cmid_bursts[cmid] = Tally(event, count=seen + 1)
        else:
            burst.count = max(burst.count, seen + 1)

    def _dns(self, event: WindowsEvent) -> None:
        domain = (event.info_fields.get("domain") or "?").lower()
        success, failures = self.dns.get(domain, (None, None))
        if event.event_id == 12294:
            if success is None or _later(event, success):
                success = event
        elif failures is None:
            failures = Tally(event)
        else:
            failures.count += 1
            if failures.last is None or _later(event, failures.last):
                failures.last = event
        self.dns[domain] = (success, failures)

    def finish(self) -> None:
        """Close the pairing: a 12288 still waiting at the end had no answer."""
        for state in self.machines.values():
            if state.pending is not None and state.pending.event_id == 12288:
                self._unanswered(state, state.pending)
            state.pending = None

    def findings(self) -> list[Finding]:
        """All findings, once every event has been fed."""
        self.finish()
        return build_findings(self)


def _two_machines(a: WindowsEvent, b: WindowsEvent) -> bool:
    """Two 12290 of one CMID within minutes whose license state or remaining time cannot
    come from one machine (its remaining minutes only fall with the time elapsed)."""
    if a.time is None or b.time is None or abs(b.time - a.time) > CLONE_WINDOW:
        return False
    fields_a, fields_b = a.info_fields, b.info_fields
    if fields_a.get("license_status") != fields_b.get("license_status"):
        return True
    left_a = parse_int(fields_a.get("minutes_to_expiration"))
    left_b = parse_int(fields_b.get("minutes_to_expiration"))
    if left_a is None or left_b is None:
        return False
    elapsed = abs(b.time - a.time).total_seconds() / 60
    return abs((left_a - left_b) - elapsed) > CLONE_TOLERANCE_MINUTES


def _later(a: WindowsEvent, b: WindowsEvent) -> bool:
    """True if a happened after b (stream order when times are unknown)."""
    return a.time is None or b.time is None or a.time > b.time


def _close(a: WindowsEvent, b: WindowsEvent) -> bool:
    if a.time is None or b.time is None:
        return True
    request, response = (a, b) if a.event_id == 12288 else (b, a)
    assert request.time is not None and response.time is not None
    return dt.timedelta(0) <= response.time - request.time <= PAIR_WINDOW
