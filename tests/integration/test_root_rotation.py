"""Root key rotation through the library: the publisher rotates, hosts and clients follow.

In-process (memory transport, memory store); tests/e2e/test_root_rotation_e2e.py runs the
same story with real processes.
"""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from openkms.cli.main import cli
from openkms.client.api import Client
from openkms.client.transport import MemoryTransport
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.core.trust import Trust, format_publisher_key
from openkms.errors import OpenKMSError
from openkms.host.service import HostService
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.publisher.rotation import rotate_root
from openkms.store.memory import MemoryStore

from helpers import Site


def _service(state: HostState) -> HostService:
    now = int(time.time())
    store = MemoryStore()
    asyncio.run(store.open())
    return HostService(
        store=store,
        activation=state.activation(now),
        private_key=state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=time.time,
    )


def _activated_client(tmp_path: Path, site: Site, pin: str) -> Client:
    """A client pinned by the application to ``pin``, activated (4 others made the count)."""
    service = _service(site.host_state)
    transport = MemoryTransport({("kms.test", 1688): service.handle})
    client = None
    for i in range(5):  # Standard: N=5; the last one is the client of the test
        client = Client.open(
            tmp_path / ("pc" if i == 4 else f"other{i}"),
            transport=transport,
            machine_name=f"pc{i}",
            publisher_key=pin,
        )
        client.install_key(site.product("Standard").setup_key, site.publisher.trust())
        client.set_kms("kms.test")
        client.activate()
    assert client is not None
    return client


# -- the publisher ---------------------------------------------------------------------------


def test_rotate_root_keeps_the_old_key_retired_and_signs_the_catalog_with_the_new(
    site: Site,
) -> None:
    directory = site.publisher.directory
    before = site.publisher.trust()
    old_pem = (directory / "root.key").read_bytes()
    done = rotate_root(directory)
    retired = directory / "root.key.1.retired"
    assert done.retired_file == retired and retired.read_bytes() == old_pem
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / "root.key").stat().st_mode) == 0o600
    assert not (directory / "root.key.new").exists()
    after = site.publisher.trust()
    assert after.publisher_key != before.publisher_key
    assert (
        site.publisher.public_key_text()
        == done.new_key
        == format_publisher_key(after.publisher_key)
    )
    assert after.catalog.serial == before.catalog.serial + 1
    assert after.catalog.phone_key != before.catalog.phone_key
    assert after.lineage == (before.publisher_key, after.publisher_key)
    assert after.check_newer_than(before) is True


def test_sign_catalog_after_a_rotation_keeps_the_chain(site: Site) -> None:
    original = site.publisher.trust()
    rotate_root(site.publisher.directory)
    resigned = site.publisher.sign_catalog()
    assert resigned.rotations and resigned.descends_from(original.publisher_key)
    resigned.require_publisher(original.publisher_key, "the application")


def test_a_second_rotation_extends_the_chain(site: Site) -> None:
    first = site.publisher.trust()
    rotate_root(site.publisher.directory)
    middle = site.publisher.trust()
    done = rotate_root(site.publisher.directory)
    last = site.publisher.trust()
    assert done.sequence == 2
    assert (site.publisher.directory / "root.key.2.retired").exists()
    assert last.lineage == (first.publisher_key, middle.publisher_key, last.publisher_key)
    assert last.check_newer_than(first) and last.check_newer_than(middle)


def test_an_interrupted_rotation_is_finished_or_undone_by_the_next(site: Site) -> None:
    directory = site.publisher.directory
    rotate_root(directory)
    published = site.publisher.trust()
    # Stopped after trust.json, before the rename: the next run finishes it first.
    (directory / "root.key.new").write_bytes((directory / "root.key").read_bytes())
    (directory / "root.key").write_bytes((directory / "root.key.1.retired").read_bytes())
    done = rotate_root(directory)
    assert done.previous_key == format_publisher_key(published.publisher_key)
    # Stopped before trust.json: the pending key is dropped, nothing was published under it.
    (directory / "root.key.new").write_bytes((directory / "root.key.1.retired").read_bytes())
    rotate_root(directory)
    assert not (directory / "root.key.new").exists()
    assert len(site.publisher.trust().transitions) == 3


def test_rotate_root_refuses_a_root_key_that_did_not_sign_trust_json(site: Site) -> None:
    directory = site.publisher.directory
    other = Publisher.init(directory.parent / "other", "Other")
    (directory / "root.key").write_bytes((other.directory / "root.key").read_bytes())
    with pytest.raises(OpenKMSError, match="not the key that signed"):
        rotate_root(directory)
    assert not (directory / "root.key.1.retired").exists()


def test_the_cli_prints_the_new_key_and_what_to_distribute(site: Site) -> None:
    runner = CliRunner()
    directory = str(site.publisher.directory)
    result = runner.invoke(cli, ["publisher", "rotate-root", directory])
    assert result.exit_code == 0, result.output
    new_key = site.publisher.public_key_text()
    assert f"new key      {new_key}" in result.stdout
    assert "root.key.1.retired" in result.stdout and "trust.json" in result.stdout
    as_json = runner.invoke(cli, ["publisher", "rotate-root", directory, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert '"rotation": 2' in as_json.stdout
    bad = runner.invoke(cli, ["publisher", "rotate-root", str(site.publisher.directory / "x")])
    assert bad.exit_code == 1 and "Traceback" not in bad.output


# -- certificates, hosts and clients ------------------------------------------------------------


def test_the_hosts_old_certificate_verifies_under_the_rotated_trust(site: Site) -> None:
    rotate_root(site.publisher.directory)
    rotated = site.publisher.trust()
    assert site.host_state.install_trust(rotated) is True
    activation = site.host_state.activation(int(time.time()))
    assert activation.activated and activation.certificate is not None
    assert site.host_state.trust() == rotated
    # Installing it again is nothing to do; the pre-rotation trust is refused.
    assert site.host_state.install_trust(rotated) is False
    with pytest.raises(OpenKMSError) as caught:
        site.host_state.install_trust(Trust.from_json(_original_trust_bytes(site)))
    assert caught.value.code is ResultCode.PUBLISHER_MISMATCH


def _original_trust_bytes(site: Site) -> bytes:
    return (site.host_dir / "trust.json.before").read_bytes()


@pytest.fixture(autouse=True)
def _keep_original_trust(site: Site) -> None:
    """A copy of the host's trust.json before any rotation (the 'old' document)."""
    (site.host_dir / "trust.json.before").write_bytes((site.host_dir / "trust.json").read_bytes())


def test_a_reactivated_host_gets_a_certificate_under_the_new_key(site: Site) -> None:
    rotate_root(site.publisher.directory)
    now = int(time.time())
    request = site.host_state.activation_request("test-kms", now)
    cert = site.host_state.install_certificate(site.publisher.activate_host(request), now)
    rotated = site.publisher.trust()
    assert site.host_state.trust() == rotated  # the certificate file's newer trust was taken
    assert cert.issued_at >= rotated.transitions[0].at - 300
    assert site.host_state.activation(now).certificate == cert


def test_a_client_pinned_to_the_old_key_follows_the_rotation_and_pins_the_new_key(
    tmp_path: Path, site: Site
) -> None:
    old_key = site.publisher.public_key_text()
    client = _activated_client(tmp_path, site, old_key)
    assert client.license().state is LicenseState.LICENSED
    rotate_root(site.publisher.directory)
    rotated = site.publisher.trust()
    client.install_key(site.product("Standard").setup_key, rotated)
    assert client.trust() == rotated
    assert client.state().publisher_key == format_publisher_key(rotated.publisher_key)
    # The ticket under the old key's certificate still licenses; renewal keeps working.
    assert client.license().state is LicenseState.LICENSED
    client.activate()
    assert client.license().state is LicenseState.LICENSED
    # The store now follows the new key: the pre-rotation document is refused.
    with pytest.raises(OpenKMSError) as caught:
        client.install_key(
            site.product("Standard").setup_key,
            Trust.from_json((site.host_dir / "trust.json.before").read_bytes()),
        )
    assert caught.value.code is ResultCode.PUBLISHER_MISMATCH
    # An application that pins the new key in a later release reads the same store.
    new_key = format_publisher_key(rotated.publisher_key)
    assert Client.open(tmp_path / "pc", publisher_key=new_key).license().state is (
        LicenseState.LICENSED
    )


def test_a_trust_json_put_back_from_before_the_rotation_does_not_license(
    tmp_path: Path, site: Site
) -> None:
    old_key = site.publisher.public_key_text()
    client = _activated_client(tmp_path, site, old_key)
    rotate_root(site.publisher.directory)
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    (tmp_path / "pc" / "trust.json").write_bytes((site.host_dir / "trust.json.before").read_bytes())
    license = Client.open(tmp_path / "pc", publisher_key=old_key).license()
    assert license.state is LicenseState.NOTIFICATION
    assert license.reason is ResultCode.PUBLISHER_MISMATCH
