"""The demo: a publisher, an activated host on loopback and simulated clients, end to end."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openkms._address import format_address
from openkms.admin.config import AdminConfig
from openkms.client.api import AttemptOutcome, Client
from openkms.client.transport import TcpTransport
from openkms.core.catalog import Product
from openkms.host.app import HostApp
from openkms.host.config import HostConfig
from openkms.host.info import HostInfo, gather_host_info
from openkms.host.state import HostState
from openkms.publisher import Publisher

__all__ = ["DemoClient", "DemoSite", "Progress"]


@dataclass(frozen=True, slots=True)
class Progress:
    """One attempt of one simulated client, for the live display."""

    round: int
    machine: str
    kind: str
    n_policy: int
    outcome: AttemptOutcome


@dataclass
class DemoClient:
    """A simulated client machine with its own store and CMID."""

    name: str
    kind: str
    product: Product
    client: Client
    activated: bool = False


class DemoSite:
    """A customer site in a directory: publisher, host (on 127.0.0.1) and clients."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.clock = clock
        self.publisher = Publisher.init(directory / "publisher", "Acme Analytics")
        self.host_state = HostState(directory / "host")
        self.app: HostApp | None = None
        self.address: tuple[str, int] = ("127.0.0.1", 0)
        self.clients: list[DemoClient] = []

    def activate_host(self) -> None:
        """Issue a group-C host key, install it and activate the host offline."""
        key = self.publisher.issue_host_key("C")
        self.host_state.install_key(str(key), self.publisher.trust())
        request = self.host_state.activation_request("demo-kms", int(self.clock()))
        certificate = self.publisher.activate_host(request)
        self.host_state.install_certificate(certificate, int(self.clock()))

    async def start_host(self, port: int = 0, admin: AdminConfig | None = None) -> tuple[str, int]:
        """Serve on 127.0.0.1 (port 0: any free port), with the dashboard if ``admin``."""
        config = HostConfig(
            store_dir=self.host_state.directory,
            listen=(("127.0.0.1", port),),
            machine_name="demo-kms",
            dns_publishing=False,
        )
        self.app = HostApp(config, state=self.host_state, clock=self.clock, admin=admin)
        addresses = await self.app.start()
        self.address = addresses[0]
        return self.address

    def add_clients(self, desktops: int, servers: int, seed: int | None = None) -> None:
        """Create the simulated clients, in a shuffled arrival order."""
        catalog = self.publisher.trust().catalog
        desktop_products = [p for p in catalog.products if p.group == "desktop"]
        server_products = [p for p in catalog.products if p.group != "desktop"]
        plan = [("desktop", desktop_products[i % len(desktop_products)]) for i in range(desktops)]
        plan += [("server", server_products[i % len(server_products)]) for i in range(servers)]
        random.Random(seed).shuffle(plan)  # noqa: S311 - arrival order, not security
        counters = {"desktop": 0, "server": 0}
        for kind, product in plan:
            counters[kind] += 1
            name = f"{kind}-{counters[kind]:02d}"
            client = Client.open(
                self.directory / "clients" / name,
                machine_name=name,
                transport=TcpTransport(5.0),
                clock=self.clock,
            )
            client.install_key(product.setup_key, self.publisher.trust())
            client.set_kms(f"{self.address[0]}:{self.address[1]}")
            self.clients.append(DemoClient(name, kind, product, client))

    async def run_round(self, number: int, report: Callable[[Progress], None]) -> int:
        """Each client not yet activated makes one attempt; return how many activated."""
        activated = 0
        for demo_client in self.clients:
            if demo_client.activated:
                continue
            outcome = await demo_client.client.activate_async()
            demo_client.activated = outcome.activated
            activated += outcome.activated
            report(
                Progress(
                    number,
                    demo_client.name,
                    demo_client.kind,
                    demo_client.product.n_policy,
                    outcome,
                )
            )
        return activated

    async def host_info(self) -> HostInfo:
        """The host's dli data."""
        assert self.app is not None
        now = int(self.clock())
        snapshot = await asyncio.to_thread(self.host_state.snapshot, now)
        server = self.app.server
        listening = [format_address(*a) for a in server.addresses] if server is not None else []
        return await gather_host_info(snapshot, self.app.store, now, listening)

    async def stop(self) -> None:
        """Stop the host gracefully."""
        if self.app is not None:
            await self.app.shutdown()
