"""The publisher's service against a hostile network, over real TCP on loopback.

The service runs in-process (``serve`` on port 0, real sockets) with small limits and, for
the rate limit, a clock the test moves; one test runs the real ``publisher serve`` process to
prove the command's flags reach the service. Every wait is bounded by a count or a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec
import pytest

from openkms.core.codes import ResultCode
from openkms.core.publisher_api import MAK_ACTIVATIONS_PATH, TRUST_PATH, ServiceError
from openkms.publisher import Publisher
from openkms.publisher.service import serve
from openkms.publisher.service_config import ServiceConfig
from pubservice import publisher_service

pytestmark = pytest.mark.e2e

Address = tuple[str, int]


@pytest.fixture(scope="module")
def publisher(tmp_path_factory: pytest.TempPathFactory) -> Publisher:
    return Publisher.init(tmp_path_factory.mktemp("guard") / "pub", "Test Publisher")


@contextlib.asynccontextmanager
async def running(
    publisher: Publisher, clock: Callable[[], float] = time.monotonic, **options: object
) -> AsyncIterator[Address]:
    """The service on 127.0.0.1, port 0, with ``options``; its bound address."""
    config = ServiceConfig(publisher.directory, ("127.0.0.1", 0), **options)  # type: ignore[arg-type]
    stop, started = asyncio.Event(), asyncio.Event()
    urls: list[str] = []

    def ready(bound: list[str]) -> None:
        urls.extend(bound)
        started.set()

    task = asyncio.create_task(serve(config, stop, ready, clock=clock))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises what stopped it
    assert urls, "the service did not start within 20 s"
    parts = urlsplit(urls[0])
    assert parts.hostname is not None and parts.port is not None
    try:
        yield parts.hostname, parts.port
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 response with a Content-Length (what the service sends)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return Answer(int(status_line.split()[1]), headers, body)


async def connect(
    address: Address, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*address, local_addr=(source, 0))


async def ask(
    address: Address,
    path: str,
    *,
    source: str = "127.0.0.1",
    method: str = "GET",
    headers: str = "",
) -> Answer | None:
    """One request on a new connection; None when the service closed it unanswered."""
    reader, writer = await connect(address, source)
    try:
        body = b"{}" if method == "POST" else b""
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        return await read_answer(reader)
    except (ConnectionError, asyncio.IncompleteReadError):
        return None
    finally:
        writer.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True when the service closes the connection within ``seconds`` (EOF or a reset)."""
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def close_all(connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    for _, writer in connections:
        writer.close()


async def ask_until_served(address: Address, path: str, source: str, tries: int = 50) -> Answer:
    """Ask until answered: the service learns of a closed connection a moment after us."""
    for _ in range(tries):
        answer = await ask(address, path, source=source)
        if answer is not None:
            return answer
        await asyncio.sleep(0.02)
    raise AssertionError(f"{source} was not served after {tries} tries")


def test_a_slow_request_head_is_closed_while_others_are_served(publisher: Publisher) -> None:
    """Slowloris: a header byte every 50 ms never completes the head; closed at the timeout."""

    async def scenario() -> None:
        async with running(publisher, header_timeout=0.5) as address:
            reader, writer = await connect(address)
            loop = asyncio.get_running_loop()
            start = loop.time()
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            others: list[Answer | None] = []
            for i in range(60):  # 3 s at most
                with contextlib.suppress(ConnectionError):
                    writer.write(b"X-Slow-%d: 1\r\n" % i)
                if i == 3:
                    others.append(await ask(address, "/healthz"))
                if await closed_within(reader, 0.05):
                    break
            elapsed = loop.time() - start
            writer.close()
            assert 0.45 <= elapsed < 1.5, elapsed
            assert [a.status if a else None for a in others] == [200]

    asyncio.run(scenario())


def test_a_complete_head_is_kept_and_an_idle_connection_closes_at_the_keepalive(
    publisher: Publisher,
) -> None:
    async def scenario() -> None:
        async with running(publisher, header_timeout=0.3, keepalive_timeout=1.0) as address:
            reader, writer = await connect(address)
            request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            writer.write(request)
            assert (await read_answer(reader)).status == 200
            assert not await closed_within(reader, 0.6)  # past the head timeout: still open
            writer.write(request)
            assert (await read_answer(reader)).status == 200
            loop = asyncio.get_running_loop()
            answered = loop.time()
            assert await closed_within(reader, 3.0)
            assert 0.8 <= loop.time() - answered < 2.5
            writer.close()

    asyncio.run(scenario())


def test_one_address_past_its_cap_does_not_keep_another_from_being_served(
    publisher: Publisher,
) -> None:
    async def scenario() -> None:
        options = {"max_connections_per_address": 4, "header_timeout": 5.0}
        async with running(publisher, **options) as address:
            held = [await connect(address, "127.0.0.2") for _ in range(4)]
            extra = [await connect(address, "127.0.0.2") for _ in range(6)]
            assert [await closed_within(r, 2.0) for r, _ in extra] == [True] * 6
            assert [await closed_within(r, 0.02) for r, _ in held] == [False] * 4
            served = await ask(address, "/healthz", source="127.0.0.1")
            assert served is not None and served.status == 200
            held[0][1].close()  # one slot of 127.0.0.2 frees up
            again = await ask_until_served(address, "/healthz", "127.0.0.2")
            assert again.status == 200
            close_all(held + extra)

    asyncio.run(scenario())


def test_past_the_total_cap_new_connections_are_closed_and_logged(
    publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running(publisher, max_connections=3, header_timeout=5.0) as address:
            held = [await connect(address, f"127.0.0.{2 + i}") for i in range(3)]
            assert await ask(address, "/healthz", source="127.0.0.1") is None
            held[0][1].close()
            served = await ask_until_served(address, "/healthz", "127.0.0.1")
            assert served.status == 200
            close_all(held)

    with caplog.at_level(logging.WARNING, "openkms.http"):
        asyncio.run(scenario())
    assert "connection limit 3 reached" in caplog.text


def test_past_its_bucket_an_address_gets_429_with_retry_after_then_service_again(
    publisher: Publisher,
) -> None:
    now = [1000.0]

    async def scenario() -> None:
        options = {"rate_limit": 2.0, "rate_burst": 3}
        async with running(publisher, lambda: now[0], **options) as address:
            served = [await ask(address, TRUST_PATH) for _ in range(3)]
            assert [a.status if a else None for a in served] == [200, 200, 200]
            refused = await ask(address, MAK_ACTIVATIONS_PATH, method="POST")
            assert refused is not None and refused.status == 429
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["content-type"].startswith("application/json")
            error = msgspec.json.decode(refused.body, type=ServiceError)
            assert (error.code, error.hex) == (int(ResultCode.RATE_LIMITED), "0xE004000C")
            assert error.name == "RATE_LIMITED" and error.message and error.fix
            health = await ask(address, "/healthz")  # probes are not counted
            assert health is not None and health.status == 200
            other = await ask(address, TRUST_PATH, source="127.0.0.2")
            assert other is not None and other.status == 200
            now[0] += 0.5  # one token at 2 a second
            after = await ask(address, TRUST_PATH)
            assert after is not None and after.status == 200
            empty = await ask(address, TRUST_PATH)
            assert empty is not None and empty.status == 429

    asyncio.run(scenario())


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(
    publisher: Publisher,
) -> None:
    now = [1000.0]

    async def scenario() -> None:
        options = {"rate_limit": 1.0, "rate_burst": 2, "trusted_proxies": ("127.0.0.1",)}
        async with running(publisher, lambda: now[0], **options) as address:

            async def status(client: str) -> int | None:
                answer = await ask(address, TRUST_PATH, headers=f"X-Forwarded-For: {client}\r\n")
                return answer.status if answer else None

            assert [await status("198.51.100.7") for _ in range(3)] == [200, 200, 429]
            assert await status("198.51.100.8") == 200

    asyncio.run(scenario())


def test_the_serve_command_s_flags_reach_the_service(publisher: Publisher) -> None:
    """A real ``publisher serve`` process: head timeout, per-address cap, rate limit."""
    flags = ("--header-timeout", "0.5", "--max-connections-per-address", "2")
    with publisher_service(
        publisher.directory, *flags, "--rate-limit", "0.01", "--rate-burst", "2"
    ) as service:
        parts = urlsplit(service.url)
        assert parts.hostname is not None and parts.port is not None
        address = (parts.hostname, parts.port)

        async def scenario() -> None:
            held = [await connect(address, "127.0.0.2") for _ in range(2)]
            third, writer = await connect(address, "127.0.0.2")
            assert await closed_within(third, 2.0)  # over the cap: at once
            loop = asyncio.get_running_loop()
            start = loop.time()
            assert await closed_within(held[0][0], 3.0)  # no head: at the timeout
            assert loop.time() - start < 1.5
            statuses = [await ask(address, TRUST_PATH) for _ in range(3)]
            assert [a.status if a else None for a in statuses] == [200, 200, 429]
            assert statuses[2] is not None and int(statuses[2].headers["retry-after"]) >= 99
            close_all([*held, (third, writer)])

        asyncio.run(scenario())
        log = service.log()
    assert "Traceback" not in log
    assert "holds 2 connections, its limit" in log
    assert "no complete request head within 0.5s" in log
    assert "past its rate limit" in log


def test_nothing_listens_after_the_service_stops(publisher: Publisher) -> None:
    """The guarded site is closed with the service: its port refuses connections."""

    async def scenario() -> Address:
        async with running(publisher) as address:
            pass
        return address

    host, port = asyncio.run(scenario())
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, port), 2):
        pass
