"""The host's clock as its store shows it: the last jump (12321) and clients dated in the future.

A host's count is a window of its own wall-clock time. A jump of that clock moves the window:
forward, clients seen before it leave the count early; back, the clients seen before it are
dated in the future and are not counted until each comes back (``core.counting``).
"""

from __future__ import annotations

from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.host import HostClock
from openkms.doctor._i18n import Decimal, Stamp, Text
from openkms.doctor.catalogue import CATALOGUE
from openkms.doctor.findings import Finding, Severity
from openkms.host.clock import ClockReader, read_host_clock
from openkms.i18n import N_

__all__ = ["clock_findings"]

_DAY = 86400


def _when(epoch: int) -> Stamp:
    return Stamp.utc(epoch, "%Y-%m-%d %H:%M UTC")


def _size(seconds: int) -> Text:
    size = abs(seconds)
    if size >= _DAY:
        return Text(N_("{size} day(s)"), size=Decimal(size / _DAY))
    return Text(N_("{size} hour(s)"), size=Decimal(size / 3600))


def _span(seconds: int) -> Text:
    if seconds > 0:
        return Text(N_("forward {size}"), size=_size(seconds))
    return Text(N_("back {size}"), size=_size(seconds))


def _effect(clock: HostClock, seconds: int, count: int) -> Text:
    if seconds > 0:
        return Text(
            N_(
                "the count window moved forward with it: clients seen before the jump leave the "
                "count {size} early (current count {count})"
            ),
            size=_size(seconds),
            count=count,
        )
    return Text(
        N_(
            "clients seen before it are dated in the future: {future} not counted "
            "(current count {count}) until each comes back"
        ),
        future=clock.future_clients,
        count=count,
    )


def _jump_finding(clock: HostClock, count: int) -> Finding | None:
    if clock.last_jump_at is None or clock.last_jump_seconds is None:
        return None
    seconds = clock.last_jump_seconds
    return CATALOGUE["host-clock-jump"].finding(
        Severity.WARNING,
        Text(
            N_("the host's clock jumped {span} ({seconds} s) at {when} (event 12321); {effect}"),
            span=_span(seconds),
            seconds=f"{seconds:+d}",
            when=_when(clock.last_jump_at),
            effect=_effect(clock, seconds, count),
        ),
        code=ResultCode.CLOCK_SKEW.hex,
    )


def _future_finding(clock: HostClock, count: int) -> Finding | None:
    if not clock.future_clients:
        return None
    tolerance = settings.COUNT_FUTURE_TOLERANCE_SECONDS // 60
    return CATALOGUE["clients-dated-in-future"].finding(
        Severity.WARNING,
        Text(
            N_(
                "{future} client(s) last seen more than {tolerance} minutes after the "
                "host's clock now: not counted (current count {count})"
            ),
            future=clock.future_clients,
            tolerance=tolerance,
            count=count,
        ),
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
