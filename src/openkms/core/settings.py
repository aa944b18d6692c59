"""Every number of the KMS model, as a named default.

These are the values of ``reference/kms-facts.md``; configuration objects take their
defaults from here and validate overrides against the documented ranges.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACTIVATION_INTERVAL_MIN",
    "ACTIVATION_VALIDITY_DAYS",
    "CLOCK_ROLLBACK_TOLERANCE_SECONDS",
    "COUNT_CAP_FACTOR",
    "COUNT_FUTURE_TOLERANCE_SECONDS",
    "COUNT_WINDOW_DAYS",
    "DEFAULT_PORT",
    "DESKTOP_N_POLICY",
    "DNS_REPUBLISH_HOURS",
    "DNS_TIMEOUT_SECONDS",
    "DNS_TTL_SECONDS",
    "EVENT_RETENTION",
    "HOST_KEY_MAX_ACTIVATIONS",
    "HOST_KEY_MAX_HOSTS",
    "INITIAL_GRACE_DAYS",
    "INTERVAL_RANGE_MIN",
    "MAX_CLOCK_SKEW_HOURS",
    "MAX_REARMS",
    "OUT_OF_TOLERANCE_GRACE_DAYS",
    "RENEWAL_INTERVAL_MIN",
    "SERVER_N_POLICY",
    "SRV_SERVICE",
    "check_interval",
]

DEFAULT_PORT: Final = 1688
COUNT_WINDOW_DAYS: Final = 30
COUNT_CAP_FACTOR: Final = 2
# A client last seen later than now plus this is dated in the future (the host's clock was
# ahead when it came, or is behind now) and is not counted until it comes back. Hosts that
# share a PostgreSQL store stamp rows with their own clocks, which differ by seconds; an
# hour keeps them far apart from a clock that was wrong (the host's jump threshold too).
COUNT_FUTURE_TOLERANCE_SECONDS: Final = 3600
DESKTOP_N_POLICY: Final = 25
SERVER_N_POLICY: Final = 5
ACTIVATION_INTERVAL_MIN: Final = 120
RENEWAL_INTERVAL_MIN: Final = 10080
INTERVAL_RANGE_MIN: Final = (15, 43200)
ACTIVATION_VALIDITY_DAYS: Final = 180
INITIAL_GRACE_DAYS: Final = 30
OUT_OF_TOLERANCE_GRACE_DAYS: Final = 30
MAX_CLOCK_SKEW_HOURS: Final = 4
# How far a client's clock may fall behind its trusted time (the highest time it has seen)
# before the rollback is shown in dli and logged; timers never run on the earlier time.
CLOCK_ROLLBACK_TOLERANCE_SECONDS: Final = 600
MAX_REARMS: Final = 3
HOST_KEY_MAX_HOSTS: Final = 6
HOST_KEY_MAX_ACTIVATIONS: Final = 10
DNS_TTL_SECONDS: Final = 3600
DNS_REPUBLISH_HOURS: Final = 24
DNS_TIMEOUT_SECONDS: Final = 5.0
SRV_SERVICE: Final = "_openkms._tcp"
EVENT_RETENTION: Final = 1_000_000


def check_interval(minutes: int) -> int:
    """Return ``minutes`` if it is a valid activation/renewal interval, else raise ValueError."""
    low, high = INTERVAL_RANGE_MIN
    if not low <= minutes <= high:
        raise ValueError(f"interval {minutes} min is outside {low}..{high} minutes")
    return minutes
