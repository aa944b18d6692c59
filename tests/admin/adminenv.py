"""Fixtures of the admin tests: a started host (real SQLite store) and its admin app."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp.test_utils import TestClient, TestServer

from openkms.admin.config import AdminConfig
from openkms.admin.metrics import HostMetrics
from openkms.admin.server import build_app
from openkms.admin.views import AdminContext
from openkms.host.app import HostApp
from openkms.host.config import HostConfig
from openkms.protocol.messages import ActivationRequest, ActivationResponse

from helpers import Site

TOKEN = "s3cret-admin-token-0123456789"


@dataclass
class AdminEnv:
    """A started host and a test client of its admin app."""

    app: HostApp
    client: TestClient
    metrics: HostMetrics

    async def activate(
        self, site: Site, edition: str, count: int, prefix: str = "pc", start: int = 0
    ) -> list[ActivationResponse]:
        """``count`` distinct clients of ``edition`` send one activation request each."""
        product = site.product(edition)
        catalog = site.publisher.trust().catalog
        service = self.app.service
        assert service is not None
        out = []
        for i in range(start, start + count):
            request = ActivationRequest(
                os.urandom(8),
                catalog.application_id,
                product.activation_id,
                uuid.uuid5(uuid.NAMESPACE_DNS, f"{prefix}{i}").bytes,
                f"{prefix}-{i:03d}",
                int(time.time()),
                2,
                43200,
                product.n_policy,
            )
            response = await service.handle(request, 1688)
            assert isinstance(response, ActivationResponse)
            out.append(response)
        return out


@contextlib.asynccontextmanager
async def admin_env(
    site: Site, config: AdminConfig | None = None, clock: Callable[[], float] = time.time
) -> AsyncIterator[AdminEnv]:
    """Start the host on loopback port 0, and its admin app (on ``clock``) in a test server."""
    app = HostApp(
        HostConfig(store_dir=site.host_dir, listen=(("127.0.0.1", 0),)), state=site.host_state
    )
    await app.start()
    try:
        assert app.service is not None
        metrics = HostMetrics()
        app.service.on_request = metrics.observe_request
        context = AdminContext(app.admin_view(app.service), app.store, clock)
        web_app = build_app(config or AdminConfig(), context, metrics)
        async with TestClient(TestServer(web_app)) as client:
            yield AdminEnv(app, client, metrics)
    finally:
        await app.shutdown()
