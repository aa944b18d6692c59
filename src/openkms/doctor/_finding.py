"""The doctor's base types: the troubleshooting procedures, severities and findings."""

from __future__ import annotations

import enum

import msgspec

from openkms.i18n import N_, _

__all__ = ["PROCEDURES", "Finding", "Procedure", "Severity"]


class Procedure(enum.StrEnum):
    """The troubleshooting procedures, in the order a report lists them."""

    INPUT = "input"
    HOST = "host"
    KEY = "key"
    CLIENT = "client"
    MAK_CLIENT = "mak-client"
    RETAIL = "retail"
    COUNT = "count"
    CMID = "cmid"
    DNS = "dns"
    PORT = "port"
    EVENTS = "events"
    CLOCK = "clock"

    @property
    def heading(self) -> str:
        """The report's heading for this procedure, in the current language."""
        return _(_TITLES[self])


PROCEDURES: tuple[Procedure, ...] = tuple(Procedure)

_TITLES = {
    Procedure.INPUT: N_("Input files"),
    Procedure.HOST: N_("KMS host"),
    Procedure.KEY: N_("Product keys and channels"),
    Procedure.CLIENT: N_("KMS client"),
    Procedure.MAK_CLIENT: N_("MAK client"),
    Procedure.RETAIL: N_("Retail or OEM license"),
    Procedure.COUNT: N_("Activation count"),
    Procedure.CMID: N_("Client machine IDs (CMID)"),
    Procedure.DNS: N_("DNS publishing and discovery"),
    Procedure.PORT: N_("Network path and port"),
    Procedure.EVENTS: N_("Event logs"),
    Procedure.CLOCK: N_("Clocks"),
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
    """One thing the doctor saw, in the words of the troubleshooting guides.

    ``evidence``, ``meaning`` and ``fix`` are English (the ``--json`` report); where they are a
    :class:`~openkms.doctor._i18n.Text` the text report shows them in the reader's language.
    Encode findings with :meth:`Report.to_dict` (``enc_hook=str``), not ``msgspec`` directly.
    """

    procedure: Procedure
    severity: Severity
    check: str
    evidence: str
    meaning: str
    fix: str = ""
    code: str | None = None
