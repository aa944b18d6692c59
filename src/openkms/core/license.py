"""The client's license states and timers, as Windows volume activation words them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.i18n import N_

__all__ = ["LicenseState", "LicenseStatus", "LicenseTimers", "evaluate"]

_DAY = 86400


class LicenseState(enum.IntEnum):
    """License status codes, numbered as Windows numbers them."""

    UNLICENSED = 0
    LICENSED = 1
    INITIAL_GRACE = 2
    OUT_OF_TOLERANCE_GRACE = 3
    NON_GENUINE_GRACE = 4
    NOTIFICATION = 5
    EXTENDED_GRACE = 6

    @property
    def label(self) -> str:
        """The words ``slmgr /dli`` prints after ``License Status:`` (English: the JSON value;
        translate with ``_()`` where shown)."""
        return _LABELS[self]


_LABELS = {
    LicenseState.UNLICENSED: N_("Unlicensed"),
    LicenseState.LICENSED: N_("Licensed"),
    LicenseState.INITIAL_GRACE: N_("Initial grace period"),
    LicenseState.OUT_OF_TOLERANCE_GRACE: N_(
        "Additional grace period (KMS license expired or hardware out of tolerance)"
    ),
    LicenseState.NON_GENUINE_GRACE: N_("Non-genuine grace period"),
    LicenseState.NOTIFICATION: N_("Notification"),
    LicenseState.EXTENDED_GRACE: N_("Extended grace period"),
}


@dataclass(frozen=True, slots=True)
class LicenseTimers:
    """The lengths of the timed states, in days (defaults from kms-facts)."""

    initial_grace_days: int = settings.INITIAL_GRACE_DAYS
    out_of_tolerance_days: int = settings.OUT_OF_TOLERANCE_GRACE_DAYS
    validity_days: int = settings.ACTIVATION_VALIDITY_DAYS


@dataclass(frozen=True, slots=True)
class LicenseStatus:
    """A license state, when it ends, and why it is not Licensed."""

    state: LicenseState
    ends_at: int | None
    reason: ResultCode = ResultCode.OK

    def minutes_remaining(self, now: int) -> int:
        """Whole minutes until the state ends (0 if it has no end or has ended)."""
        if self.ends_at is None:
            return 0
        return max(0, (self.ends_at - now) // 60)


def evaluate(
    *,
    key_installed: bool,
    grace_started_at: int,
    valid_until: int | None,
    now: int,
    timers: LicenseTimers = LicenseTimers(),
) -> LicenseStatus:
    """The license status at ``now``.

    ``grace_started_at`` is when the key was installed or the machine last rearmed;
    ``valid_until`` is the expiry of the last verified activation ticket, if any.
    """
    if not key_installed:
        return LicenseStatus(LicenseState.UNLICENSED, None, ResultCode.NO_PRODUCT_KEY)
    if valid_until is not None:
        if now < valid_until:
            return LicenseStatus(LicenseState.LICENSED, valid_until)
        grace_end = valid_until + timers.out_of_tolerance_days * _DAY
        if now < grace_end:
            return LicenseStatus(
                LicenseState.OUT_OF_TOLERANCE_GRACE, grace_end, ResultCode.GRACE_EXPIRED
            )
        return LicenseStatus(LicenseState.NOTIFICATION, None, ResultCode.GRACE_EXPIRED)
    grace_end = grace_started_at + timers.initial_grace_days * _DAY
    if now < grace_end:
        return LicenseStatus(LicenseState.INITIAL_GRACE, grace_end, ResultCode.OK)
    return LicenseStatus(LicenseState.NOTIFICATION, None, ResultCode.GRACE_EXPIRED)
