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
On a MAK machine, a MAK cause read from a result code comes before the channel finding.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from openkms.doctor._finding import PROCEDURES, Finding, Procedure, Severity
from openkms.doctor._i18n import shown
from openkms.doctor.catalogue import CATALOGUE, check_of
from openkms.i18n import _, pgettext

__all__ = [
    "CHECK_RANKS",
    "PROCEDURES",
    "Finding",
    "Procedure",
    "Report",
    "Severity",
    "labelled",
    "rank_of",
    "severity_label",
]


# Lower is more likely the real cause: the catalogue's fixed ranks (docs/doctor.md).
CHECK_RANKS: dict[str, int] = {c.id: c.rank for c in CATALOGUE.values() if c.rank is not None}
_PROCEDURE_RANKS: dict[Procedure, int] = {
    Procedure.KEY: 10,
    Procedure.HOST: 15,
    Procedure.CLOCK: 20,
    Procedure.CMID: 25,
    Procedure.COUNT: 40,
    Procedure.DNS: 45,
    Procedure.PORT: 50,
    Procedure.CLIENT: 52,
    Procedure.MAK_CLIENT: 52,
    Procedure.RETAIL: 52,
    Procedure.EVENTS: 70,
    Procedure.INPUT: 90,
}
# Checks that report a result code found in a log: they rank with the code's procedure, just
# after the specific checks of that procedure (which say more than the code alone).
_CODE_CHECKS = frozenset({"failed-requests-why", "last-result"})
# Result codes that are symptoms, whatever check reports them.
_SYMPTOM_CODES = {"0xC004F074": 55, "0xC004F039": 54}
_HOST_STATUS_RANK = 15
# A MAK cause read from a code (0xC004C008 printed by 'slmgr /ato', or in an 8198) says why
# the MAK machine is not activated: it outranks the channel finding ``not-kms-client`` (5),
# which only says the machine never asks a KMS host.
_MAK_CAUSE_RANK = 4


def rank_of(finding: Finding) -> int:
    """How likely a finding is the real cause: lower first (see the module docstring)."""
    if finding.code in _SYMPTOM_CODES:
        return _SYMPTOM_CODES[finding.code]
    if finding.check == "license-status" and finding.procedure == "host":
        return _HOST_STATUS_RANK
    if _is_mak_cause(finding):
        return _MAK_CAUSE_RANK
    entry = check_of(finding.check)
    if entry is not None and entry.rank is not None:
        return entry.rank
    rank = _PROCEDURE_RANKS.get(finding.procedure, 75)
    generic = finding.check in _CODE_CHECKS or finding.check.startswith("event-")
    return rank + 1 if generic and finding.code else rank


def _is_mak_cause(finding: Finding) -> bool:
    """A result code filed under ``mak-client`` (only MAK causes are) by a check that reports
    codes: slmgr's printed error, or a failure code in an event."""
    code_check = finding.check == "slmgr-error-code" or finding.check.startswith("event-")
    return finding.procedure == Procedure.MAK_CLIENT and bool(finding.code) and code_check


def _order(finding: Finding) -> tuple[int, int, int]:
    return (finding.severity is Severity.OK, rank_of(finding), -finding.severity.exit_code)


def _procedure_rank(procedure: Procedure) -> int:
    return PROCEDURES.index(procedure)


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

    def grouped(self) -> list[tuple[Procedure, list[Finding]]]:
        """(procedure, findings) pairs in the guides' order; insertion order within a group."""
        groups: dict[Procedure, list[Finding]] = {}
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
            "top": None if top is None else _builtins(top),
            "procedures": [
                {"procedure": name, "findings": _builtins(items)} for name, items in self.grouped()
            ],
        }

    def to_json(self) -> str:
        """The report as JSON text."""
        return msgspec.json.encode(self.to_dict()).decode()

    def render_text(self) -> str:
        """Human text in the current language: one section per procedure, one block per
        finding, then a summary line (``--json`` stays English: :meth:`to_json`)."""
        if not self.findings:
            return _("No findings.")
        lines: list[str] = []
        top = self.top
        if top is not None and top.severity is not Severity.OK:
            lines.append(_heading(_("Most likely cause")))
            lines.extend(_finding_lines(top))
            lines.append("")
        for procedure, items in self.grouped():
            lines.append(_heading(procedure.heading))
            for finding in items:
                lines.extend(_finding_lines(finding))
                lines.append("")
        summary = {s: sum(f.severity is s for f in self.findings) for s in Severity}
        lines.append(
            _("{errors} error(s), {warnings} warning(s), {ok} ok").format(
                errors=summary[Severity.ERROR],
                warnings=summary[Severity.WARNING],
                ok=summary[Severity.OK],
            )
        )
        return "\n".join(lines)


def _builtins(value: Finding | list[Finding]) -> object:
    """Plain data; a finding's :class:`~openkms.doctor._i18n.Text` is its English ``str``."""
    return msgspec.to_builtins(value, enc_hook=str)


def _heading(title: str) -> str:
    return f"== {title} =="


def labelled(pairs: list[tuple[str, str]]) -> list[str]:
    """``  label: value`` lines with the values aligned, labels already translated."""
    width = max(len(label) for label, _value in pairs) + 1
    return [f"  {label.ljust(width)}{value}" for label, value in pairs]


def severity_label(severity: Severity) -> str:
    """``ERROR``, ``ERREUR``, ``FEHLER``: a severity as a report shows it."""
    words = {
        Severity.OK: pgettext("severity", "OK"),
        Severity.WARNING: pgettext("severity", "WARNING"),
        Severity.ERROR: pgettext("severity", "ERROR"),
    }
    return words[severity]


def _finding_lines(finding: Finding) -> list[str]:
    code = f" {finding.code}" if finding.code else ""
    pairs = [
        (pgettext("finding", "seen:"), shown(finding.evidence)),
        (pgettext("finding", "meaning:"), shown(finding.meaning)),
    ]
    if finding.fix:
        pairs.append((pgettext("finding", "fix:"), shown(finding.fix)))
    return [f"[{severity_label(finding.severity)}] {finding.check}{code}", *labelled(pairs)]
