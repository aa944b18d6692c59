"""The service's activation endpoints: health, trust, online host activation, MAK."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from openkms.core.publisher_api import HOST_ACTIVATIONS_PATH, MAK_ACTIVATIONS_PATH, TRUST_PATH
from openkms.publisher._http import CONTEXT, ServiceContext, json_response, read_body
from openkms.publisher._issued_certificates import certificate_audit_entry

__all__ = ["routes"]


def routes(context: ServiceContext) -> Iterable[web.AbstractRouteDef]:
    """The activation routes (the context is read from the app on each request)."""
    del context
    return (
        web.get("/healthz", _health),
        web.get(TRUST_PATH, _trust),
        web.post(HOST_ACTIVATIONS_PATH, _host_activation),
        web.post(MAK_ACTIVATIONS_PATH, _mak_activation),
    )


async def _health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _trust(request: web.Request) -> web.Response:
    trust = request.app[CONTEXT].publisher.trust()
    return web.Response(body=trust.to_json(), content_type="application/json")


async def _host_activation(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await read_body(request)
    certificate = await context.authority.activate_host(body, context.actor(request))
    entry = certificate_audit_entry(certificate, context.actor(request), context.publisher.now())
    await context.records.audit(entry)  # the revocation list dates its entries by it
    return web.Response(body=certificate, content_type="application/json")


async def _mak_activation(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = await read_body(request)
    answer = await context.authority.activate_mak(body, context.actor(request))
    return web.Response(body=answer, content_type="application/json")
