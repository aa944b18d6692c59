"""A real ``openkms publisher serve`` process on loopback, for the end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers import openkms_cmd


@dataclass
class ServiceProcess:
    """A running publisher service: its process, URL and log."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        """What the service wrote to stderr so far."""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def publisher_service(
    directory: Path, *extra: str, timeout: float = 20.0
) -> Iterator[ServiceProcess]:
    """Start ``openkms publisher serve DIR --listen 127.0.0.1:0`` and wait for its ready file."""
    stamp = time.monotonic_ns()
    ready = directory.parent / f"service-ready-{stamp}.json"
    log_path = directory.parent / f"service-{stamp}.log"
    command = openkms_cmd(
        "publisher", "serve", str(directory), "--listen", "127.0.0.1:0", "--ready-file", str(ready)
    )
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, *extra], stdout=subprocess.DEVNULL, stderr=log_file, env=dict(os.environ)
        )
    try:
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError(f"service exited {process.returncode}: {log_path.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"service not ready after {timeout}s: {log_path.read_text()}")
            time.sleep(0.02)
        yield ServiceProcess(process, json.loads(ready.read_text())["urls"][0], log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def set_publisher_url(directory: Path, url: str) -> None:
    """Name ``url`` in the catalog's [publisher] table and re-sign it."""
    path = directory / "catalog.toml"
    text = path.read_text().replace("[publisher]\n", f'[publisher]\nurl = "{url}"\n', 1)
    path.write_text(text)
    subprocess.run(openkms_cmd("publisher", "sign-catalog", str(directory)), check=True)
