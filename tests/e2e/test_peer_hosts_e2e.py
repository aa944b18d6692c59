"""Hosts sharing one real PostgreSQL: ``dli`` names its peers, and the serve lock still holds
per host directory (a second ``serve`` of one directory is refused, as with SQLite)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from e2e.test_shared_database_e2e import activate, desktop_product, second_host
from openkms.host.state import HostState

from helpers import HostProcess, Site, host_process, openkms_cmd

pytestmark = pytest.mark.e2e


@pytest.fixture
def two_hosts(site: Site, tmp_path: Path, pg_dsn: str) -> Iterator[list[HostProcess]]:
    """Two hosts on one database, each of which answered one request."""
    other = second_host(site, tmp_path)
    with ExitStack() as stack:
        hosts = [
            stack.enter_context(host_process(directory, "--database", pg_dsn))
            for directory in (site.host_dir, other)
        ]
        product = desktop_product(site)

        async def one_each() -> None:
            for host in hosts:
                assert await activate(host, site, product, uuid.uuid4().bytes) is not None

        asyncio.run(one_each())
        yield hosts


def host_cli(store: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        openkms_cmd("host", "--store", str(store), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def test_dli_shows_the_hosts_sharing_the_database(
    two_hosts: list[HostProcess], site: Site, pg_dsn: str, tmp_path: Path
) -> None:
    this_id = HostState(site.host_dir).host_id
    other_id = HostState(tmp_path / "host-2").host_id
    started = int(time.time()) - 120
    code, out, err = finished(host_cli(site.host_dir, "dli", "--json", "--database", pg_dsn))
    assert code == 0, err
    peers = {p["host_id"]: p for p in json.loads(out)["peers"]}
    assert set(peers) == {this_id, other_id}
    assert peers[this_id]["this_host"] and not peers[other_id]["this_host"]
    assert peers[this_id]["listening"] == [two_hosts[0].address]
    assert peers[other_id]["listening"] == []  # not in the database
    assert all(p["last_request"] >= started for p in peers.values())

    code, out, err = finished(host_cli(site.host_dir, "dlv", env={"OPENKMS_DATABASE": pg_dsn}))
    assert code == 0, err
    assert "Peer hosts sharing this store: 2 (one count)" in out
    assert f"{this_id} (this host), listening on {two_hosts[0].address}: last request" in out
    assert f"    {other_id}: last request " in out and " UTC" in out


def test_a_second_serve_of_one_directory_is_refused_on_postgresql(
    two_hosts: list[HostProcess], site: Site, pg_dsn: str
) -> None:
    serve = ("serve", "--listen", "127.0.0.1:0", "--no-dns", "--no-admin", "--database", pg_dsn)
    code, _, err = finished(host_cli(site.host_dir, *serve))
    assert code != 0 and "Traceback" not in err
    assert f"is in use by a running host (pid {two_hosts[0].process.pid})" in err
    assert "0xE0040005" in err
    assert two_hosts[0].process.poll() is None  # the serving host goes on
