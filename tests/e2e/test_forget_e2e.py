"""Forgetting a client through the real admin API of a real host process: the client leaves
the search index file (``host.db-search``) as well, even when the host is killed right
after the forget, before its index took it in."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from openkms.client.api import Client
from openkms.store._sqlite_text import index_path

from helpers import (
    HostProcess,
    Site,
    forgotten_notes,
    host_process,
    store_bytes,
    writer_processes,
)

pytestmark = pytest.mark.e2e

TOKEN = "forget-e2e-token-0123456789abcdef"


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait (20 s at most) for ``condition``, which the host's index thread makes true."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _index_keys(store: Path) -> set[str]:
    """The CMIDs in the host's search index file, read directly (read-only)."""
    path = index_path(store / "host.db")
    if not path.exists():
        return set()
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT cmid FROM client_text_keys").fetchall()
    except sqlite3.OperationalError:  # its tables are not made yet
        return set()
    finally:
        conn.close()
    return {cmid for (cmid,) in rows}


def _index_bytes(store: Path) -> bytes:
    path = index_path(store / "host.db")
    files = (path, path.with_name(path.name + "-wal"))
    return b"".join(f.read_bytes() for f in files if f.exists())


def _activate(site: Site, host: HostProcess, directory: Path, name: str) -> str:
    client = Client.open(directory, machine_name=name)
    client.install_key(site.product("Standard").setup_key, site.publisher.trust())
    client.set_kms(host.address)
    client.activate()
    return str(client.state().cmid)


def _forget(host: HostProcess, cmid: str) -> int:
    request = urllib.request.Request(
        f"http://{host.admin}/api/clients/{urllib.parse.quote(cmid)}",
        method="DELETE",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def _search(host: HostProcess, query: str) -> list[str]:
    url = f"http://{host.admin}/api/clients?q={urllib.parse.quote(query)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return [client["cmid"] for client in json.load(response)["clients"]]


def _notes(store: Path) -> int:
    return forgotten_notes(store / "host.db")


def _admin_args(tmp_path: Path) -> tuple[str, ...]:
    """The admin server on a free port, with the test's token in an owner-only file."""
    token = tmp_path / "admin.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return ("--admin", "127.0.0.1:0", "--admin-token-file", str(token))


def test_a_forgotten_client_leaves_the_search_index_file(site: Site, tmp_path: Path) -> None:
    admin = _admin_args(tmp_path)
    store = site.host_dir
    with host_process(store, *admin) as host:
        kept = _activate(site, host, tmp_path / "kept", "kept-desk-7")
        gone = _activate(site, host, tmp_path / "gone", "gone-desk-42")
        killed = _activate(site, host, tmp_path / "killed", "killed-desk-9")
        _wait_for(lambda: _index_keys(store) == {kept, gone, killed}, "the index to hold all")
        assert _search(host, "gone-desk") == [gone]
        assert _forget(host, gone) == 200
        _wait_for(lambda: gone not in _index_keys(store), "the index to drop the client")
        assert _search(host, "gone-desk") == [] and _search(host, gone[4:20]) == []
        assert b"gone-desk-42" not in _index_bytes(store)
        # Killed at once after a forget: the index has not taken it in yet (it waits half
        # a second for more), the store's note of it is durable.
        assert _forget(host, killed) == 200
        host.stop(signal.SIGKILL)
    # Its store writer (a child) commits what it had and exits with it: then start again.
    _wait_for(lambda: not writer_processes(store), "the killed host's writer to exit")
    with host_process(store, *admin) as again:
        _wait_for(lambda: _index_keys(store) == {kept}, "the restarted index to drop it")
        assert _search(again, "killed-desk") == [] and _search(again, "kept-desk") == [kept]
        assert again.stop() == 0
    index = _index_bytes(store)
    assert b"gone-desk-42" not in index and b"killed-desk-9" not in index
    assert gone.encode() not in index and killed.encode() not in index
    assert kept.encode() in index
    # The notes were deleted once the index had taken them in (at the latest at the stop).
    assert _notes(store) == 0
    assert "Traceback" not in again.log()


def _store_bytes(store: Path) -> bytes:
    return store_bytes(store / "host.db")


def _drop_events_of(store: Path, cmid: str) -> None:
    """As event retention does in time: the client's past events leave the (stopped) store,
    and ``VACUUM`` writes the file again without their bytes."""
    conn = sqlite3.connect(store / "host.db", isolation_level=None)
    try:
        conn.execute("DELETE FROM events WHERE cmid = ?", (cmid,))
        conn.execute("VACUUM")
    finally:
        conn.close()


def test_an_idle_host_keeps_no_trace_of_a_forgotten_client_in_its_store(
    site: Site, tmp_path: Path
) -> None:
    """No request after the forget: the host deletes the note by itself, and neither
    ``host.db`` nor its ``-wal`` keeps the client's CMID or machine name (its events were
    gone already)."""
    admin = _admin_args(tmp_path)
    store = site.host_dir
    with host_process(store, *admin) as host:
        kept = _activate(site, host, tmp_path / "kept", "kept-desk-7")
        gone = _activate(site, host, tmp_path / "gone", "idle-gone-desk-5")
        assert host.stop() == 0
    _drop_events_of(store, gone)
    raw = _store_bytes(store)
    assert gone.encode() in raw and b"idle-gone-desk-5" in raw  # its row, before the forget

    def no_trace() -> bool:
        raw = _store_bytes(store)
        return _notes(store) == 0 and gone.encode() not in raw and b"idle-gone-desk-5" not in raw

    with host_process(store, *admin) as again:
        assert _forget(again, gone) == 200
        _wait_for(no_trace, "the idle host to delete the note and the client's bytes")
        assert _search(again, "kept-desk") == [kept]
        assert again.stop() == 0
    assert no_trace() and kept.encode() in _store_bytes(store)
    assert "Traceback" not in again.log()
