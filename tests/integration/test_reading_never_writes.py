"""Reading never writes: ``host dli``/``dlv``/``events`` create no file, change none, start no
process, and do not migrate the store (real CLI processes on a prepared host store); nor do
``client --read-only dli``/``dlv``/``xpr`` and ``doctor client`` in a client store."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openkms.client.api import Client
from openkms.core.events import make_event
from openkms.store import open_store, sqlite_path

from helpers import Site

# Runs the real CLI (``python -m openkms``) with an audit hook that records every process it
# would start: subprocess, fork, spawn, exec or system (PEP 578 audit events).
_AUDITED = """
import os, runpy, sys
log = open(os.environ["SPAWN_LOG"], "a")
EVENTS = {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn",
          "os.exec", "os.system", "pty.spawn"}
def hook(event, args):
    if event in EVENTS:
        log.write(event + " " + repr(args)[:200] + "\\n")
        log.flush()
sys.addaudithook(hook)
sys.argv = ["openkms", *sys.argv[1:]]
runpy.run_module("openkms", run_name="__main__")
"""


def _prepare(site: Site) -> None:
    """A host store as a host leaves it: requests and events recorded, the host stopped."""

    async def fill() -> None:
        async with open_store(site.host_dir) as store:
            await store.log_event(make_event(12294, int(time.time()), ("corp.example",)))

    asyncio.run(fill())
    assert (site.host_dir / "host.key").is_file()  # ipk made the host's identity


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


def _writers(store_dir: Path) -> list[int]:
    """Writer processes of this store running now (from /proc)."""
    path = str(sqlite_path(store_dir)).encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"openkms.store._writer_process" in argv and path in argv:
            found.append(int(entry.name))
    return found


def _run(tmp_path: Path, site: Site, *args: str) -> tuple[str, list[str]]:
    spawn_log = tmp_path / "spawned.log"
    spawn_log.write_text("")
    result = subprocess.run(
        [sys.executable, "-c", _AUDITED, "host", "--store", str(site.host_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SPAWN_LOG": str(spawn_log)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, spawn_log.read_text().splitlines()


@pytest.mark.parametrize(
    "args", [("dli",), ("dli", "--json"), ("dlv",), ("events", "--format", "csv"), ("dti",)]
)
def test_reading_commands_leave_no_file_and_start_no_process(
    tmp_path: Path, site: Site, args: tuple[str, ...]
) -> None:
    _prepare(site)
    before = _snapshot(site.host_dir)
    out, spawned = _run(tmp_path, site, *args)
    assert out
    assert spawned == []  # no writer child, nor any other process
    assert _writers(site.host_dir) == []
    assert _snapshot(site.host_dir) == before  # no new file (no -wal, -shm), none changed


def test_the_audit_hook_sees_a_writer_start(tmp_path: Path, site: Site) -> None:
    """The control: the same hook does see the writer process that serving a store starts."""
    spawn_log = tmp_path / "spawned.log"
    code = _AUDITED.replace(
        'runpy.run_module("openkms", run_name="__main__")',
        "import asyncio\n"
        "from openkms.store import open_store\n"
        "async def main():\n"
        "    async with open_store(__import__('pathlib').Path(sys.argv[-1])):\n"
        "        pass\n"
        "asyncio.run(main())",
    )
    subprocess.run(
        [sys.executable, "-c", code, str(site.host_dir)],
        env={**os.environ, "SPAWN_LOG": str(spawn_log)},
        check=True,
        timeout=120,
    )
    assert "subprocess.Popen" in spawn_log.read_text()


def test_dli_of_an_older_store_says_how_to_upgrade_and_leaves_it(
    tmp_path: Path, site: Site
) -> None:
    _prepare(site)
    conn = sqlite3.connect(sqlite_path(site.host_dir))
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    before = _snapshot(site.host_dir)
    result = subprocess.run(
        [sys.executable, "-m", "openkms", "host", "--store", str(site.host_dir), "dli"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "older schema version 1" in result.stderr
    assert "Start the host once to upgrade the store" in result.stderr
    assert _snapshot(site.host_dir) == before
    conn = sqlite3.connect(sqlite_path(site.host_dir))
    assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.close()


def test_dli_json_reads_the_count_through_the_reader(tmp_path: Path, site: Site) -> None:
    _prepare(site)
    out, _ = _run(tmp_path, site, "dli", "--json")
    assert json.loads(out)["current_count"] == 0


# -- the client: dli --read-only, the doctor ---------------------------------------------------


def _client_store(site: Site, root: Path) -> Path:
    """A client store whose trusted time is a day old: a plain ``dli`` would record a new one."""
    directory = root / "client"
    client = Client.open(directory, clock=lambda: time.time() - 86400, machine_name="pc-1")
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    client.set_kms("127.0.0.1:1")  # refused at once: the doctor's probe stays on loopback
    assert not client.activate().activated  # 12288 and 12289 in events.jsonl
    return directory


def _run_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    spawn_log = tmp_path / "spawned.log"
    spawn_log.write_text("")
    result = subprocess.run(
        [sys.executable, "-c", _AUDITED, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SPAWN_LOG": str(spawn_log)},
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result, spawn_log.read_text().splitlines()


@pytest.mark.parametrize(
    "args",
    [
        ("client", "--read-only", "--store", "{dir}", "dli"),
        ("client", "--read-only", "--store", "{dir}", "dli", "--json"),
        ("client", "--read-only", "--store", "{dir}", "dlv"),
        ("client", "--read-only", "--store", "{dir}", "xpr"),
        ("doctor", "client", "--store", "{dir}", "--timeout", "1"),
    ],
)
def test_client_reading_commands_leave_the_client_store_as_it_was(
    tmp_path: Path, site: Site, args: tuple[str, ...]
) -> None:
    directory = _client_store(site, tmp_path)
    before = _snapshot(directory)
    result, spawned = _run_cli(tmp_path, *(a.format(dir=directory) for a in args))
    assert result.stdout
    assert spawned == []
    assert _snapshot(directory) == before


def test_client_dli_without_read_only_records_the_trusted_time(tmp_path: Path, site: Site) -> None:
    """The control: the same store does change under a plain ``dli``."""
    directory = _client_store(site, tmp_path)
    before = _snapshot(directory)
    result, _ = _run_cli(tmp_path, "client", "--store", str(directory), "dli")
    assert result.returncode == 0, result.stderr
    assert _snapshot(directory)["client.json"] != before["client.json"]


def test_client_read_only_refuses_to_write(tmp_path: Path, site: Site) -> None:
    directory = _client_store(site, tmp_path)
    before = _snapshot(directory)
    for command in (("ato",), ("skms", "127.0.0.1:2"), ("rearm",), ("ckhc",)):
        result, _ = _run_cli(tmp_path, "client", "--read-only", "--store", str(directory), *command)
        assert result.returncode != 0
        assert "0x80070005 the client store" in result.stderr
    assert _snapshot(directory) == before
