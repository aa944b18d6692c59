"""A host on PostgreSQL when the database goes away: an outage, then a fail-over.

Each test starts its own server (and standby): the session's server stays up for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
import pytest

from openkms.core.codes import ResultCode
from openkms.protocol import (
    NEED_DATA,
    ActivationRequest,
    ActivationResponse,
    Connection,
    ErrorResponse,
    Role,
)
from openkms.protocol.connection import encode
from pgfixtures import require_postgres
from pgserver import Postgres, remove, start_postgres, start_standby

from helpers import HostProcess, Site, host_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OUTAGE = 10.0  # seconds the database stays down
BOUND = 8.0  # no request may wait longer for its answer, outage or not (clients wait 10 s)


@dataclass
class Tally:
    """What the clients saw."""

    acknowledged: list[str] = field(default_factory=list)  # CMIDs answered ActivationResponse
    errors: dict[int, int] = field(default_factory=dict)  # ErrorResponse codes
    slowest: float = 0.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def since(self, mark: int) -> list[str]:
        return self.acknowledged[mark:]


async def activate(host: HostProcess, site: Site, tally: Tally) -> None:
    trust = site.publisher.trust()
    product = max(trust.catalog.products, key=lambda p: p.n_policy)
    cmid = uuid.uuid4().bytes
    request = ActivationRequest(
        os.urandom(16), trust.catalog.application_id, product.activation_id, cmid,
        "outage", int(time.time()), 2, 43200, product.n_policy,
    )  # fmt: skip
    started = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host.host, host.port), 30)
    try:
        writer.write(encode(request))
        conn = Connection(role=Role.CLIENT)
        while (message := conn.next_event()) is NEED_DATA:
            data = await asyncio.wait_for(reader.read(65536), 30)
            assert data, "the host closed the connection without an answer"
            conn.receive_data(data)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    tally.slowest = max(tally.slowest, time.monotonic() - started)
    if isinstance(message, ActivationResponse):
        tally.acknowledged.append(str(uuid.UUID(bytes=cmid)))
    else:
        assert isinstance(message, ErrorResponse), message
        tally.errors[message.result] = tally.errors.get(message.result, 0) + 1


async def clients(host: HostProcess, site: Site, tally: Tally, count: int = 8) -> None:
    async def one() -> None:
        while not tally.stop.is_set():
            await activate(host, site, tally)

    async with asyncio.timeout(180):  # a test that goes wrong fails, it never hangs
        await asyncio.gather(*(one() for _ in range(count)))


async def until(predicate: object, timeout: float) -> None:
    """Poll ``predicate()`` on the event loop (the clients keep running) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def stored_cmids(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {row[0] for row in await conn.fetch("SELECT cmid FROM clients")}
    finally:
        await conn.close()


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A server of this test alone, with fsync on: it is stopped, killed, failed over."""
    require_postgres()
    server = start_postgres(fsync=True)
    try:
        yield server
    finally:
        remove(server)


def test_database_down_ten_seconds_under_load(own_postgres: Postgres, site: Site) -> None:
    dsn = own_postgres.create_schema("outage")
    tally = Tally()
    with host_process(site.host_dir, "--database", dsn) as host:

        async def scenario() -> None:
            load = asyncio.ensure_future(clients(host, site, tally))
            await until(lambda: len(tally.acknowledged) >= 20, 30)
            await asyncio.to_thread(own_postgres.stop)
            down = time.monotonic()
            await until(lambda: sum(tally.errors.values()) >= 20, 30)
            await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))  # the outage
            before = len(tally.acknowledged)
            await asyncio.to_thread(own_postgres.start)
            # The host reconnects by itself: requests are acknowledged again.
            await until(lambda: len(tally.acknowledged) >= before + 20, 30)
            tally.stop.set()
            await asyncio.wait_for(load, 60)

        asyncio.run(scenario())
        log = host.log()
    assert set(tally.errors) == {int(ResultCode.STORE_UNAVAILABLE)}, tally.errors
    assert tally.slowest < BOUND, f"a request took {tally.slowest:.1f} s"
    assert log.count("is unreachable") == 1, log  # the outage is logged once
    assert log.count("is back after") == 1, log
    assert "Traceback" not in log
    missing = set(tally.acknowledged) - asyncio.run(stored_cmids(dsn))
    assert not missing, f"{len(missing)} acknowledged activations lost"


def test_a_hung_database_is_answered_in_bounded_time(own_postgres: Postgres, site: Site) -> None:
    dsn = own_postgres.create_schema("hang")
    tally = Tally()
    with host_process(site.host_dir, "--database", dsn) as host:

        async def scenario() -> None:
            load = asyncio.ensure_future(clients(host, site, tally))
            await until(lambda: len(tally.acknowledged) >= 20, 30)
            own_postgres.pause()  # connections stay open, nothing answers: no error to see
            try:
                await until(lambda: sum(tally.errors.values()) >= 16, 30)
            except AssertionError:
                print(
                    "DEBUG",
                    tally.errors,
                    len(tally.acknowledged),
                    tally.slowest,
                    host.log()[-3000:],
                )
                raise
            finally:
                own_postgres.pause(False)
            before = len(tally.acknowledged)
            await until(lambda: len(tally.acknowledged) >= before + 20, 30)
            tally.stop.set()
            await asyncio.wait_for(load, 60)

        asyncio.run(scenario())
        log = host.log()
    assert set(tally.errors) == {int(ResultCode.STORE_UNAVAILABLE)}, tally.errors
    assert tally.slowest < BOUND, f"a request took {tally.slowest:.1f} s"
    assert "did not answer in time" in log
    assert log.count("is back after") == 1, log
    missing = set(tally.acknowledged) - asyncio.run(stored_cmids(dsn))
    assert not missing, f"{len(missing)} acknowledged activations lost"


def test_fail_over_to_a_promoted_standby(own_postgres: Postgres, site: Site) -> None:
    primary = own_postgres
    primary.create_schema("failover")
    standby = start_standby(primary)
    # Synchronous replication: a COMMIT returns once the standby has the WAL, so a crash of
    # the primary loses nothing that was acknowledged.
    primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
    primary.psql("SELECT pg_reload_conf()")
    both = (
        f"postgresql://openkms@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/postgres"
        "?target_session_attrs=read-write&search_path=failover"
    )
    tally = Tally()
    try:
        with host_process(site.host_dir, "--database", both) as host:

            async def scenario() -> None:
                load = asyncio.ensure_future(clients(host, site, tally))
                await until(lambda: len(tally.acknowledged) >= 20, 30)
                await asyncio.to_thread(primary.kill)  # a crash, not a clean stop
                await until(lambda: sum(tally.errors.values()) >= 5, 30)
                before = len(tally.acknowledged)
                await asyncio.to_thread(standby.promote)
                await until(lambda: len(tally.acknowledged) >= before + 20, 30)
                tally.stop.set()
                await asyncio.wait_for(load, 60)

            asyncio.run(scenario())
            log = host.log()
        assert tally.slowest < BOUND, f"a request took {tally.slowest:.1f} s"
        assert "Traceback" not in log
        promoted = standby.dsn(search_path="failover")
        missing = set(tally.acknowledged) - asyncio.run(stored_cmids(promoted))
        assert not missing, f"{len(missing)} acknowledged activations lost in the fail-over"
    finally:
        standby.stop()
