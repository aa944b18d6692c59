"""HTTP plumbing of the admin server: app keys, JSON responses, errors and authentication.

Authentication: a bearer token (``Authorization: Bearer TOKEN``) or the cookie the login
page sets. Reads need it only off loopback; changes always need it, and are refused (403)
when no token is configured. Tokens are compared as SHA-256 digests with
``hmac.compare_digest`` (constant time, whatever the length) and never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from aiohttp import web

from openkms.admin._params import BadParameterError
from openkms.admin.config import AdminConfig
from openkms.admin.metrics import HostMetrics
from openkms.admin.views import AdminContext
from openkms.errors import OpenKMSError

__all__ = [
    "CONFIG",
    "CONTEXT",
    "COOKIE",
    "METRICS",
    "auth_middleware",
    "error_middleware",
    "json_error",
    "json_response",
    "token_matches",
]

log = logging.getLogger("openkms.admin")

CONTEXT: Final = web.AppKey("context", AdminContext)
CONFIG: Final = web.AppKey("config", AdminConfig)
METRICS: Final = web.AppKey("metrics", HostMetrics)
COOKIE: Final = "openkms_admin"
# Reachable without a token even off loopback: the login page and what it needs.
PUBLIC_PATHS: Final = frozenset(
    {"/login", "/static/style.css", "/favicon.ico", "/healthz", "/readyz"}
)
READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(value: Any, status: int = 200) -> web.Response:
    """``value`` (a msgspec Struct, dict or list) as a JSON response."""
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


def json_error(
    status: int, code: str, message: str, *, fix: str | None = None, **extra: Any
) -> web.Response:
    """An error as ``{"error": {"status", "code", "message", "fix"?, ...}}``."""
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fix:
        body["fix"] = fix
    body.update(extra)
    response = json_response({"error": body}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="openkms-admin"'
    return response


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of two tokens (digests, so lengths leak nothing either)."""
    return hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


def _wants_html(request: web.Request) -> bool:
    return request.method == "GET" and not request.path.startswith(
        ("/api/", "/metrics", "/openapi")
    )


def _refusal(request: web.Request, config: AdminConfig) -> web.StreamResponse | None:
    """The response refusing ``request``, or None when it may go on."""
    change = request.method not in READ_METHODS
    if request.path in PUBLIC_PATHS or not (change or config.reads_need_token):
        return None
    if config.token is None:
        return json_error(
            403,
            "changes_disabled",
            "changes through the admin API need a token, and none is configured",
            fix="Restart the host with --admin-token-file FILE or OPENKMS_ADMIN_TOKEN set.",
        )
    presented = _presented_token(request)
    if presented is not None and token_matches(presented, config.token):
        return None
    if _wants_html(request):
        raise web.HTTPSeeOther(f"/login?next={request.path}")
    if presented is None:
        return json_error(
            401,
            "unauthorized",
            "this request needs the admin token",
            fix="Send 'Authorization: Bearer TOKEN'.",
        )
    log.warning(
        "admin: wrong token from %s for %s %s", request.remote, request.method, request.path
    )
    return json_error(401, "invalid_token", "the admin token is wrong")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what needs the token when it is missing or wrong."""
    refusal = _refusal(request, request.app[CONFIG])
    return refusal if refusal is not None else await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error of the API as a JSON body; never a traceback."""
    try:
        return await handler(request)
    except BadParameterError as exc:
        return json_error(400, "bad_parameter", exc.message, fix=exc.fix, parameter=exc.parameter)
    except web.HTTPException as exc:
        if exc.status < 400 or _wants_html(request):
            raise
        return json_error(exc.status, "http_error", exc.reason)
    except OpenKMSError as exc:
        log.error("admin: %s %s failed: %s", request.method, request.path, exc.message)
        return json_error(503, "store_error", exc.message, fix=exc.fix)
    except Exception:
        log.exception("admin: %s %s failed", request.method, request.path)
        return json_error(500, "internal_error", "internal error; see the host's log")
