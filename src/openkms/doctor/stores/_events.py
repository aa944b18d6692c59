"""Events from an OpenKMS store (host database or client log) as the doctor's WindowsEvents.

The host's 12290/12293/12294 and the client's 12288/12289 carry Windows' Info strings, so
the same :class:`EventAnalyzer` that reads Windows exports checks them; the evidence names
the store file and the event's sequence number (its record number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from openkms.core.events import EventRecord
from openkms.doctor.events._model import WindowsEvent, make_windows_event
from openkms.store.base import EventQuery, HostStoreReader

__all__ = ["CodeTally", "host_events", "to_windows_event"]


def to_windows_event(record: EventRecord, source: Path, machine: str | None = None) -> WindowsEvent:
    """One stored event, with its sequence number as the record number."""
    return make_windows_event(
        source_file=str(source),
        record=record.seq,
        event_id=record.event_id,
        time=dt.datetime.fromtimestamp(record.time, dt.UTC),
        machine=machine,
        info=record.info,
    )


def host_events(
    reader: HostStoreReader, event_ids: tuple[int, ...], since: int | None
) -> AsyncIterator[EventRecord]:
    """Stream the host's events, page by page (memory does not grow with the log)."""
    return reader.iter_events(EventQuery(event_ids=event_ids, since=since))


@dataclass
class CodeTally:
    """Failed requests of one result code: how many, first and last, a few machines."""

    first: WindowsEvent
    last: WindowsEvent
    count: int = 1
    machines: set[str] = field(default_factory=set)

    def add(self, event: WindowsEvent) -> None:
        """Account for one more event of this code."""
        self.count += 1
        self.last = event
        name = event.info_fields.get("machine_name")
        if name and len(self.machines) < 5:
            self.machines.add(name)
