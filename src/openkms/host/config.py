"""The host's configuration, resolved once and passed down."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HostConfig"]


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Everything ``openkms host serve`` needs to run."""

    store_dir: Path
    listen: tuple[tuple[str, int], ...] = ()
    machine_name: str = socket.gethostname()
    max_connections: int = 10_000
    idle_timeout: float = 10.0
    shutdown_timeout: float = 10.0
    max_pipelined: int = 32
    settings_poll_seconds: float = 5.0
    dns_publishing: bool = True  # False: never publish in DNS this run (tests, --no-dns)
    database: str | None = None  # a shared PostgreSQL DSN; None: $OPENKMS_DATABASE or SQLite

    def listeners(self, default_port: int) -> tuple[tuple[str, int], ...]:
        """The addresses to bind: the explicit ones, else 0.0.0.0 and [::] on the set port."""
        if self.listen:
            return self.listen
        return (("0.0.0.0", default_port), ("::", default_port))  # noqa: S104 - a server
