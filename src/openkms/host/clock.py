"""The host's clock against the monotonic clock: a jump of more than an hour is an event.

``read_host_clock`` gives back what ``dli`` and the doctor show of it: the last 12321 of
the store and the clients dated in the future (not counted, ``core.counting``).

The count is a window of wall-clock time, so a clock set forward a month empties it and a
clock set back keeps clients counted too long. Nothing in the requests shows that; this
watch does: the wall clock minus the monotonic clock is constant while nobody sets the
clock (NTP slews by milliseconds), so a change of that offset is a jump.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from openkms.core import events
from openkms.core.events import EventRecord
from openkms.core.host import HostClock
from openkms.store.base import EventSearch

__all__ = [
    "CLOCK_JUMP_EVENT",
    "JUMP_THRESHOLD",
    "ClockJump",
    "ClockReader",
    "ClockWatch",
    "clock_jump_event",
    "jump_of",
    "read_host_clock",
]

log = logging.getLogger("openkms.host")

JUMP_THRESHOLD: Final = 3600  # seconds
# An OpenKMS event (Windows has none for this): Info "HRESULT,seconds" (+ forward, - back).
CLOCK_JUMP_EVENT: Final = 12321


@dataclass(frozen=True, slots=True)
class ClockJump:
    """The wall clock moved ``seconds`` against the monotonic clock, seen at ``at``."""

    at: int
    seconds: int


def clock_jump_event(jump: ClockJump) -> EventRecord:
    """The event a host logs for ``jump`` (a warning: the count window moved with it)."""
    return events.clock_jump_event(jump.at, jump.seconds)


class ClockWatch:
    """Compares the wall clock with the monotonic clock at each ``check()``."""

    def __init__(
        self,
        wall: Callable[[], float],
        monotonic: Callable[[], float],
        threshold: int = JUMP_THRESHOLD,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._threshold = threshold
        self._offset = wall() - monotonic()
        self.last_jump: ClockJump | None = None

    def check(self) -> ClockJump | None:
        """The jump since the last check, if the offset moved more than the threshold."""
        wall = self._wall()
        offset = wall - self._monotonic()
        moved = offset - self._offset
        self._offset = offset
        if abs(moved) <= self._threshold:
            return None
        self.last_jump = ClockJump(int(wall), round(moved))
        log.warning(
            "the host clock jumped %+d seconds (%.1f days): the count window moved with it",
            self.last_jump.seconds,
            self.last_jump.seconds / 86400,
        )
        return self.last_jump


class ClockReader(Protocol):
    """The store reads of ``read_host_clock`` (any store, or a read-only reader)."""

    async def search_events(self, search: EventSearch) -> list[EventRecord]:
        """Events matching ``search``, newest first."""
        ...

    async def future_clients(self, application_id: str, now: int) -> int:
        """Clients of the application dated in the future at ``now``."""
        ...


def jump_of(event: EventRecord) -> ClockJump | None:
    """The jump a 12321 event records; None for another event or an unreadable Info."""
    if event.event_id != CLOCK_JUMP_EVENT:
        return None
    seconds = events.parse_info(event.event_id, event.info).get("seconds", "")
    try:
        return ClockJump(event.time, int(seconds))
    except ValueError:
        return None


async def read_host_clock(store: ClockReader, application_id: str | None, now: int) -> HostClock:
    """The host's last clock jump recorded in the store, and its clients dated in the future."""
    latest = await store.search_events(EventSearch(event_ids=(CLOCK_JUMP_EVENT,), limit=1))
    jump = jump_of(latest[0]) if latest else None
    future = await store.future_clients(application_id, now) if application_id else 0
    return HostClock(
        last_jump_at=jump.at if jump else None,
        last_jump_seconds=jump.seconds if jump else None,
        future_clients=future,
    )
