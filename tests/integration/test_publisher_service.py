"""The publisher's service in process (aiohttp's test client): refusals, bounds, proxies, TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openkms.client.publisher_http import PublisherService
from openkms.core.codes import ResultCode
from openkms.core.publisher_api import HOST_ACTIVATIONS_PATH, MAK_ACTIVATIONS_PATH, TRUST_PATH
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.publisher._http import ServiceConfig, ServiceContext
from openkms.publisher.database import open_records
from openkms.publisher.service import build_app, serve


@pytest.fixture(scope="module")
def publisher(tmp_path_factory: pytest.TempPathFactory) -> Publisher:
    """One publisher for the module (the hypothesis tests share it)."""
    return Publisher.init(tmp_path_factory.mktemp("service") / "pub", "Test Publisher")


@asynccontextmanager
async def service_client(
    publisher: Publisher, **config: Any
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], ServiceContext]]:
    """The service's app behind aiohttp's test client, over the publisher's records."""
    records = await open_records(publisher.directory, None, publisher.trust().catalog)
    context = ServiceContext(publisher, records, ServiceConfig(publisher.directory, **config))
    try:
        async with TestClient(TestServer(build_app(context))) as client:
            yield client, context
    finally:
        await records.close()


async def _snapshot(context: ServiceContext) -> tuple[object, ...]:
    usage = await context.records.usage()
    return (len(await context.records.audit_log(100_000)), usage)


def _run(publisher: Publisher, body: Callable[..., Awaitable[None]], **config: Any) -> None:
    async def main() -> None:
        async with service_client(publisher, **config) as (client, context):
            await body(client, context)

    asyncio.run(main())


_BODIES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.dictionaries(
        st.sampled_from(["format", "key", "cmid", "machine_name", "activation_id", "request"]),
        st.one_of(st.text(max_size=40), st.integers(), st.none(), st.binary(max_size=20)),
    ).map(lambda d: json.dumps(d, default=repr).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from([HOST_ACTIVATIONS_PATH, MAK_ACTIVATIONS_PATH]), body=_BODIES)
def test_malformed_requests_get_a_4xx_with_a_code_and_change_no_record(
    publisher: Publisher, path: str, body: bytes
) -> None:
    async def check(client: TestClient[web.Request, web.Application], ctx: ServiceContext) -> None:
        before = await _snapshot(ctx)
        response = await client.post(path, data=body)
        assert 400 <= response.status < 500
        refusal = await response.json()
        assert refusal["format"] == "openkms-error/1"
        assert ResultCode(refusal["code"]).failed and refusal["message"] and refusal["fix"]
        assert await _snapshot(ctx) == before

    _run(publisher, check)


def test_health_trust_and_unknown_paths(publisher: Publisher) -> None:
    async def check(client: TestClient[web.Request, web.Application], ctx: ServiceContext) -> None:
        assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
        trust = Trust.from_json(await (await client.get(TRUST_PATH)).read())
        assert trust.publisher_key == publisher.trust().publisher_key
        missing = await client.get("/v2/anything")
        assert missing.status == 404
        assert (await missing.json())["code"] == ResultCode.REQUEST_INVALID
        wrong_method = await client.get(HOST_ACTIVATIONS_PATH)
        assert wrong_method.status == 405

    _run(publisher, check)


def test_an_oversized_body_is_refused_unread(publisher: Publisher) -> None:
    async def check(client: TestClient[web.Request, web.Application], ctx: ServiceContext) -> None:
        response = await client.post(MAK_ACTIVATIONS_PATH, data=b"{" * 70_000)
        assert response.status == 413
        assert (await response.json())["hex"] == ResultCode.REQUEST_INVALID.hex

    _run(publisher, check)


def _host_request(publisher: Publisher, root: Path) -> bytes:
    state = HostState(root, machine="m-" + root.name)
    state.install_key(str(publisher.issue_host_key("B")), publisher.trust())
    return state.activation_request("kms-" + root.name, int(time.time()))


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    publisher: Publisher, tmp_path: Path
) -> None:
    headers = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}

    async def check(client: TestClient[web.Request, web.Application], ctx: ServiceContext) -> None:
        for name in ("a", "b"):
            request = _host_request(publisher, tmp_path / name)
            response = await client.post(HOST_ACTIVATIONS_PATH, data=request, headers=headers)
            assert response.status == 200
            if ctx.config.trusted_proxies:
                break
        actors = [e.actor for e in await ctx.records.audit_log() if e.action == "activate-host"]
        assert actors[-1] == (
            "service:198.51.100.7" if ctx.config.trusted_proxies else "service:127.0.0.1"
        )

    _run(publisher, check)
    _run(publisher, check, trusted_proxies=("127.0.0.1",))


def test_refusals_carry_the_activation_codes(publisher: Publisher, tmp_path: Path) -> None:
    request = _host_request(publisher, tmp_path / "h")
    installed = HostState(tmp_path / "h").host_key()
    assert installed is not None and installed.key is not None
    publisher.block_key(str(installed.key))

    async def check(client: TestClient[web.Request, web.Application], ctx: ServiceContext) -> None:
        response = await client.post(HOST_ACTIVATIONS_PATH, data=request)
        assert response.status == 403
        assert (await response.json())["hex"] == "0xC004C003"

    _run(publisher, check)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_with_a_given_certificate(
    publisher: Publisher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service speaks TLS with --tls-cert/--tls-key; a client verifies it (SSL_CERT_FILE)."""
    cert, key = _self_signed(tmp_path)
    config = ServiceConfig(publisher.directory, ("127.0.0.1", 0), tls_cert=cert, tls_key=key)

    async def main() -> None:
        stop = asyncio.Event()
        started: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(config, stop, started.set_result))
        urls = await started
        assert urls[0].startswith("https://127.0.0.1:")
        try:
            untrusted = PublisherService(urls[0], timeout=5)
            with pytest.raises(OpenKMSError) as refused:
                await asyncio.to_thread(untrusted.get, TRUST_PATH)
            assert refused.value.code is ResultCode.RPC_SERVER_UNAVAILABLE
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            reply = await asyncio.to_thread(PublisherService(urls[0], timeout=5).get, TRUST_PATH)
            assert Trust.from_json(reply.body).publisher_key == publisher.trust().publisher_key
        finally:
            stop.set()
            await task

    asyncio.run(main())
