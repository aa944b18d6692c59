"""Store, publisher and client directories are 0700, keys and databases 0600, under umask 000."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.client.state import save_trust
from openkms.host.app import HostApp
from openkms.host.config import HostConfig

from helpers import make_site


@pytest.fixture
def umask_000() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_files_and_directories_whatever_the_umask(tmp_path: Path, umask_000: None) -> None:
    site = make_site(tmp_path / "site")
    app = HostApp(HostConfig(store_dir=site.host_dir, listen=(("127.0.0.1", 0),)))
    wal: dict[str, int] = {}

    async def serve_once() -> None:
        await app.start()
        try:  # the -wal and -shm files exist while the store (and its search index) is open
            wal.update({p.name: _mode(p) for p in site.host_dir.glob("host.db-*")})
        finally:
            await app.shutdown()

    asyncio.run(serve_once())
    client = tmp_path / "site" / "client"
    save_trust(client, site.publisher.trust())

    directories = {d: _mode(d) for d in (site.host_dir, site.publisher.directory, client)}
    assert directories == dict.fromkeys(directories, 0o700)
    secrets = [
        site.host_dir / "host.key",
        site.host_dir / "host.db",
        site.host_dir / "host.lock",
        site.publisher.directory / "root.key",
        site.publisher.directory / "publisher.db",
    ]
    assert {p.name: _mode(p) for p in secrets} == {p.name: 0o600 for p in secrets}
    assert wal == dict.fromkeys(
        (
            "host.db-wal",
            "host.db-shm",
            "host.db-search",
            "host.db-search-wal",
            "host.db-search-shm",
        ),
        0o600,
    )
    for path in site.host_dir.iterdir():  # nothing is writable by others
        assert not _mode(path) & 0o022, path
