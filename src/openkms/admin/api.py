"""The JSON API's handlers: status, clients, events, counters, products, DNS, settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from aiohttp import web

from openkms.admin import _params as params
from openkms.admin import exports, views
from openkms.admin._http import CONTEXT, json_error, json_response
from openkms.admin.clients import ClientList, ClientViews
from openkms.admin.metrics import status_label
from openkms.core.catalog import Catalog
from openkms.core.host import HostInfo, PeerHostInfo
from openkms.core.host_settings import HostSettings, SettingError
from openkms.i18n import _
from openkms.store.base import ActivityBucket, Counters

__all__ = ["routes"]

log = logging.getLogger("openkms.admin")

_HOUR: Final = 3600
_DAY: Final = 86400


class EventView(msgspec.Struct):
    """An event with its level, message and named Info fields."""

    seq: int
    event_id: int
    time: int
    level: str
    info: str
    message: str
    fields: dict[str, str]


class EventList(msgspec.Struct):
    """One page of events, newest first; ``next`` is the cursor of the following page."""

    events: list[EventView]
    next: str | None


class ProductView(msgspec.Struct):
    """A catalog product, whether the host's certificate covers it, and its clients."""

    activation_id: str
    product: str
    edition: str
    group: str
    n_policy: int
    covered: bool
    clients: int


class GroupView(msgspec.Struct):
    """A license group (lowest first) and whether the host's certificate covers it."""

    name: str
    covered: bool


class Products(msgspec.Struct):
    """The catalog: license groups and products."""

    application_id: str | None
    certificate_group: str | None
    groups: list[GroupView]
    products: list[ProductView]


class SettingsChange(msgspec.Struct, forbid_unknown_fields=True):
    """A change of settings (any subset), as ``sai``, ``sri``, ``sprt``, ``sdns``/``cdns``."""

    activation_interval: int | msgspec.UnsetType = msgspec.UNSET
    renewal_interval: int | msgspec.UnsetType = msgspec.UNSET
    port: int | msgspec.UnsetType = msgspec.UNSET
    dns_publishing: bool | msgspec.UnsetType = msgspec.UNSET


class SettingsView(msgspec.Struct):
    """The settings an administrator may change, and whether a restart is needed."""

    port: int
    activation_interval: int
    renewal_interval: int
    dns_publishing: bool
    restart_required: bool = False


class Forgotten(msgspec.Struct):
    """The answer to forgetting a CMID."""

    cmid: str
    forgotten: bool
    current_count: int


class PeerHosts(msgspec.Struct):
    """The hosts sharing this host's database (PostgreSQL), most recently active first.

    Empty for a store of its own (SQLite), and until a host of the database answered."""

    host_id: str
    hosts: list[PeerHostInfo]


def _context(request: web.Request) -> views.AdminContext:
    return request.app[CONTEXT]


async def _catalog(context: views.AdminContext) -> Catalog | None:
    """The host's catalog, read in a worker thread (files and a signature check)."""
    return await context.catalog()


def _application_id(catalog: Catalog | None) -> str | None:
    return catalog.application_id if catalog is not None else None


@dataclass(frozen=True, slots=True)
class _FoundViews:
    catalog: Catalog | None
    views: ClientViews


async def _client_views(context: views.AdminContext) -> _FoundViews:
    """The catalog and what makes client views, from one read of the host's files."""
    now = context.now()
    snapshot = await context.snapshot(now)
    catalog = snapshot.trust.catalog if snapshot.trust is not None else None
    return _FoundViews(catalog, ClientViews.of(snapshot, now))


async def status(request: web.Request) -> web.Response:
    """GET /api/status: the host's ``dlv`` data."""
    context = _context(request)
    info: HostInfo = await context.host.info(context.now())
    return json_response(info)


async def peer_hosts(request: web.Request) -> web.Response:
    """GET /api/hosts: the hosts sharing this store and their last requests."""
    context = _context(request)
    info: HostInfo = await context.host.info(context.now())
    return json_response(PeerHosts(context.host_id, info.peers))


async def overview(request: web.Request) -> web.Response:
    """GET /api/overview: count against each N-policy, forecast, certificate, DNS."""
    return json_response(await views.overview(_context(request)))


async def activity(request: web.Request) -> web.Response:
    """GET /api/activity: requests and failures over the last ``days``, by hour or day."""
    query = params.Params(request.query, frozenset({"days", "bucket"}))
    days = query.integer("days", 7, 1, 366)
    bucket = _HOUR if query.choice("bucket", ("hour", "day"), "hour") == "hour" else _DAY
    now = _context(request).now()
    until = now // bucket * bucket + bucket
    since = until - days * _DAY
    buckets: list[ActivityBucket] = await _context(request).store.activity(since, until, bucket)
    return json_response(views.ActivitySeries(since, until, bucket, buckets))


async def clients(request: web.Request) -> web.Response:
    """GET /api/clients: a page of clients, filtered and sorted."""
    context = _context(request)
    found = await _client_views(context)
    search = params.client_search(request.query, _application_id(found.catalog))
    page = await context.store.search_clients(search)
    listed = [found.views.view(client) for client in page.clients]
    following = (
        params.client_cursor(search, page.clients[-1])
        if len(page.clients) == search.limit
        else None
    )
    return json_response(
        ClientList(page.total, search.offset, search.limit, listed, found.views.now, following)
    )


async def clients_export(request: web.Request) -> web.StreamResponse:
    """GET /api/clients/export: every matching client as CSV or JSON."""
    context = _context(request)
    fmt, rest = params.export_format(request.query)
    found = await _client_views(context)
    search = params.client_search(rest, _application_id(found.catalog), paged=False)
    chunks = exports.export_clients(context.store, search, fmt, found.views)
    return await _stream(request, chunks, fmt, "clients")


async def forget_client(request: web.Request) -> web.Response:
    """DELETE /api/clients/{cmid}: forget a CMID (it leaves the count)."""
    context = _context(request)
    cmid = request.match_info["cmid"]
    app_id = _application_id(await _catalog(context))
    if app_id is None:
        return json_error(
            409,
            "no_trust",
            _("the host has no catalog: it has no clients"),
            fix=_(
                "Install a host key with the publisher's trust: "
                "'openkms host ipk KEY --trust trust.json'."
            ),
        )
    forgotten = await context.store.forget_client(app_id, cmid)
    if not forgotten:
        return json_error(
            404, "not_found", _("no client with CMID {cmid!r}").format(cmid=cmid[:100])
        )
    log.info("admin: forgot client %s", cmid)
    count = await context.store.current_count(app_id, context.now())
    return json_response(Forgotten(cmid, True, count))


async def events(request: web.Request) -> web.Response:
    """GET /api/events: a page of events, newest first."""
    search = params.event_search(request.query)
    found = await _context(request).store.search_events(search)
    items = [
        EventView(e.seq, e.event_id, e.time, e.level, e.info, e.message, e.fields()) for e in found
    ]
    cursor = f"{found[-1].time}:{found[-1].seq}" if len(found) == search.limit else None
    return json_response(EventList(items, cursor))


async def events_export(request: web.Request) -> web.StreamResponse:
    """GET /api/events/export: every matching event as CSV or JSON, newest first."""
    fmt, rest = params.export_format(request.query)
    search = params.event_search(rest)
    chunks = exports.export_events(_context(request).store, search, fmt)
    return await _stream(request, chunks, fmt, "events")


async def counters(request: web.Request) -> web.Response:
    """GET /api/counters: the cumulative request counters (``dli``)."""
    context = _context(request)
    totals: Counters = await context.store.counters(context.host_id)
    by_status: dict[str, int] = {}
    for status, total in sorted(totals.by_status.items()):  # rows of older stores: "invalid"
        name = status_label(status)
        by_status[name] = by_status.get(name, 0) + total
    return json_response({"total": totals.total, "failed": totals.failed, "by_status": by_status})


async def products(request: web.Request) -> web.Response:
    """GET /api/products: license groups and products, covered or not, with client counts."""
    context = _context(request)
    activation = (await context.snapshot()).activation
    catalog = activation.trust.catalog if activation.trust is not None else None
    group = activation.certificate.group if activation.certificate is not None else None
    if catalog is None:
        return json_response(Products(None, group, [], []))
    totals: dict[str, int] = {}
    for total in await context.store.client_totals(catalog.application_id):
        totals[total.activation_id] = totals.get(total.activation_id, 0) + total.clients

    def covered(product_group: str) -> bool:
        return group is not None and catalog.covers(group, product_group)

    return json_response(
        Products(
            catalog.application_id,
            group,
            [GroupView(name, covered(name)) for name in catalog.groups],
            [
                ProductView(
                    p.activation_id,
                    p.product,
                    p.edition,
                    p.group,
                    p.n_policy,
                    covered(p.group),
                    totals.get(p.activation_id, 0),
                )
                for p in catalog.products
            ],
        )
    )


async def dns(request: web.Request) -> web.Response:
    """GET /api/dns: DNS publishing state."""
    context = _context(request)
    host_settings = (await context.snapshot()).settings
    return json_response(await views.dns_status(context.store, host_settings))


def _settings_view(host_settings: HostSettings, restart: bool = False) -> SettingsView:
    return SettingsView(
        host_settings.port,
        host_settings.activation_interval,
        host_settings.renewal_interval,
        host_settings.dns_publishing,
        restart,
    )


async def get_settings(request: web.Request) -> web.Response:
    """GET /api/settings."""
    context = _context(request)
    return json_response(_settings_view((await context.snapshot()).settings))


async def patch_settings(request: web.Request) -> web.Response:
    """PATCH /api/settings: change intervals, port or DNS publishing (token required)."""
    context = _context(request)
    changes = _changes(await request.read())
    try:
        updated = await context.host.update_settings(changes)
    except SettingError as exc:
        raise params.BadParameterError(exc.setting, exc.message, fix=exc.fix) from None
    log.info("admin: settings changed: %s", ", ".join(f"{k}={v}" for k, v in changes.items()))
    return json_response(_settings_view(updated, restart="port" in changes))


def _changes(body: bytes) -> dict[str, object]:
    """The settings a PATCH body changes: names the API may change; values checked later."""
    try:
        changes = msgspec.json.decode(body, type=dict[str, Any])
    except msgspec.ValidationError as exc:
        message = _("invalid settings: {reason}").format(reason=exc)
        raise params.BadParameterError("body", message) from None
    except msgspec.DecodeError as exc:
        message = _("the body is not JSON: {reason}").format(reason=exc)
        raise params.BadParameterError("body", message) from None
    for name in changes:
        if name not in SettingsChange.__struct_fields__:
            raise params.BadParameterError(
                name,
                _("the admin API does not change the setting {name!r}").format(name=name),
                fix=_(
                    "Change one of {names} here; the others with the 'openkms host' commands "
                    "(e.g. 'host dns-config')."
                ).format(names=list(SettingsChange.__struct_fields__)),
            )
    if not changes:
        raise params.BadParameterError("body", _("nothing to change"))
    return changes


async def _stream(request: web.Request, chunks: Any, fmt: str, name: str) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8" if fmt == "csv" else "application/json",
            "Content-Disposition": f'attachment; filename="openkms-{name}.{fmt}"',
        }
    )
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk.encode())
    await response.write_eof()
    return response


def routes() -> list[web.RouteDef]:
    """The API's routes."""
    return [
        web.get("/api/status", status),
        web.get("/api/overview", overview),
        web.get("/api/hosts", peer_hosts),
        web.get("/api/activity", activity),
        web.get("/api/clients", clients),
        web.get("/api/clients/export", clients_export),
        web.delete("/api/clients/{cmid}", forget_client),
        web.get("/api/events", events),
        web.get("/api/events/export", events_export),
        web.get("/api/counters", counters),
        web.get("/api/products", products),
        web.get("/api/dns", dns),
        web.get("/api/settings", get_settings),
        web.patch("/api/settings", patch_settings),
    ]
