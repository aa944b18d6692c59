"""The count rule: distinct CMIDs of valid requests in the last 30 days, capped.

The cap is ``2 x`` the largest N-policy seen in the window (50 with desktop clients, 10
with servers only); the most recent CMIDs are the ones kept. Stores implement the same rule
in SQL; this pure form is the reference the tests hold them to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from openkms.core import settings

__all__ = ["CountPolicy", "current_count"]


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


def current_count(
    last_seen: Mapping[bytes, int],
    n_policy_seen: Mapping[int, int],
    now: int,
    policy: CountPolicy = CountPolicy(),
) -> int:
    """The count at ``now``, from each CMID's and each N-policy's last-seen time."""
    horizon = policy.horizon(now)
    recent = sum(1 for seen in last_seen.values() if seen >= horizon)
    largest_n = max((n for n, seen in n_policy_seen.items() if seen >= horizon), default=0)
    return min(recent, policy.cap_factor * largest_n)
