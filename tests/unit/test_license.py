from __future__ import annotations

from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState, evaluate

DAY = 86400
T0 = 1_800_000_000


def test_initial_grace_then_notification() -> None:
    status = evaluate(key_installed=True, grace_started_at=T0, valid_until=None, now=T0 + 10 * DAY)
    assert status.state is LicenseState.INITIAL_GRACE
    assert status.minutes_remaining(T0 + 10 * DAY) == 20 * 1440
    late = evaluate(key_installed=True, grace_started_at=T0, valid_until=None, now=T0 + 30 * DAY)
    assert late.state is LicenseState.NOTIFICATION and late.reason is ResultCode.GRACE_EXPIRED


def test_licensed_180_days_then_out_of_tolerance_then_notification() -> None:
    until = T0 + 180 * DAY
    licensed = evaluate(key_installed=True, grace_started_at=0, valid_until=until, now=T0)
    assert licensed.state is LicenseState.LICENSED
    assert licensed.minutes_remaining(T0) == 259200
    oot = evaluate(key_installed=True, grace_started_at=0, valid_until=until, now=until)
    assert oot.state is LicenseState.OUT_OF_TOLERANCE_GRACE
    assert oot.minutes_remaining(until) == 30 * 1440
    done = evaluate(key_installed=True, grace_started_at=0, valid_until=until, now=until + 30 * DAY)
    assert done.state is LicenseState.NOTIFICATION


def test_no_key_is_unlicensed() -> None:
    status = evaluate(key_installed=False, grace_started_at=0, valid_until=None, now=T0)
    assert status.state is LicenseState.UNLICENSED and status.reason is ResultCode.NO_PRODUCT_KEY


def test_labels_are_windows_words() -> None:
    assert LicenseState.OUT_OF_TOLERANCE_GRACE.label.startswith("Additional grace period")
    assert [int(s) for s in LicenseState] == list(range(7))
