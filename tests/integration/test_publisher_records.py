"""The publisher's records: the claim rule, atomic claims under concurrency, the audit log.

Every records test runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openkms.core.keys import KeyKind, ProductKey
from openkms.errors import StoreError
from openkms.publisher import Publisher
from openkms.publisher._records_pg import PostgresRecords
from openkms.publisher._records_sqlite import SqliteRecords
from openkms.publisher.database import open_records
from openkms.publisher.records import (
    AuditEntry,
    ClaimOutcome,
    ClaimRequest,
    IssuedKey,
    MachineActivation,
    PublisherRecords,
    decide_claim,
)

Factory = Callable[[], PublisherRecords]


@pytest.fixture(params=["sqlite", "postgres"])
def make_records(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """A factory of records over one database (each call: a new connection to it)."""
    if request.param == "sqlite":
        return lambda: SqliteRecords(tmp_path / "publisher.db")
    dsn = request.getfixturevalue("pg_dsn")
    return lambda: PostgresRecords(dsn)


def _mak(allowed: int, activation_id: str = "00000000-0000-4000-8000-000000000001") -> IssuedKey:
    key = ProductKey.generate_mak(activation_id)
    return IssuedKey(key.key_id, str(key), KeyKind.MAK, None, activation_id, allowed, None, 1000)


def _host(allowed: int = 2, per_machine: int = 3) -> IssuedKey:
    key = ProductKey.generate(KeyKind.HOST)
    return IssuedKey(key.key_id, str(key), KeyKind.HOST, "C", None, allowed, per_machine, 1000)


def _claim(key: IssuedKey, machine: str, kind: KeyKind | None = None) -> ClaimRequest:
    return ClaimRequest(key.key_id, kind or key.kind, machine, f"name-{machine}", 2000, "test")


async def _opened(factory: Factory) -> PublisherRecords:
    records = factory()
    await records.open()
    return records


def test_claims_follow_the_rule(make_records: Factory) -> None:
    async def main() -> None:
        records = await _opened(make_records)
        try:
            mak, host = _mak(2), _host(allowed=1, per_machine=2)
            await records.add_key(mak, "test")
            await records.add_key(host, "test")
            outcomes = [
                (await records.claim(_claim(mak, m))).outcome for m in ("a", "a", "b", "c", "b")
            ]
            assert outcomes == [
                ClaimOutcome.NEW_MACHINE,
                ClaimOutcome.SAME_MACHINE,
                ClaimOutcome.NEW_MACHINE,
                ClaimOutcome.KEY_USED_UP,
                ClaimOutcome.SAME_MACHINE,
            ]
            hosts = [(await records.claim(_claim(host, m))).outcome for m in ("h", "h", "h", "i")]
            assert hosts == [
                ClaimOutcome.NEW_MACHINE,
                ClaimOutcome.SAME_MACHINE,
                ClaimOutcome.MACHINE_LIMIT,
                ClaimOutcome.KEY_USED_UP,
            ]
            wrong_kind = await records.claim(_claim(mak, "z", KeyKind.HOST))
            assert wrong_kind.outcome is ClaimOutcome.UNKNOWN_KEY
            blocked = await records.block_key(mak.key_id, 3000, "test")
            assert blocked is not None and blocked.blocked_at == 3000
            assert (await records.claim(_claim(mak, "a"))).outcome is ClaimOutcome.BLOCKED
            usage = {u.key.key_id: u for u in await records.usage()}
            assert (usage[mak.key_id].used, usage[mak.key_id].left) == (2, 0)
            assert [m.count for m in usage[mak.key_id].machines] == [2, 2]
            assert await records.block_key("no-such-key", 3000, "test") is None
        finally:
            await records.close()

    asyncio.run(main())


def test_concurrent_claims_never_exceed_the_limit(make_records: Factory) -> None:
    """40 machines race for 5 activations over 4 connections: exactly 5 win, none twice."""

    async def main() -> None:
        connections = [await _opened(make_records) for _ in range(4)]
        try:
            mak = _mak(5)
            await connections[0].add_key(mak, "test")
            machines = [f"m{i % 20}" for i in range(40)]  # every machine asks twice
            claims = await asyncio.gather(
                *(connections[i % 4].claim(_claim(mak, m)) for i, m in enumerate(machines))
            )
            winners = {m for m, c in zip(machines, claims, strict=True) if c.outcome.granted}
            new = [c for c in claims if c.outcome is ClaimOutcome.NEW_MACHINE]
            assert len(new) == 5 and len(winners) == 5
            assert all(c.used <= 5 for c in claims)
            (usage,) = await connections[1].usage()
            assert usage.used == 5 and {m.machine for m in usage.machines} == winners
        finally:
            for records in connections:
                await records.close()

    asyncio.run(main())


def test_the_audit_log_is_append_only(make_records: Factory) -> None:
    async def main() -> None:
        records = await _opened(make_records)
        try:
            mak = _mak(1)
            await records.add_key(mak, "cli:alice")
            await records.claim(_claim(mak, "a"))
            await records.audit(AuditEntry(2500, "cli:alice", "sign-catalog", "app", "serial=2"))
            log = await records.audit_log()
            assert [(e.actor, e.action) for e in log] == [
                ("cli:alice", "issue-key"),
                ("test", "activate-mak"),
                ("cli:alice", "sign-catalog"),
            ]
            assert log[1].detail.startswith("new-machine machine=a")
            with pytest.raises((sqlite3.DatabaseError, asyncpg.PostgresError)):
                await _tamper(records)
        finally:
            await records.close()

    asyncio.run(main())


async def _tamper(records: PublisherRecords) -> None:
    if isinstance(records, SqliteRecords):
        assert records.path is not None
        with sqlite3.connect(records.path) as conn:
            conn.execute("UPDATE audit_log SET actor = 'nobody'")
        return
    assert isinstance(records, PostgresRecords)
    conn = await asyncpg.connect(records.dsn)
    try:
        await conn.execute("DELETE FROM audit_log")
    finally:
        await conn.close()


def test_a_key_is_recorded_once(make_records: Factory) -> None:
    async def main() -> None:
        records = await _opened(make_records)
        try:
            mak = _mak(1)
            await records.add_key(mak, "test")
            with pytest.raises(StoreError):
                await records.add_key(mak, "test")
            assert not await records.import_key(mak, (), "test")
        finally:
            await records.close()

    asyncio.run(main())


def test_closed_records_say_so(tmp_path: Path) -> None:
    records = SqliteRecords(tmp_path / "publisher.db")
    with pytest.raises(StoreError, match="closed"):
        asyncio.run(records.keys())


@settings(max_examples=200, deadline=None)
@given(
    allowed=st.integers(1, 4),
    per_machine=st.one_of(st.none(), st.integers(1, 3)),
    machines=st.lists(st.sampled_from("abcdef"), max_size=20),
)
def test_the_claim_rule_against_a_model(
    allowed: int, per_machine: int | None, machines: list[str]
) -> None:
    """decide_claim never grants past the key's machines, nor a host past its own limit."""
    key = IssuedKey("k", "K", KeyKind.MAK, None, "p", allowed, per_machine, 0)
    counts: dict[str, int] = {}
    for machine in machines:
        existing = (
            MachineActivation("k", machine, "", 0, 0, counts[machine])
            if machine in counts
            else None
        )
        if existing is not None:
            expected = per_machine is None or existing.count < per_machine
        else:
            expected = len(counts) < allowed
        outcome = decide_claim(key, KeyKind.MAK, existing, len(counts))
        assert outcome.granted == expected
        if outcome is ClaimOutcome.NEW_MACHINE:
            counts[machine] = 1
        elif outcome is ClaimOutcome.SAME_MACHINE:
            counts[machine] += 1
        assert len(counts) <= allowed


def test_an_older_ledger_is_imported_once(tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test")
    (tmp_path / "pub" / "publisher.db").unlink()
    key = ProductKey.generate(KeyKind.HOST)
    ledger = {"host_keys": {key.key_id: {"key": str(key), "group": "B", "issued_at": 5}}}
    ledger["host_keys"][key.key_id]["activations"] = {"fp:1": 2}  # type: ignore[index]
    path = tmp_path / "pub" / "host-keys.json"
    path.write_text(json.dumps(ledger))

    (readonly,) = publisher.usage()  # a read-only look imports into memory, writes nothing
    assert readonly.key.key == str(key) and readonly.machines[0].count == 2
    assert path.exists() and not (tmp_path / "pub" / "publisher.db").exists()

    publisher.issue_host_key("C")  # the first writing command imports it for good
    assert not path.exists() and path.with_name("host-keys.json.imported").exists()
    usage = publisher.usage()
    assert [u.key.group for u in usage] == ["B", "C"]
    assert usage[0].key.activations_allowed == publisher.trust().catalog.host_key_max_hosts


def test_open_records_on_postgres_migrates_once(pg_dsn: str, tmp_path: Path) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test", database=pg_dsn)

    async def main() -> list[AuditEntry]:
        first, second = await asyncio.gather(
            open_records(tmp_path / "pub", pg_dsn, publisher.trust().catalog),
            open_records(tmp_path / "pub", pg_dsn, publisher.trust().catalog),
        )
        try:
            return await first.audit_log()
        finally:
            await first.close()
            await second.close()

    log = asyncio.run(main())
    assert [e.action for e in log] == ["sign-catalog"]
    assert not (tmp_path / "pub" / "publisher.db").exists()
