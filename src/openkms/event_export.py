"""Event log exports: text (Event Viewer's clipboard form), JSON and CSV.

The JSON form is a list of objects and the CSV form has the columns
``seq,time,event_id,level,info``; ``time`` is ISO 8601 in UTC. JSON and CSV are machine
output: the same bytes in every language (English ``level`` and ``message``).

The text form is for people, so it speaks their language as a French or German Windows does:
the labels (``Nom du journal :``, ``Ereignis-ID:``), the level (``Avertissement``) and the
description are translated; the values that a program reads back stay as they are (the log's
name, the ISO time, the event ID, the record number and the Info string). ``openkms doctor
events`` reads all three forms, in any of the languages, as it reads Windows' own exports.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator

from openkms.core.events import EventRecord, level_label
from openkms.i18n import pgettext

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


def _labels() -> tuple[str, ...]:
    """The text form's labels in the current language, padded to one column like Windows'."""
    labels = (
        pgettext("event text", "Log Name:"),
        pgettext("event text", "Source:"),
        pgettext("event text", "Date:"),
        pgettext("event text", "Event ID:"),
        pgettext("event text", "Level:"),
        pgettext("event text", "Record:"),
    )
    width = max(14, *(len(label) for label in labels)) + 1
    return tuple(label.ljust(width) for label in labels)


def _text(records: Iterable[EventRecord], log_name: str) -> Iterator[str]:
    log, source, date, event_id, level, record_label = _labels()
    description = pgettext("event text", "Description:")
    info = pgettext("event text", "Info:")
    for record in records:
        yield (
            f"{log}{log_name}\n"
            f"{source}OpenKMS\n"
            f"{date}{iso_time(record.time)}\n"
            f"{event_id}{record.event_id}\n"
            f"{level}{level_label(record.level)}\n"
            f"{record_label}{record.seq}\n"
            f"{description}\n{record.description}\n"
            f"{info}\n{record.info}\n\n"
        )
