"""The publisher's revocation list: block-key and revoke-host, and GET /v1/revocations."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.core.keys import KeyKind, ProductKey
from openkms.core.revocation import RevocationKind, RevocationList
from openkms.errors import OpenKMSError
from openkms.publisher import Publisher
from openkms.publisher._http import ServiceConfig, ServiceContext
from openkms.publisher.database import open_records
from openkms.publisher.revocations import (
    REVOCATIONS_FILE,
    block_key,
    latest_revocations,
    parse_host_id,
    revoke_host,
)
from openkms.publisher.service import build_app
from openkms.publisher.service_revocations import SERIAL_HEADER

FINGERPRINT = "0123456789abcdef" * 2


def _run(*args: str, ok: bool = True) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    if ok:
        assert result.exit_code == 0, result.output
    return result.exit_code, result.output


def test_block_key_and_revoke_host_write_successive_signed_lists(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    host_key = publisher.issue_host_key("C")
    _, out = _run("publisher", "block-key", str(tmp_path / "pub"), str(host_key), "--reason", "x")
    assert "revocation list 1 (1 entries)" in out
    _run("publisher", "revoke-host", str(tmp_path / "pub"), f"{FINGERPRINT}:{'ab' * 8}")
    revocations = latest_revocations(publisher)
    assert revocations is not None and revocations.serial == 2
    kinds = [(e.kind, e.subject) for e in revocations.body.entries]
    assert kinds == [(RevocationKind.KEY, host_key.key_id), (RevocationKind.HOST, FINGERPRINT)]
    assert revocations.body.entries[0].reason == "x"
    # The same revocation again changes nothing: no new serial.
    _, again = _run("publisher", "revoke-host", str(tmp_path / "pub"), FINGERPRINT)
    assert "already in revocation list 2" in again
    assert json.loads((tmp_path / "pub" / REVOCATIONS_FILE).read_text())["format"]


def test_block_key_records_the_block_and_publishes_it_both_audited(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    host_key = publisher.issue_host_key("C")
    _, out = _run("publisher", "block-key", str(tmp_path / "pub"), str(host_key))
    assert "Blocked host key" in out and "revocation list 1" in out
    # The records (what the service and 'confirm' consult) and the list say the same.
    (usage,) = publisher.usage()
    assert usage.key.blocked_at is not None
    revocations = latest_revocations(publisher)
    assert revocations is not None and revocations.blocked_key(host_key.key_id) is not None
    _run("publisher", "revoke-host", str(tmp_path / "pub"), "0123456789abcdef", "--reason", "r")
    log = [(e.action, e.subject) for e in publisher.audit_log()]
    assert log[-2:] == [("block-key", host_key.key_id), ("revoke-host", "0123456789abcdef")]
    assert publisher.audit_log()[-1].detail == "certificate list=2 r"


def test_a_key_the_publisher_never_issued_is_neither_recorded_nor_listed(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    stranger = ProductKey.generate(KeyKind.HOST)
    code, out = _run("publisher", "block-key", str(tmp_path / "pub"), str(stranger), ok=False)
    assert code != 0 and "not issued by this publisher" in out
    assert latest_revocations(publisher) is None


def test_a_mak_can_be_blocked_a_setup_key_cannot(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    product = publisher.trust().catalog.products[0]
    mak, _ = publisher.issue_mak(product.activation_id, 5)
    assert mak.kind is KeyKind.MAK
    update = block_key(publisher, str(mak))
    assert update.revocations.blocked_key(mak.key_id) is not None
    assert update.blocked is not None and update.blocked.blocked_at is not None
    code, out = _run("publisher", "block-key", str(tmp_path / "pub"), product.setup_key, ok=False)
    assert code != 0 and "setup key" in out


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (FINGERPRINT, RevocationKind.HOST),
        (f"{FINGERPRINT.upper()}:{'ab' * 8}", RevocationKind.HOST),
        ("0123456789ABCDEF", RevocationKind.CERTIFICATE),
    ],
)
def test_a_host_is_named_by_fingerprint_or_certificate_serial(
    text: str, kind: RevocationKind
) -> None:
    assert parse_host_id(text)[0] is kind


@pytest.mark.parametrize("text", ["OKMS-0123", "", "zz" * 16, "0" * 33])
def test_anything_else_is_no_host(text: str) -> None:
    with pytest.raises(OpenKMSError) as caught:
        parse_host_id(text)
    assert caught.value.code is ResultCode.INVALID_ARGUMENT


def test_a_tampered_list_file_is_refused_before_anything_is_added(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    revoke_host(publisher, FINGERPRINT)
    path = tmp_path / "pub" / REVOCATIONS_FILE
    path.write_text(path.read_text().replace('"format"', '"formats"'))
    code, out = _run("publisher", "revoke-host", str(tmp_path / "pub"), "ab" * 16, ok=False)
    assert code != 0 and "0xE004000B" in out


async def _get(publisher: Publisher, query: str = "") -> tuple[int, bytes, dict[str, str]]:
    """GET /v1/revocations from the service's whole application (ROUTE_MODULES)."""
    records = await open_records(publisher.directory, None, publisher.trust().catalog)
    context = ServiceContext(publisher, records, ServiceConfig(publisher.directory))
    try:
        async with TestClient(TestServer(build_app(context))) as client:
            response = await client.get("/v1/revocations" + query)
            return response.status, await response.read(), dict(response.headers)
    finally:
        await records.close()


def test_the_service_serves_the_latest_list(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    status, body, _ = asyncio.run(_get(publisher))
    assert status == 404 and json.loads(body)["message"]
    revoke_host(publisher, FINGERPRINT)
    revoke_host(publisher, "fedcba9876543210")
    status, body, headers = asyncio.run(_get(publisher))
    trust = publisher.trust()
    served = RevocationList.decode(body, trust.publisher_key, trust.catalog.application_id)
    assert status == 200 and served.serial == 2 and headers[SERIAL_HEADER] == "2"
    status, body, _ = asyncio.run(_get(publisher, "?format=json"))
    assert status == 200 and json.loads(body)["format"] == "openkms-revocations/1"


def test_the_service_says_so_when_the_list_is_unreadable(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    (tmp_path / "pub" / REVOCATIONS_FILE).write_bytes(b"\x00garbage")
    status, body, _ = asyncio.run(_get(publisher))
    assert status == 500 and json.loads(body)["code"] == "0xE004000B"
