"""Backups and restores of the host store, the serve lock, and the backup before a migration."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from admin.adminenv import admin_env
from openkms.cli.main import cli
from openkms.core.codes import ResultCode
from openkms.errors import StoreError
from openkms.host.maintenance import backup_store, restore_store
from openkms.store import _sqlite_conn as conn_module
from openkms.store import _sqlite_schema as db
from openkms.store.lock import StoreLock, serving_host

from helpers import Site, host_process


def clients(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        (count,) = conn.execute("SELECT count(*) FROM clients").fetchone()
    return int(count)


def serve_and_activate(site: Site, count: int, prefix: str, backup_to: Path | None = None) -> None:
    """Serve the site's store, activate ``count`` clients, back up while still serving."""

    async def main() -> None:
        async with admin_env(site) as env:
            await env.activate(site, "Standard", count, prefix=prefix)
            if backup_to is not None:
                backup_store(site.host_dir, backup_to)
            with pytest.raises(StoreError, match="in use by a running host") as caught:
                restore_store(site.host_dir, backup_to or site.host_dir / "host.db")
            assert caught.value.code is ResultCode.STORE_UNAVAILABLE

    asyncio.run(main())


def test_a_backup_taken_while_serving_holds_every_committed_client(site: Site) -> None:
    copy = site.host_dir.parent / "backup.db"
    serve_and_activate(site, 3, "pc", backup_to=copy)
    assert clients(copy) == 3
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # every client's CMID and name
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.schema_version()
    with pytest.raises(StoreError, match="exists") as caught:
        backup_store(site.host_dir, copy)
    assert "--force" in (caught.value.fix or "")
    assert backup_store(site.host_dir, copy, force=True).schema_version == db.schema_version()


def test_restore_replaces_the_database_and_keeps_the_one_it_replaced(site: Site) -> None:
    copy = site.host_dir.parent / "backup.db"
    serve_and_activate(site, 3, "pc", backup_to=copy)
    serve_and_activate(site, 2, "late")
    assert clients(site.host_dir / "host.db") == 5
    copy.chmod(0o644)  # a backup copied around with a looser mode
    result = restore_store(site.host_dir, copy)
    assert clients(site.host_dir / "host.db") == 3
    assert stat.S_IMODE((site.host_dir / "host.db").stat().st_mode) == 0o600
    assert result.kept is not None and clients(result.kept) == 5
    serve_and_activate(site, 1, "after")  # the host serves the restored store
    assert clients(site.host_dir / "host.db") == 4


def test_restore_refuses_what_is_not_an_intact_store_of_this_version(site: Site) -> None:
    serve_and_activate(site, 1, "pc")
    junk = site.host_dir.parent / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="is not an OpenKMS store") as caught:
        restore_store(site.host_dir, junk)
    assert caught.value.code is ResultCode.STATE_CORRUPT
    other = site.host_dir.parent / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreError, match="is not an OpenKMS store"):
        restore_store(site.host_dir, other)
    newer = site.host_dir.parent / "newer.db"
    backup_store(site.host_dir, newer)
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {db.schema_version() + 1}")
    with pytest.raises(StoreError, match="newer than this OpenKMS supports") as caught:
        restore_store(site.host_dir, newer)
    assert caught.value.code is ResultCode.UNSUPPORTED_VERSION
    with pytest.raises(StoreError, match="there is no file"):
        restore_store(site.host_dir, site.host_dir.parent / "missing.db")
    assert clients(site.host_dir / "host.db") == 1  # nothing was touched


def test_a_migration_backs_up_the_store_at_its_old_schema_first(tmp_path: Path) -> None:
    database = tmp_path / "host.db"
    with sqlite3.connect(database, isolation_level=None) as conn:
        for statement in db.MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("INSERT INTO clients VALUES ('app', 'cmid', 'act', 'pc', 1, 2, 1, 25, 1)")
        conn.execute("PRAGMA user_version = 1")
    conn = conn_module.connect_writer(database)
    conn.close()
    saved = tmp_path / "host.db.schema-1.bak"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    with sqlite3.connect(saved) as copy:
        assert copy.execute("PRAGMA user_version").fetchone()[0] == 1
        assert copy.execute("SELECT cmid FROM clients").fetchall() == [("cmid",)]
    with sqlite3.connect(database) as migrated:
        version = migrated.execute("PRAGMA user_version").fetchone()[0]
    assert version == db.schema_version()
    conn_module.connect_writer(database).close()  # at the current schema: no new backup
    assert sorted(p.name for p in tmp_path.glob("*.bak")) == ["host.db.schema-1.bak"]


def test_a_new_store_is_not_backed_up(tmp_path: Path) -> None:
    conn_module.connect_writer(tmp_path / "host.db").close()
    assert not list(tmp_path.glob("*.bak"))


def test_the_serve_lock_names_the_holder(tmp_path: Path) -> None:
    with StoreLock(tmp_path), pytest.raises(StoreError, match=r"\(pid \d+\)"):
        StoreLock(tmp_path).acquire()
    with StoreLock(tmp_path):  # released: free again
        pass


def test_backup_and_restore_commands(site: Site) -> None:
    serve_and_activate(site, 2, "pc")
    copy = site.host_dir.parent / "cli-backup.db"
    runner = CliRunner()
    store = ["host", "--store", str(site.host_dir)]
    result = runner.invoke(cli, [*store, "backup", "-o", str(copy)])
    assert result.exit_code == 0, result.output
    assert f"Store backed up to {copy} (schema version" in result.stdout
    again = runner.invoke(cli, [*store, "backup", "-o", str(copy)])
    assert again.exit_code == 1
    assert "exists" in again.stderr and "Fix: Choose another file name" in again.stderr
    restored = runner.invoke(cli, [*store, "restore", str(copy)])
    assert restored.exit_code == 0, restored.output
    assert "The replaced database was kept as" in restored.stdout


def test_the_serve_lock_tells_readers_where_the_host_listens(site: Site) -> None:
    assert serving_host(site.host_dir) is None
    with host_process(site.host_dir, "--admin", "127.0.0.1:0") as host:
        serving = serving_host(site.host_dir)
        assert serving is not None
        assert serving.pid == host.process.pid
        assert serving.listen == [host.address]
        assert serving.admin == host.admin
    assert serving_host(site.host_dir) is None  # stopped: the file stays, the lock is gone


@pytest.mark.parametrize("source", ["flag", "environment", "configuration"])
def test_backup_and_restore_of_a_shared_database_fail_at_once_naming_pg_tools(
    site: Site, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = "postgresql://openkms:secret@db.invalid/openkms"  # never connected to
    monkeypatch.delenv("OPENKMS_DATABASE", raising=False)
    monkeypatch.delenv("OPENKMS_CONFIG", raising=False)
    given: list[str] = []
    if source == "flag":
        given = ["--database", dsn]
    elif source == "environment":
        monkeypatch.setenv("OPENKMS_DATABASE", dsn)
    else:
        config = site.host_dir.parent / "host.toml"
        config.write_text(f'[database]\ndsn = "{dsn}"\n')
        given = ["--config", str(config)]
    runner = CliRunner()
    store = ["host", "--store", str(site.host_dir)]
    copy = site.host_dir.parent / "never.db"
    for command, tool in (
        (["backup", "-o", str(copy)], "pg_dump"),
        (["restore", str(copy)], "pg_restore"),
    ):
        result = runner.invoke(cli, [*store, *command, *given])
        assert result.exit_code == 1, result.output
        assert (
            "Error: 0x80070057" in result.stderr and "shared PostgreSQL database" in result.stderr
        )
        assert "Fix: " in result.stderr and tool in result.stderr
        assert "secret" not in result.stderr and "Traceback" not in result.output
    assert not copy.exists() and not (site.host_dir / "host.db").exists()
