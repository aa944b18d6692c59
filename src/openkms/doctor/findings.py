"""Findings of ``openkms doctor``: what was seen, what it means, the fix from the guides.

A :class:`Report` names the most likely cause first (:attr:`Report.top`), then groups the
findings by troubleshooting procedure in the order the guides follow ("start with the
simplest"): the input files first, then the host, the keys, the client, the count, CMIDs,
DNS, the port, the event logs and the clocks.

Which finding comes first is the *rank* of :func:`rank_of`: causes outrank their symptoms
in the guides' order. The channel decides the procedure (a MAK or retail machine never asks
a KMS host), then the host's own activation, its key, the clocks, cloned machines, hosts
splitting the count, an activation about to expire, the count, DNS, and only then the
symptom "no KMS could be contacted" and the client's unlicensed status; notes come last.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import msgspec

__all__ = ["CHECK_RANKS", "PROCEDURES", "Finding", "Report", "Severity", "rank_of"]

PROCEDURES: tuple[str, ...] = (
    "input",
    "host",
    "key",
    "client",
    "count",
    "cmid",
    "dns",
    "port",
    "events",
    "clock",
)

_TITLES = {
    "input": "Input files",
    "host": "KMS host",
    "key": "Product keys and channels",
    "client": "KMS client",
    "count": "Activation count",
    "cmid": "Client machine IDs (CMID)",
    "dns": "DNS publishing and discovery",
    "port": "Network path and port",
    "events": "Event logs",
    "clock": "Clocks",
}


class Severity(enum.Enum):
    """How bad a finding is; the worst one sets the exit code."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        """0 for ok, 1 for a warning, 2 for an error."""
        return {"ok": 0, "warning": 1, "error": 2}[self.value]


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the doctor saw, in the words of the troubleshooting guides."""

    procedure: str
    severity: Severity
    check: str
    evidence: str
    meaning: str
    fix: str = ""
    code: str | None = None


# Lower is more likely the real cause. Checks not listed take their procedure's rank.
CHECK_RANKS: dict[str, int] = {
    "not-kms-client": 5,
    "host-key-on-client": 8,
    "count-stuck-at-1": 25,
    "duplicate-cmid": 25,
    "cmid-clones-one-name": 25,
    "several-kms-hosts": 30,
    "expiry-soon": 35,
    "count-below-n-policy": 40,
    "current-count": 40,
    "no-kms-from-dns": 45,
    "request-unanswered": 55,
    "last-request-unanswered": 55,
    "license-status": 60,
    "dns-publishing-disabled": 62,
    "failed-requests-high": 64,
    "failed-requests-rising": 64,
    "n-policy-unexpected": 66,
    "non-default-port": 68,
    "slmgr-labels-unknown": 85,
}
_PROCEDURE_RANKS = {
    "key": 10,
    "host": 15,
    "clock": 20,
    "cmid": 25,
    "count": 40,
    "dns": 45,
    "port": 50,
    "client": 52,
    "events": 70,
    "input": 90,
}
# Result codes that are symptoms, whatever check reports them.
_SYMPTOM_CODES = {"0xC004F074": 55, "0xC004F039": 54}
_HOST_STATUS_RANK = 15


def rank_of(finding: Finding) -> int:
    """How likely a finding is the real cause: lower first (see the module docstring)."""
    if finding.code in _SYMPTOM_CODES:
        return _SYMPTOM_CODES[finding.code]
    if finding.check == "license-status" and finding.procedure == "host":
        return _HOST_STATUS_RANK
    if finding.check in CHECK_RANKS:
        return CHECK_RANKS[finding.check]
    return _PROCEDURE_RANKS.get(finding.procedure, 75)


def _order(finding: Finding) -> tuple[int, int, int]:
    return (finding.severity is Severity.OK, rank_of(finding), -finding.severity.exit_code)


def _procedure_rank(procedure: str) -> int:
    try:
        return PROCEDURES.index(procedure)
    except ValueError:
        return len(PROCEDURES)


class Report:
    """Findings grouped by procedure, in the guides' order."""

    def __init__(self, findings: Iterable[Finding] = ()) -> None:
        self.findings: list[Finding] = list(findings)

    def add(self, findings: Iterable[Finding]) -> None:
        """Append findings."""
        self.findings.extend(findings)

    def ranked(self) -> list[Finding]:
        """Findings most likely cause first: problems before notes, causes before symptoms."""
        return sorted(self.findings, key=_order)

    @property
    def top(self) -> Finding | None:
        """The most likely cause (None when there is no finding)."""
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def grouped(self) -> list[tuple[str, list[Finding]]]:
        """(procedure, findings) pairs in the guides' order; insertion order within a group."""
        groups: dict[str, list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(finding.procedure, []).append(finding)
        return sorted(groups.items(), key=lambda item: _procedure_rank(item[0]))

    @property
    def worst(self) -> Severity:
        """The most severe finding (OK when there is none)."""
        worst = Severity.OK
        for finding in self.findings:
            if finding.severity.exit_code > worst.exit_code:
                worst = finding.severity
        return worst

    @property
    def exit_code(self) -> int:
        """0 all ok, 1 warnings, 2 errors."""
        return self.worst.exit_code

    def to_dict(self) -> dict[str, object]:
        """The report as plain data, for ``--json``."""
        top = self.top
        return {
            "exit_code": self.exit_code,
            "worst": self.worst.value,
            "top": None if top is None else msgspec.to_builtins(top),
            "procedures": [
                {"procedure": name, "findings": msgspec.to_builtins(items)}
                for name, items in self.grouped()
            ],
        }

    def to_json(self) -> str:
        """The report as JSON text."""
        return msgspec.json.encode(self.to_dict()).decode()

    def render_text(self) -> str:
        """Human text: one section per procedure, one block per finding."""
        if not self.findings:
            return "No findings."
        lines: list[str] = []
        top = self.top
        if top is not None and top.severity is not Severity.OK:
            lines.append("== Most likely cause ==")
            lines.extend(_finding_lines(top))
            lines.append("")
        for procedure, items in self.grouped():
            lines.append(f"== {_TITLES.get(procedure, procedure)} ==")
            for finding in items:
                lines.extend(_finding_lines(finding))
                lines.append("")
        summary = {s: sum(f.severity is s for f in self.findings) for s in Severity}
        lines.append(
            f"{summary[Severity.ERROR]} error(s), {summary[Severity.WARNING]} warning(s), "
            f"{summary[Severity.OK]} ok"
        )
        return "\n".join(lines)


def _finding_lines(finding: Finding) -> list[str]:
    code = f" {finding.code}" if finding.code else ""
    lines = [
        f"[{finding.severity.value.upper()}] {finding.check}{code}",
        f"  seen:    {finding.evidence}",
        f"  meaning: {finding.meaning}",
    ]
    if finding.fix:
        lines.append(f"  fix:     {finding.fix}")
    return lines
