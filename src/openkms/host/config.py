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
    # One address (a NAT gateway may front many clients) holds at most this many.
    max_connections_per_address: int = 256
    idle_timeout: float = 10.0
    shutdown_timeout: float = 10.0
    max_pipelined: int = 32
    settings_poll_seconds: float = 5.0
    clock_check_seconds: float = 10.0  # how often the clock is compared with the monotonic one
    dns_publishing: bool = True  # False: never publish in DNS this run (tests, --no-dns)
    database: str | None = None  # a shared PostgreSQL DSN; None: $OPENKMS_DATABASE or SQLite
    # The publisher service to fetch revocation lists and catalogs from (None: files only).
    publisher_url: str | None = None
    publisher_fetch_seconds: float = 3600.0

    def listeners(self, default_port: int) -> tuple[tuple[str, int], ...]:
        """The addresses to bind: the explicit ones, else 0.0.0.0 and [::] on the set port."""
        if self.listen:
            return self.listen
        return (("0.0.0.0", default_port), ("::", default_port))  # noqa: S104 - a server
