"""Text event exports: Event Viewer CSV and OpenKMS JSON/CSV (copied text: ``_evt_blocks``).

Every reader streams: it holds one row, one block or one JSON object at a time.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

from openkms.doctor._i18n import Text
from openkms.doctor._text import ArtefactError, open_text
from openkms.doctor.events._model import (
    KMS_EVENT_IDS,
    WindowsEvent,
    info_from_message,
    make_windows_event,
    parse_int,
    parse_time,
)
from openkms.doctor.events._spp import make_spp_event, read_as_spp
from openkms.i18n import N_

__all__ = [
    "read_eventviewer_csv",
    "read_openkms_csv",
    "read_openkms_json",
]

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
    """Event Viewer's "Save as CSV": Level, Date and Time, Source, Event ID, Category, text
    (KMS events, and Security-SPP events by their Source)."""
    with open_text(path) as stream:
        rows = csv.reader(stream)
        next(rows, None)
        start = rows.line_num + 1
        for row in rows:
            line, start = start, rows.line_num + 1
            if len(row) < 4:
                continue
            message = row[5] if len(row) > 5 else ""
            event_id = parse_int(row[3])
            if read_as_spp(event_id, row[2]):
                assert event_id is not None
                yield make_spp_event(
                    source_file=str(path),
                    record=None,
                    event_id=event_id,
                    time=parse_time(row[1]),
                    machine=None,
                    texts=[message],
                    line=line,
                )
                continue
            found = _kms_event(
                path,
                None,
                event_id,
                time=parse_time(row[1]),
                machine=None,
                info=info_from_message(message) or "",
                line=line,
            )
            if found is not None:
                yield found


def _openkms_event(path: Path, obj: object, fallback: int) -> WindowsEvent | None:
    if not isinstance(obj, dict):
        raise ArtefactError(
            Text(N_("{path}: entry {entry} is not an object"), path=path, entry=fallback)
        )
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
                        Text(
                            N_("{path}: JSON breaks off or is malformed: {reason}"),
                            path=path,
                            reason=exc.msg,
                        )
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
