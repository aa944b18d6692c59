"""The publisher's records: the claim rule, atomic claims under concurrency, the audit log,
one machine counted once whether it activates online or by phone, the schema's upgrade.

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
from openkms.publisher import _records_pg_schema as pg_schema
from openkms.publisher import _records_sqlite_schema as sqlite_schema
from openkms.publisher._records_pg import PostgresRecords
from openkms.publisher._records_sqlite import SqliteRecords
from openkms.publisher.database import open_records
from openkms.publisher.machines import mak_phone_ref
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


CMID = "6f1d2c3b-0000-4000-8000-00000000000a"


def _online(key: IssuedKey, machine: str, ref: str, name: str = "pc") -> ClaimRequest:
    return ClaimRequest(key.key_id, key.kind, machine, name, 2000, "test", ref)


def _by_phone(key: IssuedKey, ref: str) -> ClaimRequest:
    return ClaimRequest(key.key_id, key.kind, ref, "by phone", 2100, "test (phone)", ref)


def test_a_machine_online_and_by_phone_uses_one_activation(make_records: Factory) -> None:
    async def main() -> None:
        records = await _opened(make_records)
        try:
            mak = _mak(2)
            await records.add_key(mak, "test")
            ref = mak_phone_ref(CMID)
            claims = [
                _online(mak, CMID, ref, "pc-1"),
                _by_phone(mak, ref),
                _by_phone(mak, ref),
                _online(mak, CMID, ref, "pc-1"),
            ]
            outcomes = [(await records.claim(c)).outcome for c in claims]
            assert outcomes == [ClaimOutcome.NEW_MACHINE] + [ClaimOutcome.SAME_MACHINE] * 3
            # the other way round: by phone first, then online (the record takes the CMID)
            other = "6f1d2c3b-0000-4000-8000-00000000000b"
            other_ref = mak_phone_ref(other)
            first = await records.claim(_by_phone(mak, other_ref))
            then = await records.claim(_online(mak, other, other_ref, "pc-2"))
            assert (first.outcome, then.outcome, then.used) == (
                ClaimOutcome.NEW_MACHINE,
                ClaimOutcome.SAME_MACHINE,
                2,
            )
            third = await records.claim(_by_phone(mak, "phone:1"))  # a third machine
            assert third.outcome is ClaimOutcome.KEY_USED_UP
            (usage,) = await records.usage()
            assert usage.used == 2
            assert {(m.machine, m.machine_name, m.count, m.phone_ref) for m in usage.machines} == {
                (CMID, "pc-1", 4, ref),
                (other, "pc-2", 2, other_ref),
            }
            log = [e.detail for e in await records.audit_log() if e.action == "activate-mak"]
            assert log[1] == f"same-machine machine={ref} name=by phone"
            assert log[0].endswith(f"ref={ref}")
        finally:
            await records.close()

    asyncio.run(main())


def test_a_host_is_limited_per_machine_whichever_way_it_activates(make_records: Factory) -> None:
    async def main() -> None:
        records = await _opened(make_records)
        try:
            host = _host(allowed=2, per_machine=3)
            await records.add_key(host, "test")
            ref = "phone:" + "ab" * 16
            claims = [
                _online(host, "fp1:x", ref),
                _by_phone(host, ref),
                _online(host, "fp1:x", ref),
                _by_phone(host, ref),
            ]
            outcomes = [(await records.claim(c)).outcome for c in claims]
            assert outcomes[:3] == [ClaimOutcome.NEW_MACHINE] + [ClaimOutcome.SAME_MACHINE] * 2
            assert outcomes[3] is ClaimOutcome.MACHINE_LIMIT
            other = await records.claim(_online(host, "fp2:x", "phone:" + "cd" * 16))
            assert (other.outcome, other.used) == (ClaimOutcome.NEW_MACHINE, 2)
        finally:
            await records.close()

    asyncio.run(main())


async def _version_1(records: PublisherRecords, rows: list[tuple[object, ...]]) -> None:
    """The records' database at schema version 1 (before phone references), with ``rows``."""
    if isinstance(records, SqliteRecords):
        assert records.path is not None
        with sqlite3.connect(records.path) as conn:
            for statement in sqlite_schema.MIGRATIONS[0]:
                conn.execute(statement)
            conn.execute("PRAGMA user_version = 1")
            for sql, args in rows:
                conn.execute(str(sql).replace("$", "?"), args)  # type: ignore[arg-type]
        return
    assert isinstance(records, PostgresRecords)
    conn = await asyncpg.connect(records.dsn)
    try:
        for statement in pg_schema.MIGRATIONS[0]:
            await conn.execute(statement)
        await conn.execute("UPDATE openkms_publisher_schema SET version = 1")
        for sql, args in rows:
            await conn.execute(str(sql), *args)  # type: ignore[misc]
    finally:
        await conn.close()


def _v1_key(key: IssuedKey) -> tuple[object, ...]:
    sql = "INSERT INTO issued_keys VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    return (sql, key.row())


def _v1_row(key: IssuedKey, machine: str, name: str, at: int, count: int) -> tuple[object, ...]:
    sql = "INSERT INTO key_activations VALUES ($1, $2, $3, $4, $5, $6)"
    return (sql, (key.key_id, machine, name, at, at, count))


def test_records_of_version_1_are_linked_by_phone_reference(make_records: Factory) -> None:
    """The upgrade: a MAK client recorded online and by phone before is merged into one
    machine, one recorded online only is found by phone; a host recorded online only (its
    public key unknown) is linked at its next online activation."""
    ref = mak_phone_ref(CMID)
    other = "6f1d2c3b-0000-4000-8000-00000000000b"
    mak, host = _mak(3), _host(allowed=2, per_machine=5)
    host_ref = "phone:" + "ef" * 16

    async def main() -> None:
        records = make_records()
        if isinstance(records, SqliteRecords):
            assert records.path is not None
            records.path.touch()
        await _version_1(
            records,
            [
                _v1_key(mak),
                _v1_key(host),
                _v1_row(mak, CMID, "pc-1", 1100, 2),
                _v1_row(mak, ref, "by phone", 1200, 1),
                _v1_row(mak, other, "pc-2", 1300, 1),
                _v1_row(host, "fp1:x", "host-1", 1100, 1),
            ],
        )
        await records.open()
        try:
            usage = {u.key.key_id: u for u in await records.usage()}
            assert usage[mak.key_id].used == 2  # was 3: pc-1 counted twice
            machines = {m.machine: m for m in usage[mak.key_id].machines}
            assert machines[CMID] == MachineActivation(mak.key_id, CMID, "pc-1", 1100, 1200, 3, ref)
            assert machines[other].phone_ref == mak_phone_ref(other)
            merges = [e for e in await records.audit_log() if e.action == "merge-machine"]
            assert [(e.subject, e.detail) for e in merges] == [(mak.key_id, f"{ref} into {CMID}")]

            by_phone = await records.claim(_by_phone(mak, mak_phone_ref(other)))
            assert (by_phone.outcome, by_phone.used) == (ClaimOutcome.SAME_MACHINE, 2)

            # the host: by phone it is not recognised yet (a second host), online it is, and
            # its two records become one
            phone = await records.claim(_by_phone(host, host_ref))
            assert (phone.outcome, phone.used) == (ClaimOutcome.NEW_MACHINE, 2)
            linked = await records.claim(_online(host, "fp1:x", host_ref, "host-1"))
            assert (linked.outcome, linked.used) == (ClaimOutcome.SAME_MACHINE, 1)
            usage = {u.key.key_id: u for u in await records.usage()}
            (machine,) = usage[host.key_id].machines
            assert (machine.machine, machine.count, machine.phone_ref) == ("fp1:x", 3, host_ref)
            log = [e.detail for e in await records.audit_log() if e.subject == host.key_id]
            assert log[-1].endswith(f"merged={host_ref}")
        finally:
            await records.close()
        again = await _opened(make_records)  # a second open migrates nothing more
        try:
            assert len([e for e in await again.audit_log() if e.action == "merge-machine"]) == 1
        finally:
            await again.close()

    asyncio.run(main())


def test_an_older_sqlite_database_is_backed_up_before_its_migration(tmp_path: Path) -> None:
    """The copy keeps schema 1 and every row as they were (the merge happens after it),
    owner-only; a second open finds nothing to migrate and copies nothing."""
    mak = _mak(3)
    path = tmp_path / "publisher.db"
    records = SqliteRecords(path)
    path.touch()
    rows = [
        _v1_key(mak),
        _v1_row(mak, CMID, "pc-1", 1100, 2),
        _v1_row(mak, mak_phone_ref(CMID), "by phone", 1200, 1),
    ]

    async def main() -> None:
        await _version_1(records, rows)
        await records.open()
        await records.close()

    asyncio.run(main())
    backup = tmp_path / "publisher.db.schema-1.bak"
    assert backup.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(f"{backup.as_uri()}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
        assert conn.execute("SELECT COUNT(*) FROM key_activations").fetchone() == (2,)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(sqlite_schema.MIGRATIONS)
        assert conn.execute("SELECT COUNT(*) FROM key_activations").fetchone() == (1,)
    backup.unlink()
    asyncio.run(_reopen(path))
    assert not backup.exists()


async def _reopen(path: Path) -> None:
    records = SqliteRecords(path)
    await records.open()
    await records.close()
