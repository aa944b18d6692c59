"""Text event exports: Event Viewer CSV, Event Viewer's clipboard text, OpenKMS JSON/CSV.

Every reader streams: it holds one row, one block or one JSON object at a time.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

from openkms.doctor._evtmodel import (
    KMS_EVENT_IDS,
    WindowsEvent,
    info_from_message,
    make_windows_event,
    parse_int,
    parse_time,
)
from openkms.doctor._text import ArtefactError, normalize_label, open_text

__all__ = [
    "CLIPBOARD_STARTS",
    "read_clipboard_events",
    "read_eventviewer_csv",
    "read_openkms_csv",
    "read_openkms_json",
]

CLIPBOARD_STARTS = ("log name", "nom du journal", "protokollname")
_CLIP_FIELDS = {
    "date": "date",
    "event id": "event_id",
    "id de l'evenement": "event_id",
    "ereignis-id": "event_id",
    "computer": "machine",
    "ordinateur": "machine",
    "description": "description",
    "beschreibung": "description",
}
_MAX_MESSAGE_LINES = 200
_JSON_BUFFER = 1 << 16
_MAX_JSON_VALUE = 1 << 24
csv.field_size_limit(1 << 20)


def _kms_event(
    path: Path, record: int | None, event_id: int | None, **kw: object
) -> WindowsEvent | None:
    if event_id is None or event_id & 0xFFFF not in KMS_EVENT_IDS:
        return None
    return make_windows_event(source_file=str(path), record=record, event_id=event_id, **kw)  # type: ignore[arg-type]


def read_eventviewer_csv(path: Path) -> Iterator[WindowsEvent]:
    """Event Viewer's "Save as CSV": Level, Date and Time, Source, Event ID, Category, text."""
    with open_text(path) as stream:
        rows = csv.reader(stream)
        next(rows, None)
        start = rows.line_num + 1
        for row in rows:
            line, start = start, rows.line_num + 1
            if len(row) < 4:
                continue
            message = row[5] if len(row) > 5 else ""
            found = _kms_event(
                path,
                None,
                parse_int(row[3]),
                time=parse_time(row[1]),
                machine=None,
                info=info_from_message(message) or "",
                line=line,
            )
            if found is not None:
                yield found


def _clip_block(
    path: Path, start: int, fields: dict[str, str], message: list[str]
) -> WindowsEvent | None:
    return _kms_event(
        path,
        None,
        parse_int(fields.get("event_id")),
        line=start,
        time=parse_time(fields.get("date")),
        machine=fields.get("machine"),
        info=info_from_message("\n".join(message)) or "",
    )


def read_clipboard_events(path: Path) -> Iterator[WindowsEvent]:
    """Event Viewer's copied text: ``Log Name:`` ... ``Description:`` blocks, one per event."""
    start, in_text = 0, False
    fields: dict[str, str] = {}
    message: list[str] = []
    with open_text(path) as stream:
        for number, line in enumerate(stream, start=1):
            label, sep, value = line.partition(":")
            key = normalize_label(label) if sep else ""
            if key in CLIPBOARD_STARTS:
                if start and (found := _clip_block(path, start, fields, message)):
                    yield found
                start, fields, message, in_text = number, {}, [], False
            elif key in ("event xml", "xml de l'evenement"):
                in_text = False
            elif in_text and len(message) < _MAX_MESSAGE_LINES:
                message.append(line.rstrip("\r\n"))
            elif key in _CLIP_FIELDS and not in_text:
                name = _CLIP_FIELDS[key]
                fields[name] = value.strip()
                if name == "description":
                    in_text = True
                    message = [value.strip()]
    if start and (found := _clip_block(path, start, fields, message)):
        yield found


def _openkms_event(path: Path, obj: object, fallback: int) -> WindowsEvent | None:
    if not isinstance(obj, dict):
        raise ArtefactError(f"{path}: entry {fallback} is not an object")
    seq = obj.get("seq")
    raw_time = obj.get("time")
    when = (
        dt.datetime.fromtimestamp(raw_time, dt.UTC)
        if isinstance(raw_time, int | float)
        else parse_time(str(raw_time) if raw_time else None)
    )
    return _kms_event(
        path,
        seq if isinstance(seq, int) else fallback,
        parse_int(str(obj.get("event_id", ""))),
        time=when,
        machine=str(obj.get("machine") or "") or None,
        info=str(obj.get("info", "")),
    )


def read_openkms_csv(path: Path) -> Iterator[WindowsEvent]:
    """OpenKMS CSV export: header ``seq,time,event_id,level,info`` (optionally ``machine``)."""
    with open_text(path) as stream:
        for number, row in enumerate(csv.DictReader(stream), start=1):
            found = _openkms_event(path, {**row, "seq": parse_int(row.get("seq"))}, number)
            if found is not None:
                yield found


def _json_values(path: Path) -> Iterator[object]:
    """Stream the values of a JSON array, or of JSON lines, one object at a time."""
    decoder = json.JSONDecoder()
    with open_text(path) as stream:
        buffer, eof = "", False
        while True:
            buffer = buffer.lstrip().lstrip("[,").lstrip()
            if buffer.startswith("]") or (eof and not buffer):
                return
            if not eof and len(buffer) < _JSON_BUFFER:
                more = stream.read(_JSON_BUFFER)
                eof, buffer = not more, buffer + more
                continue
            try:
                value, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as exc:
                if eof or len(buffer) > _MAX_JSON_VALUE:
                    raise ArtefactError(
                        f"{path}: JSON breaks off or is malformed: {exc.msg}"
                    ) from exc
                more = stream.read(_JSON_BUFFER * 4)
                eof, buffer = not more, buffer + more
                continue
            buffer = buffer[end:]
            yield value


def read_openkms_json(path: Path) -> Iterator[WindowsEvent]:
    """OpenKMS JSON export: an array of event objects, or one object per line."""
    for number, value in enumerate(_json_values(path), start=1):
        found = _openkms_event(path, value, number)
        if found is not None:
            yield found
