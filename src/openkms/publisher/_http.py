"""What the service's route modules share: the context, JSON replies, bounded bodies.

Every refusal is a JSON :class:`~openkms.core.publisher_api.ServiceError` with a 4xx status
(5xx for the service's own trouble) and changes no record. Bodies are bounded
(``MAX_REQUEST_BYTES``) and read within ``request_timeout`` seconds; a handler that runs
longer is cancelled. ``X-Forwarded-For`` is honoured only from the addresses configured as
trusted proxies. Each client address (the forwarded one behind a trusted proxy) has a token
bucket: past it, every path but ``/healthz`` is refused with 429 and ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec
from aiohttp import web

from openkms._throttle import ThrottledLog
from openkms.admin.http_guard import RateLimiter, retry_after
from openkms.core.codes import ResultCode
from openkms.core.publisher_api import service_error_of
from openkms.errors import OpenKMSError
from openkms.i18n import _
from openkms.publisher.authority import Authority
from openkms.publisher.publisher import Publisher
from openkms.publisher.records import PublisherRecords
from openkms.publisher.service_config import DEFAULT_PORT, ServiceConfig

__all__ = [
    "CONTEXT",
    "DEFAULT_PORT",
    "RouteModule",
    "ServiceConfig",
    "ServiceContext",
    "client_address",
    "deadline_middleware",
    "error_middleware",
    "error_response",
    "json_response",
    "rate_limit_middleware",
    "read_body",
]

log = logging.getLogger("openkms.publisher")


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """What every route module gets: the publisher, its records, the authority, the config.

    ``clock`` (monotonic seconds) runs the rate limiter's buckets.
    """

    publisher: Publisher
    records: PublisherRecords
    config: ServiceConfig
    clock: Callable[[], float] = time.monotonic
    authority: Authority = field(init=False)
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "authority", Authority(self.publisher, self.records))
        limiter = RateLimiter(self.config.rate_limit, self.config.rate_burst, clock=self.clock)
        object.__setattr__(self, "limiter", limiter)

    def actor(self, request: web.Request) -> str:
        """Who asks, for the audit log: the peer, or the client a trusted proxy names."""
        return "service:" + client_address(request, self.config.trusted_proxies)


CONTEXT: Final = web.AppKey("context", ServiceContext)
RouteModule = Callable[[ServiceContext], Iterable[web.AbstractRouteDef]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS: dict[ResultCode, int] = {
    ResultCode.KEY_BLOCKED: 403,
    ResultCode.HOST_KEY_LIMIT_EXCEEDED: 409,
    ResultCode.STORE_UNAVAILABLE: 503,
    ResultCode.DISK_FULL: 503,
    ResultCode.INTERNAL_ERROR: 500,
    ResultCode.TIMEOUT: 408,
    ResultCode.RATE_LIMITED: 429,
}
# Paths a client address may ask for without taking from its bucket (load balancers' probes).
_UNLIMITED_PATHS: Final = frozenset({"/healthz"})
_rate_refusals = ThrottledLog(log)


def json_response(value: object, status: int = 200) -> web.Response:
    """``value`` (a msgspec Struct, dict or list) as a JSON response."""
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


def error_response(exc: OpenKMSError, status: int | None = None) -> web.Response:
    """The JSON refusal for ``exc`` (4xx unless the service itself is in trouble)."""
    return json_response(service_error_of(exc), status or _STATUS.get(exc.code, 400))


async def read_body(request: web.Request) -> bytes:
    """The request body, bounded in size and in time; an OpenKMSError otherwise."""
    context = request.app[CONTEXT]
    try:
        async with asyncio.timeout(context.config.request_timeout):
            return await request.read()
    except TimeoutError:
        raise OpenKMSError(
            _("the request body did not arrive in time"), code=ResultCode.TIMEOUT
        ) from None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OpenKMSError as exc:
        log.info("%s %s refused: %s", request.method, request.path, exc)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = f"{exc.status} {exc.reason}"
        return error_response(
            OpenKMSError(message, code=ResultCode.REQUEST_INVALID, fix=_HTTP_FIX), exc.status
        )
    except (TimeoutError, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(OpenKMSError(code=ResultCode.INTERNAL_ERROR), 500)


_HTTP_FIX = "Check the method, the path and the body size against docs/protocol.md."


@web.middleware
async def deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Cancel a handler that runs past twice the request timeout (a stuck database)."""
    seconds = request.app[CONTEXT].config.request_timeout * 2
    try:
        async with asyncio.timeout(seconds):
            return await handler(request)
    except TimeoutError:
        raise OpenKMSError(
            _("the request took too long"), code=ResultCode.TIMEOUT, fix=_("Retry later.")
        ) from None


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a client address past its token bucket: 429, ``Retry-After``, the JSON error."""
    if request.path in _UNLIMITED_PATHS:
        return await handler(request)
    context = request.app[CONTEXT]
    address = client_address(request, context.config.trusted_proxies)
    wait = context.limiter.take(address)
    if wait <= 0.0:
        return await handler(request)
    _rate_refusals.warning("%s is past its rate limit: answering 429", address)
    response = error_response(OpenKMSError(code=ResultCode.RATE_LIMITED))
    response.headers["Retry-After"] = retry_after(wait)
    return response


def client_address(request: web.Request, trusted_proxies: tuple[str, ...]) -> str:
    """The peer's address, or the last ``X-Forwarded-For`` hop when the peer is trusted."""
    peer = request.remote or "unknown"
    if peer not in trusted_proxies:
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return peer
