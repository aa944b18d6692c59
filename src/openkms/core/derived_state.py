"""A client's license state now, as the host can tell it from the answers it gave.

A host never sees a client's license. What it knows is what it told the client: when it
last answered it and whether that answer carried a ticket, and when it last issued one. A
ticket is valid for 180 days, an activated client renews every renewal interval (7 days)
and one without a ticket retries every activation interval (2 hours); a client that lost
its ticket runs out-of-tolerance grace (30 days), then Notification. From those facts and
the time now, :func:`derive_state` tells what the client is in *now*. The status the client
*reported* with its last request is a different thing (it was true then, from the client's
side) and is shown apart.

The derived state only moves forward in time: for the same facts, a later ``now`` never
gives an earlier state in :attr:`DerivedState.rank` order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from openkms.core import settings
from openkms.core.license import LicenseState
from openkms.i18n import N_

__all__ = [
    "RENEWAL_MARGIN_SECONDS",
    "DerivedState",
    "DerivedStatus",
    "StateTimers",
    "derive_state",
]

_DAY: Final = 86400
# How late a renewal may be before it is "overdue": a machine switched off for a night is
# not worth a warning, one silent for a day past its renewal is.
RENEWAL_MARGIN_SECONDS: Final = _DAY


class DerivedState(enum.Enum):
    """What a client is in now, as far as the host knows (values are the API's names)."""

    LICENSED = "licensed"
    RENEWAL_OVERDUE = "renewal_overdue"
    NOT_RENEWED = "not_renewed"
    GRACE = "grace"
    EXPIRED = "expired"
    NOTIFICATION = "notification"

    @property
    def label(self) -> str:
        """The words the dashboard and exports show (English; ``_()`` where shown to people)."""
        return _LABELS[self]

    @property
    def rank(self) -> int:
        """The order states follow in time (each only ever moves to a higher rank)."""
        return _RANKS[self]


_LABELS: Final = {
    DerivedState.LICENSED: N_("Licensed"),
    DerivedState.RENEWAL_OVERDUE: N_("Licensed, renewal overdue"),
    DerivedState.NOT_RENEWED: N_("Licensed, not renewed (count below N)"),
    DerivedState.GRACE: N_("Grace, not activated"),
    DerivedState.EXPIRED: N_("Expired"),
    DerivedState.NOTIFICATION: N_("Notification"),
}
_RANKS: Final = {state: rank for rank, state in enumerate(DerivedState)}
# Reported statuses of a client that has no licence and no grace left.
_LAPSED: Final = frozenset({int(LicenseState.UNLICENSED), int(LicenseState.NOTIFICATION)})


@dataclass(frozen=True, slots=True)
class StateTimers:
    """The lengths the derivation uses (defaults from kms-facts); intervals in minutes."""

    validity_days: int = settings.ACTIVATION_VALIDITY_DAYS
    renewal_interval: int = settings.RENEWAL_INTERVAL_MIN
    grace_days: int = settings.INITIAL_GRACE_DAYS
    out_of_tolerance_days: int = settings.OUT_OF_TOLERANCE_GRACE_DAYS
    renewal_margin: int = RENEWAL_MARGIN_SECONDS


@dataclass(frozen=True, slots=True)
class DerivedStatus:
    """A derived state and ``until``, the end of the ticket or grace it rests on (None: it
    does not end). A Licensed client may become overdue before its ticket ends."""

    state: DerivedState
    until: int | None


def derive_state(
    *,
    last_seen: int,
    last_activated: int | None,
    reported_status: int,
    now: int,
    timers: StateTimers = StateTimers(),
) -> DerivedStatus:
    """The state a client is in at ``now``.

    ``last_seen`` is the host's last answer to it, ``last_activated`` when the host last
    gave it a ticket (None: never), ``reported_status`` the license status its last request
    carried. A ``now`` before ``last_seen`` (a clock set back) reads as ``last_seen``.
    """
    last_seen = max(last_seen, last_activated or last_seen)
    now = max(now, last_seen)
    if last_activated is None:
        return _never_activated(last_seen, reported_status, now, timers)
    ticket_end = last_activated + timers.validity_days * _DAY
    if now < ticket_end:
        if last_seen > last_activated:  # asked again and got no ticket: count below N
            return DerivedStatus(DerivedState.NOT_RENEWED, ticket_end)
        overdue_at = last_activated + timers.renewal_interval * 60 + timers.renewal_margin
        if now < overdue_at:
            return DerivedStatus(DerivedState.LICENSED, ticket_end)
        return DerivedStatus(DerivedState.RENEWAL_OVERDUE, ticket_end)
    grace_end = ticket_end + timers.out_of_tolerance_days * _DAY
    if now < grace_end:
        return DerivedStatus(DerivedState.EXPIRED, grace_end)
    return DerivedStatus(DerivedState.NOTIFICATION, None)


def _never_activated(
    last_seen: int, reported_status: int, now: int, timers: StateTimers
) -> DerivedStatus:
    """A client this host never gave a ticket: in grace (at most the grace period after
    it was last seen in it), then Notification."""
    if reported_status in _LAPSED:
        return DerivedStatus(DerivedState.NOTIFICATION, None)
    grace_end = last_seen + timers.grace_days * _DAY
    if now < grace_end:
        return DerivedStatus(DerivedState.GRACE, grace_end)
    return DerivedStatus(DerivedState.NOTIFICATION, None)
