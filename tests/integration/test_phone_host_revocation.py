"""A host activated only by phone is revoked by its phone reference, through the CLI, and is
not certified again by phone, with a request file or through the real publisher service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.core.publisher_api import HOST_ACTIVATIONS_PATH
from openkms.errors import OpenKMSError
from openkms.host.phone import host_installation_id
from openkms.host.state import HostState, host_id_of
from openkms.publisher import Publisher
from openkms.publisher._http import ServiceConfig, ServiceContext
from openkms.publisher.database import open_records
from openkms.publisher.phone import confirm_installation
from openkms.publisher.revocations import REVOCATIONS_FILE
from openkms.publisher.service import build_app


def _run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    assert (result.exit_code == 0) is ok, result.output
    return result.output


def _host(root: Path, publisher: Publisher, name: str, key: str) -> HostState:
    state = HostState(root / name, machine=name)
    state.install_key(key, publisher.trust())
    return state


def _by_phone(state: HostState, publisher: Publisher) -> None:
    confirm_installation(publisher, str(host_installation_id(state, publisher.now())))


def _phone_refs(publisher: Publisher) -> list[str]:
    return [m.machine for u in publisher.usage() for m in u.machines]


def _online(publisher: Publisher, request: bytes) -> tuple[int, str]:
    async def post() -> tuple[int, str]:
        records = await open_records(publisher.directory, None, publisher.trust().catalog)
        context = ServiceContext(publisher, records, ServiceConfig(publisher.directory))
        try:
            async with TestClient(TestServer(build_app(context))) as client:
                response = await client.post(HOST_ACTIVATIONS_PATH, data=request)
                return response.status, await response.text()
        finally:
            await records.close()

    return asyncio.run(post())


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher.init(tmp_path / "pub", "Test")


def test_a_phone_only_host_is_refused_again_by_its_phone_reference(
    publisher: Publisher, tmp_path: Path
) -> None:
    key = str(publisher.issue_host_key("C"))
    state = _host(tmp_path, publisher, "host", key)
    other = _host(tmp_path, publisher, "other", key)
    _by_phone(state, publisher)
    (reference,) = _phone_refs(publisher)
    directory = str(publisher.directory)

    # Its OKMS- ID cannot be resolved (the installation ID carries no fingerprint): the fix
    # names the paths that work, and nothing is revoked.
    out = _run("publisher", "revoke-host", directory, host_id_of(state.fingerprint), ok=False)
    assert "0x80070057" in out and "phone reference" in out
    for garbage in ("phone:xyz", "phone:" + "1" * 33, "phone:abc"):
        out = _run("publisher", "revoke-host", directory, garbage, ok=False)
        assert "0x80070057" in out
    assert not (publisher.directory / REVOCATIONS_FILE).exists()

    out = _run("publisher", "revoke-host", directory, reference.upper(), "--reason", "stolen")
    assert "refused from now on" in out and "list is unchanged" in out
    out = _run("publisher", "revoke-host", directory, reference)
    assert "already refused" in out
    assert ("revoke-host", reference) in [(e.action, e.subject) for e in publisher.audit_log()]

    used = [u.used for u in publisher.usage()]
    with pytest.raises(OpenKMSError) as by_phone:
        _by_phone(state, publisher)
    assert by_phone.value.code is ResultCode.KEY_BLOCKED
    assert "stolen" in by_phone.value.message
    request = state.activation_request("kms-host", publisher.now())
    with pytest.raises(OpenKMSError) as by_file:
        publisher.activate_host(request)
    assert by_file.value.code is ResultCode.KEY_BLOCKED
    status, body = _online(publisher, request)
    assert status >= 400 and ResultCode.KEY_BLOCKED.hex in body
    assert [u.used for u in publisher.usage()] == used  # nothing recorded

    _by_phone(other, publisher)  # another host of the same key is not concerned
    assert len(_phone_refs(publisher)) == 2


def test_a_phone_reference_recorded_online_revokes_the_host_by_fingerprint(
    publisher: Publisher, tmp_path: Path
) -> None:
    state = _host(tmp_path, publisher, "host", str(publisher.issue_host_key("C")))
    request = state.activation_request("kms-host", publisher.now())
    state.install_certificate(publisher.activate_host(request), publisher.now())
    (machine,) = [m for u in publisher.usage() for m in u.machines]
    assert machine.phone_ref is not None
    out = _run("publisher", "revoke-host", str(publisher.directory), machine.phone_ref)
    assert state.fingerprint.partition(":")[0] in out and "revocation list 1" in out
    with pytest.raises(OpenKMSError) as by_phone:
        _by_phone(state, publisher)
    assert by_phone.value.code is ResultCode.KEY_BLOCKED
