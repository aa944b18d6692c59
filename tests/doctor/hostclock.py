"""A real host whose clock was hours ahead while clients activated, then was set right.

The host serves in this process (its wall clock injected, its monotonic clock real, so the
watch sees the jump) on a real SQLite store, over TCP on loopback; the clients are real
clients in worker threads. Afterwards the store holds the clients dated in the future and
the host's 12321 event: what ``dli`` and ``doctor host`` read.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from doctor.sitetools import client_of
from openkms.host.app import HostApp
from openkms.host.clock import CLOCK_JUMP_EVENT
from openkms.host.config import HostConfig
from openkms.store.base import EventQuery

from helpers import Site

__all__ = ["AHEAD", "serve_clock_set_back"]

AHEAD = 3 * 3600  # within the 4 hours a client accepts, beyond the hour of the count


def serve_clock_set_back(site: Site, root: Path, clients: int) -> int:
    """Activate ``clients`` Standard clients while the host's clock is ``AHEAD``, then set it
    right and wait for the host to record the jump; the count the last client got."""
    offset = [float(AHEAD)]
    config = HostConfig(
        store_dir=site.host_dir,
        listen=(("127.0.0.1", 0),),
        clock_check_seconds=0.01,
        dns_publishing=False,
    )
    app = HostApp(config, clock=lambda: time.time() + offset[0])

    async def scenario() -> int:
        bound: list[tuple[str, int]] = []
        ready = asyncio.Event()
        serving = asyncio.ensure_future(app.serve(lambda a: (bound.extend(a), ready.set())))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            address = f"{bound[0][0]}:{bound[0][1]}"
            count = 0
            for index in range(clients):
                client = client_of(site, root / f"pc{index}", "Standard", address, f"pc{index}")
                outcome = await asyncio.to_thread(client.activate)
                count = outcome.count or 0
            offset[0] = 0.0
            while not await app.store.events(EventQuery((CLOCK_JUMP_EVENT,))):
                await asyncio.sleep(0.01)  # the watch compares the clocks every 10 ms
            return count
        finally:
            app.stop()
            await serving

    return asyncio.run(scenario())
