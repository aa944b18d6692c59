"""A jump of the host's clock against the monotonic clock is seen, logged and recorded."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from openkms.core.codes import ResultCode
from openkms.host.app import HostApp
from openkms.host.clock import CLOCK_JUMP_EVENT, ClockWatch
from openkms.host.config import HostConfig
from openkms.store.base import EventQuery

from helpers import make_site


class Clocks:
    """A wall clock and a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.wall = 1_795_300_000.0
        self.mono = 1000.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_a_month_forward_or_two_hours_back_is_a_jump_and_ntp_slew_is_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clocks = Clocks()
    watch = ClockWatch(lambda: clocks.wall, lambda: clocks.mono)
    clocks.tick(10)
    clocks.wall += 0.5  # NTP
    assert watch.check() is None
    clocks.wall += 31 * 86400
    with caplog.at_level(logging.WARNING, "openkms.host"):
        jump = watch.check()
    assert jump is not None and jump.seconds == 31 * 86400
    assert "jumped +2678400 seconds" in caplog.text
    assert watch.check() is None  # seen once
    clocks.wall -= 7200
    back = watch.check()
    assert back is not None and back.seconds == -7200
    clocks.wall -= 3599
    assert watch.check() is None  # within the hour


def test_a_serving_host_records_the_jump_as_an_event(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    clocks = Clocks()
    clocks.wall = time.time()
    config = HostConfig(
        store_dir=site.host_dir,
        listen=(("127.0.0.1", 0),),
        clock_check_seconds=0.01,
        dns_publishing=False,
    )
    app = HostApp(config, clock=lambda: clocks.wall)

    async def scenario() -> list[str]:
        ready = asyncio.Event()
        serving = asyncio.ensure_future(app.serve(lambda _: ready.set()))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            clocks.wall += 31 * 86400

            async def recorded() -> list[str]:
                query = EventQuery((CLOCK_JUMP_EVENT,))
                while not (events := await app.store.events(query)):
                    await asyncio.sleep(0.01)  # the watch runs every 10 ms
                return [e.info for e in events]

            return await asyncio.wait_for(recorded(), 10)
        finally:
            app.stop()
            await serving

    infos = asyncio.run(scenario())
    assert infos == [f"{ResultCode.CLOCK_SKEW.hex},+{31 * 86400}"]
