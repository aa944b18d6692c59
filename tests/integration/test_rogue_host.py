"""A rogue host that copies the publisher's catalog cannot license anybody's client."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from openkms.client.api import Client
from openkms.client.transport import MemoryTransport
from openkms.core.codes import ResultCode
from openkms.core.license import LicenseState
from openkms.host.service import HostService
from openkms.host.state import HostState
from openkms.publisher import Publisher
from openkms.store.memory import MemoryStore

from helpers import make_site


def test_tickets_of_a_host_certified_by_another_root_never_license(tmp_path: Path) -> None:
    genuine = make_site(tmp_path / "genuine")
    rogue = Publisher.init(tmp_path / "rogue", "Rogue")
    # Same application, products and setup keys as the genuine publisher, another root key.
    shutil.copy(genuine.publisher.directory / "catalog.toml", rogue.directory / "catalog.toml")
    rogue.sign_catalog()
    state = HostState(tmp_path / "rogue-host")
    state.install_key(str(rogue.issue_host_key("C")), rogue.trust())
    state.install_certificate(
        rogue.activate_host(state.activation_request("r", int(time.time()))), int(time.time())
    )
    store = MemoryStore()
    service = HostService(
        store=store,
        activation=state.activation(int(time.time())),
        private_key=state.private_key(),
        host_settings=state.settings,
        host_id=state.host_id,
        clock=time.time,
    )
    transport = MemoryTransport()
    transport.hosts[("rogue.test", 1688)] = service.handle
    outcomes = []
    for i in range(5):
        client = Client.open(tmp_path / f"c{i}", transport=transport, machine_name=f"c{i}")
        client.install_key(genuine.product("Standard").setup_key, genuine.publisher.trust())
        client.set_kms("rogue.test")
        outcomes.append(client.activate())
    assert outcomes[-1].count == 5  # the rogue host counted and signed...
    assert outcomes[-1].result is ResultCode.TICKET_INVALID  # ...but its ticket is refused
    assert client.license().state is LicenseState.INITIAL_GRACE
    assert client.state().ticket is None
    asyncio.run(store.close())
