"""CSV and JSON exports of clients and events, streamed page by page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable

import msgspec

from openkms.core.events import EventRecord
from openkms.event_export import iso_time
from openkms.store.base import ClientRecord, ClientSearch, EventSearch, HostStoreReader

__all__ = ["CLIENT_COLUMNS", "export_clients", "export_events"]

PAGE = 1000
CLIENT_COLUMNS = (
    "cmid",
    "application_id",
    "activation_id",
    "product",
    "machine_name",
    "first_seen",
    "last_seen",
    "license_status",
    "n_policy",
    "requests",
)
EVENT_COLUMNS = ("seq", "time", "event_id", "level", "info")


async def _client_pages(
    store: HostStoreReader, search: ClientSearch
) -> AsyncIterator[list[ClientRecord]]:
    offset = 0
    while True:
        page = await store.search_clients(
            msgspec.structs.replace(search, limit=PAGE, offset=offset)
        )
        if page.clients:
            yield page.clients
        if len(page.clients) < PAGE:
            return
        offset += PAGE


async def _event_pages(
    store: HostStoreReader, search: EventSearch
) -> AsyncIterator[list[EventRecord]]:
    before = search.before
    while True:
        page = await store.search_events(msgspec.structs.replace(search, limit=PAGE, before=before))
        if page:
            yield page
        if len(page) < PAGE:
            return
        before = (page[-1].time, page[-1].seq)


def _client_row(client: ClientRecord, product: Callable[[str], str]) -> list[object]:
    return [
        client.cmid,
        client.application_id,
        client.activation_id,
        product(client.activation_id),
        client.machine_name,
        iso_time(client.first_seen),
        iso_time(client.last_seen),
        client.license_status,
        client.n_policy,
        client.requests,
    ]


def _event_row(event: EventRecord) -> list[object]:
    return [event.seq, iso_time(event.time), event.event_id, event.level, event.info]


def _csv_line(row: list[object] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


async def export_clients(
    store: HostStoreReader, search: ClientSearch, fmt: str, product: Callable[[str], str]
) -> AsyncIterator[str]:
    """Every client matching ``search`` as CSV or a JSON array, in chunks."""
    first = True
    if fmt == "csv":
        yield _csv_line(CLIENT_COLUMNS)
    else:
        yield "["
    async for page in _client_pages(store, search):
        rows = [_client_row(client, product) for client in page]
        if fmt == "csv":
            yield "".join(_csv_line(row) for row in rows)
            continue
        for row in rows:
            item = json.dumps(dict(zip(CLIENT_COLUMNS, row, strict=True)), ensure_ascii=False)
            yield ("\n  " if first else ",\n  ") + item
            first = False
    if fmt == "json":
        yield "\n]\n"


async def export_events(
    store: HostStoreReader, search: EventSearch, fmt: str
) -> AsyncIterator[str]:
    """Every event matching ``search``, newest first, as CSV or a JSON array (the columns of
    ``openkms host events --format``)."""
    first = True
    yield _csv_line(EVENT_COLUMNS) if fmt == "csv" else "["
    async for page in _event_pages(store, search):
        if fmt == "csv":
            yield "".join(_csv_line(_event_row(event)) for event in page)
            continue
        for event in page:
            item = dict(zip(EVENT_COLUMNS, _event_row(event), strict=True))
            item["message"] = event.message
            yield ("\n  " if first else ",\n  ") + json.dumps(item, ensure_ascii=False)
            first = False
    if fmt == "json":
        yield "\n]\n"
