"""Binary ``.evtx`` files, read with python-evtx.

python-evtx memory-maps the file and walks it chunk by chunk (64 KiB each), rendering one
record at a time, so a large log is never loaded at once. A damaged chunk or record is
skipped and counted; the count is reported once all readable records have been yielded.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from Evtx.Evtx import Evtx  # type: ignore[import-untyped]

from openkms.doctor._evt_xml import event_from_element
from openkms.doctor._evtmodel import WindowsEvent
from openkms.doctor._text import ArtefactError

__all__ = ["EVTX_MAGIC", "read_evtx_events"]

logger = logging.getLogger("openkms.doctor")

EVTX_MAGIC = b"ElfFile\x00"
_HEADER_SIZE = 0x1000
_CHUNK_SIZE = 0x10000


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEADER_SIZE)
    except OSError as exc:
        raise ArtefactError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not head.startswith(EVTX_MAGIC):
        raise ArtefactError(f"{path}: not an EVTX file (no 'ElfFile' signature)")
    if len(head) < _HEADER_SIZE or path.stat().st_size < _HEADER_SIZE + _CHUNK_SIZE:
        raise ArtefactError(f"{path}: EVTX file is truncated (no complete chunk)")


def _record_event(record: Any, path: Path) -> WindowsEvent | None:
    element = ET.fromstring(record.xml())  # noqa: S314 - rendered by python-evtx, no DTD
    return event_from_element(element, str(path), int(record.record_num()))


def _chunk_events(chunk: Any, path: Path, damaged: list[str]) -> Iterator[WindowsEvent]:
    if not chunk.check_magic():
        damaged.append(f"chunk at offset {chunk.offset():#x}")
        return
    records = chunk.records()
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception as exc:  # python-evtx raises many kinds on damaged data
            damaged.append(f"chunk at offset {chunk.offset():#x} ({type(exc).__name__})")
            return
        try:
            found = _record_event(record, path)
        except Exception as exc:  # a damaged record must not stop the others
            logger.debug("EVTX record unreadable in %s: %r", path, exc)
            damaged.append(f"record at offset {record.offset():#x}")
            continue
        if found is not None:
            yield found


def read_evtx_events(path: Path) -> Iterator[WindowsEvent]:
    """Stream the KMS events of an ``.evtx`` file; damage is raised after the good records."""
    _check_header(path)
    damaged: list[str] = []
    try:
        with Evtx(str(path)) as log:
            header = log.get_file_header()
            expected = _HEADER_SIZE + header.chunk_count() * _CHUNK_SIZE
            for chunk in header.chunks():
                yield from _chunk_events(chunk, path, damaged)
    except (OSError, ValueError) as exc:
        raise ArtefactError(f"{path}: cannot read EVTX: {exc}") from exc
    if path.stat().st_size < expected:
        damaged.append("file shorter than its header says (truncated)")
    if damaged:
        shown = "; ".join(damaged[:3]) + (
            f"; and {len(damaged) - 3} more" if len(damaged) > 3 else ""
        )
        raise ArtefactError(f"{path}: EVTX damaged: {shown}")
