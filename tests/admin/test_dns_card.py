"""The DNS card tells the host's own domain from the publish-list domains; times say UTC."""

from __future__ import annotations

import asyncio
from pathlib import Path

from admin.adminenv import admin_env

from helpers import Site

APP_JS = Path(__file__).resolve().parents[2] / "src/openkms/admin/static/app.js"


def test_the_dns_status_names_the_own_domain_and_the_publish_list(site: Site) -> None:
    site.host_state.update_settings(
        dns_domain="corp.example", dns_publish_list=["branch.example,5", "lab.example"]
    )

    async def main() -> None:
        async with admin_env(site) as env:
            response = await env.client.get("/api/dns")
            assert response.status == 200
            body = await response.json()
            assert body["own_domain"] == "corp.example"
            assert body["publish_list"] == ["branch.example", "lab.example"]
            overview = await (await env.client.get("/api/overview")).json()
            assert overview["dns"]["publish_list"] == ["branch.example", "lab.example"]

    asyncio.run(main())


def test_the_dashboard_shows_times_with_their_zone() -> None:
    script = APP_JS.read_text()
    date = next(line for line in script.splitlines() if line.startswith("OK.date ="))
    assert date.rstrip().endswith('} UTC` : "—");'), date
    assert 'id: "dns-own"' in script and 'id: "dns-list"' in script
