"""Trusted time: licence timers run on the highest time the client has seen, never less.

The high-water mark (``ClientState.trusted_time``) rises with the system clock, the issue
time of every verified ticket and the time of the host that sent it; it is sealed with the
state. Setting the clock back therefore neither revives an expired ticket nor restarts a
grace period. A clock behind the mark by more than
``settings.CLOCK_ROLLBACK_TOLERANCE_SECONDS`` is a rollback: ``dli`` shows it and the
client's event log records it once per episode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from openkms.client.state import ClientState
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.events import EventRecord, format_client_time

__all__ = [
    "CLOCK_ROLLBACK_EVENT",
    "PERSIST_STEP_SECONDS",
    "TimeReading",
    "raise_trusted_time",
    "read_time",
    "record_reading",
]

log = logging.getLogger("openkms.client")

CLOCK_ROLLBACK_EVENT = 12320
"""OpenKMS's own client event: the clock was set back beyond tolerance (Info: hresult,
seconds behind, trusted time, clock)."""
PERSIST_STEP_SECONDS = 3600
"""A reading operation (``license()``, ``dli``) saves the high-water mark only when it rose
by at least this much, or when a rollback starts or ends: at most about one write an hour."""


@dataclass(frozen=True, slots=True)
class TimeReading:
    """The system clock, the trusted time, and how far the clock is set back."""

    clock: int
    trusted: int
    behind: int  # seconds the clock is behind the trusted time, 0 within tolerance

    @property
    def rolled_back(self) -> bool:
        """True when the clock is behind the trusted time by more than the tolerance."""
        return self.behind > 0


def read_time(
    state: ClientState,
    clock: int,
    tolerance: int = settings.CLOCK_ROLLBACK_TOLERANCE_SECONDS,
) -> TimeReading:
    """The time the licence timers run on: the clock, or the high-water mark if later."""
    trusted = max(clock, state.trusted_time)
    behind = trusted - clock
    return TimeReading(clock, trusted, behind if behind > tolerance else 0)


def raise_trusted_time(state: ClientState, when: int) -> None:
    """Raise the high-water mark to ``when`` (a verified time); it never goes down."""
    state.trusted_time = max(state.trusted_time, when)


def record_reading(state: ClientState, reading: TimeReading) -> tuple[bool, list[EventRecord]]:
    """Note ``reading`` in ``state``: whether it is worth saving, and the events to log.

    The mark rises with the clock; a new rollback episode gives one event and one WARNING;
    ``clock_rollback`` keeps how far back the clock was when the episode started (0: none).
    """
    events: list[EventRecord] = []
    if reading.rolled_back and not state.clock_rollback:
        log.warning(
            "the clock is %d s behind the trusted time (%s): set back; timers keep the "
            "trusted time",
            reading.behind,
            format_client_time(reading.trusted),
        )
        events.append(_rollback_event(reading))
    changed = bool(reading.behind) != bool(state.clock_rollback)
    changed |= reading.trusted >= state.trusted_time + PERSIST_STEP_SECONDS
    if changed:
        state.clock_rollback = reading.behind
    raise_trusted_time(state, reading.trusted)
    return changed, events


def _rollback_event(reading: TimeReading) -> EventRecord:
    code = ResultCode.CLOCK_ROLLBACK
    info = (
        f"0x{int(code):X},{reading.behind},{format_client_time(reading.trusted)},"
        f"{format_client_time(reading.clock)}"
    )
    return EventRecord(CLOCK_ROLLBACK_EVENT, reading.trusted, info, hresult=int(code))
