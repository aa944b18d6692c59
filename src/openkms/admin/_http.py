"""HTTP plumbing of the admin server: app keys, JSON responses, errors and authentication.

Language: every request is handled inside a :func:`~openkms.i18n.language_scope` of the
language the dashboard's pages would be in (:func:`request_language`: the ``openkms_lang``
cookie, else ``Accept-Language``, else English), so an error's ``message`` and ``fix``, and
the text of an ``OpenKMSError`` raised while serving, are in the caller's language; the error
response says which in ``Content-Language``. The ``code`` and the data never change.

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

from openkms.admin import pages
from openkms.admin._params import BadParameterError
from openkms.admin.config import AdminConfig
from openkms.admin.metrics import HostMetrics
from openkms.admin.views import AdminContext
from openkms.errors import OpenKMSError
from openkms.i18n import N_, SUPPORTED_LANGUAGES, _, current_language, gettext_for, language_scope

__all__ = [
    "CONFIG",
    "CONTEXT",
    "COOKIE",
    "METRICS",
    "auth_middleware",
    "error_middleware",
    "host_middleware",
    "json_error",
    "json_response",
    "language_middleware",
    "request_language",
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
# The reasons of the HTTP errors aiohttp raises itself (no route, wrong method, body too big).
HTTP_REASONS: Final = {
    400: N_("Bad Request"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    413: N_("Request Entity Too Large"),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(value: Any, status: int = 200) -> web.Response:
    """``value`` (a msgspec Struct, dict or list) as a JSON response."""
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


def json_error(
    status: int, code: str, message: str, *, fix: str | None = None, **extra: Any
) -> web.Response:
    """An error as ``{"error": {"status", "code", "message", "fix"?, ...}}``.

    ``message`` and ``fix`` are text for people, already in the current language (the
    request's, inside :func:`language_middleware`), which ``Content-Language`` names.
    """
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fix:
        body["fix"] = fix
    body.update(extra)
    response = json_response({"error": body}, status)
    response.headers["Content-Language"] = current_language()
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="openkms-admin"'
    return response


def request_language(request: web.Request) -> str:
    """The language of ``request``, by the dashboard's rule (:func:`pages.request_language`)."""
    return pages.request_language(
        request.cookies.get(pages.LANG_COOKIE), request.headers.get("Accept-Language")
    )


def token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of two tokens (digests, so lengths leak nothing either)."""
    return hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
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
            _("changes through the admin API need a token, and none is configured"),
            fix=_("Restart the host with --admin-token-file FILE or OPENKMS_ADMIN_TOKEN set."),
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
            _("this request needs the admin token"),
            fix=_("Send 'Authorization: Bearer TOKEN'."),
        )
    log.warning(
        "admin: wrong token from %s for %s %s", request.remote, request.method, request.path
    )
    return json_error(
        401,
        "invalid_token",
        _("the admin token is wrong"),
        fix=_("Send the token the host was started with (--admin-token-file)."),
    )


def _host_name(authority: str) -> str:
    """``example.com`` of ``example.com:8080``, ``::1`` of ``[::1]:8080``."""
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


def _misdirected(request: web.Request, config: AdminConfig) -> web.StreamResponse | None:
    """421 for a ``Host:`` that is not ours, 403 for a change from another origin."""
    host = request.headers.get("Host", "")
    if not config.accepts_host(_host_name(host)):
        log.warning("admin: refused Host %r from %s", host[:100], request.remote)
        return json_error(
            421,
            "misdirected_request",
            _("this server does not answer for that host name"),
            fix=_(
                "Reach the admin API by 127.0.0.1 or localhost, or add the name with "
                "--admin-allowed-host NAME."
            ),
        )
    if request.method in READ_METHODS:
        return None
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or a same-origin form of an old one
        return None
    scheme, _sep, rest = origin.partition("://")
    if scheme not in ("http", "https") or not config.accepts_host(_host_name(rest)):
        log.warning(
            "admin: refused %s %s from origin %r", request.method, request.path, origin[:100]
        )
        return json_error(
            403,
            "bad_origin",
            _("changes are accepted only from this server's pages"),
            fix=_(
                "Make the change from the dashboard of this server, or without an Origin header."
            ),
        )
    return None


@web.middleware
async def language_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serve ``request`` in its language (the first middleware: its errors are in it too)."""
    with language_scope(request_language(request)):
        return await handler(request)


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests for another host name (DNS rebinding) and cross-origin changes."""
    refusal = _misdirected(request, request.app[CONFIG])
    return refusal if refusal is not None else await handler(request)


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
        return json_error(exc.status, "http_error", _http_reason(exc))
    except OpenKMSError as exc:
        log.error("admin: %s %s failed: %s", request.method, request.path, exc.message)
        message, fix = _error_text(exc)
        return json_error(503, "store_error", message, fix=fix)
    except Exception:
        log.exception("admin: %s %s failed", request.method, request.path)
        return json_error(500, "internal_error", _("internal error; see the host's log"))


def _http_reason(exc: web.HTTPException) -> str:
    """The reason of an HTTP error aiohttp raised, translated when it is the standard one."""
    standard = HTTP_REASONS.get(exc.status)
    return _(standard) if standard is not None and exc.reason == standard else exc.reason


def _error_text(exc: OpenKMSError) -> tuple[str, str | None]:
    """The message and fix of ``exc`` in the current language.

    An error raised while serving the request has them in its language already. One raised
    elsewhere (the store's writer) has them in the language of the place that raised it: when
    they are its result code's own text, they are given again in the request's language.
    """
    english = exc.code.english_info
    message = _(english.message) if _same_text(exc.message, english.message) else exc.message
    fix = _(english.fix) if exc.fix and _same_text(exc.fix, english.fix) else exc.fix
    return message, fix


def _same_text(text: str, english: str) -> bool:
    """Is ``text`` the message ``english`` in one of the languages?"""
    return any(text == gettext_for(code).gettext(english) for code in SUPPORTED_LANGUAGES)
