"""The publisher service's revocation route: ``GET /v1/revocations``, the latest signed list.

``routes(context)`` is a route module of the service (``publisher/routes.py``). The list is
public (it is signed, and hosts pass it on to every client): no authentication.

- ``200``: the encoded list (``application/vnd.openkms.revocations``: the MessagePack
  envelope ``[body, signature]``), header ``OpenKMS-Revocations-Serial``; with
  ``?format=json``, ``revocations.json`` as the publisher wrote it;
- ``404``: the publisher has revoked nothing yet (JSON: code, message, fix);
- ``500``: the publisher directory's list cannot be read (JSON, the same fields).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web

from openkms.core.codes import ResultCode
from openkms.core.revocation import RevocationList
from openkms.errors import OpenKMSError
from openkms.publisher._http import CONTEXT, ServiceContext
from openkms.publisher.revocations import latest_revocations

__all__ = ["REVOCATIONS_CONTENT_TYPE", "SERIAL_HEADER", "routes"]

log = logging.getLogger("openkms.publisher")

REVOCATIONS_CONTENT_TYPE = "application/vnd.openkms.revocations"
SERIAL_HEADER = "OpenKMS-Revocations-Serial"


def routes(context: ServiceContext) -> Iterable[web.AbstractRouteDef]:
    """The revocation route (the context is read from the app on each request)."""
    del context
    return (web.get("/v1/revocations", _get_revocations),)


async def _get_revocations(request: web.Request) -> web.StreamResponse:
    """The latest revocation list."""
    publisher = request.app[CONTEXT].publisher
    try:
        revocations = await asyncio.to_thread(latest_revocations, publisher)
    except OpenKMSError as exc:
        log.error("the revocation list cannot be served: %s", exc)
        return _error(500, exc.code, "The publisher's revocation list cannot be read.")
    if revocations is None:
        return _error(404, ResultCode.OK, "The publisher has revoked nothing yet.")
    return _list_response(revocations, as_json=request.query.get("format") == "json")


def _list_response(revocations: RevocationList, *, as_json: bool) -> web.Response:
    headers = {SERIAL_HEADER: str(revocations.serial), "Cache-Control": "no-cache"}
    if as_json:
        return web.Response(
            body=revocations.to_json(), content_type="application/json", headers=headers
        )
    return web.Response(
        body=revocations.encoded, content_type=REVOCATIONS_CONTENT_TYPE, headers=headers
    )


def _error(status: int, code: ResultCode, message: str) -> web.Response:
    body = {"code": code.hex, "message": message, "fix": code.info.fix}
    return web.json_response(body, status=status)
