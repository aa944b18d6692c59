"""The tests' PostgreSQL: started by the suite itself, as a non-root user, on loopback."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from pgserver import Postgres


def test_server_accepts_connections_as_an_unprivileged_user(postgres: Postgres) -> None:
    assert postgres.process is not None and postgres.process.poll() is None
    user = postgres.psql("SELECT current_setting('data_directory')")
    assert user == str(postgres.data)
    owner = postgres.data.stat().st_uid
    assert owner != 0 or os.geteuid() != 0
    assert postgres.psql("SHOW listen_addresses") == "127.0.0.1"
    assert postgres.psql("SHOW synchronous_commit") == "on"


def test_each_test_gets_an_empty_schema(pg_dsn: str) -> None:
    async def tables() -> int:
        conn = await asyncpg.connect(pg_dsn)
        try:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            )
            assert await conn.fetchval("SELECT current_schema()") != "public"
            await conn.execute("CREATE TABLE scratch (a int)")
            return count
        finally:
            await conn.close()

    assert asyncio.run(tables()) == 0
