"""HostApp's lifecycle when starting fails half-way: nothing is left open."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from openkms.errors import StateError, StoreError
from openkms.host.app import HostApp
from openkms.host.config import HostConfig

from helpers import make_site


def _writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "openkms-store-writer"]


def _app(site_dir: Path) -> HostApp:
    config = HostConfig(store_dir=site_dir, listen=(("127.0.0.1", 0),), dns_publishing=False)
    return HostApp(config)


def test_a_failing_ready_callback_stops_the_listeners_and_closes_the_store(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    app = _app(site.host_dir)

    def ready(addresses: list[tuple[str, int]]) -> None:
        raise StoreError("cannot write the ready file")

    with pytest.raises(StoreError, match="ready file"):
        asyncio.run(app.serve(ready))
    assert not _writers()
    with pytest.raises(StoreError, match="closed"):
        asyncio.run(app.store.open())


def test_a_bad_host_key_file_fails_the_start_before_the_store_opens(tmp_path: Path) -> None:
    site = make_site(tmp_path, activate=False)
    (site.host_dir / "host.key").write_text("not a key")
    with pytest.raises(StateError, match=r"host\.key"):
        asyncio.run(_app(site.host_dir).start())
    assert not _writers()
