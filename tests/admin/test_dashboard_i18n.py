"""The dashboard in French and German: language choice, translated pages, untranslated data."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin.adminenv import TOKEN, admin_env
from openkms.admin import pages
from openkms.admin.config import AdminConfig, read_token
from openkms.admin.pages import (
    cookie_language,
    html_messages,
    js_catalog,
    js_messages,
    render_page,
    request_language,
    safe_target,
)
from openkms.errors import OpenKMSError
from openkms.i18n import _, language_scope

from helpers import Site

STATIC = Path(pages.__file__).parent / "static"
PAGES = sorted(STATIC.glob("*.html"))
# Messages a language may keep as they are (names, codes, words both languages share).
SAME: dict[str, set[str]] = {
    "fr": {
        "CMID",
        "HRESULT",
        "ID",
        "Clients",
        "Information",
        "Notification",
        "Total",
        "12293 + 12294 (DNS)",
        "OpenKMS — Clients",
        "{minutes} min",
        "page {n}",
        "{date} ({ago})",
        "{name} · port {port}",
    },
    "de": {
        "CMID",
        "HRESULT",
        "ID",
        "Clients",
        "Token",
        "12293 + 12294 (DNS)",
        "OpenKMS — Clients",
        "{date} ({ago})",
        "{time}: {succeeded} succeeded, {failed} failed",
    },
}


# -- choosing the language ------------------------------------------------------------


def test_the_cookie_names_a_language_only_with_an_exact_supported_code() -> None:
    assert cookie_language("fr") == "fr" and cookie_language("de") == "de"
    assert cookie_language("en") == "en"
    for bad in (None, "", "FR", "fr-FR", "es", "fr; Path=/", "de\x00", "x" * 5000):
        assert cookie_language(bad) is None


def test_a_valid_cookie_wins_over_accept_language() -> None:
    assert request_language(None, "fr-FR,fr;q=0.9,en;q=0.8") == "fr"
    assert request_language("de", "fr-FR,fr;q=0.9") == "de"
    assert request_language("en", "de-DE") == "en"
    assert request_language("klingon", "de-CH, de;q=0.9") == "de"  # ignored, not an error
    assert request_language(None, None) == "en"
    assert request_language(None, "es-ES, *;q=0.1") == "en"


@settings(max_examples=300, deadline=None)
@given(cookie=st.one_of(st.none(), st.text(max_size=40)), header=st.text(max_size=200))
def test_any_cookie_and_header_give_a_supported_language(cookie: str | None, header: str) -> None:
    assert request_language(cookie, header) in ("en", "fr", "de")


def test_the_switcher_goes_back_only_to_a_page_of_this_server() -> None:
    assert safe_target("/clients?q=node&sort=cmid") == "/clients?q=node&sort=cmid"
    for bad in (None, "", "//evil.example/", "/\\evil.example", "https://evil.example/", "x"):
        assert safe_target(bad) == "/"
    assert safe_target("/\r\nSet-Cookie: x=1") == "/"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=100))
def test_a_target_is_always_a_local_path(target: str) -> None:
    safe = safe_target(target)
    assert safe.startswith("/") and safe[1:2] not in ("/", "\\")
    assert not any(ord(ch) < 0x20 for ch in safe)


# -- the pages ------------------------------------------------------------------------


def test_english_pages_are_served_as_written() -> None:
    """Only the catalog script and the switcher's links are added to an English page."""
    for path in PAGES:
        source = path.read_text(encoding="utf-8")
        served = render_page(path, "en", switch_next="/clients")
        served = re.sub(
            r'<script type="application/json" id="openkms-i18n">.*?</script>\n', "", served
        )
        served = re.sub(
            r'href="/lang\?set=(\w+)&amp;next=%2Fclients"( aria-current="true")?',
            r'href="/lang?set=\1"',
            served,
        )
        assert served == source, path.name


@pytest.mark.parametrize("language", ["fr", "de"])
def test_every_message_of_the_pages_and_app_js_is_translated(language: str) -> None:
    messages = [m for path in PAGES for _line, m in html_messages(path.read_text("utf-8"))]
    messages += [m if isinstance(m, str) else m[0] for m in js_messages()]
    assert len(messages) > 100
    with language_scope(language):
        untranslated = {m for m in messages if _(m) == m and "{" not in m} - SAME[language]
        js = js_catalog(language)
    assert untranslated == set()
    for message in js_catalog(language).messages:
        if js.messages[message] == message:
            assert message in SAME[language], message


def test_every_translation_call_in_app_js_is_extracted() -> None:
    """Babel's javascript extractor skips calls inside template literals: there must be none."""
    source = (STATIC / "app.js").read_text("utf-8")
    called = set(re.findall(r'\b(?:_|ngettext)\("((?:[^"\\]|\\.)+)"', source)) - {"..."}
    extracted = {m if isinstance(m, str) else m[0] for m in js_messages()}
    assert called - extracted == set()
    assert len(extracted) > 50


def test_a_french_page() -> None:
    page = render_page(STATIC / "index.html", "fr", switch_next="/?x=1")
    assert '<html lang="fr">' in page
    for text in (
        "<title>OpenKMS — Vue d'ensemble</title>",
        "<h2>Décompte actuel</h2>",
        "<h2>Certificat de l'hôte</h2>",
        "<h2>Publication DNS</h2>",
        'aria-label="Période"',
        '<option value="30:day">30 derniers jours, par jour</option>',
        'href="/lang?set=de&amp;next=%2F%3Fx%3D1"',
    ):
        assert text in page, text
    assert '<span class="brand" translate="no">OpenKMS</span>' in page
    assert 'aria-current="true">Français</a>' in page
    catalog = re.search(r'id="openkms-i18n">(.*?)</script>', page)
    assert catalog is not None
    data = json.loads(catalog.group(1))
    assert data["language"] == "fr" and data["messages"]["Licensed"] == "Avec licence"
    assert data["plurals"]["{n} more needed"] == ["encore {n} nécessaire", "encore {n} nécessaires"]


def test_a_german_login_page_keeps_its_markup() -> None:
    page = render_page(STATIC / "login.html", "de")
    assert '<html lang="de">' in page
    assert "Dieser Verwaltungsserver benötigt sein Token (den Inhalt der " in page
    assert "<code>--admin-token-file</code>" in page and "<code>OPENKMS_ADMIN_TOKEN</code>" in page
    assert "Falsches Token. Versuchen Sie es erneut." in page
    assert '<button type="submit">Anmelden</button>' in page
    assert 'document.getElementById("next")' in page  # the script is left as it is


def test_the_catalog_cannot_end_its_script_element() -> None:
    page = render_page(STATIC / "events.html", "fr")
    catalog = page.split('id="openkms-i18n">', 1)[1].split("</script>", 1)[0]
    assert "</" not in catalog


# -- over HTTP ------------------------------------------------------------------------


def test_the_server_follows_accept_language_and_the_cookie(site: Site) -> None:
    async def main() -> None:
        async with admin_env(site) as env:
            french = await env.client.get("/clients", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
            assert french.status == 200 and french.headers["Cache-Control"] == "no-store"
            assert "Accept-Language" in french.headers["Vary"]
            body = await french.text()
            assert '<html lang="fr">' in body and "<h1>Clients</h1>" in body
            assert "<th>État signalé</th>" in body and "Rechercher" in body
            english = await env.client.get("/events")
            assert '<html lang="en">' in await english.text()

            switch = await env.client.get(
                "/lang?set=de&next=/events%3Fid%3D12290", allow_redirects=False
            )
            assert switch.status == 303 and switch.headers["Location"] == "/events?id=12290"
            cookie = switch.headers["Set-Cookie"]
            assert "openkms_lang=de" in cookie and "SameSite=Strict" in cookie
            assert "Path=/" in cookie
            env.client.session.cookie_jar.clear()  # from here on, the cookies the test sends
            german = await env.client.get(
                "/events", headers={"Accept-Language": "fr", "Cookie": "openkms_lang=de"}
            )
            assert '<html lang="de">' in (text := await german.text()) and "Ereignisse" in text
            forged = await env.client.get(
                "/", headers={"Accept-Language": "fr", "Cookie": "openkms_lang=<script>"}
            )
            assert '<html lang="fr">' in await forged.text()

            away = await env.client.get("/lang?set=fr&next=//evil.example/", allow_redirects=False)
            assert away.headers["Location"] == "/"
            env.client.session.cookie_jar.clear()
            bad = await env.client.get("/lang?set=xx")
            assert bad.status == 400
            assert (await bad.json())["error"]["code"] == "bad_parameter"
            login = await env.client.get("/login", headers={"Accept-Language": "de-DE"})
            assert "Anmelden" in await login.text()

    asyncio.run(main())


def test_machine_output_is_the_same_in_every_language(site: Site) -> None:
    """The JSON API, the CSV and JSON exports and the OpenAPI spec: the same bytes whatever
    Accept-Language or cookie says."""
    now = time.time()

    async def main() -> None:
        async with admin_env(site, clock=lambda: now) as env:
            await env.activate(site, "Standard", 6, prefix="=cmd")
            paths = [
                "/api/clients?sort=machine_name",
                "/api/clients/export?format=csv",
                "/api/clients/export?format=json",
                "/api/events/export?format=csv",
                "/api/events/export?format=json",
                "/api/events",
                "/api/overview",
                "/api/counters",
                "/api/products",
                "/api/dns",
                "/openapi.json",
                "/metrics",
            ]
            variants = [{}, {"Accept-Language": "fr-FR"}, {"Cookie": "openkms_lang=de"}]
            for path in paths:
                bodies = set()
                for headers in variants:
                    response = await env.client.get(path, headers=headers)
                    bodies.add(await response.read())
                assert len(bodies) == 1, path
            clients = await (await env.client.get("/api/clients", headers=variants[1])).json()
            assert {c["state_label"] for c in clients["clients"]} == {
                "Licensed",
                "Grace, not activated",
            }

    asyncio.run(main())


def test_signing_in_comes_back_only_to_a_page_of_this_server(site: Site) -> None:
    async def main() -> None:
        async with admin_env(site, AdminConfig(token=TOKEN)) as env:
            for target, expected in (("/\\evil.example", "/"), ("/events?id=1", "/events?id=1")):
                login = await env.client.post(
                    "/login", data={"token": TOKEN, "next": target}, allow_redirects=False
                )
                assert login.status == 303 and login.headers["Location"] == expected
            page = await env.client.get("/login", headers={"Accept-Language": "fr"})
            assert '<button type="submit">Se connecter</button>' in await page.text()

    asyncio.run(main())


def test_the_admin_servers_errors_in_french_and_german(tmp_path: Path) -> None:
    """What the command line prints when the admin server cannot start, in the language."""
    with pytest.raises(OpenKMSError) as english:
        AdminConfig(token="short")
    assert english.value.message == "the admin token is too short (5 characters)"
    with language_scope("fr"), pytest.raises(OpenKMSError) as french:
        AdminConfig(token="short")
    assert french.value.message == "le jeton d'administration est trop court (5 caractères)"
    assert (french.value.fix or "").startswith("Utilisez un jeton aléatoire d'au moins ")
    empty = tmp_path / "token"
    empty.write_text("\n")
    with language_scope("de"), pytest.raises(OpenKMSError) as german:
        read_token(empty)
    assert german.value.message == f"die Token-Datei der Verwaltung {empty} ist leer"
    with language_scope("de"), pytest.raises(OpenKMSError) as remote:
        AdminConfig("192.0.2.1", 8080)
    assert "ohne Token auf 192.0.2.1 lauschen" in remote.value.message
