"""The dashboard in French and German in a real headless Chromium, against a real host.

A French browser (``Accept-Language: fr-FR``) gets the overview, Clients and Events pages in
French; the header's switcher turns them to German, which sticks across a reload; and no
English is left: every text of the pages is a translation from the catalog (its values put
in), data from the API, or numbers and dates. Screenshots go to ``artifacts/screenshots/``;
with ``OPENKMS_SCREENSHOTS_TO=DIR`` the French overview and Clients page are also saved as
``DIR/dashboard-fr.png`` and ``DIR/dashboard-fr-clients.png``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import read_mo

from admin.test_dashboard_e2e import ARGS, CHROMIUM, SCREENSHOTS, _playwright
from openkms.client.api import Client
from openkms.i18n import LOCALE_DIR

from helpers import HostProcess, Site, host_process

pytestmark = pytest.mark.e2e

# Every text node (outside scripts and translate="no") and translated attribute of a page.
TEXTS_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    if (!parent || parent.closest("script, style, [translate=no]")) continue;
    const text = node.textContent.replace(/\\s+/g, " ").trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll("[title], [placeholder], [aria-label]")) {
    if (el.closest("[translate=no]")) continue;
    for (const name of ["title", "placeholder", "aria-label"]) {
      const value = (el.getAttribute(name) || "").trim();
      if (value) out.push(value);
    }
  }
  return out;
}"""
_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")


@cache
def _templates(language: str) -> tuple[re.Pattern[str], ...]:
    """Every translation of the compiled catalog as a pattern, its {values} as groups."""
    with (LOCALE_DIR / language / "LC_MESSAGES" / "openkms.mo").open("rb") as handle:
        catalog = read_mo(handle)
    strings: set[str] = set()
    for message in catalog:
        if message.id:
            value = message.string
            strings.update(value if isinstance(value, list | tuple) else [value])
    patterns = []
    for text in sorted(strings):
        patterns.append(re.compile(_PLACEHOLDER.sub("(.+?)", re.escape(text)), re.DOTALL))
    return tuple(patterns)


def _no_words(text: str) -> bool:
    """Numbers, dates, times, dashes: nothing to translate."""
    return not re.search(r"[^\W\d_]", text.replace("UTC", ""))


def _allowed(text: str, language: str, data: set[str], depth: int = 0) -> bool:
    if text in data or _no_words(text) or re.fullmatch(r"N = \d+", text):
        return True
    if depth > 3:
        return False
    for pattern in _templates(language):
        match = pattern.fullmatch(text)
        if match and all(_allowed(g.strip(), language, data, depth + 1) for g in match.groups()):
            return True
    return False


def _data(base: str) -> set[str]:
    """The strings the API gives the pages (machine names, CMIDs, products, Info...)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for path in ("/api/status", "/api/overview", "/api/clients", "/api/events", "/api/hosts"):
        with urllib.request.urlopen(base + path) as response:
            walk(json.load(response))
    with urllib.request.urlopen(base + "/api/products") as response:
        products = json.load(response)["products"]
    found.update(f"{p['product']}, {p['edition']}" for p in products)
    return found


def _english_left(page: Any, language: str, data: set[str]) -> list[str]:
    texts: list[str] = page.evaluate(TEXTS_JS)
    assert len(texts) > 20
    return sorted({text for text in texts if not _allowed(text, language, data)})


@pytest.fixture
def host_with_clients(site: Site, tmp_path: Path) -> Iterator[HostProcess]:
    """A host whose dashboard shows clients in several states and their events."""
    trust = site.publisher.trust()
    with host_process(site.host_dir, "--admin", "127.0.0.1:0") as host:
        for i, edition in enumerate(["Standard"] * 6 + ["Datacenter"] * 2):
            client = Client.open(tmp_path / f"client{i}", machine_name=f"node-{i:02d}")
            client.install_key(site.product(edition).setup_key, trust)
            client.set_kms(host.address)
            client.activate()
        yield host


def _save(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    target = os.environ.get("OPENKMS_SCREENSHOTS_TO")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCREENSHOTS / name, Path(target) / name)


def test_the_dashboard_in_french_then_german(host_with_clients: HostProcess) -> None:
    sync_playwright = _playwright()
    assert host_with_clients.admin is not None
    base = f"http://{host_with_clients.admin}"
    data = _data(base)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(
                locale="fr-FR",
                extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"},
                viewport={"width": 1366, "height": 768},
            )
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            page.goto(base + "/")
            page.wait_for_function("document.getElementById('count').textContent !== '…'")
            page.wait_for_selector("#chart svg rect")
            assert page.get_attribute("html", "lang") == "fr"
            assert page.title() == "OpenKMS — Vue d'ensemble"
            assert page.text_content("#count") == "8"
            panels = page.locator("section.panel h2").all_text_contents()
            assert panels[:4] == [
                "Décompte actuel",
                "Certificat de l'hôte",
                "Publication DNS",
                "Demandes",
            ]
            assert "atteint" in page.text_content(".threshold[data-n='5']")
            assert "encore 17 nécessaires" in page.text_content(".threshold[data-n='25']")
            forecast = page.text_content(".threshold[data-n='5'] .forecast") or ""
            assert re.fullmatch(
                r"passe sous 5 le \d\d/\d\d/\d{4} si aucun nouvel ordinateur n'apparaît", forecast
            ), forecast
            note = page.text_content("#count-note")
            assert note == "8 clients vus ces 30 derniers jours, 8 connus"
            assert "Intervalle d'activation" in page.text_content("#requests")
            assert _english_left(page, "fr", data) == []
            _save(page, "dashboard-fr.png")

            page.goto(base + "/clients")
            page.wait_for_function("document.querySelectorAll('#clients tbody tr').length === 8")
            assert page.text_content("h1") == "Clients"
            assert page.text_content("#range-text") == "1\u20138 sur 8"
            headers = page.locator("#clients th").all_text_contents()
            assert headers == [
                "Ordinateur",
                "CMID",
                "Produit",
                "État",
                "État signalé",
                "Vu la dernière fois",
                "Vu la première fois",
                "Demandes",
            ]
            states = set(page.locator("#clients td.state").all_text_contents())
            assert states == {"Avec licence", "Période de grâce, non activé"}
            reported = set(page.locator("#clients td.reported").all_text_contents())
            assert reported <= {"Avec licence", "Période de grâce initiale"}
            seen = page.locator("#clients tbody tr td").nth(5).text_content() or ""
            assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d UTC \(il y a \d+ s\)", seen), seen
            assert _english_left(page, "fr", data) == []
            _save(page, "dashboard-fr-clients.png")

            page.goto(base + "/events?id=12290")
            page.wait_for_function("document.querySelectorAll('#events tbody tr').length === 8")
            assert page.text_content("h1") == "Événements"
            assert page.text_content("#range-text") == "page 1"
            assert "Heure (UTC)" in page.locator("#events th").all_text_contents()
            assert page.locator("#events td .badge").first.text_content() == "Information"
            assert _english_left(page, "fr", data) == []
            _save(page, "dashboard-fr-events.png")

            # The switcher: German, and it sticks across a reload and to the other pages.
            page.click("header .lang a[data-lang=de]")
            page.wait_for_function("document.documentElement.lang === 'de'")
            page.wait_for_function("document.querySelectorAll('#events tbody tr').length === 8")
            assert page.url == base + "/events?id=12290"  # the filter kept
            assert page.text_content("h1") == "Ereignisse"
            assert page.text_content("#range-text") == "Seite 1"
            assert _english_left(page, "de", data) == []
            page.reload()
            page.wait_for_function("document.querySelectorAll('#events tbody tr').length === 8")
            assert page.text_content("h1") == "Ereignisse"
            page.goto(base + "/")
            page.wait_for_function("document.getElementById('count').textContent !== '…'")
            page.wait_for_selector("#chart svg rect")
            assert page.get_attribute("html", "lang") == "de"
            assert page.locator("section.panel h2").first.text_content() == "Aktuelle Anzahl"
            assert "17 weitere nötig" in page.text_content(".threshold[data-n='25']")
            assert _english_left(page, "de", data) == []
            _save(page, "dashboard-de.png")
            page.goto(base + "/clients")
            page.wait_for_function("document.querySelectorAll('#clients tbody tr').length === 8")
            assert page.text_content("#range-text") == "1\u20138 von 8"
            states = set(page.locator("#clients td.state").all_text_contents())
            assert states == {"Lizenziert", "Toleranzperiode, nicht aktiviert"}
            assert _english_left(page, "de", data) == []

            # Back to English: the page as it always was.
            page.click("header .lang a[data-lang=en]")
            page.wait_for_function("document.documentElement.lang === 'en'")
            page.wait_for_function("document.querySelectorAll('#clients tbody tr').length === 8")
            assert page.text_content("#range-text") == "1\u20138 of 8"
            context.close()
        finally:
            browser.close()
    assert problems == []


def test_the_english_check_finds_english() -> None:
    """The check above fails on English text: it is not a translation, data or a number."""
    data = {"node-01"}
    assert not _allowed("Current count", "fr", data)
    assert not _allowed("5 s ago", "fr", data)
    assert not _allowed("2026-11-30 16:40 UTC (5 min ago)", "fr", data)
    assert _allowed("30/11/2026 16:40 UTC (il y a 5 min)", "fr", data)
    assert _allowed("Décompte actuel", "fr", data) and _allowed("node-01", "fr", data)
    assert _allowed("1\u20138 sur 8", "fr", data) and not _allowed("1\u20138 of 8", "fr", data)
