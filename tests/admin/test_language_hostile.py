"""Hostile ``Accept-Language`` and ``openkms_lang`` values against the admin API.

``Content-Language`` is always one of the supported languages, never an echo of the input;
a request's language never leaks into the next one served on the same connection, whether
that one raised, streamed, or was abandoned by its client midway.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin.adminenv import TOKEN, AdminEnv, admin_env
from openkms.admin.config import AdminConfig
from openkms.admin.pages import request_language
from openkms.i18n import SUPPORTED_LANGUAGES

from helpers import Site

_HOSTILE = [
    "fr;q=2, de;q=-1, en;q=nan",
    "de;q=1e309, fr;q=0.00001",
    "fr;q=\u0661",  # an Arabic-Indic one: float() reads it
    "x" * 8000,  # near aiohttp's limit of a header line
    ",".join(["zz;q=0.9"] * 800) + ",de",
    "de-\u00e9\u00e8;q=0.5, \u0192r",
    "*;q=1, \ufb00r",
    "fr" + ";q=1" * 1500,
]


def _raw_get(
    port: int, path: str, headers: dict[str, str], *, close: bool = False, method: str = "GET"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {TOKEN}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    fields = [line.split(":", 1) for line in head[1:] if ":" in line]
    headers = {name.strip().lower(): value.strip() for name, value in fields}
    if headers.get("transfer-encoding") != "chunked":
        return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")
    return status, headers, body


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=2000)), st.one_of(st.none(), st.text(max_size=50)))
def test_any_header_and_cookie_give_a_supported_language(
    accept: str | None, cookie: str | None
) -> None:
    assert request_language(cookie, accept) in SUPPORTED_LANGUAGES


def test_the_worst_header_costs_little() -> None:
    worst = ",".join(["fr-CA;q=0.5;q=0.6;a=b"] * 20_000)
    started = time.process_time()
    for _ in range(1000):
        request_language("x" * 4000, worst)
    assert time.process_time() - started < 2.0  # bounded: 1 KiB and 32 ranges are read


def test_hostile_values_never_reach_content_language(site: Site) -> None:
    async def body(env: AdminEnv) -> None:
        for value in _HOSTILE:
            for headers in (
                {"Accept-Language": value},
                {"Cookie": f"openkms_lang={value[:3000]}", "Accept-Language": "de"},
            ):
                response = await env.client.delete(
                    "/api/clients/x", headers={**headers, "Authorization": "Bearer wrong"}
                )
                assert response.status == 401
                assert response.headers["Content-Language"] in SUPPORTED_LANGUAGES

    async def main() -> None:
        async with admin_env(site, AdminConfig(token=TOKEN)) as env:
            env.client.session.cookie_jar.clear()
            await body(env)

    asyncio.run(main())


@pytest.mark.parametrize(
    "value", ["fr\r\nX-Injected: 1", "fr\nSet-Cookie: a=b", "de\x00", "fr\u2028de"]
)
def test_line_breaks_in_the_language_are_no_header(site: Site, value: str) -> None:
    async def main() -> None:
        async with admin_env(site, AdminConfig(token=TOKEN)) as env:
            server = env.client.server
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            request = _raw_get(
                server.port or 0,
                "/api/clients/x",
                {"Accept-Language": value},
                close=True,
                method="DELETE",
            )
            writer.write(request.replace(b"Bearer ", b"Bearer x"))
            status, headers, _body = await _response(reader)
            writer.close()
            await writer.wait_closed()
            assert status in (400, 401)
            assert "x-injected" not in headers and "set-cookie" not in headers
            assert headers.get("content-language", "en") in SUPPORTED_LANGUAGES

    asyncio.run(main())


def test_a_language_does_not_outlive_its_request_on_a_kept_connection(site: Site) -> None:
    """French requests that fail, stream, and are abandoned, then one that asks for nothing
    on the same connection: English."""

    async def main() -> None:
        async with admin_env(site, AdminConfig(token=TOKEN)) as env:
            port = env.client.server.port or 0
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            french = {"Accept-Language": "fr"}
            for path in ("/api/clients/nope", "/api/clients/export", "/api/events?limit=x"):
                writer.write(_raw_get(port, path, french))
                status, headers, _body = await _response(reader)
                if status >= 400:
                    assert headers["content-language"] == "fr", (path, status)
            writer.write(_raw_get(port, "/api/clients/nope", {}))
            status, headers, _body = await _response(reader)
            assert status >= 400 and headers["content-language"] == "en"
            writer.close()
            await writer.wait_closed()
            # A French request its client abandons midway, then a fresh connection.
            _reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
            writer2.write(_raw_get(port, "/api/clients/export", french)[:-2])
            await writer2.drain()
            writer2.close()
            await writer2.wait_closed()
            response = await env.client.get(
                "/api/clients/nope", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert response.status >= 400 and response.headers["Content-Language"] == "en"

    asyncio.run(main())
