"""The route modules of the publisher's service, in one list.

A route module is a function from the :class:`~openkms.publisher._http.ServiceContext` to
aiohttp route definitions. To add endpoints to the service, write a module and add its
function here (one line); :func:`openkms.publisher.service.build_app` mounts them all.
"""

from __future__ import annotations

from openkms.publisher import _activation_routes, service_revocations
from openkms.publisher._http import RouteModule

__all__ = ["ROUTE_MODULES"]

ROUTE_MODULES: tuple[RouteModule, ...] = (
    _activation_routes.routes,  # /healthz, /v1/trust, /v1/host-activations, /v1/mak-activations
    service_revocations.routes,  # /v1/revocations
)
