"""/healthz and /readyz: no token needed anywhere, and ready only when the host can activate."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from admin.adminenv import TOKEN
from openkms.admin.config import AdminConfig
from openkms.admin.metrics import HostMetrics
from openkms.admin.server import build_app
from openkms.admin.views import AdminContext
from openkms.host.app import HostApp
from openkms.host.config import HostConfig

from helpers import Site, host_process, make_site


def fetch(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def checks(body: Any) -> dict[str, bool]:
    return {check["name"]: check["ok"] for check in body["checks"]}


def test_a_served_activated_host_is_alive_and_ready(site: Site) -> None:
    with host_process(site.host_dir, "--admin", "127.0.0.1:0") as host:
        assert fetch(f"http://{host.admin}/healthz") == (200, {"status": "ok"})
        status, body = fetch(f"http://{host.admin}/readyz")
    assert status == 200, body
    assert body["ready"] is True
    assert checks(body) == {"store": True, "certificate": True, "listeners": True}
    listeners = next(c for c in body["checks"] if c["name"] == "listeners")
    assert listeners["detail"] == host.address


def test_a_host_without_certificate_is_alive_but_not_ready(tmp_path: Path) -> None:
    site = make_site(tmp_path, activate=False)
    with host_process(site.host_dir, "--admin", "127.0.0.1:0") as host:
        assert fetch(f"http://{host.admin}/healthz")[0] == 200
        status, body = fetch(f"http://{host.admin}/readyz")
    assert status == 503
    assert checks(body) == {"store": True, "certificate": False, "listeners": True}


def test_probes_need_no_token_where_everything_else_does(site: Site) -> None:
    async def main() -> None:
        app = HostApp(HostConfig(site.host_dir, listen=(("127.0.0.1", 0),)), state=site.host_state)
        await app.start()
        try:
            assert app.service is not None
            context = AdminContext(app.admin_view(app.service), app.store, time.time)
            config = AdminConfig("0.0.0.0", 0, TOKEN)  # every other request needs the token
            web_app = build_app(config, context, HostMetrics())
            async with TestClient(TestServer(web_app)) as client:
                assert (await client.get("/api/overview")).status == 401
                assert (await client.get("/healthz")).status == 200
                response = await client.get("/readyz")
                # This admin app was not told of any listener: not ready, and says why.
                assert response.status == 503
                body = await response.json()
                assert checks(body)["listeners"] is False
                assert checks(body)["store"] is True
        finally:
            await app.shutdown()

    asyncio.run(main())
