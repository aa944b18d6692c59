"""The doctor's base types: the troubleshooting procedures, severities and findings."""

from __future__ import annotations

import enum

import msgspec

__all__ = ["PROCEDURES", "Finding", "Procedure", "Severity"]


class Procedure(enum.StrEnum):
    """The troubleshooting procedures, in the order a report lists them."""

    INPUT = "input"
    HOST = "host"
    KEY = "key"
    CLIENT = "client"
    COUNT = "count"
    CMID = "cmid"
    DNS = "dns"
    PORT = "port"
    EVENTS = "events"
    CLOCK = "clock"

    @property
    def heading(self) -> str:
        """The report's heading for this procedure."""
        return _TITLES[self]


PROCEDURES: tuple[Procedure, ...] = tuple(Procedure)

_TITLES = {
    Procedure.INPUT: "Input files",
    Procedure.HOST: "KMS host",
    Procedure.KEY: "Product keys and channels",
    Procedure.CLIENT: "KMS client",
    Procedure.COUNT: "Activation count",
    Procedure.CMID: "Client machine IDs (CMID)",
    Procedure.DNS: "DNS publishing and discovery",
    Procedure.PORT: "Network path and port",
    Procedure.EVENTS: "Event logs",
    Procedure.CLOCK: "Clocks",
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

    procedure: Procedure
    severity: Severity
    check: str
    evidence: str
    meaning: str
    fix: str = ""
    code: str | None = None
