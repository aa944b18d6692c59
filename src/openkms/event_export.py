"""Event log exports: text (Event Viewer's clipboard form), JSON and CSV.

The JSON form is a list of objects and the CSV form has the columns
``seq,time,event_id,level,info``; ``time`` is ISO 8601 in UTC. ``openkms doctor events``
reads all three, as it reads Windows' own exports.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator

from openkms.core.events import EventRecord

__all__ = ["FORMATS", "export_events", "iso_time"]

FORMATS = ("text", "json", "csv")


def iso_time(epoch: int) -> str:
    """``2026-11-21T19:30:00Z``."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def export_events(records: Iterable[EventRecord], fmt: str, log_name: str) -> Iterator[str]:
    """The export of ``records`` in ``fmt``, as chunks of text."""
    if fmt == "json":
        yield from _json(records)
    elif fmt == "csv":
        yield from _csv(records)
    else:
        yield from _text(records, log_name)


def _json(records: Iterable[EventRecord]) -> Iterator[str]:
    yield "["
    first = True
    for record in records:
        item = {
            "seq": record.seq,
            "time": iso_time(record.time),
            "event_id": record.event_id,
            "level": record.level,
            "info": record.info,
            "message": record.message,
        }
        yield ("\n  " if first else ",\n  ") + json.dumps(item, ensure_ascii=False)
        first = False
    yield "\n]\n"


def _csv(records: Iterable[EventRecord]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["seq", "time", "event_id", "level", "info"])
    for record in records:
        writer.writerow(
            [record.seq, iso_time(record.time), record.event_id, record.level, record.info]
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _text(records: Iterable[EventRecord], log_name: str) -> Iterator[str]:
    for record in records:
        yield (
            f"Log Name:      {log_name}\n"
            f"Source:        OpenKMS\n"
            f"Date:          {iso_time(record.time)}\n"
            f"Event ID:      {record.event_id}\n"
            f"Level:         {record.level}\n"
            f"Record:        {record.seq}\n"
            f"Description:\n{record.message}\n"
            f"Info:\n{record.info}\n\n"
        )
