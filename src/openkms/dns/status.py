"""The DNS publisher's status file in a host store directory (``dli`` and the doctor read it),
and its events into the host's store.

Apart from ``dns/publisher.py`` so that reading it needs no dnspython: every host process
reads the status for its snapshot, and one that publishes nothing never loads the resolver
and update machinery (bench/README.md, "Memory (this wave)").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import msgspec

from openkms._files import atomic_write
from openkms.core.events import EventRecord
from openkms.core.host import PublishStatus
from openkms.errors import OpenKMSError

__all__ = ["STATUS_FILE", "EventSink", "log_event", "read_status", "write_status"]

log = logging.getLogger("openkms.dns")

STATUS_FILE: Final = "dns-status.json"

EventSink = Callable[[EventRecord], Awaitable[None]]


def read_status(directory: Path) -> PublishStatus | None:
    """The publisher's last status in a host store directory (None if it never ran)."""
    try:
        return msgspec.json.decode((directory / STATUS_FILE).read_bytes(), type=PublishStatus)
    except (OSError, msgspec.DecodeError):
        return None


def write_status(directory: Path, status: PublishStatus) -> None:
    """Replace the status file in ``directory`` (a failure is logged: publishing goes on)."""
    try:
        atomic_write(directory / STATUS_FILE, msgspec.json.encode(status) + b"\n")
    except (OSError, OpenKMSError) as exc:
        log.warning("could not write the DNS status: %s", exc)


async def log_event(sink: EventSink, event: EventRecord) -> None:
    """Hand ``event`` to ``sink`` (the store); a failure is logged: publishing goes on."""
    try:
        await sink(event)
    except Exception:  # the store may be closing; publishing must not fail the host
        log.exception("could not log event %d", event.event_id)
