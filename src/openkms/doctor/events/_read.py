"""Read Windows event exports (EVTX, wevtutil XML, Event Viewer CSV and clipboard text,
OpenKMS JSON/CSV) as a stream of :class:`WindowsEvent` (KMS events, and Windows' own
licensing events of the Security-SPP provider: ``_spp``), and check them.

No reader loads a whole file: a 1 GB export is iterated record by record. A file that
cannot be read, or breaks off half-way, becomes a finding after its readable events.
"""

from __future__ import annotations

import csv
import enum
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from openkms.doctor._i18n import Text, built_in_english
from openkms.doctor._text import normalize_label, sniff_encoding
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.events._analyzer import EventAnalyzer
from openkms.doctor.events._blocks import looks_like_event_text, read_text_events
from openkms.doctor.events._evtx import EVTX_MAGIC, DamagedRecordsError, read_evtx_events
from openkms.doctor.events._model import WindowsEvent
from openkms.doctor.events._text import (
    read_eventviewer_csv,
    read_openkms_csv,
    read_openkms_json,
)
from openkms.doctor.events._xml import read_xml_events
from openkms.doctor.findings import Finding, Severity
from openkms.errors import ArtefactError
from openkms.i18n import N_

__all__ = [
    "ArtefactError",
    "EventFormat",
    "WindowsEvent",
    "analyze_events",
    "check_event_files",
    "detect_format",
    "read_events",
]

logger = logging.getLogger("openkms.doctor")

_EVENTVIEWER_CSV_FIRST = ("level", "niveau", "ebene")


class EventFormat(enum.Enum):
    """The export formats the doctor reads."""

    EVTX = "evtx"
    XML = "xml"
    EVENTVIEWER_CSV = "eventviewer-csv"
    CLIPBOARD = "clipboard"  # every copied "label: value" text form (see _evt_blocks)
    OPENKMS_JSON = "openkms-json"
    OPENKMS_CSV = "openkms-csv"


_READERS: dict[EventFormat, Callable[[Path], Iterator[WindowsEvent]]] = {
    EventFormat.EVTX: read_evtx_events,
    EventFormat.XML: read_xml_events,
    EventFormat.EVENTVIEWER_CSV: read_eventviewer_csv,
    EventFormat.CLIPBOARD: read_text_events,
    EventFormat.OPENKMS_JSON: read_openkms_json,
    EventFormat.OPENKMS_CSV: read_openkms_csv,
}


def _format_of_text(text: str) -> EventFormat | None:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        return EventFormat.XML
    if stripped.startswith(("[", "{")):
        return EventFormat.OPENKMS_JSON
    lines = stripped.splitlines()
    first = normalize_label(lines[0]) if lines else ""
    if first.replace(" ", "").startswith("seq,time,event_id"):
        return EventFormat.OPENKMS_CSV
    if first.split(",")[0].strip('"') in _EVENTVIEWER_CSV_FIRST:
        return EventFormat.EVENTVIEWER_CSV
    if looks_like_event_text(lines[:80]):
        return EventFormat.CLIPBOARD
    return None


def detect_format(path: Path) -> EventFormat:
    """Tell the export format from the first bytes; raise ArtefactError if unknown."""
    try:
        with path.open("rb") as stream:
            head = stream.read(8192)
    except OSError as exc:
        raise ArtefactError(
            Text(N_("{path}: cannot read: {reason}"), path=path, reason=exc.strerror or exc)
        ) from exc
    if head.startswith(EVTX_MAGIC):
        return EventFormat.EVTX
    if not head:
        raise ArtefactError(Text(N_("{path}: empty file"), path=path))
    encoding = sniff_encoding(head)
    text = head.decode(encoding, errors="replace")
    if "\x00" in text or text.count("\ufffd") > len(text) // 10:
        raise ArtefactError(Text(N_("{path}: binary data, not an event export"), path=path))
    found = _format_of_text(text)
    if found is None:
        raise ArtefactError(
            Text(
                N_(
                    "{path}: not a known event export (EVTX, wevtutil XML, Event Viewer CSV or "
                    "copied text, OpenKMS JSON/CSV)"
                ),
                path=path,
            )
        )
    return found


def read_events(path: Path, *, spp: bool = False) -> Iterator[WindowsEvent]:
    """Stream the KMS events (12288-12294) of one export, whatever its format; with ``spp``,
    the Security-SPP licensing events too, where the format names the provider."""
    reader = _READERS[detect_format(path)]
    try:
        for event in reader(path):
            if spp or not event.spp:
                yield event
    except (OSError, UnicodeError, csv.Error) as exc:
        raise ArtefactError(
            Text(N_("{path}: cannot read: {reason}"), path=path, reason=exc)
        ) from exc


def analyze_events(events: Iterator[WindowsEvent], analyzer: EventAnalyzer) -> int:
    """Feed events to an analyzer; return how many were fed."""
    count = 0
    for event in events:
        analyzer.feed(event)
        count += 1
    return count


def _unreadable(exc: ArtefactError, read: int) -> Finding:
    seen: str = exc.message
    if read:
        seen = Text(
            N_("{error} ({read} KMS event(s) before that were checked)"),
            error=exc.message,
            read=read,
        )
    return CATALOGUE["events-unreadable"].finding(
        Severity.ERROR,
        seen,
        meaning=Text(
            N_(
                "This export could not be read to its end; what it holds past that point was "
                "not checked."
            )
        ),
        fix=Text(
            N_(
                "Export the log again: 'wevtutil epl \"Key Management Service\" kms.evtx' on the "
                'host, \'wevtutil qe Application /q:"*[System[(EventID=12288 or EventID=12289)]]" '
                "/f:xml > client.xml' on a client, or Event Viewer's 'Save All Events As...'."
            )
        ),
    )


def _skipped(exc: DamagedRecordsError) -> Finding:
    return CATALOGUE["evtx-records-skipped"].finding(
        Severity.WARNING,
        exc.message,
        meaning=Text(
            N_(
                "Some records of this log could not be parsed and were skipped; every other "
                "record was read and checked."
            )
        ),
        fix=Text(
            N_(
                "If a KMS event may be among the skipped records, export the log again "
                "('wevtutil epl \"Key Management Service\" kms.evtx')."
            )
        ),
    )


def _empty(path: Path) -> Finding:
    return CATALOGUE["no-kms-events"].finding(
        Severity.WARNING,
        Text(N_("{path}: no event 12288, 12289, 12290, 12293 or 12294"), path=path),
        meaning=Text(
            N_(
                "The export holds no KMS events: wrong log (the host logs to 'Key Management "
                "Service', clients to 'Application'), a filter, or a log that was cleared."
            )
        ),
        fix=Text(
            N_(
                "Export the right log; export the KMS log periodically, as cleaning tools may "
                "erase it."
            )
        ),
    )


@built_in_english
def check_event_files(paths: Sequence[Path]) -> list[Finding]:
    """Read every export into one analysis; unreadable files become findings."""
    analyzer = EventAnalyzer()
    findings: list[Finding] = []
    for path in paths:
        before, failed = analyzer.total, analyzer.spp_failed
        try:
            analyze_events(read_events(path, spp=True), analyzer)
        except DamagedRecordsError as exc:
            findings.append(_skipped(exc))
            continue
        except ArtefactError as exc:
            logger.debug("event export %s unreadable: %s", path, exc.message)
            findings.append(_unreadable(exc, analyzer.total - before))
            continue
        # A log without KMS events whose licensing service logged a failure code (a MAK
        # machine's 8198) is not the wrong log: that code is the finding.
        if analyzer.total == before and analyzer.spp_failed == failed:
            findings.append(_empty(path))
    return findings + analyzer.findings()
