"""A host takes newer revocation lists and catalogs, refuses to serve once revoked, and passes
both on to the clients that hold older ones."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.core.revocation import RevocationKind, RevocationList
from openkms.core.signing import Envelope
from openkms.core.trust import Trust
from openkms.errors import OpenKMSError
from openkms.host.config import HostConfig
from openkms.host.phone import host_installation_id, install_confirmation
from openkms.host.revocations import UpdateWatch, install_revocations, install_trust
from openkms.host.service import HostService
from openkms.protocol import ActivationRequest, ActivationResponse
from openkms.publisher.phone import confirm_installation
from openkms.publisher.revocations import REVOCATIONS_FILE, block_key, revoke_host
from openkms.store.base import EventQuery
from openkms.store.memory import MemoryStore

from helpers import Site, make_site


def _request(site: Site, **changes: object) -> ActivationRequest:
    product = site.product("Standard")
    fields: dict[str, object] = {
        "request_id": uuid.uuid4().bytes,
        "application_id": site.publisher.trust().catalog.application_id,
        "activation_id": product.activation_id,
        "cmid": uuid.uuid4().bytes,
        "machine_name": "pc",
        "client_time": int(time.time()),
        "license_status": 2,
        "minutes_to_expiration": 43200,
        "n_policy": product.n_policy,
    }
    return ActivationRequest(**{**fields, **changes})  # type: ignore[arg-type]


def _service(site: Site, store: MemoryStore) -> HostService:
    state = site.host_state
    return HostService(
        store=store,
        activation=state.activation(int(time.time())),
        private_key=state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=time.time,
    )


def _answer(service: HostService, request: ActivationRequest) -> ActivationResponse:
    response = asyncio.run(service.handle(request, 1688))
    assert isinstance(response, ActivationResponse), response
    return response


def _install_list(site: Site) -> RevocationList:
    data = (site.publisher.directory / REVOCATIONS_FILE).read_bytes()
    install_revocations(site.host_state, data, "revocations.json")
    listed = site.host_state.activation(int(time.time())).revocations
    assert listed is not None
    return listed


def _cli(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    assert (result.exit_code == 0) is ok, result.output
    return result.output


def test_a_host_whose_key_is_blocked_refuses_and_passes_the_list_on(
    site: Site,
) -> None:
    installed = site.host_state.host_key()
    assert installed is not None and installed.key is not None
    block_key(site.publisher, str(installed.key), "leaked")
    listed = _install_list(site)
    store = MemoryStore()
    response = _answer(_service(site, store), _request(site, revocations_serial=0))
    assert response.result == ResultCode.KEY_BLOCKED and response.ticket is None
    assert response.revocations == listed.encoded
    records = asyncio.run(store.events(EventQuery()))
    assert records[-1].hresult == ResultCode.KEY_BLOCKED  # recorded as a failed request


def test_a_revoked_host_says_so_in_dli(site: Site) -> None:
    fingerprint = site.host_state.fingerprint
    revoke_host(site.publisher, fingerprint, "stolen server")
    _cli(
        "host",
        "--store",
        str(site.host_dir),
        "install-revocations",
        str(site.publisher.directory / REVOCATIONS_FILE),
    )
    out = _cli("host", "--store", str(site.host_dir), "dlv")
    assert "Notification Reason: 0xC004C003 (Certificate revoked by the publisher on " in out
    assert "stolen server" in out
    assert "Revocation list serial: 1" in out


def test_a_list_revoking_others_leaves_the_host_serving(site: Site) -> None:
    revoke_host(site.publisher, "0123456789abcdef")
    _install_list(site)
    response = _answer(_service(site, MemoryStore()), _request(site))
    assert response.result == 0


def test_an_older_list_never_replaces_a_newer_one(site: Site) -> None:
    revoke_host(site.publisher, "0123456789abcdef")
    older = (site.publisher.directory / REVOCATIONS_FILE).read_bytes()
    revoke_host(site.publisher, "fedcba9876543210")
    newer = _install_list(site)
    with pytest.raises(OpenKMSError) as caught:
        install_revocations(site.host_state, older, "old.json")
    assert caught.value.code is ResultCode.REVOCATIONS_NOT_NEWER
    assert site.host_state.activation(int(time.time())).revocations == newer
    # The same list again is nothing to do, not an error.
    again = install_revocations(site.host_state, newer.to_json(), "same.json")
    assert not again.replaced


def test_hostile_list_bytes_are_refused_with_a_result_code(site: Site, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for data in (
        b"",
        b"{",
        b'{"format": "openkms-revocations/1", "revocations": [1, 2]}',
        b"\x92\xc4\x00\xc4\x00",
        b"\xff" * 100,
    ):
        bad.write_bytes(data)
        out = _cli("host", "--store", str(site.host_dir), "install-revocations", str(bad), ok=False)
        assert "0xE004000B" in out
    assert not (site.host_dir / REVOCATIONS_FILE).exists()


def test_the_response_carries_the_list_and_catalog_only_when_newer(site: Site) -> None:
    revoke_host(site.publisher, "0123456789abcdef")
    listed = _install_list(site)
    trust = site.host_state.trust()
    assert trust is not None
    service = _service(site, MemoryStore())
    serial = trust.catalog.serial
    fresh = _answer(service, _request(site, revocations_serial=0, catalog_serial=serial - 1))
    assert fresh.revocations == listed.encoded
    assert fresh.catalog is not None
    envelope = msgspec.msgpack.decode(fresh.catalog, type=Envelope)
    assert Trust.create(trust.publisher_key, envelope) == trust
    current = _answer(service, _request(site, revocations_serial=1, catalog_serial=serial))
    assert current.revocations is None and current.catalog is None
    # A client that names no serial (an older client) gets neither.
    old_client = _answer(service, _request(site))
    assert old_client.revocations is None and old_client.catalog is None


def test_a_newer_catalog_is_installed_an_older_refused(site: Site, tmp_path: Path) -> None:
    old = site.publisher.trust().to_json()
    site.publisher.sign_catalog()
    newer = tmp_path / "trust.json"
    newer.write_bytes(site.publisher.trust().to_json())
    out = _cli("host", "--store", str(site.host_dir), "install-trust", str(newer))
    assert "Installed catalog 2" in out
    with pytest.raises(OpenKMSError) as caught:
        install_trust(site.host_state, old, "old trust.json")
    assert caught.value.code is ResultCode.CATALOG_NOT_NEWER


def test_a_serving_host_takes_a_list_installed_while_it_serves(site: Site) -> None:
    async def scenario() -> tuple[int, int, list[int]]:
        store = MemoryStore()
        service = _service(site, store)
        watch = UpdateWatch(
            state=site.host_state,
            service=service,
            store=store,
            private_key=site.host_state.private_key(),
            clock=time.time,
            publisher_url=None,
            poll_seconds=HostConfig(site.host_dir).settings_poll_seconds,
            fetch_seconds=3600,
        )
        before = await service.handle(_request(site), 1688)
        block_key(site.publisher, _host_key_text(site))
        _install_list(site)
        assert await watch.reload_if_changed()
        after = await service.handle(_request(site), 1688)
        assert isinstance(before, ActivationResponse) and isinstance(after, ActivationResponse)
        events = await store.events(EventQuery(event_ids=(12330,)))
        return before.result, after.result, [e.event_id for e in events]

    before, after, events = asyncio.run(scenario())
    assert before == 0 and after == ResultCode.KEY_BLOCKED
    assert events == [12330]


def _host_key_text(site: Site) -> str:
    installed = site.host_state.host_key()
    assert installed is not None and installed.key is not None
    return str(installed.key)


def test_a_phone_activated_hosts_certificate_is_revoked_by_its_serial(tmp_path: Path) -> None:
    site = make_site(tmp_path, "B", activate=False)
    now = int(time.time())
    iid = host_installation_id(site.host_state, now)
    confirmation = confirm_installation(site.publisher, str(iid))
    certificate = install_confirmation(site.host_state, confirmation.confirmation_id, now)
    assert site.host_state.activation(now).revoked is None
    # The serial 'host dli' shows for a phone certificate names it in revoke-host.
    _cli("publisher", "revoke-host", str(site.publisher.directory), certificate.serial.upper())
    listed = _install_list(site)
    (entry,) = listed.body.entries
    assert (entry.kind, entry.subject) == (RevocationKind.CERTIFICATE, certificate.serial)
    assert site.host_state.activation(now).revoked == entry
    response = _answer(_service(site, MemoryStore()), _request(site, revocations_serial=0))
    assert response.result == ResultCode.KEY_BLOCKED and response.ticket is None
    assert response.revocations == listed.encoded
