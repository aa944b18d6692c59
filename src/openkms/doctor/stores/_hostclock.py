"""The host's clock as its store shows it: the last jump (12321) and clients dated in the future.

A host's count is a window of its own wall-clock time. A jump of that clock moves the window:
forward, clients seen before it leave the count early; back, the clients seen before it are
dated in the future and are not counted until each comes back (``core.counting``).
"""

from __future__ import annotations

import datetime as dt

from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.host import HostClock
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Severity
from openkms.host.clock import ClockReader, read_host_clock

__all__ = ["clock_findings"]

_DAY = 86400


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: int) -> str:
    size = abs(seconds)
    text = f"{size / _DAY:.1f} day(s)" if size >= _DAY else f"{size / 3600:.1f} hour(s)"
    return f"{'forward' if seconds > 0 else 'back'} {text}"


def _effect(clock: HostClock, seconds: int, count: int) -> str:
    if seconds > 0:
        return (
            f"the count window moved forward with it: clients seen before the jump leave the "
            f"count {_span(seconds).removeprefix('forward ')} early (current count {count})"
        )
    return (
        f"clients seen before it are dated in the future: {clock.future_clients} not counted "
        f"(current count {count}) until each comes back"
    )


def _jump_finding(clock: HostClock, count: int) -> Finding | None:
    if clock.last_jump_at is None or clock.last_jump_seconds is None:
        return None
    seconds = clock.last_jump_seconds
    return CATALOGUE["host-clock-jump"].finding(
        Severity.WARNING,
        f"the host's clock jumped {_span(seconds)} ({seconds:+d} s) at "
        f"{_when(clock.last_jump_at)} (event 12321); {_effect(clock, seconds, count)}",
        code=ResultCode.CLOCK_SKEW.hex,
    )


def _future_finding(clock: HostClock, count: int) -> Finding | None:
    if not clock.future_clients:
        return None
    tolerance = settings.COUNT_FUTURE_TOLERANCE_SECONDS // 60
    return CATALOGUE["clients-dated-in-future"].finding(
        Severity.WARNING,
        f"{clock.future_clients} client(s) last seen more than {tolerance} minutes after the "
        f"host's clock now: not counted (current count {count})",
    )


async def clock_findings(
    reader: ClockReader, application_id: str | None, count: int, now: int, days: int
) -> list[Finding]:
    """A recent jump of the host's clock and the clients dated in the future, with their
    effect on the count; nothing when neither is seen."""
    clock = await read_host_clock(reader, application_id, now)
    if clock.last_jump_at is not None and clock.last_jump_at < now - days * _DAY:
        clock = HostClock(future_clients=clock.future_clients)  # an old jump: not a cause now
    found = (_jump_finding(clock, count), _future_finding(clock, count))
    return [finding for finding in found if finding is not None]
