"""``/healthz`` (the process answers) and ``/readyz`` (it can activate) for probes.

Both need no token, on any address: a systemd watchdog script, a container ``HEALTHCHECK`` or
a load balancer polls them. ``/readyz`` answers 200 only when the store is open and its
directory writable with space left, the host's certificate is valid, and the activation
listeners are bound; otherwise 503 with the checks that failed. Neither says more than
ok/failed and a short reason, so they leak nothing a token would protect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec
from aiohttp import web

from openkms._address import format_address
from openkms.admin._http import CONTEXT
from openkms.admin.views import AdminContext
from openkms.core.host import HostActivation
from openkms.errors import OpenKMSError

__all__ = ["LISTENERS", "Check", "Listeners", "Readiness", "install", "readiness"]

MIN_FREE_BYTES: Final = 16 * 1024 * 1024  # below this, requests would soon fail 0x80070070


@dataclass(slots=True)
class Listeners:
    """The activation listeners' bound addresses, set by the host once they are up."""

    addresses: tuple[tuple[str, int], ...] = ()


LISTENERS: Final = web.AppKey("listeners", Listeners)


class Check(msgspec.Struct):
    """One readiness check: its name, whether it passed, and why not."""

    name: str
    ok: bool
    detail: str


class Readiness(msgspec.Struct):
    """The body of ``/readyz``."""

    ready: bool
    checks: list[Check]


async def _store_check(context: AdminContext, directory: Path) -> Check:
    try:
        await context.store.counters(context.host_id)
        usage = os.statvfs(directory)
    except (OpenKMSError, OSError) as exc:
        return Check("store", False, str(exc))
    free = usage.f_bavail * usage.f_frsize
    if not os.access(directory, os.W_OK):
        return Check("store", False, f"{directory} is not writable by this process")
    if free < MIN_FREE_BYTES:
        return Check("store", False, f"{free // 1024} KiB free in {directory}")
    return Check("store", True, f"open, {free // (1024 * 1024)} MiB free")


def _certificate_check(activation: HostActivation) -> Check:
    if activation.problem is not None:
        return Check("certificate", False, activation.problem)
    return Check("certificate", True, "valid")


def _listeners_check(listeners: Listeners) -> Check:
    if not listeners.addresses:
        return Check("listeners", False, "not listening")
    shown = ", ".join(format_address(host, port) for host, port in listeners.addresses)
    return Check("listeners", True, shown)


async def readiness(context: AdminContext, listeners: Listeners) -> Readiness:
    """Every readiness check, now."""
    try:
        snapshot = await context.snapshot()
    except OpenKMSError as exc:
        return Readiness(False, [Check("host", False, exc.message)])
    checks = [
        await _store_check(context, snapshot.directory),
        _certificate_check(snapshot.activation),
        _listeners_check(listeners),
    ]
    return Readiness(all(check.ok for check in checks), checks)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})


async def _readyz(request: web.Request) -> web.Response:
    result = await readiness(request.app[CONTEXT], request.app[LISTENERS])
    return web.Response(
        body=msgspec.json.encode(result),
        status=200 if result.ready else 503,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def install(app: web.Application) -> None:
    """Add ``/healthz`` and ``/readyz`` (and the listeners holder) to the admin app."""
    app[LISTENERS] = Listeners()
    app.add_routes([web.get("/healthz", _healthz), web.get("/readyz", _readyz)])
