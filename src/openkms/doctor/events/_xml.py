"""Event XML: ``wevtutil qe ... /f:xml`` output, read incrementally, and one ``<Event>``.

wevtutil writes a bare sequence of ``<Event>`` elements with no single root, so the stream
is wrapped in a synthetic root and fed to an :class:`xml.etree.ElementTree.XMLPullParser`
chunk by chunk; each finished ``<Event>`` is converted and then detached, and so is any
other finished element outside an event, so memory stays bounded whatever the file size.
Elements nested deeper than an event ever is, and text runs longer than any event value, are
refused: they are the only other ways a file could make the reader hold much at once.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
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

__all__ = ["event_from_element", "read_xml_events"]

_CHUNK = 1 << 16
# An exported <Event> is six levels deep at most; the wrapper adds one.
_DEEPEST = 32
# Windows' longest event values (1003's license list, a rendered message) are a few KiB.
_LONGEST_RUN = 1 << 20


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(elem: ET.Element, *path: str) -> ET.Element | None:
    node: ET.Element | None = elem
    for name in path:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _text(elem: ET.Element | None) -> str | None:
    return None if elem is None or elem.text is None else elem.text.strip()


def _info(event: ET.Element) -> str | None:
    data = _child(event, "EventData")
    items = [] if data is None else [d for d in data if _local(d.tag) == "Data"]
    values = [(d.text or "").strip() for d in items]
    if len(values) == 1:
        return values[0]
    if values:
        return ",".join(values)
    return info_from_message(_text(_child(event, "RenderingInfo", "Message")) or "")


def event_from_element(
    event: ET.Element, source_file: str, fallback_record: int | None = None
) -> WindowsEvent | None:
    """Convert one ``<Event>`` element; None for events that are neither KMS events nor
    Security-SPP licensing events."""
    event_id = parse_int(_text(_child(event, "System", "EventID")))
    if event_id is None:
        return None
    provider = _child(event, "System", "Provider")
    spp = read_as_spp(event_id, None if provider is None else provider.get("Name"))
    if not spp and event_id & 0xFFFF not in KMS_EVENT_IDS:
        return None
    created = _child(event, "System", "TimeCreated")
    record = parse_int(_text(_child(event, "System", "EventRecordID")))
    record = record if record is not None else fallback_record
    time = parse_time(None if created is None else created.get("SystemTime"))
    machine = _text(_child(event, "System", "Computer"))
    if spp:
        return make_spp_event(
            source_file=source_file,
            record=record,
            event_id=event_id,
            time=time,
            machine=machine,
            texts=_spp_texts(event),
        )
    return make_windows_event(
        source_file=source_file,
        record=record,
        event_id=event_id,
        time=time,
        machine=machine,
        info=_info(event) or "",
    )


def _spp_texts(event: ET.Element) -> Iterator[str]:
    """The ``<Data>`` values of an SPP event, then its rendered message."""
    data = _child(event, "EventData")
    for item in () if data is None else data:
        if _local(item.tag) == "Data":
            yield item.text or ""
    yield _text(_child(event, "RenderingInfo", "Message")) or ""


def _run_after(run: int, chunk: str) -> int:
    """Characters since the last markup ``<``, counting this chunk."""
    last = chunk.rfind("<")
    return run + len(chunk) if last < 0 else len(chunk) - last - 1


def _chunks(path: Path) -> Iterator[str]:
    """Text chunks of the file, without an XML declaration, refusing DTDs and text runs no
    event holds."""
    with open_text(path) as stream:
        first = True
        tail = ""
        run = 0
        while chunk := stream.read(_CHUNK):
            if first:
                chunk = chunk.lstrip()
                if chunk.startswith("<?xml"):
                    chunk = chunk[chunk.find("?>") + 2 :]
                first = False
            window = tail + chunk
            if "<!DOCTYPE" in window or "<!ENTITY" in window:
                raise ArtefactError(Text(N_("{path}: XML with a DTD is refused"), path=path))
            tail = window[-16:]
            run = _run_after(run, chunk)
            if run > _LONGEST_RUN:
                raise ArtefactError(
                    Text(
                        N_("{path}: XML with a value over {limit} characters is refused"),
                        path=path,
                        limit=_LONGEST_RUN,
                    )
                )
            yield chunk


def read_xml_events(path: Path) -> Iterator[WindowsEvent]:
    """Stream the KMS and Security-SPP events of a wevtutil XML export."""
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    parser.feed("<openkms-wrapper>")
    stack: list[ET.Element] = []
    count = 0
    opened = 0  # <Event> elements open (an event inside an event is read as one too)
    try:
        for chunk in _chunks(path):
            parser.feed(chunk)
            for item in parser.read_events():
                kind, elem = item[0], item[-1]
                if not isinstance(elem, ET.Element):
                    continue
                if kind == "start":
                    stack.append(elem)
                    opened += _local(elem.tag) == "Event"
                    if len(stack) > _DEEPEST:
                        raise ArtefactError(
                            Text(
                                N_("{path}: XML nested over {depth} elements deep is refused"),
                                path=path,
                                depth=_DEEPEST,
                            )
                        )
                    continue
                stack.pop()
                if _local(elem.tag) != "Event":
                    if not opened and stack:  # outside any event: nothing will read it
                        stack[-1].remove(elem)
                    continue
                opened -= 1
                count += 1
                found = event_from_element(elem, str(path), count)
                if stack:
                    stack[-1].remove(elem)
                if found is not None:
                    yield found
        parser.feed("</openkms-wrapper>")
        parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        raise ArtefactError(
            Text(
                N_(
                    "{path}: XML breaks off or is malformed near line {line}, column {column} "
                    "(after {count} events)"
                ),
                path=path,
                line=line,
                column=column,
                count=count,
            )
        ) from exc
    except OSError as exc:
        raise ArtefactError(
            Text(N_("{path}: cannot read: {reason}"), path=path, reason=exc)
        ) from exc
