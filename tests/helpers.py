"""Shared test helpers: a publisher, an activated host store, a real host process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from openkms.core.catalog import Product
from openkms.host.state import HostState
from openkms.publisher import Publisher


@dataclass
class Site:
    """A publisher and one activated host store, made on disk."""

    publisher: Publisher
    host_dir: Path
    host_state: HostState

    def product(self, edition: str) -> Product:
        """The catalog product of an edition name (e.g. 'Standard', 'Desktop Professional')."""
        for product in self.publisher.trust().catalog.products:
            if product.edition == edition:
                return product
        raise KeyError(edition)


def make_site(root: Path, group: str = "C", *, activate: bool = True) -> Site:
    """Create a publisher and a host store with a host key of ``group`` (activated)."""
    publisher = Publisher.init(root / "publisher", "Test Publisher")
    state = HostState(root / "host")
    state.install_key(str(publisher.issue_host_key(group)), publisher.trust())
    if activate:
        request = state.activation_request("test-kms", int(time.time()))
        state.install_certificate(publisher.activate_host(request), int(time.time()))
    return Site(publisher, root / "host", state)


def openkms_cmd(*args: str) -> list[str]:
    """The command line that runs the openkms CLI with this interpreter."""
    return [sys.executable, "-m", "openkms", *args]


@dataclass
class HostProcess:
    """A real ``openkms host serve`` process on loopback."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    admin: str | None = None  # HOST:PORT of the admin server, when started with --admin

    @property
    def address(self) -> str:
        """HOST:PORT."""
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        """What the host wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the host and wait for it to exit; return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


@contextlib.contextmanager
def host_process(
    store: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
    timeout: float = 20.0,
    listen: str = "127.0.0.1:0",
    dns: bool = False,
    new_session: bool = False,
) -> Iterator[HostProcess]:
    """Start ``openkms host serve --listen 127.0.0.1:0`` and wait for its ready file.

    DNS publishing is off (``--no-dns``) unless ``dns``: tests stay off the real network.
    ``new_session`` makes the host lead its own process group, as in a terminal or a unit.
    """
    ready = store / f"ready-{time.monotonic_ns()}.json"
    log_path = store / f"host-{time.monotonic_ns()}.log"
    command = [
        *prefix,
        *openkms_cmd("host", "--store", str(store), "serve", "--listen", listen),
        "--ready-file",
        str(ready),
        *(() if dns else ("--no-dns",)),
        *extra,
    ]
    if "--admin" not in extra:
        command.append("--no-admin")  # the default 127.0.0.1:8080 would clash between tests
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            env={**os.environ, **(env or {})},
            start_new_session=new_session,
        )
    handle = None
    try:
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError(f"host exited with {process.returncode}: {log_path.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"host not ready after {timeout}s: {log_path.read_text()}")
            time.sleep(0.02)
        document = json.loads(ready.read_text())
        host, port = document["listen"][0].rsplit(":", 1)
        handle = HostProcess(process, host, int(port), log_path, document.get("admin"))
        yield handle
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def writer_processes(store_dir: Path) -> list[str]:
    """Live (not zombie) store writer processes of the store in ``store_dir``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        mine = str(store_dir / "host.db").encode() in argv
        if b"openkms.store._writer_process" in argv and mine and state != "Z":
            found.append(entry.name)
    return found


def store_bytes(db: Path) -> bytes:
    """The bytes of the store file ``db`` and its -wal, as they are on disk now."""
    files = (db, db.with_name(db.name + "-wal"))
    return b"".join(f.read_bytes() for f in files if f.exists())


def forgotten_notes(db: Path) -> int:
    """How many notes of forgotten clients the store file ``db`` still holds."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        (count,) = conn.execute("SELECT count(*) FROM clients_forgotten").fetchone()
    finally:
        conn.close()
    return int(count)
