"""``openkms doctor``: troubleshooting from saved artefacts, step by step as the guides do.

Library first: :func:`check_slmgr_files`, :func:`check_event_files` and :func:`explain`
return data (:class:`Finding`, :class:`Report`, :class:`Explanation`); the click group in
:mod:`openkms.doctor.cli` only prints it.
"""

from __future__ import annotations

from openkms.doctor.events._read import (
    ArtefactError,
    EventFormat,
    WindowsEvent,
    check_event_files,
    detect_format,
    read_events,
)
from openkms.doctor.explain import Explanation, explain, parse_code
from openkms.doctor.findings import PROCEDURES, Finding, Procedure, Report, Severity
from openkms.doctor.slmgr import SlmgrLicense, check_slmgr_files, parse_slmgr, parse_slmgr_text

__all__ = [
    "PROCEDURES",
    "ArtefactError",
    "EventFormat",
    "Explanation",
    "Finding",
    "Procedure",
    "Report",
    "Severity",
    "SlmgrLicense",
    "WindowsEvent",
    "check_event_files",
    "check_slmgr_files",
    "detect_format",
    "explain",
    "parse_code",
    "parse_slmgr",
    "parse_slmgr_text",
    "read_events",
]
