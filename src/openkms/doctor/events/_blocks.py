"""Event text as people copy it: one reader for every "label: value" form.

Read, streaming, one block per event:

- Event Viewer's "Copy details as text" (``Log Name:`` ... ``Description:``), and the same
  text as support articles quote it, starting at ``Source:`` or ``Event ID:``;
- the General tab's text alone (the message and its ``Info:`` line, no header): the event
  ID is then told from the message, which is fixed for each KMS event;
- ``Get-WinEvent | Format-List`` (``TimeCreated``, ``ProviderName``, ``Id``, ``Message``
  with indented continuation lines, ``MachineName``, ``RecordId``);
- ``wevtutil qe ... /f:text`` (``Event[0]:`` then indented ``Log Name:``, ``Event ID:``,
  ``Description:``).

A block ends where a header label repeats, at ``Event[N]:``, or at ``Event Xml:``.

Labels are read in English, French and German as Windows prints them (``Nom du journal :``,
``ID de l'événement :``, ``Protokollname:``, ``Ereignis-ID:``...), and so are OpenKMS's own
text exports in every language it speaks: a message without an event ID is told from its
text in any of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from openkms.core.events import EVENT_MESSAGES
from openkms.doctor._text import normalize_label, open_text
from openkms.doctor.events._model import (
    KMS_EVENT_IDS,
    WindowsEvent,
    info_from_message,
    make_windows_event,
    parse_int,
    parse_time,
)
from openkms.doctor.events._spp import make_spp_event, read_as_spp
from openkms.i18n import SUPPORTED_LANGUAGES, gettext_for

__all__ = ["looks_like_event_text", "read_text_events"]

_FIELDS = {
    "log name": "log",
    "nom du journal": "log",
    "protokollname": "log",
    "nombre de registro": "log",
    "logname": "log",
    "source": "source",
    "providername": "source",
    "quelle": "source",
    "origen": "source",
    "date": "date",
    "timecreated": "date",
    "datum": "date",
    "fecha": "date",
    "logged": "date",
    "ouvert le": "date",
    "protokolliert": "date",
    "event id": "event_id",
    "id": "event_id",
    "id de l'evenement": "event_id",
    "ereignis-id": "event_id",
    "id. del evento": "event_id",
    "computer": "machine",
    "machinename": "machine",
    "ordinateur": "machine",
    "computador": "machine",
    "equipo": "machine",
    "recordid": "record",
    "description": "message",
    "message": "message",
    "beschreibung": "message",
    "descripcion": "message",
}
_END_OF_TEXT = ("event xml", "xml de l'evenement", "ereignis-xml", "xml del evento")
# wevtutil's "Event[0]:", "Événement[0] :", "Ereignis[0]:" (matched on the normalized line).
_EVENT_INDEX = re.compile(r"^(?:event|evenement|ereignis)\[\d+\] ?:?$")
_LABEL = re.compile(r"^(\s*)([^:]{1,40}?)\s*:(?:\s|$)(.*)$")
# Event Viewer pads labels to one column; a longer one (French "Nom du journal :", German
# "Aufgabenkategorie:") runs into its value. Read so only for the labels known above.
_LABEL_RUN_ON = re.compile(r"^(\s*)([^:]{1,40}?)\s*:(.*)$")
_MAX_MESSAGE_LINES = 200
# Each KMS event's fixed message in every language OpenKMS writes its text exports in.
_MESSAGES = {
    normalize_label(gettext_for(language).gettext(text)).rstrip("."): event_id
    for language in SUPPORTED_LANGUAGES
    for event_id, text in EVENT_MESSAGES.items()
}
# The 12293/12294 messages name the domain in the middle; their fixed start is enough.
_MESSAGE_STARTS = {
    "publishing the key management service (kms) to dns in the": 0,
}


@dataclass
class _Block:
    start: int
    fields: dict[str, str] = field(default_factory=dict)
    message: list[str] = field(default_factory=list)
    in_message: bool = False


def _is_event_index(line: str) -> bool:
    return "[" in line and _EVENT_INDEX.match(normalize_label(line)) is not None


def _label(line: str) -> tuple[str, str] | None:
    match = _LABEL.match(line)
    if match is not None:
        return normalize_label(match.group(2)), match.group(3).strip()
    match = _LABEL_RUN_ON.match(line)
    if match is None:
        return None
    name = normalize_label(match.group(2))
    if name in _FIELDS or name in _END_OF_TEXT:
        return name, match.group(3).strip()
    return None


def _event_id_from_message(message: str) -> int | None:
    text = normalize_label(message)
    for sentence, event_id in _MESSAGES.items():
        if text.startswith(sentence):
            return event_id
    if any(text.startswith(start) for start in _MESSAGE_STARTS):
        return 12294 if " succeeded" in text.split("info:")[0] else 12293
    return None


def _event(path: Path, block: _Block) -> WindowsEvent | None:
    message = "\n".join(block.message)
    event_id = parse_int(block.fields.get("event_id")) or _event_id_from_message(message)
    if read_as_spp(event_id, block.fields.get("source")):
        assert event_id is not None
        return make_spp_event(
            source_file=str(path),
            record=parse_int(block.fields.get("record")),
            event_id=event_id,
            time=parse_time(block.fields.get("date")),
            machine=block.fields.get("machine"),
            texts=[message],
            line=block.start,
        )
    if event_id is None or event_id & 0xFFFF not in KMS_EVENT_IDS:
        return None
    return make_windows_event(
        source_file=str(path),
        record=parse_int(block.fields.get("record")),
        event_id=event_id,
        time=parse_time(block.fields.get("date")),
        machine=block.fields.get("machine"),
        info=info_from_message(message) or "",
        line=block.start,
    )


class _Reader:
    """Line-by-line state: the block being read and the events finished so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.block: _Block | None = None
        self.done: list[WindowsEvent] = []

    def close(self) -> None:
        if self.block is not None and (found := _event(self.path, self.block)):
            self.done.append(found)
        self.block = None

    def _open(self, number: int) -> _Block:
        self.close()
        self.block = _Block(number)
        return self.block

    def feed(self, number: int, line: str) -> None:
        if _is_event_index(line):
            self._open(number)
            return
        pair = _label(line)
        name = _FIELDS.get(pair[0]) if pair else None
        block = self.block
        if pair and pair[0] in _END_OF_TEXT:
            if block is not None:
                block.in_message = False
            return
        if block is not None and block.in_message and name is None:
            if _has_info(block) and _event_id_from_message(line.strip()) is not None:
                self._loose_line(number, line)
            else:
                self._message_line(block, line)
            return
        if name is None:
            if pair is None:
                self._loose_line(number, line)
            return
        if block is None or name in block.fields:
            block = self._open(number)
        block.in_message = name == "message"
        block.fields[name] = pair[1] if pair else ""
        if name == "message":
            block.message = [pair[1]] if pair and pair[1] else []

    def _message_line(self, block: _Block, line: str) -> None:
        if len(block.message) < _MAX_MESSAGE_LINES:
            block.message.append(line.strip())

    def _loose_line(self, number: int, line: str) -> None:
        """A line outside any field: the General tab's text has only the message."""
        text = line.strip()
        if text and _event_id_from_message(text) is not None:
            block = self._open(number)
            block.fields["message"] = text
            block.in_message = True
            block.message = [text]


def _has_info(block: _Block) -> bool:
    return any(
        normalize_label(line).replace(" :", ":").startswith(("info:", "informations:"))
        for line in block.message
    )


def read_text_events(path: Path) -> Iterator[WindowsEvent]:
    """Stream the KMS and Security-SPP events of copied or exported event text, whatever its
    form (an SPP event is told by its ``Source:``/``ProviderName``)."""
    reader = _Reader(path)
    with open_text(path) as stream:
        for number, line in enumerate(stream, start=1):
            reader.feed(number, line.rstrip("\r\n"))
            yield from reader.done
            reader.done.clear()
    reader.close()
    yield from reader.done


def looks_like_event_text(lines: Iterable[str]) -> bool:
    """True when some line is an event header label or a KMS event's message."""
    for line in lines:
        if _is_event_index(line):
            return True
        pair = _label(line)
        if pair and _FIELDS.get(pair[0]) in ("log", "source", "event_id"):
            return True
        if _event_id_from_message(line.strip()) is not None:
            return True
    return False
