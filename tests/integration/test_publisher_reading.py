"""Reading never writes: ``publisher report`` and ``list-keys`` on a read-only publisher
directory, beside a running service (SQLite WAL), and on PostgreSQL in read-only transactions.

Real CLI processes; the read-only directory is made two ways: ``chmod`` (skipped as root,
which permissions do not stop) and a read-only bind mount in a private mount namespace
(``unshare -m``, skipped where it is not allowed).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import asyncpg
import pytest

from openkms.errors import StoreError
from openkms.publisher import Publisher
from openkms.publisher._records_pg import PostgresRecords
from openkms.publisher.database import open_records
from openkms.publisher.records import AuditEntry
from pubservice import publisher_service

from helpers import openkms_cmd

READING = [("report",), ("report", "--json"), ("list-keys",), ("list-keys", "--json")]


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


def _openkms(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        openkms_cmd(*args), capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def _made(root: Path) -> tuple[Publisher, str]:
    """A publisher with one host key, as the CLI leaves it (no -wal, no -shm)."""
    publisher = Publisher.init(root / "pub", "Test")
    key = str(publisher.issue_host_key("C"))
    assert not (root / "pub" / "publisher.db-wal").exists()
    return publisher, key


@pytest.mark.parametrize("args", READING)
def test_reading_commands_leave_the_directory_as_it_was(tmp_path: Path, args: tuple[str]) -> None:
    _, key = _made(tmp_path)
    directory = tmp_path / "pub"
    before = _snapshot(directory)
    result = _openkms("publisher", args[0], str(directory), *args[1:])
    assert result.returncode == 0, result.stderr
    assert key in result.stdout
    assert _snapshot(directory) == before  # no -wal, no -shm, publisher.db untouched


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_reading_commands_work_on_a_directory_no_one_may_write(tmp_path: Path) -> None:
    _, key = _made(tmp_path)
    directory = tmp_path / "pub"
    for path in directory.iterdir():
        path.chmod(stat.S_IRUSR)
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        for args in READING:
            result = _openkms("publisher", args[0], str(directory), *args[1:])
            assert result.returncode == 0, result.stderr
            assert key in result.stdout
        assert _openkms("publisher", "issue-host-key", str(directory), "--group", "C").returncode
    finally:
        directory.chmod(stat.S_IRWXU)


def _read_only_mount(directory: Path, *commands: list[str]) -> list[str]:
    """Run each command with ``directory`` bind-mounted read-only over itself; their outputs,
    each followed by its exit code. Skips where mount namespaces are not allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    script = [
        f"mount --bind {directory} {directory} && mount -o remount,ro,bind {directory} || exit 99"
    ]
    for command in commands:
        script.append(" ".join(f"'{part}'" for part in command) + '; echo "exit=$?"')
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", "\n".join(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode == 99 or "exit=" not in result.stdout:
        pytest.skip(f"no read-only bind mount here: {result.stderr.strip()[:200]}")
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result.stdout.split("exit=")


def test_reading_commands_work_on_a_read_only_mount(tmp_path: Path) -> None:
    _, key = _made(tmp_path)
    directory = tmp_path / "pub"
    before = _snapshot(directory)
    reads = [openkms_cmd("publisher", a[0], str(directory), *a[1:]) for a in READING]
    write = openkms_cmd("publisher", "issue-host-key", str(directory), "--group", "C")
    outputs = _read_only_mount(directory, *reads, write)
    for index in range(len(reads)):
        assert key in outputs[index] and outputs[index + 1].startswith("0\n"), outputs
    assert not outputs[-1].startswith("0\n")  # the control: a writing command cannot
    assert _snapshot(directory) == before


def test_reading_beside_a_running_service_sees_its_writes_and_adds_no_file(
    tmp_path: Path,
) -> None:
    publisher, first = _made(tmp_path)
    directory = tmp_path / "pub"
    with publisher_service(directory):
        assert (directory / "publisher.db-wal").exists()  # the service holds the database
        second = str(publisher.issue_host_key("B"))  # committed to the WAL beside it
        names = set(_snapshot(directory))
        result = _openkms("publisher", "list-keys", str(directory), "--json")
        assert result.returncode == 0, result.stderr
        assert {k["key"] for k in json.loads(result.stdout)} == {first, second}
        assert set(_snapshot(directory)) == names
        # A copy taken while it runs (database, -wal and -shm), read on a read-only mount.
        copy = tmp_path / "copy"
        shutil.copytree(directory, copy)
        outputs = _read_only_mount(copy, openkms_cmd("publisher", "report", str(copy)))
    assert first in outputs[0] and second in outputs[0] and outputs[1].startswith("0\n")


def test_an_older_records_schema_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    _made(tmp_path)
    directory = tmp_path / "pub"
    conn = sqlite3.connect(directory / "publisher.db")
    conn.execute("PRAGMA user_version = 0")
    conn.close()
    before = _snapshot(directory)
    result = _openkms("publisher", "report", str(directory))
    assert result.returncode != 0
    assert "older schema version 0" in result.stderr and "sign-catalog" in result.stderr
    assert _snapshot(directory) == before


# -- PostgreSQL --------------------------------------------------------------------------------


def test_reading_commands_on_postgres_read_in_read_only_transactions(
    tmp_path: Path, pg_dsn: str
) -> None:
    publisher = Publisher.init(tmp_path / "pub", "Test", database=pg_dsn)
    key = str(publisher.issue_host_key("C"))
    for args in READING:
        result = _openkms("publisher", args[0], str(tmp_path / "pub"), "--database", pg_dsn)
        assert result.returncode == 0 and key in result.stdout, result.stderr

    async def write_through_a_reader() -> None:
        records = await open_records(
            tmp_path / "pub", pg_dsn, publisher.trust().catalog, readonly=True
        )
        try:
            await records.audit(AuditEntry(1, "test", "write", "x", ""))
        finally:
            await records.close()

    with pytest.raises(StoreError, match="read-only"):
        asyncio.run(write_through_a_reader())


def test_reading_an_empty_postgres_database_creates_nothing(pg_dsn: str) -> None:
    async def read() -> None:
        records = PostgresRecords(pg_dsn, readonly=True)
        await records.open()

    with pytest.raises(StoreError, match="holds no publisher records") as caught:
        asyncio.run(read())
    assert caught.value.fix and "--database" in caught.value.fix

    async def tables() -> object:
        conn = await asyncpg.connect(pg_dsn)
        try:
            return await conn.fetchval("SELECT to_regclass('openkms_publisher_schema')")
        finally:
            await conn.close()

    assert asyncio.run(tables()) is None
