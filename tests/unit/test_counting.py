from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openkms.core import settings
from openkms.core.counting import CountPolicy, current_count, future_rows, seen_again

DAY = 86400
NOW = 1_800_000_000

seen = st.dictionaries(st.binary(min_size=16, max_size=16), st.integers(NOW - 60 * DAY, NOW))
npolicies = st.dictionaries(st.sampled_from([5, 25]), st.integers(NOW - 60 * DAY, NOW), min_size=1)


@given(seen, npolicies)
def test_count_never_exceeds_twice_the_largest_recent_n(
    last: dict[bytes, int], ns: dict[int, int]
) -> None:
    count = current_count(last, ns, NOW)
    recent_ns = [n for n, t in ns.items() if t >= NOW - 30 * DAY]
    assert count <= 2 * max(recent_ns, default=0)
    assert count <= sum(1 for t in last.values() if t >= NOW - 30 * DAY)
    assert count <= 50


@given(seen)
def test_server_only_count_caps_at_ten(last: dict[bytes, int]) -> None:
    assert current_count(last, {5: NOW}, NOW) <= 10


def test_the_window_is_thirty_days_inclusive() -> None:
    last = {b"a" * 16: NOW - 30 * DAY, b"b" * 16: NOW - 30 * DAY - 1}
    assert current_count(last, {25: NOW}, NOW) == 1
    assert CountPolicy().window_seconds == 30 * DAY


def test_a_cmid_dated_in_the_future_is_not_counted() -> None:
    hour = settings.COUNT_FUTURE_TOLERANCE_SECONDS
    last = {b"a" * 16: NOW + hour, b"b" * 16: NOW + hour + 1}
    assert current_count(last, {25: NOW}, NOW) == 1
    assert future_rows(last, NOW) == 1
    # An N-policy dated in the future sets no cap.
    assert current_count(last, {25: NOW + hour + 1}, NOW) == 0


@given(st.integers(NOW - 60 * DAY, NOW + 60 * DAY), st.integers(NOW - 60 * DAY, NOW + 60 * DAY))
def test_a_request_leaves_its_client_counted_at_its_time(previous: int, time: int) -> None:
    seen = seen_again(previous, time)
    assert current_count({b"a" * 16: seen}, {25: time}, time) == 1
    # Never moved back, except from beyond the tolerance.
    assert seen >= time
    assert seen == max(previous, time) or previous > time + settings.COUNT_FUTURE_TOLERANCE_SECONDS
