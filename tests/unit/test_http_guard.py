"""The HTTP guard's pure parts: token buckets, their bounded table, the connection counts,
and the cap kept below the open-file limit."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.admin.http_guard import (
    ConnectionGuard,
    ConnectionLimits,
    RateLimiter,
    open_file_limit,
    retry_after,
    within_file_limit,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.take("192.0.2.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("192.0.2.1") == pytest.approx(0.5)
    assert limiter.take("192.0.2.2") == 0.0  # another address, another bucket
    clock.now += 0.5
    assert limiter.take("192.0.2.1") == 0.0
    assert limiter.take("192.0.2.1") > 0.0
    clock.now += 3600  # refilled up to the burst, no further
    assert [limiter.take("192.0.2.1") for _ in range(4)][3] > 0.0


def test_a_refused_request_takes_no_token() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock)
    assert limiter.take("192.0.2.1") == 0.0
    for _ in range(100):  # hammering while empty does not push the wait further out
        assert limiter.take("192.0.2.1") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.take("192.0.2.1") == 0.0


def test_rate_zero_turns_the_limit_off() -> None:
    limiter = RateLimiter(0.0, 1, clock=Clock())
    assert all(limiter.take("192.0.2.1") == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_the_bucket_table_stays_bounded_under_rotating_addresses() -> None:
    """An attacker rotating through 20,000 addresses keeps 1,000 entries at most; the
    address seen last keeps its (empty) bucket."""
    limiter = RateLimiter(1.0, 1, clock=Clock(), max_addresses=1000)
    for i in range(20_000):
        limiter.take(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
        assert len(limiter) <= 1000
    assert limiter.take("10.0.78.31") > 0.0  # i = 19,999: still remembered, still empty


def test_ipv6_addresses_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() -> None:
    limiter = RateLimiter(1.0, 2, clock=Clock())
    assert limiter.take("2001:db8:1:2::1") == 0.0
    assert limiter.take("2001:db8:1:2:ffff::9") == 0.0
    assert limiter.take("2001:db8:1:2::77") > 0.0  # the same /64: its third request
    assert limiter.take("2001:db8:1:3::1") == 0.0  # the next /64
    assert limiter.take("::ffff:192.0.2.9") == 0.0
    assert limiter.take("192.0.2.9") == 0.0
    assert limiter.take("192.0.2.9") > 0.0  # the mapped address was the same client
    assert limiter.take("not an address") == 0.0  # counted as it is


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1"]), st.floats(0, 2)),
        max_size=300,
    )
)
def test_no_address_gets_more_than_its_burst_plus_the_rate(steps: list[tuple[str, float]]) -> None:
    clock = Clock()
    start = clock.now
    limiter = RateLimiter(3.0, 5, clock=clock, max_addresses=2)
    allowed: dict[str, int] = {}
    for address, advance in steps:
        clock.now += advance
        wait = limiter.take(address)
        assert wait >= 0.0
        if wait == 0.0:
            allowed[address] = allowed.get(address, 0) + 1
        assert len(limiter) <= 2
    elapsed = clock.now - start
    if len({a for a, _ in steps}) <= 2:  # never forgotten: each within its bucket's promise
        for count in allowed.values():
            assert count <= 5 + 3.0 * elapsed + 1e-6


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (99.5, "100")])
def test_retry_after_is_whole_seconds_and_at_least_one(wait: float, header: str) -> None:
    assert retry_after(wait) == header


def test_the_guard_counts_per_address_and_in_all() -> None:
    guard = ConnectionGuard(ConnectionLimits(max_connections=5, max_connections_per_address=2))
    assert [guard.admit("192.0.2.1") for _ in range(3)] == [True, True, False]
    assert [guard.admit("192.0.2.2") for _ in range(2)] == [True, True]
    assert guard.admit("192.0.2.3") is True
    assert guard.admit("192.0.2.4") is False  # 5 in all
    assert guard.connection_count == 5
    guard.release("192.0.2.1")
    assert guard.admit("192.0.2.4") is True
    assert guard.admit("192.0.2.1") is False  # 192.0.2.1 still holds one, the total is full


def test_trusted_proxies_are_held_only_to_the_total() -> None:
    limits = ConnectionLimits(
        max_connections=10, max_connections_per_address=2, exempt_addresses=("127.0.0.1",)
    )
    guard = ConnectionGuard(limits)
    assert all(guard.admit("127.0.0.1") for _ in range(10))
    assert guard.admit("127.0.0.1") is False
    assert guard.admit("192.0.2.1") is False


def test_the_cap_is_lowered_below_the_open_file_limit_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = ConnectionLimits(max_connections=1024)
    with caplog.at_level(logging.WARNING, "openkms.http"):
        lowered = within_file_limit(limits, 1024)
    assert lowered.max_connections == 1024 - 128  # an eighth kept free
    assert "max connections lowered from 1024 to 896" in caplog.text
    assert within_file_limit(limits, 256).max_connections == 192  # 64 kept free at least
    assert within_file_limit(limits, 1_048_576) is limits
    assert within_file_limit(limits, None) is limits
    limit = open_file_limit()
    assert limit is None or limit > 0
