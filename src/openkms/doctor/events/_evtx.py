"""Binary ``.evtx`` files, read with the ``evtx`` package (a maintained Rust parser).

The parser walks the file chunk by chunk and renders one record at a time as XML, so a
large log is never loaded at once; it reads tens of thousands of records per second where
python-evtx read a few hundred. Only records whose ``EventID`` is a KMS event, or whose
provider is the Software Protection service (Security-SPP), are parsed further. A record
or chunk the parser cannot read is counted and skipped: the others are still read, and the
damage is reported once, after them, as :class:`DamagedRecordsError` (the file is not
called unreadable for it).
"""

from __future__ import annotations

import logging
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evtx import PyEvtxParser

from openkms.doctor._i18n import Text
from openkms.doctor._text import ArtefactError
from openkms.doctor.events._model import KMS_EVENT_IDS, WindowsEvent
from openkms.doctor.events._spp import is_spp_provider
from openkms.doctor.events._xml import event_from_element
from openkms.i18n import N_

__all__ = ["EVTX_MAGIC", "DamagedRecordsError", "EvtxStats", "read_evtx_events"]

logger = logging.getLogger("openkms.doctor")

EVTX_MAGIC = b"ElfFile\x00"
_HEADER_SIZE = 0x1000
_CHUNK_SIZE = 0x10000
_CHUNK_COUNT_OFFSET = 0x2A
_EVENT_ID = re.compile(r"<EventID[^>]*>\s*(\d+)\s*</EventID>")
_PROVIDER = re.compile(r"<Provider Name=\"([^\"]{0,100})\"")
_PROVIDER_WITHIN = 1024  # the provider is the first element of <System>
_SHOWN = 3


@dataclass
class EvtxStats:
    """What one read saw: records rendered, KMS and Security-SPP events among them, damage
    skipped."""

    records: int = 0
    kms_events: int = 0
    spp_events: int = 0
    damaged: list[str] = field(default_factory=list)


class DamagedRecordsError(ArtefactError):
    """Some records or chunks of a readable EVTX file could not be parsed and were skipped."""

    def __init__(self, path: Path, stats: EvtxStats) -> None:
        shown = "; ".join(stats.damaged[:_SHOWN])
        more = len(stats.damaged) - _SHOWN
        tail = Text(N_("; and {more} more"), more=more) if more > 0 else ""
        super().__init__(
            Text(
                N_(
                    "{path}: {damaged} damaged record(s) or chunk(s) skipped, "
                    "{records} record(s) read: {shown}{tail}"
                ),
                path=path,
                damaged=len(stats.damaged),
                records=stats.records,
                shown=shown,
                tail=tail,
            )
        )
        self.stats = stats


def _expected_size(path: Path) -> int:
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEADER_SIZE)
    except OSError as exc:
        raise ArtefactError(
            Text(N_("{path}: cannot read: {reason}"), path=path, reason=exc.strerror or exc)
        ) from exc
    if not head.startswith(EVTX_MAGIC):
        raise ArtefactError(
            Text(N_("{path}: not an EVTX file (no 'ElfFile' signature)"), path=path)
        )
    if len(head) < _HEADER_SIZE or path.stat().st_size < _HEADER_SIZE + _CHUNK_SIZE:
        raise ArtefactError(
            Text(N_("{path}: EVTX file is truncated (no complete chunk)"), path=path)
        )
    (chunks,) = struct.unpack_from("<H", head, _CHUNK_COUNT_OFFSET)
    return _HEADER_SIZE + int(chunks) * _CHUNK_SIZE


def _kms_event(xml: str, record_id: int | None, path: Path) -> WindowsEvent | None:
    """Parse a rendered record only when its EventID is a KMS event or its provider the
    Software Protection service (Security-SPP)."""
    match = _EVENT_ID.search(xml)
    if match is None:
        return None
    if int(match.group(1)) & 0xFFFF not in KMS_EVENT_IDS:
        provider = _PROVIDER.search(xml, 0, _PROVIDER_WITHIN)
        if provider is None or not is_spp_provider(provider.group(1)):
            return None
    element = ET.fromstring(xml)  # noqa: S314 - rendered by the evtx parser, no DTD
    return event_from_element(element, str(path), record_id)


def _records(path: Path, stats: EvtxStats) -> Iterator[tuple[str, int | None]]:
    """(XML, record id) of every record the parser can render; failures are counted."""
    try:
        records = PyEvtxParser(str(path)).records()
    except (OSError, RuntimeError) as exc:
        raise ArtefactError(
            Text(N_("{path}: cannot read EVTX: {reason}"), path=path, reason=exc)
        ) from exc
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except RuntimeError as exc:  # one record or chunk; the iterator goes on past it
            stats.damaged.append(str(exc).split("\n", 1)[0][:160])
            continue
        if record is None:
            return
        stats.records += 1
        record_id = record.get("event_record_id")
        yield str(record.get("data", "")), record_id if isinstance(record_id, int) else None


def read_evtx_events(path: Path, stats: EvtxStats | None = None) -> Iterator[WindowsEvent]:
    """Stream the KMS and Security-SPP events of an ``.evtx`` file; skipped damage is raised
    after them."""
    stats = stats if stats is not None else EvtxStats()
    expected = _expected_size(path)
    for xml, record_id in _records(path, stats):
        try:
            found = _kms_event(xml, record_id, path)
        except ET.ParseError as exc:
            stats.damaged.append(f"record {record_id}: rendered XML malformed ({exc})")
            continue
        if found is not None:
            if found.spp:
                stats.spp_events += 1
            else:
                stats.kms_events += 1
            yield found
    if path.stat().st_size < expected:
        stats.damaged.append("file shorter than its header says (truncated)")
    if stats.damaged and not stats.records:
        raise ArtefactError(
            Text(
                N_("{path}: EVTX damaged, no record readable: {reason}"),
                path=path,
                reason=stats.damaged[0],
            )
        )
    if stats.damaged:
        logger.debug("EVTX %s: %d damaged part(s) skipped", path, len(stats.damaged))
        raise DamagedRecordsError(path, stats)
