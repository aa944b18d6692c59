"""Hosts sharing one store: what dli shows of them, the doctor's shared-count rule, and the
SQLite-only store operations refused on a shared database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from openkms.core.codes import ResultCode
from openkms.dns.srv import SrvRecord
from openkms.doctor.network._shared import several_hosts_finding
from openkms.errors import StoreError
from openkms.host.info import gather_host_info
from openkms.host.maintenance import backup_store, restore_store
from openkms.slmgr_text import host_text
from openkms.store import open_reader
from openkms.store.database import DATABASE_ENV, PeerHost, refuse_shared_database
from openkms.store.memory import MemoryStore

from helpers import Site

DSN = "postgresql://openkms:secret@db.example.com/openkms"
NOON = 1_790_000_000  # 2026-09-21 14:13:20 UTC


class SharedStore(MemoryStore):
    """A memory store that answers as a shared database would: with its peers."""

    def __init__(self, peers: list[PeerHost]) -> None:
        super().__init__()
        self._peers = peers

    async def peer_hosts(self) -> list[PeerHost]:
        return list(self._peers)


def test_a_store_of_its_own_has_no_peers(site: Site) -> None:
    async def main() -> None:
        assert await MemoryStore().peer_hosts() == []
        async with open_reader(site.host_dir, None, missing_ok=True) as reader:
            assert await reader.peer_hosts() == []

    asyncio.run(main())
    now = int(time.time())
    info = asyncio.run(gather_host_info(site.host_state.snapshot(now), MemoryStore(), now))
    assert info.peers == []
    assert "Peer hosts" not in host_text(info)


def test_dli_names_each_peer_and_which_one_is_this_host(site: Site) -> None:
    now = int(time.time())
    snapshot = site.host_state.snapshot(now)
    assert snapshot.host_id is not None
    peers = [PeerHost("OKMS-OTHER0000001", NOON - 60, NOON), PeerHost(snapshot.host_id, 5, 9)]
    info = asyncio.run(gather_host_info(snapshot, SharedStore(peers), now, ["127.0.0.1:1688"]))
    assert [(p.host_id, p.this_host, p.listening) for p in info.peers] == [
        ("OKMS-OTHER0000001", False, []),  # the others' addresses are not in the database
        (snapshot.host_id, True, ["127.0.0.1:1688"]),
    ]
    lines = host_text(info).splitlines()
    start = lines.index("Peer hosts sharing this store: 2 (one count)")
    assert lines[start + 1] == "    OKMS-OTHER0000001: last request 2026-09-21 14:13:20 UTC"
    assert lines[start + 2] == (
        f"    {snapshot.host_id} (this host), listening on 127.0.0.1:1688: "
        "last request 1970-01-01 00:00:09 UTC"
    )


KMS1, KMS2 = SrvRecord(0, 0, 1688, "kms.example.com"), SrvRecord(0, 0, 1689, "kms.example.com")
RECORDS = [KMS1, KMS2]  # one machine name, two ports: matched by record, not by name
NAME = "_openkms._tcp.example.com"


def test_hosts_of_one_shared_store_share_one_count() -> None:
    answered = {KMS1: {"OKMS-A"}, KMS2: {"OKMS-B"}}
    finding = several_hosts_finding(NAME, RECORDS, answered, frozenset({"OKMS-A", "OKMS-B"}))
    assert finding.check == "hosts-share-count" and finding.severity.value == "ok"
    assert "2 hosts share one count (shared store)" in finding.evidence
    assert "OKMS-A, OKMS-B" in finding.evidence


@pytest.mark.parametrize(
    ("answered", "peers", "why"),
    [
        ({KMS1: {"OKMS-A"}, KMS2: {"OKMS-B"}}, None, ""),
        (
            {KMS1: {"OKMS-A"}, KMS2: {"OKMS-X"}},
            frozenset({"OKMS-A", "OKMS-B"}),
            "not hosts of the examined store: kms.example.com:1689",
        ),
        (
            {KMS1: {"OKMS-A"}},  # kms2 did not answer its probe
            frozenset({"OKMS-A", "OKMS-B"}),
            "not hosts of the examined store: kms.example.com:1689",
        ),
        ({}, frozenset({"OKMS-A", "OKMS-B"}), "no target answered a probe"),
        (
            {KMS1: {"OKMS-A"}, KMS2: {"OKMS-A"}},
            frozenset({"OKMS-A"}),
            "shared by no other host",
        ),
    ],
)
def test_hosts_not_all_peers_of_the_store_may_split_the_count(
    answered: dict[SrvRecord, set[str]], peers: frozenset[str] | None, why: str
) -> None:
    finding = several_hosts_finding(NAME, RECORDS, answered, peers)
    assert finding.check == "several-hosts" and finding.severity.value == "warning"
    assert finding.evidence.startswith(
        f"{NAME}: 2 hosts (kms.example.com:1688, kms.example.com:1689)"
    )
    assert why in finding.evidence
    assert "doctor dns --store" in finding.fix


def test_backup_and_restore_refuse_a_shared_database_at_once(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATABASE_ENV, raising=False)
    refuse_shared_database(None, "backup")  # SQLite: nothing to refuse
    output = site.host_dir.parent / "copy.db"
    with pytest.raises(StoreError) as caught:
        backup_store(site.host_dir, output, database=DSN)
    assert caught.value.code is ResultCode.INVALID_ARGUMENT
    assert "pg_dump" in (caught.value.fix or "") and "secret" not in caught.value.message
    monkeypatch.setenv(DATABASE_ENV, DSN)
    with pytest.raises(StoreError) as caught:
        restore_store(site.host_dir, output)
    assert caught.value.code is ResultCode.INVALID_ARGUMENT
    assert "pg_restore" in (caught.value.fix or "")
    assert not output.exists() and not (site.host_dir / "host.lock").exists()


def test_no_path_is_touched_before_the_refusal(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="shared PostgreSQL database"):
        backup_store(tmp_path / "none", tmp_path / "out.db", database=DSN)
    assert list(tmp_path.iterdir()) == []
