"""``openkms publisher serve``: the publisher's activation service over HTTP (aiohttp).

One app factory, :func:`build_app`, over a :class:`~openkms.publisher._http.ServiceContext`
(the publisher directory, its records, the
:class:`~openkms.publisher.authority.Authority`). The routes come from *route modules*:
functions from the context to aiohttp route definitions. The service's own are listed in
:data:`openkms.publisher.routes.ROUTE_MODULES`; a new part of the service adds its module
there (one line), or a caller passes ``extra_routes``.

Lifecycle (:func:`serve`): open the records, issue the MAK certificate if due, bind, call
``ready`` with the bound addresses, serve until ``stop`` is set, then stop within
``shutdown_timeout`` and close the records. Connections pass through a
:class:`~openkms.admin.http_guard.ConnectionGuard` (caps, head timeout); requests through the
rate limiter of :mod:`openkms.publisher._http`.

The service holds the root key in this version: it signs host certificates with it and
issues its MAK certificate with it (``docs/publisher.md``, "Keeping the root key safe").
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from openkms.admin.guarded_site import GuardedSite
from openkms.admin.http_guard import (
    ConnectionGuard,
    ConnectionLimits,
    open_file_limit,
    within_file_limit,
)
from openkms.core.codes import ResultCode
from openkms.errors import OpenKMSError, StateError
from openkms.i18n import _
from openkms.publisher._http import (
    CONTEXT,
    RouteModule,
    ServiceConfig,
    ServiceContext,
    deadline_middleware,
    error_middleware,
    rate_limit_middleware,
)
from openkms.publisher.database import open_records
from openkms.publisher.publisher import Publisher
from openkms.publisher.routes import ROUTE_MODULES

__all__ = ["build_app", "connection_limits", "serve", "tls_context"]

log = logging.getLogger("openkms.publisher")


def build_app(context: ServiceContext, extra_routes: Sequence[RouteModule] = ()) -> web.Application:
    """The service's aiohttp application: ``ROUTE_MODULES`` and ``extra_routes``."""
    app = web.Application(
        client_max_size=context.config.max_body,
        middlewares=[error_middleware, rate_limit_middleware, deadline_middleware],
    )
    app[CONTEXT] = context
    for module in (*ROUTE_MODULES, *extra_routes):
        app.router.add_routes(module(context))
    return app


async def serve(
    config: ServiceConfig,
    stop: asyncio.Event,
    ready: Callable[[list[str]], None] = lambda urls: None,
    extra_routes: Sequence[RouteModule] = (),
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run the service until ``stop`` is set; ``ready`` gets the URLs it listens on.

    ``clock`` (monotonic seconds) runs the rate limiter (tests pass their own).
    """
    if not any(isinstance(f, _OneLine) for f in _http_log.filters):
        _http_log.addFilter(_OneLine())
    publisher = Publisher(config.directory, database=config.database, actor="service")
    tls = (
        tls_context(config.tls_cert, config.tls_key) if config.tls_cert and config.tls_key else None
    )
    publisher.mak_signer(int(time.time()))  # fail early on a broken root or service key
    records = await open_records(config.directory, publisher.database, publisher.trust().catalog)
    guard = ConnectionGuard(within_file_limit(connection_limits(config), open_file_limit()))
    runner = web.AppRunner(
        build_app(ServiceContext(publisher, records, config, clock), extra_routes),
        handler_cancellation=True,
        shutdown_timeout=config.shutdown_timeout,
        keepalive_timeout=config.keepalive_timeout,
        access_log=None,
        logger=_http_log,
    )
    try:
        await runner.setup()
        site = GuardedSite(runner, *config.listen, guard, ssl_context=tls, backlog=128)
        try:
            await site.start()
        except OSError as exc:
            host, port = config.listen
            raise OpenKMSError(
                _("cannot listen on {host}:{port}: {error}").format(
                    host=host, port=port, error=exc.strerror or exc
                ),
                code=ResultCode.ACCESS_DENIED if exc.errno == errno.EACCES else None,
                fix=_(
                    "Choose a free address and port with --listen (ports below 1024 need "
                    "privileges); is another service already running?"
                ),
            ) from None
        urls = [_url(tls is not None, address) for address in runner.addresses]
        log.info("publisher service listening on %s", ", ".join(urls))
        ready(urls)
        await stop.wait()
    finally:
        await runner.cleanup()
        await records.close()


def connection_limits(config: ServiceConfig) -> ConnectionLimits:
    """The connection guard's limits from the service's config (trusted proxies: exempt
    from the per-address cap, since every client behind one arrives from its address)."""
    return ConnectionLimits(
        max_connections=config.max_connections,
        max_connections_per_address=config.max_connections_per_address,
        header_timeout=config.header_timeout,
        keepalive_timeout=config.keepalive_timeout,
        exempt_addresses=config.trusted_proxies,
    )


class _OneLine(logging.Filter):
    """aiohttp's log of a request it could not parse, as one line without a traceback.

    Anyone can send bytes that are not HTTP; that is an INFO line, not an error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            detail = f"{type(exc).__name__}: {str(exc)[:200]}".replace("%", "%%")
            record.msg = f"{record.msg} ({detail})"
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


_http_log = logging.getLogger("openkms.publisher.http")


def _url(tls: bool, address: object) -> str:
    host, port = address[0], address[1]  # type: ignore[index]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later) from a PEM certificate chain and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise StateError(
            _("cannot load the TLS certificate {cert} and key {key}: {exc}").format(
                cert=cert, key=key, exc=exc
            ),
            fix=_("Give a PEM certificate (chain) with --tls-cert and its key with --tls-key."),
        ) from None
    return context
