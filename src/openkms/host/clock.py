"""The host's clock against the monotonic clock: a jump of more than an hour is an event.

The count is a window of wall-clock time, so a clock set forward a month empties it and a
clock set back keeps clients counted too long. Nothing in the requests shows that; this
watch does: the wall clock minus the monotonic clock is constant while nobody sets the
clock (NTP slews by milliseconds), so a change of that offset is a jump.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from openkms.core import events
from openkms.core.events import EventRecord

__all__ = ["CLOCK_JUMP_EVENT", "JUMP_THRESHOLD", "ClockJump", "ClockWatch", "clock_jump_event"]

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
