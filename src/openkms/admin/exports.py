"""CSV and JSON exports of clients and events, streamed page by page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

import msgspec

from openkms.admin.clients import ClientViews
from openkms.core.events import EventRecord
from openkms.event_export import iso_time
from openkms.store.base import ClientRecord, ClientSearch, EventSearch, HostStoreReader

__all__ = ["CLIENT_COLUMNS", "export_clients", "export_events", "neutralise"]

PAGE = 1000
# ``state`` is what the client is in now (derived by the host), ``reported_status`` what it
# said with its last request (``reported_status_code``: the number); times are UTC.
CLIENT_COLUMNS = (
    "cmid",
    "application_id",
    "activation_id",
    "product",
    "machine_name",
    "state",
    "state_until",
    "reported_status",
    "reported_status_code",
    "first_seen",
    "last_seen",
    "last_activated",
    "n_policy",
    "requests",
)
EVENT_COLUMNS = ("seq", "time", "event_id", "level", "info")


async def _client_pages(
    store: HostStoreReader, search: ClientSearch
) -> AsyncIterator[list[ClientRecord]]:
    after = None  # keyset pages: each as cheap as the first, however many clients
    while True:
        page = await store.search_clients(
            msgspec.structs.replace(search, limit=PAGE, offset=0, after=after)
        )
        if page.clients:
            yield page.clients
        if len(page.clients) < PAGE:
            return
        last = page.clients[-1]
        after = (getattr(last, search.sort), last.application_id, last.cmid)


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


def _event_row(event: EventRecord) -> list[object]:
    return [event.seq, iso_time(event.time), event.event_id, event.level, event.info]


# A cell a spreadsheet would read as a formula (or that hides one behind a tab or CR).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """``cell``, with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def _csv_line(row: list[object] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


async def export_clients(
    store: HostStoreReader, search: ClientSearch, fmt: str, views: ClientViews
) -> AsyncIterator[str]:
    """Every client matching ``search`` as CSV or a JSON array, in chunks."""
    first = True
    if fmt == "csv":
        yield _csv_line(CLIENT_COLUMNS)
    else:
        yield "["
    async for page in _client_pages(store, search):
        rows = [views.row(client) for client in page]
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
