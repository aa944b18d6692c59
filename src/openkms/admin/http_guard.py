"""What keeps an aiohttp server standing on a hostile network: connection caps, a head
timeout, and per-address token buckets.

Shared by the publisher's activation service and the host's admin server (both aiohttp).
aiohttp itself bounds a request line and its headers in size but not in time, and counts no
connections, so:

- :class:`ConnectionGuard` wraps the protocol factory a site hands to ``loop.create_server``
  (``guarded_site.GuardedSite`` in place of ``web.TCPSite``; this module imports no aiohttp,
  for ``admin.lazy``). A new connection from an address that already holds
  ``max_connections_per_address``, or past ``max_connections`` in all, is closed at once,
  before aiohttp sees it. An admitted one must complete its first request head (request line
  and headers, up to the blank line) within ``header_timeout`` or it is closed (slowloris).
  After each response aiohttp's own ``keepalive_timeout`` (pass it to the ``AppRunner``)
  closes a connection whose next request head is not complete, idle or trickling alike. With
  TLS the handshake is bounded by the same header timeout.
- :class:`RateLimiter`: one token bucket per client address (an IPv6 address counts by its
  /64), in a table of bounded size: past ``max_addresses`` the least recently seen address is
  forgotten, which only gives it the full bucket it would soon have had again.

Lines a peer can provoke are logged at most once a second per kind, as the host's port does.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, cast

from openkms._throttle import ThrottledLog

__all__ = [
    "ADMIN_LIMITS",
    "ConnectionGuard",
    "ConnectionLimits",
    "RateLimiter",
    "open_file_limit",
    "retry_after",
    "within_file_limit",
]

log = logging.getLogger("openkms.http")

# Descriptors kept free for everything but client connections (database, logs, files).
_MIN_HEADROOM: Final = 64
_HEAD_ENDS: Final = (b"\r\n\r\n", b"\n\n")


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How many connections a server keeps and how long a connection may take to ask."""

    max_connections: int = 1024
    max_connections_per_address: int = 64
    header_timeout: float = 10.0
    keepalive_timeout: float = 15.0
    # Addresses held only to the total cap (trusted reverse proxies: every client behind
    # one arrives from its address).
    exempt_addresses: tuple[str, ...] = ()


# The host's admin server: a dashboard needs few connections, so that a flood from one
# address or many cannot take them all.
ADMIN_LIMITS: Final = ConnectionLimits(max_connections=256, max_connections_per_address=32)


if sys.platform == "win32":  # pragma: no cover - no RLIMIT_NOFILE there

    def open_file_limit() -> int | None:
        """The process's soft limit on open files (None: unknown on this system)."""
        return None

else:
    import resource

    def open_file_limit() -> int | None:
        """The process's soft limit on open files (None: unlimited)."""
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        return None if soft == resource.RLIM_INFINITY else int(soft)


def within_file_limit(limits: ConnectionLimits, file_limit: int | None) -> ConnectionLimits:
    """``limits`` with ``max_connections`` lowered to leave headroom below ``file_limit``.

    An eighth of the descriptors (64 at least) stays free for everything else; the lowering
    is logged, since it is what a connection flood will meet.
    """
    if file_limit is None:
        return limits
    ceiling = max(1, file_limit - max(_MIN_HEADROOM, file_limit // 8))
    if limits.max_connections <= ceiling:
        return limits
    log.warning(
        "max connections lowered from %d to %d: the open-file limit is %d (raise it with "
        "'ulimit -n' or LimitNOFILE= to keep %d)",
        limits.max_connections,
        ceiling,
        file_limit,
        limits.max_connections,
    )
    return replace(limits, max_connections=ceiling)


ProtocolFactory = Callable[[], asyncio.Protocol]


class ConnectionGuard:
    """Admits connections within the caps and closes those slow to send their head."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._per_address: dict[str, int] = {}  # open connections per source address
        self._open = 0
        self._refusals = ThrottledLog(log)
        self.slow_heads = ThrottledLog(log)

    @property
    def connection_count(self) -> int:
        """Connections open now (admitted and not yet closed)."""
        return self._open

    def factory(self, inner: ProtocolFactory) -> ProtocolFactory:
        """A protocol factory for ``loop.create_server``: ``inner``'s protocols, guarded."""
        return lambda: _GuardedProtocol(self, inner)

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``, unless a cap is reached."""
        limits = self.limits
        held = self._per_address.get(address, 0)
        if held >= limits.max_connections_per_address and address not in limits.exempt_addresses:
            self._refusals.warning(
                "%s holds %d connections, its limit: closing its new ones",
                address,
                limits.max_connections_per_address,
            )
            return False
        if self._open >= limits.max_connections:
            self._refusals.warning(
                "connection limit %d reached: closing new connections", limits.max_connections
            )
            return False
        self._per_address[address] = held + 1
        self._open += 1
        return True

    def release(self, address: str) -> None:
        """Forget an admitted connection that closed."""
        self._open -= 1
        left = self._per_address.get(address, 1) - 1
        if left > 0:
            self._per_address[address] = left
        else:
            self._per_address.pop(address, None)


class _GuardedProtocol(asyncio.Protocol):
    """One connection: admitted by the guard, then handed to the wrapped protocol."""

    __slots__ = ("_address", "_guard", "_head_timer", "_inner", "_make_inner", "_tail")

    def __init__(self, guard: ConnectionGuard, make_inner: ProtocolFactory) -> None:
        self._guard = guard
        self._make_inner = make_inner
        self._inner: asyncio.Protocol | None = None  # made once admitted
        self._address = ""
        self._head_timer: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen while waiting for the end of the head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._address = str(peer[0]) if peer else ""
        if not self._guard.admit(self._address):
            cast(asyncio.Transport, transport).abort()  # closed at once: it costs nothing more
            return
        self._inner = self._make_inner()
        loop = asyncio.get_running_loop()
        self._head_timer = loop.call_later(
            self._guard.limits.header_timeout, self._head_too_slow, transport
        )
        self._inner.connection_made(transport)

    def _head_too_slow(self, transport: asyncio.BaseTransport) -> None:
        self._head_timer = None
        self._guard.slow_heads.warning(
            "closing a connection from %s: no complete request head within %gs",
            self._address,
            self._guard.limits.header_timeout,
        )
        cast(asyncio.Transport, transport).abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._head_timer is not None:
            seen = self._tail + data
            if any(end in seen for end in _HEAD_ENDS):
                self._head_timer.cancel()
                self._head_timer = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is None:
            return
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._guard.release(self._address)
        inner, self._inner = self._inner, None
        inner.connection_lost(exc)


class RateLimiter:
    """A token bucket per client address: ``rate`` requests a second, ``burst`` at once.

    ``rate`` 0 turns it off. The table holds ``max_addresses`` at most (least recently seen
    forgotten first); IPv6 addresses share a bucket per /64, what one site is given.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 16_384,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._max_addresses = max_addresses
        # address -> (tokens left, when they were counted)
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, address: str) -> float:
        """Take a token for ``address``: 0.0 when it may go on, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        key = _bucket_key(address)
        now = self._clock()
        buckets = self._buckets
        tokens, then = buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self.rate
        buckets[key] = (tokens, now)
        while len(buckets) > self._max_addresses:
            buckets.popitem(last=False)
        return wait


def retry_after(wait: float) -> str:
    """A ``Retry-After`` value (whole seconds, at least 1) for a wait in seconds."""
    return str(max(1, math.ceil(wait)))


def _bucket_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address
