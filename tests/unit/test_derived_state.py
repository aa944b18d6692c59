"""The state a host derives for a client from the answers it gave (core/derived_state.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.derived_state import (
    RENEWAL_MARGIN_SECONDS,
    DerivedState,
    StateTimers,
    derive_state,
)
from openkms.core.license import LicenseState

DAY = 86400
T0 = 1_800_000_000
LICENSED = int(LicenseState.LICENSED)
GRACE = int(LicenseState.INITIAL_GRACE)
TIMERS = StateTimers()
RENEWAL = TIMERS.renewal_interval * 60


def state(
    last_seen: int, last_activated: int | None, now: int, reported: int = LICENSED
) -> DerivedState:
    return derive_state(
        last_seen=last_seen, last_activated=last_activated, reported_status=reported, now=now
    ).state


def test_a_client_renewed_on_time_is_licensed_until_its_ticket_ends() -> None:
    status = derive_state(last_seen=T0, last_activated=T0, reported_status=GRACE, now=T0 + DAY)
    assert status.state is DerivedState.LICENSED and status.until == T0 + 180 * DAY


def test_renewal_is_overdue_after_the_renewal_interval_and_the_margin() -> None:
    due = T0 + RENEWAL + RENEWAL_MARGIN_SECONDS
    assert state(T0, T0, due - 1) is DerivedState.LICENSED
    assert state(T0, T0, due) is DerivedState.RENEWAL_OVERDUE


def test_a_renewal_answered_without_a_ticket_keeps_the_old_ticket_until_it_ends() -> None:
    assert state(T0 + 10 * DAY, T0, T0 + 11 * DAY) is DerivedState.NOT_RENEWED
    assert state(T0 + 10 * DAY, T0, T0 + 180 * DAY) is DerivedState.EXPIRED


def test_past_the_ticket_s_end_the_client_is_expired_then_in_notification() -> None:
    """The dashboard's case: a ticket older than 180 days, though the client said Licensed."""
    status = derive_state(
        last_seen=T0, last_activated=T0, reported_status=LICENSED, now=T0 + 181 * DAY
    )
    assert status.state is DerivedState.EXPIRED and status.until == T0 + 210 * DAY
    assert state(T0, T0, T0 + 210 * DAY) is DerivedState.NOTIFICATION


def test_a_client_never_activated_is_in_grace_then_in_notification() -> None:
    status = derive_state(last_seen=T0, last_activated=None, reported_status=GRACE, now=T0)
    assert status.state is DerivedState.GRACE and status.until == T0 + 30 * DAY
    assert state(T0, None, T0 + 30 * DAY, GRACE) is DerivedState.NOTIFICATION


def test_a_client_that_reported_notification_and_got_no_ticket_is_in_notification() -> None:
    notification = int(LicenseState.NOTIFICATION)
    assert state(T0, None, T0, notification) is DerivedState.NOTIFICATION


def test_a_clock_set_back_reads_as_the_last_answer() -> None:
    assert state(T0, T0, T0 - 400 * DAY) is DerivedState.LICENSED


@pytest.mark.parametrize("target", list(DerivedState))
def test_every_state_is_reachable(target: DerivedState) -> None:
    cases = {
        DerivedState.LICENSED: (T0, T0, T0),
        DerivedState.RENEWAL_OVERDUE: (T0, T0, T0 + 20 * DAY),
        DerivedState.NOT_RENEWED: (T0 + DAY, T0, T0 + DAY),
        DerivedState.GRACE: (T0, None, T0),
        DerivedState.EXPIRED: (T0, T0, T0 + 200 * DAY),
        DerivedState.NOTIFICATION: (T0, None, T0 + 31 * DAY),
    }
    last_seen, last_activated, now = cases[target]
    assert state(last_seen, last_activated, now, GRACE) is target
    assert target.label and target.value


times = st.integers(0, 2**40)
timers = st.builds(
    StateTimers,
    validity_days=st.integers(1, 400),
    renewal_interval=st.integers(15, 43200),
    grace_days=st.integers(0, 60),
    out_of_tolerance_days=st.integers(0, 60),
    renewal_margin=st.integers(0, 7 * DAY),
)


@settings(max_examples=400, deadline=None)
@given(
    last_seen=times,
    activated_before=st.one_of(st.none(), st.integers(0, 400 * DAY)),
    reported=st.integers(-1, 7),
    now=times,
    later=st.integers(0, 2**32),
    timers=timers,
)
def test_the_state_only_moves_forward_in_time(
    last_seen: int,
    activated_before: int | None,
    reported: int,
    now: int,
    later: int,
    timers: StateTimers,
) -> None:
    last_activated = None if activated_before is None else max(0, last_seen - activated_before)

    def at(t: int) -> tuple[DerivedState, int | None]:
        status = derive_state(
            last_seen=last_seen,
            last_activated=last_activated,
            reported_status=reported,
            now=t,
            timers=timers,
        )
        return status.state, status.until

    first, until = at(now)
    second, _ = at(now + later)
    assert first.rank <= second.rank
    if until is not None:  # the ticket or grace it names ends then, and the state with it
        assert until > max(now, last_seen)
        assert at(until)[0].rank > first.rank
