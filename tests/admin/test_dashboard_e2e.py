"""The dashboard in a real headless Chromium against a real host with activated clients.

Screenshots of each page go to ``artifacts/screenshots/``. Skipped without Chromium or
Playwright, except under CI (env ``CI``), where it must run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.test_shared_database_e2e import activate, desktop_product, second_host
from openkms.client.api import Client
from openkms.host.state import HostState

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - CI installs it; elsewhere the test is skipped
    sync_playwright = None

from helpers import HostProcess, Site, host_process

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _playwright() -> Any:
    if sync_playwright is None:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed: run scripts/setup --dev")
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/system-packages")
        pytest.skip("chromium is not installed")
    return sync_playwright


@pytest.fixture
def host_with_clients(site: Site, tmp_path: Path) -> Iterator[HostProcess]:
    trust = site.publisher.trust()
    with host_process(site.host_dir, "--admin", "127.0.0.1:0") as host:
        for i, edition in enumerate(["Standard"] * 6 + ["Datacenter"] * 2):
            client = Client.open(tmp_path / f"client{i}", machine_name=f"node-{i:02d}")
            client.install_key(site.product(edition).setup_key, trust)
            client.set_kms(host.address)
            client.activate()
        yield host


def test_dashboard_pages_in_chromium(host_with_clients: HostProcess) -> None:
    sync_playwright = _playwright()
    assert host_with_clients.admin is not None
    base = f"http://{host_with_clients.admin}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            page.goto(base + "/")
            page.wait_for_function("document.getElementById('count').textContent !== '…'")
            assert page.text_content("#count") == "8"
            assert "reached" in page.text_content(".threshold[data-n='5']")
            assert "17 more needed" in page.text_content(".threshold[data-n='25']")
            assert "falls below 5 on" in page.text_content(".threshold[data-n='5'] .forecast")
            page.wait_for_selector("#chart svg rect")
            assert page.locator("#peers-panel").is_hidden()  # a store of its own: no peers
            page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

            page.goto(base + "/clients")
            page.wait_for_function("document.querySelectorAll('#clients tbody tr').length === 8")
            assert "1\u20138 of 8" in page.text_content("#range-text")
            page.screenshot(path=str(SCREENSHOTS / "clients.png"), full_page=True)
            page.fill("input[name=q]", "node-07")
            page.press("input[name=q]", "Enter")
            page.wait_for_function("document.querySelectorAll('#clients tbody tr').length === 1")
            assert page.locator("#clients tbody tr td:first-child").all_text_contents() == [
                "node-07"
            ]
            page.fill("input[name=q]", "")
            page.select_option("select[name=product]", label="Acme Server, Datacenter")
            page.wait_for_function(
                "document.getElementById('range-text').textContent === '1\u20132 of 2'"
            )
            page.screenshot(path=str(SCREENSHOTS / "clients-filtered.png"), full_page=True)

            page.goto(base + "/events")
            page.wait_for_function("document.querySelectorAll('#events tbody tr').length === 8")
            page.screenshot(path=str(SCREENSHOTS / "events.png"), full_page=True)
            page.select_option("select[name=failed]", "true")
            page.wait_for_function("document.querySelector('#events tbody td.muted') !== null")
        finally:
            browser.close()
    assert problems == []


@pytest.fixture
def two_hosts_on_postgres(
    site: Site, tmp_path: Path, pg_dsn: str
) -> Iterator[tuple[HostProcess, HostProcess, Path]]:
    """Two hosts on one real PostgreSQL, the first with its dashboard; each answered."""
    other = second_host(site, tmp_path)
    product = desktop_product(site)
    with (
        host_process(site.host_dir, "--database", pg_dsn, "--admin", "127.0.0.1:0") as one,
        host_process(other, "--database", pg_dsn) as two,
    ):

        async def answer() -> None:
            for host in (one, two, two):
                assert await activate(host, site, product, uuid.uuid4().bytes) is not None

        asyncio.run(answer())
        yield one, two, other


def test_the_hosts_sharing_a_postgresql_store_in_chromium(
    two_hosts_on_postgres: tuple[HostProcess, HostProcess, Path], site: Site
) -> None:
    sync_playwright = _playwright()
    one, _, other = two_hosts_on_postgres
    ids = [HostState(site.host_dir).host_id, HostState(other).host_id]
    assert one.admin is not None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"http://{one.admin}/")
            page.wait_for_function("document.querySelectorAll('#peers tbody tr').length === 2")
            assert page.locator("#peers-panel").is_visible()
            assert page.text_content("#count") == "3"  # the shared count
            rows = page.locator("#peers tbody tr").all_text_contents()
            this = next(r for r in rows if ids[0] in r)
            assert "this host" in this and one.address in this
            assert any(ids[1] in r and "this host" not in r for r in rows)
            assert "2 host(s) answer from one database" in page.text_content("#peers-note")
            page.screenshot(path=str(SCREENSHOTS / "overview-shared.png"), full_page=True)
        finally:
            browser.close()
    assert problems == []
