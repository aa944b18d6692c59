"""The admin API's errors in the caller's language, by the dashboard's rule.

Every kind of error (401 wrong token, 403 foreign origin, 400 bad parameter with its fix, 404
unknown client, 409 no trust, 503 store error) in English, French and German; the ``code``
and the other fields never change, ``Content-Language`` names the language; two requests in
flight at once, one French and one German, each get their own; and a real host process
started in German answers a French caller in French.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from admin.adminenv import TOKEN, AdminEnv, admin_env
from openkms.admin.config import AdminConfig
from openkms.admin.host_view import HostView
from openkms.admin.metrics import HostMetrics
from openkms.admin.server import build_app
from openkms.admin.views import AdminContext
from openkms.core.host import HostInfo, HostSnapshot
from openkms.core.host_settings import HostSettings
from openkms.errors import StoreError
from openkms.i18n import _, language_scope
from openkms.store.base import EventSearch

from helpers import Site, host_process

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# How each language is asked for: Accept-Language, or the switcher's cookie.
ASK = {
    "en": {"Accept-Language": "en-GB,en;q=0.9"},
    "fr": {"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.8"},
    "de": {"Cookie": "openkms_lang=de", "Accept-Language": "fr"},
}
LANGUAGES = tuple(ASK)


async def error_of(response: ClientResponse, status: int, language: str) -> dict[str, Any]:
    """The error body of ``response``, checked: status, JSON, Content-Language."""
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Content-Language"] == language
    error: dict[str, Any] = (await response.json())["error"]
    assert error["status"] == status
    return error


def expected(message: str, language: str) -> str:
    with language_scope(language):
        return _(message)


def run(site: Site, body: Callable[[AdminEnv], Awaitable[None]], **kwargs: Any) -> None:
    async def main() -> None:
        async with admin_env(site, AdminConfig(token=TOKEN), **kwargs) as env:
            env.client.session.cookie_jar.clear()
            await body(env)

    asyncio.run(main())


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_wrong_token_is_refused_in_the_callers_language(site: Site, language: str) -> None:
    async def body(env: AdminEnv) -> None:
        headers = {**ASK[language], "Authorization": "Bearer wrong"}
        error = await error_of(
            await env.client.delete("/api/clients/x", headers=headers), 401, language
        )
        assert error["code"] == "invalid_token"
        assert error["message"] == expected("the admin token is wrong", language)
        assert error["fix"] == expected(
            "Send the token the host was started with (--admin-token-file).", language
        )
        missing = await env.client.delete("/api/clients/x", headers=ASK[language])
        error = await error_of(missing, 401, language)
        assert error["code"] == "unauthorized"
        assert error["message"] == expected("this request needs the admin token", language)

    run(site, body)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_foreign_origin_is_refused_in_the_callers_language(site: Site, language: str) -> None:
    async def body(env: AdminEnv) -> None:
        headers = {**ASK[language], **AUTH, "Origin": "http://attacker.example"}
        response = await env.client.patch(
            "/api/settings", json={"renewal_interval": 60}, headers=headers
        )
        error = await error_of(response, 403, language)
        assert error["code"] == "bad_origin"
        assert error["message"] == expected(
            "changes are accepted only from this server's pages", language
        )

    run(site, body)


FRENCH_CURSOR = (
    "after n\u2019est pas un curseur de cette API",
    "Passez telle quelle la valeur « next » de la page précédente, avec le même tri et le même "
    "ordre.",
)
GERMAN_LIMIT = "limit muss eine ganze Zahl sein, erhalten: 'abc'"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_bad_parameter_and_its_fix_in_the_callers_language(site: Site, language: str) -> None:
    async def body(env: AdminEnv) -> None:
        response = await env.client.get("/api/clients?after=%25%25", headers=ASK[language])
        error = await error_of(response, 400, language)
        assert (error["code"], error["parameter"]) == ("bad_parameter", "after")
        fix = "Pass the 'next' value of the previous page unchanged, with the same sort and order."
        assert error["message"] == expected("after is not a cursor of this API", language)
        assert error["fix"] == expected(fix, language)
        if language == "fr":  # the words of the catalog, written out once
            assert (error["message"], error["fix"]) == FRENCH_CURSOR
        limit = await error_of(
            await env.client.get("/api/clients?limit=abc", headers=ASK[language]), 400, language
        )
        assert limit["parameter"] == "limit" and "'abc'" in limit["message"]
        if language == "de":
            assert limit["message"] == GERMAN_LIMIT
        if language == "en":
            assert limit["message"] == "limit must be a whole number, got 'abc'"

    run(site, body)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unknown_client_in_the_callers_language(site: Site, language: str) -> None:
    async def body(env: AdminEnv) -> None:
        response = await env.client.delete(
            "/api/clients/no-such", headers={**ASK[language], **AUTH}
        )
        error = await error_of(response, 404, language)
        assert error["code"] == "not_found"
        with language_scope(language):
            assert error["message"] == _("no client with CMID {cmid!r}").format(cmid="no-such")
        route = await error_of(
            await env.client.get("/api/nope", headers=ASK[language]), 404, language
        )
        assert route["code"] == "http_error"
        assert route["message"] == expected("Not Found", language)

    run(site, body)


class _Untrusted:
    """The host's own view, with its trust taken away (a host whose trust was never pinned)."""

    def __init__(self, view: HostView) -> None:
        self.view = view

    @property
    def host_id(self) -> str:
        return self.view.host_id

    def snapshot(self, now: int) -> HostSnapshot:
        snapshot = self.view.snapshot(now)
        activation = dataclasses.replace(snapshot.activation, trust=None)
        return dataclasses.replace(snapshot, activation=activation)

    async def info(self, now: int) -> HostInfo:
        return await self.view.info(now)

    async def update_settings(self, changes: Mapping[str, object]) -> HostSettings:
        return await self.view.update_settings(changes)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_trust_in_the_callers_language(site: Site, language: str) -> None:
    async def body(env: AdminEnv) -> None:
        context = AdminContext(
            _Untrusted(env.app.admin_view(_service(env))), env.app.store, time.time
        )
        app = build_app(AdminConfig(token=TOKEN), context, HostMetrics())
        async with TestClient(TestServer(app)) as client:
            response = await client.delete("/api/clients/x", headers={**ASK[language], **AUTH})
            error = await error_of(response, 409, language)
        assert error["code"] == "no_trust"
        assert error["message"] == expected("the host has no catalog: it has no clients", language)
        assert "ipk" in error["fix"] and "trust.json" in error["fix"]

    run(site, body)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_store_error_in_the_callers_language(site: Site, language: str) -> None:
    """The store closed under the admin server: its StoreError, in the request's language."""

    async def body(env: AdminEnv) -> None:
        await env.app.store.close()
        response = await env.client.get("/api/events", headers=ASK[language])
        error = await error_of(response, 503, language)
        assert error["code"] == "store_error"
        assert error["message"] == expected("store is closed", language)
        assert error["fix"] == expected("Open the store again before using it.", language)

    run(site, body)


def test_the_error_code_and_fields_are_the_same_in_every_language(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        seen = []
        for language in LANGUAGES:
            response = await env.client.get("/api/events?limit=0", headers=ASK[language])
            error = await error_of(response, 400, language)
            seen.append((error.pop("message"), dict(error)))
        assert len({message for message, _rest in seen}) == 3  # three languages
        assert all(rest == seen[0][1] for _message, rest in seen)
        assert set(seen[0][1]) == {"status", "code", "parameter"}

    run(site, body)


def _service(env: AdminEnv) -> Any:
    assert env.app.service is not None
    return env.app.service


class _HeldStore:
    """The host's store, but ``search_events`` waits until ``arrived`` requests are inside it,
    then fails as a store does: with a StoreError built where it fails (``_()`` then)."""

    def __init__(self, store: Any, arrived: int) -> None:
        self._store = store
        self._barrier = asyncio.Barrier(arrived)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def search_events(self, search: EventSearch) -> Any:
        await self._barrier.wait()  # every request is in flight, each in its own language
        raise StoreError(_("store is closed"), fix=_("Open the store again before using it."))


def test_two_requests_in_flight_at_once_each_get_their_own_language(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        held = _HeldStore(env.app.store, 4)
        context = AdminContext(env.app.admin_view(_service(env)), held, time.time)  # type: ignore[arg-type]
        app = build_app(AdminConfig(), context, HostMetrics())
        order = ("fr", "de", "fr", "de")
        async with TestClient(TestServer(app)) as client:
            responses = await asyncio.gather(
                *(client.get("/api/events", headers=ASK[language]) for language in order)
            )
            errors = [
                await error_of(r, 503, lang) for r, lang in zip(responses, order, strict=True)
            ]
        assert [e["message"] for e in errors] == [
            "le magasin est fermé",
            "der Speicher ist geschlossen",
            "le magasin est fermé",
            "der Speicher ist geschlossen",
        ]
        assert errors[0]["fix"] == "Rouvrez le magasin avant de l'utiliser."

    run(site, body)


def test_a_code_text_raised_in_another_language_is_given_in_the_requests(site: Site) -> None:
    """An error the store's writer raised in its own language (here German): when it is its
    result code's own text, the caller reads it in theirs."""

    class WriterStore(_HeldStore):
        async def search_events(self, search: EventSearch) -> Any:
            with language_scope("de"):
                raise StoreError()  # the code's message and fix, in German

    async def body(env: AdminEnv) -> None:
        context = AdminContext(
            env.app.admin_view(_service(env)),
            WriterStore(env.app.store, 1),
            time.time,  # type: ignore[arg-type]
        )
        app = build_app(AdminConfig(), context, HostMetrics())
        async with TestClient(TestServer(app)) as client:
            error = await error_of(await client.get("/api/events", headers=ASK["fr"]), 503, "fr")
        with language_scope("fr"):
            info = StoreError().code.info
        assert (error["message"], error["fix"]) == (info.message, info.fix)

    run(site, body)


def _fetch(url: str, headers: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (
                response.status,
                response.headers["Content-Language"],
                json.loads(response.read()),
            )
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Language"], json.loads(error.read())


def test_a_host_started_in_german_answers_a_french_caller_in_french(site: Site) -> None:
    with host_process(site.host_dir, "--admin", "127.0.0.1:0", "--lang", "de") as host:
        url = f"http://{host.admin}/api/clients?limit=abc"
        french = _fetch(url, {"Accept-Language": "fr-FR"})
        german = _fetch(url, {"Cookie": "openkms_lang=de"})
        english = _fetch(url, {})
    assert french[:2] == (400, "fr")
    assert french[2]["error"]["message"] == "limit doit être un nombre entier, reçu 'abc'"
    assert german[:2] == (400, "de") and german[2]["error"]["message"] == GERMAN_LIMIT
    assert english[:2] == (400, "en")  # the dashboard's rule: English when nothing is asked
    assert english[2]["error"]["message"] == "limit must be a whole number, got 'abc'"
