"""Findings of ``openkms doctor``: what was seen, what it means, the fix from the guides.

A :class:`Report` groups findings by troubleshooting procedure in the order the guides
follow ("start with the simplest"): the input files first, then the host, the keys, the
client, the count, CMIDs, DNS, the port, the event logs and the clocks.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import msgspec

__all__ = ["PROCEDURES", "Finding", "Report", "Severity"]

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
        return {
            "exit_code": self.exit_code,
            "worst": self.worst.value,
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
