"""The admin HTTP server, embedded in the host's event loop (aiohttp ``AppRunner``).

It reads the store through the store's own reader connections (worker threads), never
through the writer, so polling the dashboard does not hold up activations. Its connections
pass through a :class:`~openkms.admin.http_guard.ConnectionGuard` (``ADMIN_LIMITS``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from aiohttp import web

from openkms._address import format_address
from openkms.admin import api, health, pages
from openkms.admin._http import (
    CONFIG,
    CONTEXT,
    COOKIE,
    METRICS,
    auth_middleware,
    error_middleware,
    host_middleware,
    json_error,
    json_response,
    language_middleware,
    request_language,
    token_matches,
)
from openkms.admin.config import AdminConfig, listen_error
from openkms.admin.guarded_site import GuardedSite
from openkms.admin.host_view import HostView
from openkms.admin.http_guard import (
    ConnectionGuard,
    ConnectionLimits,
    open_file_limit,
    within_file_limit,
)
from openkms.admin.metrics import CONTENT_TYPE, Gauge, HostMetrics
from openkms.admin.openapi import openapi_spec
from openkms.admin.views import AdminContext, dns_status
from openkms.i18n import SUPPORTED_LANGUAGES, _
from openkms.store.base import HostStore

__all__ = ["AdminServer"]

log = logging.getLogger("openkms.admin")

STATIC: Final = Path(__file__).parent / "static"
PAGES: Final = {"/": "index.html", "/clients": "clients.html", "/events": "events.html"}
LANG_COOKIE_AGE: Final = 365 * 86400  # the switcher's choice, remembered for a year


class AdminServer:
    """The admin API, dashboard and metrics of one host: start, then stop."""

    def __init__(
        self,
        config: AdminConfig,
        *,
        host: HostView,
        store: HostStore,
        clock: Callable[[], float],
        metrics: HostMetrics | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self.config = config
        chosen = limits if limits is not None else config.limits
        self.guard = ConnectionGuard(within_file_limit(chosen, open_file_limit()))
        self.metrics = metrics if metrics is not None else HostMetrics()
        self.context = AdminContext(host, store, clock)
        self.app = build_app(config, self.context, self.metrics)
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None

    def set_listeners(self, addresses: Sequence[tuple[str, int]]) -> None:
        """The activation listeners that are up, for ``/readyz``."""
        self.app[health.LISTENERS].addresses = tuple(addresses)

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` once started."""
        if self.address is None:
            raise RuntimeError("the admin server is not started")
        return f"http://{format_address(*self.address)}/"

    async def start(self) -> tuple[str, int]:
        """Bind and serve; return the bound (host, port)."""
        runner = await self.setup()
        site = GuardedSite(
            runner, self.config.host, self.config.port, self.guard, reuse_address=True
        )
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise listen_error(self.config, exc) from None
        server = site._server  # the asyncio.Server: the only way to read back port 0
        sockets = getattr(server, "sockets", None) or []
        host, port = (
            sockets[0].getsockname()[:2] if sockets else (self.config.host, self.config.port)
        )
        self.address = (host, port)
        log.info("admin on %s (%s)", self.url, "token set" if self.config.token else "no token")
        return self.address

    async def setup(self) -> web.AppRunner:
        """Make the application ready to serve connections (``protocol()``), listening or not."""
        if self._runner is None:
            runner = web.AppRunner(
                self.app,
                handle_signals=False,
                access_log=None,
                keepalive_timeout=self.guard.limits.keepalive_timeout,
            )
            await runner.setup()
            self._runner = runner
        return self._runner

    def protocol(self) -> asyncio.BaseProtocol:
        """A protocol serving one connection (after ``setup()``), for a listener of the
        caller's that guards its connections itself (``admin.lazy``)."""
        if self._runner is None or self._runner.server is None:
            raise RuntimeError("the admin server is not set up")
        return self._runner.server()

    async def stop(self) -> None:
        """Close the listener and open connections."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


def build_app(config: AdminConfig, context: AdminContext, metrics: HostMetrics) -> web.Application:
    """The aiohttp application (also used by the in-process tests)."""
    app = web.Application(
        middlewares=[language_middleware, host_middleware, error_middleware, auth_middleware]
    )
    app[CONFIG] = config
    app[CONTEXT] = context
    app[METRICS] = metrics
    app.add_routes(api.routes())
    app.add_routes(
        [
            web.get("/openapi.json", _openapi),
            web.get("/metrics", _metrics),
            web.get("/login", _login_page),
            web.post("/login", _login),
            web.get("/lang", _set_language),
            *(web.get(path, _page) for path in PAGES),
        ]
    )
    app.router.add_static("/static", STATIC)
    health.install(app)
    return app


def _html(request: web.Request, name: str) -> web.Response:
    """The page ``name`` in the request's language (never cached: it depends on the cookie
    and ``Accept-Language``, and shows the host's data)."""
    text = pages.render_page(STATIC / name, request_language(request), switch_next=request.path_qs)
    return web.Response(
        text=text,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Vary": "Cookie, Accept-Language"},
    )


async def _page(request: web.Request) -> web.Response:
    return _html(request, PAGES[request.path])


async def _set_language(request: web.Request) -> web.StreamResponse:
    """GET /lang?set=fr&next=/clients: the switcher. Remember the language, go back."""
    wanted = request.query.get("set", "")
    language = pages.cookie_language(wanted)
    if language is None:
        return json_error(
            400,
            "bad_parameter",
            _("unsupported language {language!r}").format(language=wanted[:20]),
            fix=_("Choose one of: {languages}.").format(languages=", ".join(SUPPORTED_LANGUAGES)),
            parameter="set",
        )
    response = web.HTTPSeeOther(pages.safe_target(request.query.get("next")))
    response.set_cookie(
        pages.LANG_COOKIE, language, max_age=LANG_COOKIE_AGE, samesite="Strict", path="/"
    )
    raise response


async def _openapi(request: web.Request) -> web.Response:
    return json_response(openapi_spec())


async def _login_page(request: web.Request) -> web.Response:
    return _html(request, "login.html")


async def _login(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    form = await request.post()
    token = str(form.get("token", ""))
    target = pages.safe_target(str(form.get("next", "/")))
    if config.token is None or not token_matches(token, config.token):
        log.warning("admin: failed login from %s", request.remote)
        raise web.HTTPSeeOther(f"/login?failed=1&next={target}")
    response = web.HTTPSeeOther(target)
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    raise response


async def _metrics(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    gauges = await _gauges(context)
    text = request.app[METRICS].render(gauges)
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})


async def _gauges(context: AdminContext) -> list[Gauge]:
    now = context.now()
    snapshot = await context.snapshot(now)
    activation, host_settings = snapshot.activation, snapshot.settings
    gauges: list[Gauge] = []
    if activation.trust is not None:
        app_id = activation.trust.catalog.application_id
        count = await context.store.current_count(app_id, now)
        gauges.append(
            Gauge(
                "openkms_current_count",
                "The host's current count.",
                count,
                (("application_id", app_id),),
            )
        )
    gauges.append(
        Gauge(
            "openkms_host_activated", "1 when the host may sign tickets.", int(activation.activated)
        )
    )
    if activation.certificate is not None:
        gauges.append(
            Gauge(
                "openkms_certificate_expiry_timestamp_seconds",
                "When the host certificate expires.",
                activation.certificate.expires_at,
            )
        )
    dns = await dns_status(context.store, host_settings)
    gauges.append(
        Gauge("openkms_dns_publishing_enabled", "1 when DNS publishing is on.", int(dns.enabled))
    )
    if dns.state in ("ok", "failing"):
        gauges.append(
            Gauge(
                "openkms_dns_publishing_ok",
                "1 when the last publish succeeded (12294).",
                int(dns.state == "ok"),
            )
        )
    if dns.last_success is not None:
        gauges.append(
            Gauge(
                "openkms_dns_last_success_timestamp_seconds",
                "When DNS publishing last succeeded.",
                dns.last_success,
            )
        )
    return gauges
