"""Trusted time and the sealed state: a clock set back or a hand-edited ``client.json``
never revives a licence nor restarts a grace period."""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from openkms.client import seal
from openkms.client.api import Client
from openkms.client.info import gather_client_info
from openkms.client.timekeeping import CLOCK_ROLLBACK_EVENT
from openkms.client.transport import MemoryTransport
from openkms.core import settings
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.host.service import HostService
from openkms.slmgr_text import client_text
from openkms.store.memory import MemoryStore

from helpers import Site

DAY = 86400


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def transport(site: Site) -> Iterator[MemoryTransport]:
    store = MemoryStore()
    asyncio.run(store.open())
    state = site.host_state
    service = HostService(
        store=store,
        activation=state.activation(int(time.time())),
        private_key=state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=time.time,
    )
    yield MemoryTransport({("kms.test", 1688): service.handle})
    asyncio.run(store.close())


def _client(site: Site, directory: Path, transport: MemoryTransport, clock: Clock) -> Client:
    client = Client.open(directory, transport=transport, clock=clock, machine_name=directory.name)
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    client.set_kms("kms.test")
    return client


def _licensed(site: Site, root: Path, transport: MemoryTransport, clock: Clock) -> Client:
    """The fifth of five clients (N=5 for Standard): activated, with a ticket."""
    for i in range(5):
        client = _client(site, root / f"pc{i}", transport, clock)
        outcome = client.activate()
    assert outcome.activated, outcome.message
    return client


def _state(client: Client) -> dict[str, object]:
    data = json.loads((client.directory / "client.json").read_text())
    state: dict[str, object] = data["state"]
    return state


def _edit(client: Client, **changes: object) -> None:
    path = client.directory / "client.json"
    data = json.loads(path.read_text())
    data["state"].update(changes)
    path.write_text(json.dumps(data, indent=2))


def test_a_clock_set_back_never_revives_an_expired_ticket(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _licensed(site, tmp_path, transport, clock)
    assert client.license().state is LicenseState.LICENSED
    clock.now += 181 * DAY
    assert client.license().state is LicenseState.OUT_OF_TOLERANCE_GRACE
    high_water = _state(client)["trusted_time"]
    clock.now -= 181 * DAY  # the owner sets the clock back
    license = client.license()
    assert license.state is LicenseState.OUT_OF_TOLERANCE_GRACE  # not Licensed again
    assert _state(client)["trusted_time"] == high_water
    info = gather_client_info(client)
    assert info.clock_rollback_seconds >= 181 * DAY - 1
    assert "Clock rollback: the clock is" in client_text(info)
    rollbacks = [e for e in client.events.read() if e.event_id == CLOCK_ROLLBACK_EVENT]
    assert len(rollbacks) == 1  # once per episode, not per look
    assert rollbacks[0].hresult == ResultCode.CLOCK_ROLLBACK
    assert rollbacks[0].level == "Warning"


def test_a_clock_set_back_never_restarts_the_initial_grace(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _client(site, tmp_path / "pc", transport, clock)
    clock.now += 31 * DAY
    assert client.license().state is LicenseState.NOTIFICATION
    clock.now -= 31 * DAY
    assert client.license().state is LicenseState.NOTIFICATION
    # Installing the key again does not restart it either, at either time.
    client.install_key(site.product("Standard").setup_key)
    client.uninstall_key()
    client.install_key(site.product("Standard").setup_key)
    assert client.license().state is LicenseState.NOTIFICATION


def test_a_small_clock_correction_is_no_rollback(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _client(site, tmp_path / "pc", transport, clock)
    client.license()
    clock.now -= settings.CLOCK_ROLLBACK_TOLERANCE_SECONDS - 5
    assert gather_client_info(client).clock_rollback_seconds == 0
    assert not [e for e in client.events.read() if e.event_id == CLOCK_ROLLBACK_EVENT]


def test_the_state_is_sealed_with_a_per_store_secret(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    client = _client(site, tmp_path / "pc", transport, Clock(time.time()))
    data = json.loads((client.directory / "client.json").read_text())
    assert data["format"] == "openkms-client/2"
    assert data["seal"].startswith("hmac-sha256:")
    key = client.directory / seal.SEAL_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    # Formatting is not tampering: only values are sealed.
    (client.directory / "client.json").write_text(json.dumps(data))
    assert client.license().state is LicenseState.INITIAL_GRACE


@pytest.mark.parametrize(
    "changes",
    [
        {"grace_started_at": 10 * 365 * DAY + int(time.time())},  # ten more years of grace
        {"trusted_time": 0},  # forget the high-water mark
        {"rearms_used": -3},  # three more rearms
    ],
    ids=["grace-start", "trusted-time", "rearms"],
)
def test_a_hand_edited_state_is_notification_and_never_extends(
    site: Site, transport: MemoryTransport, tmp_path: Path, changes: dict[str, object]
) -> None:
    clock = Clock(time.time())
    client = _client(site, tmp_path / "pc", transport, clock)
    _edit(client, **changes)
    license = client.license()
    assert license.state is LicenseState.NOTIFICATION
    assert license.reason is ResultCode.STATE_TAMPERED
    assert gather_client_info(client).state_tampered
    # Saving again (any operation) does not launder the edit.
    client.set_host_caching(True)
    assert client.license().reason is ResultCode.STATE_TAMPERED
    with pytest.raises(Exception, match="re-arms"):
        for _ in range(settings.MAX_REARMS + 1):
            client.rearm()  # a tampered store has no rearm left


def test_an_edited_ticket_never_licenses(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _licensed(site, tmp_path, transport, clock)
    state = _state(client)
    assert isinstance(state["ticket"], str)
    _edit(client, ticket=state["ticket"][:-8] + "AAAAAAA=")
    assert client.license().state is LicenseState.NOTIFICATION


def test_reactivation_against_a_genuine_host_clears_the_tamper(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _licensed(site, tmp_path, transport, clock)
    _edit(client, grace_started_at=1)
    assert client.license().reason is ResultCode.STATE_TAMPERED
    assert client.activate().activated
    assert client.license().state is LicenseState.LICENSED


def test_a_state_copied_to_another_machine_is_tampered(
    site: Site, transport: MemoryTransport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(site, tmp_path / "pc", transport, Clock(time.time()))
    monkeypatch.setattr(seal, "machine_id", lambda: b"another-machine")
    assert client.license().reason is ResultCode.STATE_TAMPERED


def test_a_deleted_state_in_a_sealed_store_starts_no_new_grace(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _client(site, tmp_path / "pc", transport, clock)
    clock.now += 31 * DAY
    (client.directory / "client.json").unlink()
    client.install_key(site.product("Standard").setup_key)
    assert client.license().reason is ResultCode.STATE_TAMPERED


def test_an_unsealed_state_of_the_previous_format_is_migrated_once(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _client(site, tmp_path / "pc", transport, clock)
    state = _state(client)
    old = {"format": "openkms-client/1", **state}
    del old["publisher_key"], old["trusted_time"], old["clock_rollback"], old["tampered"]
    path = client.directory / "client.json"
    (client.directory / seal.SEAL_FILE).unlink()
    path.write_text(json.dumps(old))  # as the previous version wrote it
    assert client.license().state is LicenseState.INITIAL_GRACE  # accepted, and sealed
    migrated = json.loads(path.read_text())
    assert migrated["format"] == "openkms-client/2"
    assert migrated["state"]["publisher_key"] == site.publisher.public_key_text()
    assert migrated["state"]["cmid"] == old["cmid"]
    # Once sealed, an unsealed file is an edit.
    path.write_text(json.dumps(old))
    assert client.license().reason is ResultCode.STATE_TAMPERED


def test_reading_the_license_writes_at_most_about_once_an_hour(
    site: Site, transport: MemoryTransport, tmp_path: Path
) -> None:
    clock = Clock(time.time())
    client = _client(site, tmp_path / "pc", transport, clock)
    path = client.directory / "client.json"
    client.license()
    before = path.stat().st_mtime_ns, path.read_bytes()
    clock.now += 600
    client.license()
    gather_client_info(client)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    clock.now += 3600
    client.license()
    assert _state(client)["trusted_time"] == int(clock.now)


def test_dli_of_a_tampered_store_warns_once(tmp_path: Path, site: Site) -> None:
    directory = tmp_path / "pc"
    client = Client.open(directory, machine_name="pc")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    document = json.loads((directory / "client.json").read_text())
    document["state"]["rearms_used"] = 0 if document["state"]["rearms_used"] else 1
    (directory / "client.json").write_text(json.dumps(document))
    result = subprocess.run(
        [sys.executable, "-m", "openkms", "client", "--store", str(directory), "dli"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "License Status: Notification" in result.stdout
    assert result.stderr.count("does not match its seal") == 1, result.stderr
