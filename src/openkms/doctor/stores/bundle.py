"""``doctor bundle``: what support asks for, in one zip archive.

``dlv.txt``/``dlv.json`` (the machine's ``dlv``), ``events.csv`` (its event log: the Key
Management Service log of a host, the client's 12288/12289), ``doctor.txt``/``doctor.json``
(the report), and about the machine ``system.txt`` (versions, OS, Python), ``config.txt``
(the host's effective configuration, secrets masked), ``dns.txt`` (the DNS settings and
resolver) and ``host-log.txt`` (the log's tail, from its file or the journal). No file of the
store is copied, so private keys (``host.key``), tokens and tickets never leave the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import msgspec

from openkms.client.api import Client
from openkms.client.info import gather_client_info
from openkms.core.events import EventRecord
from openkms.doctor.findings import Report
from openkms.doctor.stores._events import host_events
from openkms.doctor.stores._support import SUPPORT_FILES, support_files
from openkms.errors import OpenKMSError
from openkms.event_export import export_events
from openkms.host.info import HostInfo, gather_host_info
from openkms.host.state import HostState
from openkms.i18n import _
from openkms.slmgr_text import client_text, host_text
from openkms.store import open_reader, store_kind
from openkms.store.base import HostStoreReader
from openkms.store.lock import serving_host

__all__ = ["BUNDLE_FILES", "store_kind", "write_bundle"]

BUNDLE_FILES = ("dlv.txt", "dlv.json", "events.csv", "doctor.txt", "doctor.json", *SUPPORT_FILES)


def _host_files(directory: Path, now: int) -> dict[str, Iterable[str]]:
    state = HostState(directory)
    if state.host_key() is None or not (directory / "host.key").is_file():
        # gather_host_info would create a new identity: never write to the store.
        raise OpenKMSError(_("no host key or no host identity (host.key) in this store"))
    # The store read only (never opened for writing, never migrated); a host that has never
    # run has no store yet, which reads as an empty one.
    reader = open_reader(directory, missing_ok=True)
    serving = serving_host(directory)
    listening = serving.listen if serving is not None else ()
    info, records = asyncio.run(_read_host(state, reader, now, listening))
    return {
        "dlv.txt": [host_text(info, verbose=True) + "\n"],
        "dlv.json": [msgspec.json.format(msgspec.json.encode(info)).decode() + "\n"],
        "events.csv": export_events(records, "csv", "Key Management Service"),
    }


async def _read_host(
    state: HostState, reader: HostStoreReader, now: int, listening: Sequence[str]
) -> tuple[HostInfo, list[EventRecord]]:
    async with reader:
        info = await gather_host_info(state.snapshot(now), reader, now, listening)
        return info, [record async for record in host_events(reader, (), None)]


def _client_files(directory: Path, clock: Callable[[], float]) -> dict[str, Iterable[str]]:
    client = Client.open(directory, clock=clock, machine_name="doctor", read_only=True)
    info = gather_client_info(client)
    records: list[EventRecord] = client.events.read()
    return {
        "dlv.txt": [client_text(info, verbose=True) + "\n"],
        "dlv.json": [msgspec.json.format(msgspec.json.encode(info)).decode() + "\n"],
        "events.csv": export_events(records, "csv", "Application"),
    }


def _machine_files(directory: Path, clock: Callable[[], float]) -> dict[str, Iterable[str]]:
    kind = store_kind(directory)
    try:
        if kind == "host":
            return _host_files(directory, int(clock()))
        if kind == "client":
            return _client_files(directory, clock)
        problem = f"{directory} is neither a host store (host.json) nor a client store"
    except OpenKMSError as exc:
        problem = f"{exc.code.hex} {exc.message}"
    return {"dlv.txt": [f"Error: {problem}\n"]}


def write_bundle(
    directory: Path, output: Path, report: Report, *, clock: Callable[[], float] = time.time
) -> list[str]:
    """Write the archive atomically; return the names it holds."""
    files = _machine_files(directory, clock)
    files.update(support_files(directory))
    files["doctor.txt"] = [report.render_text() + "\n"]
    files["doctor.json"] = [report.to_json() + "\n"]
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=output.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, chunks in files.items():
                with archive.open(name, "w") as member:
                    for chunk in chunks:
                        member.write(chunk.encode())
        Path(temp).replace(output)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise
    return list(files)
