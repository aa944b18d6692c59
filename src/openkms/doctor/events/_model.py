"""The event record every reader yields, and the helpers they share to build it."""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from openkms.core.events import EVENT_FIELDS, parse_info
from openkms.doctor._i18n import Text
from openkms.i18n import N_

__all__ = ["KMS_EVENT_IDS", "WindowsEvent", "info_from_message", "make_windows_event", "parse_time"]

KMS_EVENT_IDS = frozenset(EVENT_FIELDS)
_FRACTION = re.compile(r"(\.\d{1,6})\d*")
_TIME_FORMATS = (
    "%m/%d/%Y %I:%M:%S %p",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%Y/%m/%d %H:%M",
)


class WindowsEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One KMS (or Security-SPP licensing) event read from an export: where, what it says."""

    source_file: str
    record: int | None
    event_id: int
    time: dt.datetime | None
    machine: str | None
    info_fields: dict[str, str]
    line: int | None = None
    # A Security-SPP licensing event other than the KMS events (see ``_spp``).
    spp: bool = False

    def where(self) -> str:
        """``file record N``, or ``file line N`` for formats without record numbers."""
        if self.record is None and self.line is not None:
            return Text(N_("{file} line {line}"), file=self.source_file, line=self.line)
        return Text(N_("{file} record {record}"), file=self.source_file, record=self.record)

    @property
    def hresult(self) -> int | None:
        """The HRESULT of the Info string, or None."""
        return parse_int(self.info_fields.get("hresult"))


def parse_int(value: str | None) -> int | None:
    """Decimal or 0x-hex integer, None if absent or malformed."""
    if not value:
        return None
    try:
        return int(value.strip(), 0)
    except ValueError:
        return None


def parse_time(value: str | None) -> dt.datetime | None:
    """ISO 8601 (as XML exports write it) or the Event Viewer's local formats, as UTC."""
    if not value:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    parsed: dt.datetime | None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        parsed = _parse_local(value.strip())
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _parse_local(value: str) -> dt.datetime | None:
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def info_from_message(message: str) -> str | None:
    """The comma-separated values after ``Info:`` in an event message, or None."""
    lines = message.splitlines()
    for index, line in enumerate(lines):
        head, sep, rest = line.strip().partition(":")
        if sep and head.strip().lower() in ("info", "informations"):
            tail = [rest.strip()] + [ln.strip() for ln in lines[index + 1 :]]
            return next((part for part in tail if part), None)
    return None


def make_windows_event(
    *,
    source_file: str,
    record: int | None,
    event_id: int,
    time: dt.datetime | None,
    machine: str | None,
    info: str,
    line: int | None = None,
) -> WindowsEvent:
    """Build an event, splitting Info into named fields in Windows' field order."""
    return WindowsEvent(
        source_file=source_file,
        record=record,
        event_id=event_id & 0xFFFF,
        time=time,
        machine=machine or None,
        info_fields=parse_info(event_id & 0xFFFF, info),
        line=line,
    )
