"""Two real host processes, each with its own host key and certificate, on one PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from openkms.core.catalog import Product
from openkms.host.state import HostState
from openkms.protocol import NEED_DATA, ActivationRequest, ActivationResponse, Connection, Role
from openkms.protocol.connection import encode

from helpers import HostProcess, Site, host_process, openkms_cmd

pytestmark = pytest.mark.e2e

POOL = 40  # CMIDs shared by both hosts' clients (below the cap of 2 x N)


def second_host(site: Site, root: Path) -> Path:
    """Another host of the same publisher: its own key, certificate and store directory."""
    state = HostState(root / "host-2")
    state.install_key(str(site.publisher.issue_host_key("C")), site.publisher.trust())
    request = state.activation_request("test-kms-2", int(time.time()))
    state.install_certificate(site.publisher.activate_host(request), int(time.time()))
    return root / "host-2"


def desktop_product(site: Site) -> Product:
    return max(site.publisher.trust().catalog.products, key=lambda p: p.n_policy)


@dataclass
class Answer:
    host: str
    cmid: str
    count: int
    result: int


async def activate(host: HostProcess, site: Site, product: Product, cmid: bytes) -> Answer | None:
    request = ActivationRequest(
        os.urandom(16),
        site.publisher.trust().catalog.application_id,
        product.activation_id,
        cmid,
        "shared",
        int(time.time()),
        2,
        43200,
        product.n_policy,
    )
    reader, writer = await asyncio.open_connection(host.host, host.port)
    try:
        writer.write(encode(request))
        conn = Connection(role=Role.CLIENT)
        while (message := conn.next_event()) is NEED_DATA:
            data = await reader.read(65536)
            if not data:
                return None
            conn.receive_data(data)
    finally:
        writer.close()
        await writer.wait_closed()
    if not isinstance(message, ActivationResponse):
        return None
    return Answer(
        message.host_id, str(uuid.UUID(bytes=cmid)), message.current_count, message.result
    )


async def load(hosts: list[HostProcess], site: Site, per_worker: int) -> list[Answer]:
    """12 clients per host at once, each activating CMIDs of one pool both hosts see."""
    product = desktop_product(site)
    cmids = [uuid.UUID(int=i + 1).bytes for i in range(POOL)]
    answers: list[Answer] = []

    async def worker(host: HostProcess, offset: int) -> None:
        for k in range(per_worker):
            answer = await activate(host, site, product, cmids[(offset + k * 7) % POOL])
            assert answer is not None
            answers.append(answer)

    await asyncio.gather(
        *(worker(host, i) for host in hosts for i in range(12)),
    )
    return answers


async def rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(row) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


@pytest.fixture
def two_hosts(site: Site, tmp_path: Path, pg_dsn: str) -> Iterator[list[HostProcess]]:
    other = second_host(site, tmp_path)
    with ExitStack() as stack:
        yield [
            stack.enter_context(host_process(directory, "--database", pg_dsn))
            for directory in (site.host_dir, other)
        ]


def test_two_hosts_share_one_count_under_concurrent_load(
    two_hosts: list[HostProcess], site: Site, pg_dsn: str
) -> None:
    answers = asyncio.run(load(two_hosts, site, per_worker=20))
    assert len(answers) == 480
    host_ids = sorted({a.host for a in answers})
    assert len(host_ids) == 2  # two hosts, each its own key, answered
    assert all(a.count <= POOL for a in answers)
    assert max(a.count for a in answers) == POOL

    clients = asyncio.run(rows(pg_dsn, "SELECT count(*), sum(requests) FROM clients"))
    assert clients == [(POOL, len(answers))]  # every CMID once, no request lost
    per_host = asyncio.run(
        rows(
            pg_dsn,
            "SELECT host_id, count(*) FROM events WHERE event_id = 12290 "
            "GROUP BY host_id ORDER BY host_id",
        )
    )
    answered = {h: sum(1 for a in answers if a.host == h) for h in host_ids}
    assert per_host == sorted(answered.items())  # each 12290 names the host that answered
    counters = asyncio.run(rows(pg_dsn, "SELECT host_id, sum(total) FROM counters GROUP BY 1"))
    assert dict(counters) == answered
    for host in two_hosts:
        assert "Traceback" not in host.log()


def test_dli_and_events_of_a_host_read_the_shared_database(
    two_hosts: list[HostProcess], site: Site, pg_dsn: str, tmp_path: Path
) -> None:
    product = desktop_product(site)
    one, two = two_hosts

    async def main() -> None:
        for host in (one, two, one):
            assert await activate(host, site, product, uuid.uuid4().bytes) is not None

    asyncio.run(main())

    def cli(*args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            openkms_cmd("host", "--store", str(site.host_dir), *args),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **(env or {})},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    info = json.loads(cli("dli", "--json", "--database", pg_dsn))
    assert info["current_count"] == 3  # the shared count, not this host's share of it
    assert info["total_requests"] == 2  # this host's counters
    env = {"OPENKMS_DATABASE": pg_dsn}
    assert json.loads(cli("dlv", "--json", env=env))["current_count"] == 3
    csv = cli("events", "--format", "csv", env=env)
    assert len([line for line in csv.splitlines() if "12290" in line]) == 3
    assert not (site.host_dir / "host.db").exists()  # never a local SQLite store


def test_a_client_counted_through_one_host_counts_for_the_other(
    two_hosts: list[HostProcess], site: Site
) -> None:
    product = desktop_product(site)
    one, two = two_hosts

    async def main() -> list[int]:
        counts = []
        for host in (one, two, one, two):
            answer = await activate(host, site, product, uuid.uuid4().bytes)
            assert answer is not None
            counts.append(answer.count)
        return counts

    assert asyncio.run(main()) == [1, 2, 3, 4]
