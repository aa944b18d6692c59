"""The host's store directory read once into a snapshot: reading never creates a file."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from openkms.core.host import HostSnapshot
from openkms.errors import StateError
from openkms.host.app import HostApp
from openkms.host.config import HostConfig
from openkms.host.info import gather_host_info
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.store.memory import MemoryStore

from helpers import Site


def _listing(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


def test_reading_a_host_directory_creates_and_changes_no_file(site: Site) -> None:
    before = _listing(site.host_dir)
    state = HostState(site.host_dir)
    snapshot = state.snapshot(int(time.time()))
    assert snapshot.activation.activated and snapshot.host_id and snapshot.fingerprint
    assert state.settings == snapshot.settings and state.host_key() == snapshot.host_key
    assert state.host_id == snapshot.host_id and state.fingerprint == snapshot.fingerprint
    assert state.activation(int(time.time())).activated
    assert _listing(site.host_dir) == before


def test_a_snapshot_is_immutable(site: Site) -> None:
    snapshot = site.host_state.snapshot(int(time.time()))
    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.host_id = "OKMS-OTHER"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        snapshot.settings.port = 1  # type: ignore[misc]


def test_a_host_without_host_key_file_has_no_identity_and_gets_none(site: Site) -> None:
    (site.host_dir / "host.key").unlink()
    before = _listing(site.host_dir)
    state = HostState(site.host_dir)
    snapshot = state.snapshot(int(time.time()))
    assert snapshot.private_key is None and snapshot.public_key is None
    assert snapshot.host_id is None and snapshot.fingerprint is None
    assert not snapshot.activation.activated
    assert "host.key is missing" in (snapshot.activation.problem or "")
    for needs_identity in (snapshot.signing_key, snapshot.identity, state.private_key):
        with pytest.raises(StateError, match=r"host\.key is missing") as raised:
            needs_identity()
        assert "activation-request" in (raised.value.fix or "")
    with pytest.raises(StateError):
        _ = state.host_id
    assert _listing(site.host_dir) == before


def test_a_never_configured_directory_reads_as_empty_and_stays_empty(tmp_path: Path) -> None:
    snapshot = HostState(tmp_path).snapshot(int(time.time()))
    assert snapshot.host_key is None and snapshot.host_id is None
    assert snapshot.activation.problem == "no host certificate is installed"
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_certificate_gives_a_snapshot_with_the_problem(site: Site) -> None:
    (site.host_dir / "certificate.json").write_bytes(b'{"format": "openkms-host-cert')
    snapshot = site.host_state.snapshot(int(time.time()))
    assert snapshot.activation.certificate is None
    assert (snapshot.activation.problem or "").startswith("the certificate is invalid")
    assert snapshot.host_id is not None and snapshot.trust is not None


def test_a_corrupt_host_key_file_is_a_state_error(site: Site) -> None:
    (site.host_dir / "host.key").write_bytes(b"not a key")
    with pytest.raises(StateError, match="not a PEM private key"):
        site.host_state.snapshot(int(time.time()))


def test_a_bad_setting_in_host_json_is_a_state_error_with_the_fix(site: Site) -> None:
    path = site.host_dir / "host.json"
    path.write_text(path.read_text().replace('"port": 1688', '"port": 0'))
    with pytest.raises(StateError, match=r"port must be 1\.\.65535") as raised:
        site.host_state.snapshot(int(time.time()))
    assert "TCP port" in (raised.value.fix or "")


def test_only_ipk_and_activation_request_make_the_identity(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "P")
    state = HostState(tmp_path / "host")
    state.install_key(str(publisher.issue_host_key("C")), publisher.trust())
    assert (tmp_path / "host" / "host.key").stat().st_mode & 0o777 == 0o600
    first = state.host_id
    (tmp_path / "host" / "host.key").unlink()
    state.activation_request("kms", int(time.time()))
    assert (tmp_path / "host" / "host.key").exists() and state.host_id != first


def test_the_host_does_not_start_without_its_identity(site: Site) -> None:
    (site.host_dir / "host.key").unlink()
    store = MemoryStore()
    app = HostApp(
        HostConfig(site.host_dir, listen=(("127.0.0.1", 0),), dns_publishing=False),
        store=store,
    )
    with pytest.raises(StateError, match=r"host\.key is missing"):
        asyncio.run(app.start())
    assert not (site.host_dir / "host.key").exists()


def test_host_info_comes_from_one_snapshot(site: Site) -> None:
    now = int(time.time())
    snapshot: HostSnapshot = site.host_state.snapshot(now)
    info = asyncio.run(gather_host_info(snapshot, MemoryStore(), now))
    assert info.extended_pid == snapshot.host_id and info.installation_id == snapshot.fingerprint
    assert info.activated and info.license_status == "Licensed"
    assert info.port == snapshot.settings.port
    missing = dataclasses.replace(snapshot, private_key=None, fingerprint=None, host_id=None)
    assert asyncio.run(gather_host_info(missing, MemoryStore(), now)).extended_pid == ""
