"""The OpenAPI 3.1 description of the admin API, served at ``/openapi.json``.

Response schemas come from the msgspec Structs the handlers encode, so they cannot drift.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from openkms import __version__
from openkms.admin import api, clients, views
from openkms.core.host import HostInfo
from openkms.store.base import CLIENT_SORTS

__all__ = ["openapi_spec"]

_REF: Final = "#/components/schemas/{name}"
_STRUCTS: Final = (
    HostInfo,
    views.Overview,
    views.ActivitySeries,
    views.DnsStatus,
    clients.ClientList,
    api.EventList,
    api.Products,
    api.SettingsView,
    api.SettingsChange,
    api.Forgotten,
    api.PeerHosts,
)


def _param(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema, **extra}


_TIME: Final = {"type": "string", "description": "epoch seconds or ISO 8601"}
_CLIENT_FILTERS: Final = [
    _param("product", "activation ID of a product", {"type": "string"}),
    _param("state", "license status: name (licensed) or 0..6", {"type": "string"}),
    _param("seen_since", "last seen at or after", _TIME),
    _param("seen_before", "last seen before", _TIME),
    _param("q", "substring of the machine name or CMID", {"type": "string"}),
    _param("sort", "column", {"type": "string", "enum": list(CLIENT_SORTS)}),
    _param("order", "direction", {"type": "string", "enum": ["asc", "desc"]}),
]
_PAGING: Final = [
    _param("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000}),
    _param(
        "offset",
        "rows to skip (kept for compatibility: a deep offset walks the rows it skips; "
        "prefer after)",
        {"type": "integer", "minimum": 0},
    ),
    _param(
        "after",
        "cursor from the previous page's next (same sort and order; not with offset): "
        "a keyset page, as fast deep in the list as at its start",
        {"type": "string"},
    ),
]
_EVENT_FILTERS: Final = [
    _param(
        "id",
        "event ID (repeatable or comma-separated)",
        {"type": "array", "items": {"type": "integer"}},
        style="form",
        explode=True,
    ),
    _param("since", "at or after", _TIME),
    _param("until", "at or before", _TIME),
    _param("cmid", "client machine ID", {"type": "string"}),
    _param("failed", "only failed activation requests", {"type": "boolean"}),
]
_FORMAT: Final = _param("format", "export format", {"type": "string", "enum": ["csv", "json"]})


def _ok(schema: str | None, description: str = "OK") -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": _REF.format(name=schema)}}}
    return (
        {"description": description, "content": content} if schema else {"description": description}
    )


def _op(
    summary: str, schema: str | None, params: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": params or [],
        "responses": {"200": _ok(schema), **_ERRORS},
    }


_ERROR_REF: Final = {"application/json": {"schema": {"$ref": _REF.format(name="Error")}}}
_ERRORS: Final = {
    "400": {"description": "bad parameter", "content": _ERROR_REF},
    "401": {"description": "token missing or wrong", "content": _ERROR_REF},
    "403": {"description": "changes disabled (no token configured)", "content": _ERROR_REF},
}
_EXPORT: Final = {
    "description": "the export",
    "content": {"text/csv": {"schema": {"type": "string"}}, "application/json": {"schema": {}}},
}
_TRANSLATED: Final = (
    "for people, in the request's language (the openkms_lang cookie, else Accept-Language, "
    "else English), named by the response's Content-Language"
)
_NEVER_TRANSLATED: Final = "machine-readable: the same in every language"
_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string", "description": _NEVER_TRANSLATED},
                "message": {"type": "string", "description": _TRANSLATED},
                "fix": {"type": "string", "description": _TRANSLATED},
                "parameter": {"type": "string", "description": _NEVER_TRANSLATED},
            },
        }
    },
}


def _paths() -> dict[str, Any]:
    export_clients = _op("Export clients", None, [*_CLIENT_FILTERS, _FORMAT])
    export_clients["responses"]["200"] = _EXPORT
    export_events = _op("Export events, newest first", None, [*_EVENT_FILTERS, _FORMAT])
    export_events["responses"]["200"] = _EXPORT
    forget = _op("Forget a CMID (token required)", "Forgotten")
    forget["parameters"] = [
        {"name": "cmid", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    forget["responses"]["404"] = {"description": "unknown CMID", "content": _ERROR_REF}
    patch = _op("Change settings (token required)", "SettingsView")
    patch["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(name="SettingsChange")}}},
    }
    cursor = _param("before", "cursor TIME:SEQ from the previous page's next", {"type": "string"})
    limit = _param("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000})
    activity = [
        _param("days", "how many days back", {"type": "integer", "minimum": 1, "maximum": 366}),
        _param("bucket", "bucket size", {"type": "string", "enum": ["hour", "day"]}),
    ]
    return {
        "/api/status": {"get": _op("Host status (slmgr /dlv data)", "HostInfo")},
        "/api/overview": {"get": _op("Count against each N-policy, forecast, DNS", "Overview")},
        "/api/hosts": {"get": _op("Hosts sharing this store (PostgreSQL)", "PeerHosts")},
        "/api/activity": {
            "get": _op("Requests and failures over time", "ActivitySeries", activity)
        },
        "/api/clients": {
            "get": _op("Clients, filtered and sorted", "ClientList", [*_CLIENT_FILTERS, *_PAGING])
        },
        "/api/clients/export": {"get": export_clients},
        "/api/clients/{cmid}": {"delete": forget},
        "/api/events": {
            "get": _op("Events, newest first", "EventList", [*_EVENT_FILTERS, cursor, limit])
        },
        "/api/events/export": {"get": export_events},
        "/api/counters": {"get": _op("Cumulative request counters", None)},
        "/api/products": {"get": _op("License groups and products", "Products")},
        "/api/dns": {"get": _op("DNS publishing state", "DnsStatus")},
        "/api/settings": {"get": _op("Settings", "SettingsView"), "patch": patch},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI document."""
    _, components = msgspec.json.schema_components(_STRUCTS, ref_template=_REF)
    components["Error"] = _ERROR_SCHEMA
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OpenKMS host admin API",
            "version": __version__,
            "description": "Read-only without a token on loopback; see docs/admin.md.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
        "paths": _paths(),
    }
