"""The count rule: distinct CMIDs of valid requests in the last 30 days, capped.

The cap is ``2 x`` the largest N-policy seen in the window (50 with desktop clients, 10
with servers only); the most recent CMIDs are the ones kept. A CMID or N-policy last seen
later than ``now`` plus an hour is *dated in the future* (the host's clock was ahead when it
came, or is behind now) and is not counted; its stored time is left as it is, so a host
whose clock is fixed gets its count back, and when the client comes again its row takes
the time of that request. Stores implement the same rule in SQL; this pure form is the
reference the tests hold them to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from openkms.core import settings

__all__ = ["CountPolicy", "current_count", "future_rows", "seen_again"]


@dataclass(frozen=True, slots=True)
class CountPolicy:
    """The window and cap of the count rule."""

    window_days: int = settings.COUNT_WINDOW_DAYS
    cap_factor: int = settings.COUNT_CAP_FACTOR

    @property
    def window_seconds(self) -> int:
        """The window, in seconds."""
        return self.window_days * 86400

    def horizon(self, now: int) -> int:
        """The oldest last-seen time still counted at ``now``."""
        return now - self.window_seconds

    def ceiling(self, now: int) -> int:
        """The latest last-seen time still counted at ``now`` (later is in the future)."""
        return now + settings.COUNT_FUTURE_TOLERANCE_SECONDS

    def counted(self, seen: int, now: int) -> bool:
        """Whether a row last seen at ``seen`` counts at ``now``."""
        return self.horizon(now) <= seen <= self.ceiling(now)


def current_count(
    last_seen: Mapping[bytes, int],
    n_policy_seen: Mapping[int, int],
    now: int,
    policy: CountPolicy = CountPolicy(),
) -> int:
    """The count at ``now``, from each CMID's and each N-policy's last-seen time."""
    recent = sum(1 for seen in last_seen.values() if policy.counted(seen, now))
    largest_n = max(
        (n for n, seen in n_policy_seen.items() if policy.counted(seen, now)), default=0
    )
    return min(recent, policy.cap_factor * largest_n)


def future_rows(
    last_seen: Mapping[bytes, int], now: int, policy: CountPolicy = CountPolicy()
) -> int:
    """How many CMIDs are dated in the future at ``now`` (stored, but not counted)."""
    ceiling = policy.ceiling(now)
    return sum(1 for seen in last_seen.values() if seen > ceiling)


def seen_again(previous: int | None, time: int) -> int:
    """A row's last-seen time after a request at ``time``.

    The later of the two, so that requests arriving out of order never move it back;
    except a time in the future (beyond the tolerance of ``time``), which the request
    replaces: the client counts again from that request on.
    """
    if previous is None or previous > time + settings.COUNT_FUTURE_TOLERANCE_SECONDS:
        return time
    return max(previous, time)
