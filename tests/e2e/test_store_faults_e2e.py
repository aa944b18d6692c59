"""Store faults against the real host process: an unwritable or damaged store at start, a
store that becomes unwritable while serving, and two hosts on one store."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openkms.core.codes import ResultCode
from openkms.protocol import (
    NEED_DATA,
    ActivationRequest,
    ActivationResponse,
    Connection,
    ErrorResponse,
    Message,
    Role,
)
from openkms.protocol.connection import encode

from helpers import HostProcess, Site, host_process, openkms_cmd

pytestmark = pytest.mark.e2e


def _activate(site: Site, host: HostProcess) -> Message | None:
    product = site.product("Standard")
    request = ActivationRequest(
        os.urandom(16),
        site.publisher.trust().catalog.application_id,
        product.activation_id,
        uuid.uuid4().bytes,
        "pc",
        int(time.time()),
        2,
        43200,
        product.n_policy,
    )
    with socket.create_connection((host.host, host.port), timeout=10) as sock:
        sock.sendall(encode(request))
        conn = Connection(role=Role.CLIENT)
        while data := sock.recv(65536):
            conn.receive_data(data)
            if (message := conn.next_event()) is not NEED_DATA:
                return message
    return None


def _serve_once(store: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``host serve`` expected to exit at once (it refuses the store)."""
    command = openkms_cmd("host", "--store", str(store), "serve", "--listen", "127.0.0.1:0")
    return subprocess.run(
        [*command, "--no-dns", "--no-admin", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _created(site: Site) -> None:
    """Let a host create the store and record a few requests, then stop."""
    with host_process(site.host_dir) as host:
        for _ in range(50):
            assert isinstance(_activate(site, host), ActivationResponse)


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    if shutil.which("chattr") is None or os.geteuid() != 0:
        pytest.skip("needs chattr and root to make a file unwritable for root")
    if subprocess.run(["chattr", "+i", str(path)], check=False).returncode != 0:
        pytest.skip(f"chattr +i is not supported on {path}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_the_host_refuses_to_start_on_a_store_it_cannot_write(site: Site) -> None:
    _created(site)
    with _immutable(site.host_dir / "host.db"):
        result = _serve_once(site.host_dir)
    assert result.returncode != 0
    assert ResultCode.ACCESS_DENIED.hex in result.stderr
    assert "writable" in result.stderr  # the fix
    assert "Traceback" not in result.stderr


def _damage(path: Path) -> None:
    """Overwrite the middle of an index page of the events table (not the header)."""
    with sqlite3.connect(path) as db:
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (pages,) = db.execute("PRAGMA page_count").fetchone()
    assert pages >= 4
    with path.open("r+b") as handle:
        handle.seek(page_size * (pages - 1) + 64)
        handle.write(b"\xa5" * (page_size - 128))


def test_the_host_refuses_a_damaged_store_and_host_check_names_the_damage(site: Site) -> None:
    _created(site)
    assert not (site.host_dir / "host.db-wal").exists()  # checkpointed at the clean stop
    check = openkms_cmd("host", "--store", str(site.host_dir), "check")
    sound = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert sound.returncode == 0 and "sound" in sound.stdout
    _damage(site.host_dir / "host.db")
    result = _serve_once(site.host_dir)
    assert result.returncode != 0
    assert ResultCode.STATE_CORRUPT.hex in result.stderr and "host check" in result.stderr
    assert "Traceback" not in result.stderr
    damaged = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert damaged.returncode != 0 and "damaged" in damaged.stderr


def test_a_second_host_on_the_same_store_exits_at_once_naming_the_first(site: Site) -> None:
    with host_process(site.host_dir) as first:
        started = time.monotonic()
        result = _serve_once(site.host_dir)
        assert result.returncode != 0 and time.monotonic() - started < 30
        assert f"pid {first.process.pid}" in result.stderr
        assert isinstance(_activate(site, first), ActivationResponse)  # the first serves on


def test_a_store_made_unwritable_while_serving_recovers_by_itself(site: Site) -> None:
    files = [site.host_dir / "host.db", site.host_dir / "host.db-wal"]
    with host_process(site.host_dir) as host:
        assert isinstance(_activate(site, host), ActivationResponse)
        with contextlib.ExitStack() as stack:
            for path in files:  # writes through the host's open files fail (EPERM)
                stack.enter_context(_immutable(path))
            refused = _activate(site, host)
            assert isinstance(refused, ErrorResponse)
            assert str(site.host_dir) not in refused.message  # no host path to clients
        started = time.monotonic()
        answer = _activate(site, host)
        while not isinstance(answer, ActivationResponse) and time.monotonic() < started + 10:
            answer = _activate(site, host)
        recovered_after = time.monotonic() - started
        assert isinstance(answer, ActivationResponse) and answer.result == 0
        for _ in range(20):
            answer = _activate(site, host)
            assert isinstance(answer, ActivationResponse) and answer.result == 0
    print(f"\nwritable again: served after {recovered_after:.2f}s")
    assert recovered_after < 10
    assert "Traceback" not in host.log()
